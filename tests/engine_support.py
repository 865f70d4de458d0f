"""A portfolio with flagged rows, and ``hdtweedie score``'s output on it, for the engine tests."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from hdtweedie import cli
from hdtweedie.datasets import make_motor_portfolio


def flagged_portfolio(n: int = 400, seed: int = 5):
    """Motor records with an unseen level (row 3) and a missing value (row 7).

    Parameters
    ----------
    n, seed : int
        Rows and the simulation's seed.

    Returns
    -------
    pandas.DataFrame
    """
    df = make_motor_portfolio(n=n, random_state=seed).drop(columns=["claim_count", "incurred",
                                                                  "pure_premium"])
    df = df.astype({c: object for c in df.columns if df[c].dtype != np.float64 and c != "policy_id"})
    df.loc[3, "area"] = "Z"
    df.loc[7, "driver_age"] = None
    return df


def cli_scored(model: Path, df, folder: Path, column: str = "prediction"):
    """``hdtweedie score`` of ``df`` (through a CSV file), read back.

    Parameters
    ----------
    model : Path
        The model file.
    df : pandas.DataFrame
        The records, with an ``exposure`` column.
    folder : Path
        Where the CSV files go.
    column : str
        The prediction column.

    Returns
    -------
    pandas.DataFrame
        The CLI's output, warnings as text ("" when none).
    """
    import pandas as pd

    data, out = folder / "cli-in.csv", folder / "cli-out.csv"
    df.to_csv(data, index=False)
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["score", str(model), str(data), "--out", str(out), "--exposure", "exposure",
                         "--column", column])
    assert code == 0
    result = pd.read_csv(out, keep_default_na=False, dtype={f"{column}_warnings": str})
    result[column] = pd.to_numeric(result[column].replace("", np.nan))
    return result

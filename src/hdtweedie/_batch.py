"""Score batches of records as ``hdtweedie score`` does: predictions, a warnings column, totals.

One owner for the per-row caveat text (``kind:input; ...``) shared by the
CLI, the MLflow wrapper and the Spark and Dask adapters.  numpy only; pandas
is imported when a DataFrame is asked for.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BatchScorer", "check_columns", "score_frame", "warnings_column"]


def warnings_column(column: str) -> str:
    """Name of the caveat column written beside prediction ``column``.

    Parameters
    ----------
    column : str

    Returns
    -------
    str
    """
    return f"{column}_warnings"


class BatchScorer:
    """Scores successive batches of one table and keeps the caveat totals.

    Parameters
    ----------
    model : ScoringModel
        The loaded model.

    Attributes
    ----------
    issues : dict
        ``(kind, input) -> [count, first row, scored]`` over all batches
        (rows counted from 0 across batches).
    n_rows, n_flagged, n_unscored : int
        Rows scored so far, rows with a caveat, rows left without a prediction.
    """

    def __init__(self, model) -> None:
        self.model = model
        self.issues: dict[tuple[str, str], list] = {}
        self.n_rows = self.n_flagged = self.n_unscored = 0

    def score(self, inputs, exposure=None, not_number: dict | None = None) -> tuple[np.ndarray, list]:
        """Score one batch without raising on bad rows.

        Parameters
        ----------
        inputs : records
            Anything :meth:`ScoringModel.predict` takes.
        exposure : array-like, str or None
            As in :meth:`ScoringModel.predict`.
        not_number : dict, optional
            Input name to a boolean array over this batch: rows whose text was
            not a number (reported as ``not_a_number`` rather than missing).

        Returns
        -------
        values : numpy.ndarray
            Predictions; NaN where a row could not be scored or overflowed.
        warnings : list of str
            Per row, its caveats as ``kind:input`` joined by ``"; "`` (empty if none).

        Raises
        ------
        ValueError, TypeError
            For data the model cannot read at all (a missing input column).
        """
        result = self.model.predict(inputs, exposure=exposure, errors="flag", warn=False)
        values = np.array(result.values, dtype=float)
        n = values.shape[0]
        rows: dict[int, list[str]] = {}
        unscored = np.zeros(n, dtype=bool)
        not_number = not_number or {}
        for issue in result.warnings:
            hit = np.asarray(issue.rows, dtype=int).reshape(-1)
            if issue.kind == "missing_value" and issue.input in not_number:
                text = hit[np.asarray(not_number[issue.input])[hit]]
                self._add(rows, unscored, "not_a_number", issue.input, text, issue.scored)
                hit = np.setdiff1d(hit, text)
            self._add(rows, unscored, issue.kind, issue.input, hit, issue.scored)
        # Never a silent inf: a prediction that overflows is flagged and left empty.
        overflow = np.flatnonzero(np.isinf(values))
        values[overflow] = np.nan
        self._add(rows, unscored, "not_finite", "prediction", overflow, False)
        self.n_rows += n
        self.n_flagged += len(rows)
        self.n_unscored += int(unscored.sum())
        text = [""] * n
        for r, kinds in rows.items():
            text[r] = "; ".join(kinds)
        return values, text

    def _add(self, rows: dict, unscored: np.ndarray, kind: str, name: str, hit: np.ndarray,
             scored: bool) -> None:
        if hit.size == 0:
            return
        first = self.n_rows + int(hit.min())
        entry = self.issues.setdefault((kind, name), [0, first, scored])
        entry[0] += hit.size
        entry[1] = min(entry[1], first)
        if not scored:
            unscored[hit] = True
        for r in hit.tolist():
            rows.setdefault(r, []).append(f"{kind}:{name}")


def check_columns(columns: list, model, exposure: str | None, column: str, keep: bool) -> None:
    """Refuse data the model cannot score, or whose columns the output would overwrite.

    Parameters
    ----------
    columns : list of str
        The data's column names.
    model : ScoringModel
    exposure : str or None
        The exposure column.
    column : str
        The prediction column (and ``column + "_warnings"``).
    keep : bool
        Whether the input columns are kept beside the output.

    Raises
    ------
    ValueError
        Naming the missing exposure or input column, or the clashing output column.
    """
    if not isinstance(column, str) or not column:
        raise ValueError(f"column must be a non-empty string, got {column!r}")
    if exposure is not None and (not isinstance(exposure, str) or exposure not in columns):
        raise ValueError(f"exposure: no column {exposure!r} in the data (columns: {columns[:20]})")
    missing = [name for name in model.required_inputs if name not in columns]
    if missing:
        raise ValueError(f"the data lacks the model input(s) {missing} (columns: {columns[:20]})")
    clash = [c for c in (column, warnings_column(column)) if c in columns]
    if keep and clash:
        raise ValueError(f"column: the data already has a column {clash[0]!r}; choose another column name")


def score_frame(model, frame, exposure: str | None = "exposure", column: str = "prediction",
                keep: bool = True):
    """Score a pandas DataFrame of raw inputs; add the prediction and warnings columns.

    Parameters
    ----------
    model : ScoringModel
    frame : pandas.DataFrame
        Raw rating factors and numeric inputs, one row per risk.
    exposure : str or None
        Column holding the exposure; None for an exposure of 1.
    column : str
        Name of the prediction column; the caveats go in ``column + "_warnings"``.
    keep : bool
        Return the input columns too (True) or the two new columns only.

    Returns
    -------
    pandas.DataFrame
        Same index as ``frame``.

    Raises
    ------
    ValueError
        If the exposure column is absent, ``frame`` already has a column named
        as an output, or an input the model needs is missing.
    """
    import pandas as pd

    check_columns(list(frame.columns), model, exposure, column, keep)
    names = [column, warnings_column(column)]
    if len(frame) == 0:
        values, text = np.empty(0), []
    else:
        values, text = BatchScorer(model).score(frame, exposure=exposure)
    out = pd.DataFrame({names[0]: values, names[1]: pd.Series(text, dtype=str, index=frame.index)},
                       index=frame.index)
    return pd.concat([frame, out], axis=1) if keep else out

"""Small models and model files for the sign-off tests (factor tables, diffs, reports)."""

import copy
import json
from pathlib import Path

import numpy as np

from hdtweedie.scoring import content_hash

FIXTURE = Path(__file__).parent / "fixtures" / "model_schema_1_0.json"


def fixture_document() -> dict:
    """The schema 1.0 fixture: factors area (A base, B, C), district, ncd; numeric age."""
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def write_document(doc: dict, path) -> Path:
    """Write ``doc`` as a model file with a fresh content hash."""
    doc = copy.deepcopy(doc)
    doc.pop("signature", None)
    doc["sha256"] = content_hash(doc)
    Path(path).write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return Path(path)


def add_level(doc: dict, factor: str, level: str, coef: float) -> dict:
    """A copy of ``doc`` whose ``factor`` has one more level."""
    doc = copy.deepcopy(doc)
    spec = next(s for s in doc["inputs"] if s["name"] == factor)
    feature = f"{factor}={level}"
    spec["levels"].append(level)
    spec["features"][level] = feature
    doc["features"].insert(doc["features"].index(next(iter(spec["features"].values()))), feature)
    doc["coefficients"][feature] = coef
    return doc


def drop_input(doc: dict, name: str) -> dict:
    """A copy of ``doc`` without the input ``name``."""
    doc = copy.deepcopy(doc)
    spec = next(s for s in doc["inputs"] if s["name"] == name)
    gone = set(spec["features"].values()) if spec["kind"] == "factor" else {spec["feature"]}
    doc["inputs"] = [s for s in doc["inputs"] if s["name"] != name]
    doc["features"] = [f for f in doc["features"] if f not in gone]
    doc["coefficients"] = {k: v for k, v in doc["coefficients"].items() if k not in gone}
    return doc


def fit_portfolio_model(path, n=3000, seed=1, relax=True, extra_columns=True):
    """Fit a small motor model with the portfolio pipeline; return ``(df, model path)``."""
    from hdtweedie import portfolio
    from hdtweedie.datasets import make_motor_portfolio

    df = make_motor_portfolio(n=n, random_state=seed)
    if extra_columns:
        rng = np.random.default_rng(seed)
        df["policy_id"] = np.arange(len(df))
        df["vehicle_value"] = rng.uniform(2.0, 60.0, len(df))
        df["benchmark"] = df["exposure"] * df["incurred"].sum() / df["exposure"].sum()
        df["benchmark"] *= np.exp(rng.normal(0, 0.2, len(df)))
    fit = portfolio.fit_portfolio(df, response="incurred", factors=["area", "ncd_years", "driver_age",
                                                                     "vehicle_colour"],
                                  exposure="exposure", folds=3, seed=seed, relax=relax)
    fit.cv.export(path, model_id="motor", version="2", encoder=fit.encoder)
    return df, Path(path)

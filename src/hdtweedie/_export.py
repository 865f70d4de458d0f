"""Write a fitted model as a versioned, hashed JSON file (read by hdtweedie.scoring)."""

from __future__ import annotations

import datetime
import json
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .scoring import FORMAT_NAME, SCHEMA_VERSION, content_hash, validate_document

__all__ = ["build_document", "export_model"]

_CV_RULES = ("lambda_min", "lambda_1se")


def _package_version():
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("hdtweedie")
    except PackageNotFoundError:  # running from a source tree
        from . import __version__

        return __version__


def _split_pipeline(estimator, encoder):
    """Accept a Pipeline ending in the model, picking up its FactorEncoder."""
    steps = getattr(estimator, "steps", None)
    if steps is None:
        return estimator, encoder
    from ._encoder import FactorEncoder

    if encoder is None:
        found = [step for _, step in steps[:-1] if isinstance(step, FactorEncoder)]
        if len(found) > 1:
            raise ValueError("estimator: the pipeline holds several FactorEncoders; pass encoder=")
        encoder = found[0] if found else None
    if len(steps) > 1 and encoder is None:
        raise ValueError(
            "estimator: a pipeline can be exported only when its preprocessing is a FactorEncoder"
        )
    return steps[-1][1], encoder


def _select(estimator, s):
    """Return (lambda, rule, intercept, coef) for ``s``."""
    is_cv = hasattr(estimator, "lambda_min_")
    if s is None:
        if is_cv:
            lam = float(estimator.lambda_)
            rule = getattr(estimator, "select", "lambda_1se")
            rule = rule if rule in _CV_RULES else "given"
        else:
            lam = float(np.asarray(estimator.lambdas_)[-1])
            rule = "last"
        return lam, rule, float(estimator.intercept_), np.asarray(estimator.coef_, dtype=np.float64)
    if isinstance(s, str):
        if not is_cv or s not in _CV_RULES:
            allowed = "'lambda_min', 'lambda_1se' or a number" if is_cv else "a number"
            raise ValueError(f"s must be None, {allowed}; got {s!r}")
        lam, rule = float(getattr(estimator, s + "_")), s
    else:
        try:
            lam = float(s)
        except (TypeError, ValueError):
            raise TypeError(f"s must be None or a number, got {type(s).__name__} {s!r}") from None
        if not math.isfinite(lam) or lam < 0:
            raise ValueError(f"s must be a finite lambda >= 0, got {s!r}")
        rule = "given"
    intercepts, coefs = estimator.coef_at(s if isinstance(s, str) else lam)
    intercept = float(np.asarray(intercepts, dtype=np.float64).reshape(-1)[0])
    coef = np.asarray(coefs, dtype=np.float64)
    coef = coef[:, 0] if coef.ndim == 2 else coef.reshape(-1)
    return lam, rule, intercept, coef


def _numeric_inputs(names, X):
    """Numeric input specs for a model without an encoder; ranges from X when given."""
    if X is None:
        lo = hi = [None] * len(names)
    else:
        if hasattr(X, "tocsc"):
            lo = np.asarray(X.min(axis=0).toarray()).reshape(-1)
            hi = np.asarray(X.max(axis=0).toarray()).reshape(-1)
        else:
            try:
                arr = np.asarray(X, dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError("X must be the numeric training design matrix") from None
            if arr.ndim != 2 or arr.shape[0] == 0:
                raise ValueError(f"X must be a non-empty 2-D training matrix, got shape {arr.shape}")
            lo, hi = arr.min(axis=0), arr.max(axis=0)
        if len(lo) != len(names):
            raise ValueError(f"X has {len(lo)} columns, the model has {len(names)} features")
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ValueError("X has NaN or infinite values")
        lo, hi = [float(v) for v in lo], [float(v) for v in hi]
    return [
        {"kind": "numeric", "name": name, "feature": name, "min": a, "max": b}
        for name, a, b in zip(names, lo, hi)
    ]


def build_document(estimator, s=None, model_id="model", version="1", encoder=None, X=None,
                   created_at=None):
    """Build the model document that :func:`export_model` writes.

    Parameters are those of :func:`export_model`; ``created_at`` (a timezone-aware
    datetime, default now) fixes the timestamp.

    Returns
    -------
    dict
        The document, including its ``sha256``.
    """
    estimator, encoder = _split_pipeline(estimator, encoder)
    check_is_fitted(estimator, "coef_")
    for label, value in (("model_id", model_id), ("version", version)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{label} must be a non-empty string, got {value!r}")
    lam, rule, intercept, coef = _select(estimator, s)
    if not math.isfinite(intercept) or not np.all(np.isfinite(coef)):
        raise ValueError(f"the coefficients at lambda {lam!r} are not finite; nothing to export")

    fitted_names = getattr(estimator, "feature_names_in_", None)
    if encoder is not None:
        check_is_fitted(encoder, "groups_")
        names = [str(f) for f in encoder.get_feature_names_out()]
        if fitted_names is not None and [str(f) for f in fitted_names] != names:
            raise ValueError(
                "encoder: its output columns differ from the columns the model was fitted on "
                f"({names[:4]}... vs {list(fitted_names)[:4]}...)"
            )
        inputs = encoder._input_specs()
    else:
        names = [str(f) for f in fitted_names] if fitted_names is not None else [
            f"x{i}" for i in range(coef.shape[0])
        ]
        if X is None:
            warnings.warn(
                "export: training ranges of the numeric inputs are unknown, so the scorer cannot "
                "flag out-of-range inputs; pass encoder= or X= (the training matrix)",
                UserWarning,
                stacklevel=3,
            )
        inputs = _numeric_inputs(names, X)
    if len(names) != coef.shape[0]:
        raise ValueError(f"the model has {coef.shape[0]} coefficients but {len(names)} feature names")

    stamp = created_at or datetime.datetime.now(datetime.timezone.utc)
    document = {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "model_id": model_id,
        "version": version,
        "created_at": stamp.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "package": {"name": "hdtweedie", "version": _package_version()},
        "estimator": type(estimator).__name__,
        "power": float(estimator.power),
        "link": "log",
        "alpha": float(estimator.alpha),
        "lambda": lam,
        "lambda_rule": rule,
        "intercept": intercept,
        "features": names,
        # float() of a float64 keeps every bit; json writes its shortest round-trip text
        "coefficients": {name: float(b) for name, b in zip(names, coef)},
        "inputs": inputs,
    }
    document["sha256"] = content_hash(document)
    validate_document(document)  # never write a file the scorer would refuse
    return document


def export_model(estimator, path, s=None, model_id=None, version=None, encoder=None, *, X=None):
    """Write a fitted model as one JSON file for :func:`hdtweedie.scoring.load_model`.

    Parameters
    ----------
    estimator : HDTweedie, HDTweedieCV or Pipeline
        Fitted model.  A pipeline of a :class:`FactorEncoder` and the model
        is accepted and its encoder used.
    path : str or os.PathLike
        File to write (replaced atomically).
    s : float or {"lambda_min", "lambda_1se"}, optional
        Lambda to export.  Default: the selected ``lambda_`` of a CV model,
        the last lambda of a path model.
    model_id : str, optional
        Identifier of the model; defaults to the file name without suffix.
    version : str, optional
        Version of the model; default ``"1"``.
    encoder : FactorEncoder, optional
        The fitted encoder that produced the model's columns; exports the
        factors, levels, base levels and numeric training ranges so records
        of raw rating factors can be scored.
    X : array-like, optional
        Without an encoder: the training matrix, to record the numeric
        training ranges (otherwise they are unknown and a warning is given).

    Returns
    -------
    dict
        The document written (with its ``sha256``).
    """
    path = Path(os.fspath(path))
    if model_id is None:
        model_id = path.stem or "model"
    if version is None:
        version = "1"
    document = build_document(estimator, s=s, model_id=model_id, version=version, encoder=encoder, X=X)
    text = json.dumps(document, indent=2, allow_nan=False, ensure_ascii=True) + "\n"
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"path: directory {str(directory)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a model file is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return document

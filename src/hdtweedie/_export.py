"""Write a fitted model as a versioned, hashed (optionally signed) JSON file read by hdtweedie.scoring."""

from __future__ import annotations

import datetime
import math
import os
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._checks import check_offset, check_weights, check_X, check_y
from ._power_cv import solution_dispersion
from .scoring._files import write_shared
from .scoring._format import (
    FORMAT_NAME,
    content_hash,
    document_text,
    schema_version_for,
    sign_document,
    validate_document,
)

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


def _training_data(estimator) -> dict | None:
    """The ``training_data_`` summary an estimator records at fit, in the file's types."""
    summary = getattr(estimator, "training_data_", None)
    if summary is None:
        return None
    if not isinstance(summary, dict):
        raise TypeError(f"estimator.training_data_ must be a dict, got {type(summary).__name__}")
    out = {}
    for key, kind in (("n_rows", int), ("weight_sum", float), ("exposure_sum", float), ("fingerprint", str)):
        value = summary.get(key)
        out[key] = None if value is None else kind(value)
    for key in ("weight_sum", "exposure_sum"):
        if out[key] is not None and not (math.isfinite(out[key]) and out[key] >= 0):
            raise ValueError(f"estimator.training_data_[{key!r}] must be finite and >= 0, got {out[key]!r}")
    return out


def _dispersion(estimator, s, X, y, sample_weight, offset, power: float, intercept: float,
                coef: np.ndarray) -> float | None:
    """The ML dispersion of the exported solution: the fitted one, or from the training data."""
    fitted = getattr(estimator, "dispersion_", None)
    if s is None and fitted is not None:
        return float(fitted)
    if y is None:
        if sample_weight is not None or offset is not None:
            raise ValueError("sample_weight and offset are used only with y (to estimate the "
                             "dispersion); y was not given")
        return None
    if X is None:
        raise ValueError("y was given without X: the dispersion needs the training design matrix")
    Xc, _ = check_X(X, estimator, reset=False, min_samples=1)
    n = Xc.shape[0]
    return solution_dispersion(Xc, check_y(y, n, power), check_weights(sample_weight, n),
                               check_offset(offset, n), power, intercept, coef, stacklevel=4)


def build_document(estimator, s=None, model_id="model", version="1", encoder=None, X=None,
                   created_at=None, *, y=None, sample_weight=None, offset=None, sign_key=None,
                   key_id=None):
    """Build the model document that :func:`export_model` writes.

    Parameters
    ----------
    estimator, s, model_id, version, encoder, X, y, sample_weight, offset, sign_key, key_id
        As in :func:`export_model`.
    created_at : datetime.datetime, optional
        Timezone-aware time of export (default now).

    Returns
    -------
    dict
        The document, including its ``sha256`` (and ``signature`` with ``sign_key``).

    Raises
    ------
    ValueError, TypeError
        For an unfitted or non-finite model, bad names, or an unusable key.
    """
    estimator, encoder = _split_pipeline(estimator, encoder)
    check_is_fitted(estimator, "coef_")
    for label, value in (("model_id", model_id), ("version", version)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{label} must be a non-empty string, got {value!r}")
    lam, rule, intercept, coef = _select(estimator, s)
    if not math.isfinite(intercept) or not np.all(np.isfinite(coef)):
        raise ValueError(f"the coefficients at lambda {lam!r} are not finite; nothing to export")
    # A CV estimator's power parameter may be the list it chose power_ from.
    power = float(getattr(estimator, "power_", estimator.power))
    phi = _dispersion(estimator, s, X, y, sample_weight, offset, power, intercept, coef)

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
        if X is None and y is None:
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
        "schema_version": None,  # set below, from the fields present
        "model_id": model_id,
        "version": version,
        "created_at": stamp.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "package": {"name": "hdtweedie", "version": _package_version()},
        "estimator": type(estimator).__name__,
        "power": power,
        "link": "log",
        "alpha": float(estimator.alpha),
        "lambda": lam,
        "lambda_rule": rule,
        # coef_ of a relaxed CV fit is the unpenalised refit; an explicit s reads the penalised path
        "relaxed": bool(getattr(estimator, "relax", False)) and s is None,
        "intercept": intercept,
        "features": names,
        # float() of a float64 keeps every bit; json writes its shortest round-trip text
        "coefficients": {name: float(b) for name, b in zip(names, coef)},
        "inputs": inputs,
    }
    training = _training_data(estimator)
    if training is not None:
        document["training_data"] = training
    if phi is not None:
        document["dispersion"] = phi
    document["schema_version"] = schema_version_for(document)
    document["sha256"] = content_hash(document)
    validate_document(document)  # never write a file the scorer would refuse
    if sign_key is not None:
        document = sign_document(document, sign_key, key_id=key_id)
    elif key_id is not None:
        raise ValueError(f"key_id={key_id!r} was given without sign_key")
    return document


def export_model(estimator, path, s=None, model_id=None, version=None, encoder=None, *, X=None,
                 y=None, sample_weight=None, offset=None, sign_key=None, key_id=None):
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
        The training design matrix (the columns the model was fitted on).
        Without an encoder it records the numeric training ranges (otherwise
        they are unknown and a warning is given); with ``y`` it gives the
        dispersion.
    y, sample_weight, offset : array-like, optional
        The training response, weights and offset: with ``X``, the file
        records the maximum-likelihood dispersion ``phi`` of the exported
        solution (row ``i`` has dispersion ``phi / w_i``).  Not needed for an
        estimator that keeps ``dispersion_`` (``HDTweedieCV``, at its selected
        solution, ``s=None``); at power 1 no dispersion is recorded.
    sign_key : bytes or Ed25519PrivateKey, optional
        Sign the file: bytes sign with HMAC-SHA256 (a shared secret of at
        least 16 bytes), an Ed25519 private key (``cryptography``) with
        Ed25519.  ``load_model(path, key=...)`` then verifies it.
    key_id : str, optional
        Name of the signing key, recorded in the file and covered by the signature.

    Returns
    -------
    dict
        The document written (with its ``sha256`` and any ``signature``).

    Raises
    ------
    ValueError, TypeError
        As :func:`build_document`.
    FileNotFoundError
        If the directory of ``path`` does not exist.
    OSError
        If the file cannot be written; an existing file is then left as it was.
    """
    path = Path(os.fspath(path))
    if model_id is None:
        model_id = path.stem or "model"
    if version is None:
        version = "1"
    document = build_document(estimator, s=s, model_id=model_id, version=version, encoder=encoder, X=X,
                              y=y, sample_weight=sample_weight, offset=offset, sign_key=sign_key,
                              key_id=key_id)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"path: directory {str(directory)!r} does not exist")
    write_shared(path, document_text(document))
    return document

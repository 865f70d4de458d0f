"""Statistics of a model file on data: its design, the training-data check and the inference tables."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..scoring._interaction_terms import interaction_features

__all__ = ["Inference", "ModelData", "model_data", "model_inference", "unpenalised"]

SHRUNK_NOTE = ("The coefficients in this file are penalised (shrunk towards zero by the lasso; the file "
               "is not a relaxed or unpenalised refit). Standard errors, confidence intervals and tests "
               "do not apply to shrunk coefficients, so they are left out.")


@dataclass(frozen=True)
class ModelData:
    """A model's view of a data set.

    Attributes
    ----------
    X : numpy.ndarray
        Design matrix in the model's feature order.
    y, exposure, expected : numpy.ndarray
        Response, exposure (ones when not given) and the model's prediction per row.
    offset : numpy.ndarray or None
        ``log(exposure)`` when an exposure was given.
    fingerprint_match : bool or None
        Whether the data is the training data the file records (None when
        the file records no fingerprint).
    """

    X: np.ndarray
    y: np.ndarray
    exposure: np.ndarray
    expected: np.ndarray
    offset: np.ndarray | None
    fingerprint_match: bool | None


@dataclass(frozen=True)
class Inference:
    """Coefficient table, fit statistics and factor tests, or why they are absent.

    Attributes
    ----------
    coef_table, factor_tests : pandas.DataFrame or None
    fit_statistics : dict or None
    note : str
        Empty when the tables are given; otherwise the reason, in words.
    """

    coef_table: object
    fit_statistics: dict | None
    factor_tests: object
    note: str


def unpenalised(model) -> bool:
    """Whether a model file holds an unpenalised fit (standard errors apply).

    Parameters
    ----------
    model : ScoringModel

    Returns
    -------
    bool
    """
    return model.relaxed is True or model.estimator == "TweedieGLM"


def _matches(model, X: np.ndarray, y: np.ndarray, offset: np.ndarray | None) -> bool | None:
    """Whether ``(X, y, offset)`` hashes to the file's training fingerprint, dense or sparse."""
    record = model.training_data
    if not record or not record.get("fingerprint"):
        return None
    if record.get("n_rows") != X.shape[0]:
        return False
    import scipy.sparse as sp

    from .._checks import check_X
    from .._fingerprint import fingerprint

    w = np.ones(X.shape[0])
    off = np.zeros(X.shape[0]) if offset is None else offset
    for form in (sp.csc_matrix(X), np.asfortranarray(X)):
        Xc, _ = check_X(form, min_samples=1)
        if fingerprint(Xc, y, w, off) == record["fingerprint"]:
            return True
    return False


def model_data(model, df, response: str, exposure: str | None = None) -> ModelData:
    """The design, response, exposure and predictions of ``df`` under ``model``.

    Parameters
    ----------
    model : ScoringModel
    df : pandas.DataFrame
        Holds every input of the model, the response and the exposure.
    response : str
        Response column (the loss amount, or the pure premium without exposure).
    exposure : str, optional
        Exposure column; ``log(exposure)`` is the offset.

    Returns
    -------
    ModelData

    Raises
    ------
    ValueError
        For a missing column, a response that is missing, negative or not a
        number, a non-positive exposure, or rows the model cannot encode.
    """
    from ..portfolio import column_values

    y = column_values(df, response, "response", "data", nonnegative=True)
    e = np.ones(len(df)) if exposure is None else column_values(df, exposure, "exposure", "data",
                                                                 positive=True)
    X = model.design_matrix(df)
    offset = None if exposure is None else np.log(e)
    expected = np.asarray(model.predict(X, exposure=e, warn=False), dtype=float)
    return ModelData(X=X, y=y, exposure=e, expected=expected, offset=offset,
                     fingerprint_match=_matches(model, X, y, offset))


def model_inference(model, data: ModelData, confidence_level: float = 0.95) -> Inference:
    """Inference on the file's coefficients over ``data``, when it applies.

    Parameters
    ----------
    model : ScoringModel
    data : ModelData
    confidence_level : float
        Of the coefficient intervals.

    Returns
    -------
    Inference
        With a note instead of tables for a penalised file, or when the
        coefficients are not the maximum-likelihood fit of the data.
    """
    if not unpenalised(model):
        return Inference(None, None, None, SHRUNK_NOTE)
    from .. import inference

    owner = {}
    for spec in model.document["inputs"]:
        kind = spec["kind"]
        for feature in (spec["features"].values() if kind == "factor"
                        else interaction_features(spec) if kind == "interaction" else [spec["feature"]]):
            owner[feature] = spec["name"]
    try:
        fit = inference.unpenalised_fit(
            data.X, data.y, None, data.offset, power=model.power, intercept=model.intercept,
            coef=model.coef, active=model.coef != 0, feature_names=list(model.feature_names),
            groups=[owner[f] for f in model.feature_names])
        return Inference(inference.coef_table(fit, confidence_level=confidence_level),
                         inference.fit_statistics(fit), inference.factor_tests(fit), "")
    except ValueError as exc:
        return Inference(None, None, None, f"Standard errors and tests were not computed on this data: {exc}")

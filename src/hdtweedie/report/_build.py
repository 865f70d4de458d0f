"""The sign-off report: model card, coefficients, tests, fit, factor charts, A/E, lift and Lorenz."""

from __future__ import annotations

import html
import os

import numpy as np
import pandas as pd

from ._html import figure, number, page, table
from ._stats import ModelData, model_data, model_inference

__all__ = ["build_report", "write_report"]

_RULES = {"lambda_1se": "cross-validation, the largest lambda within one standard error of the minimum",
          "lambda_min": "cross-validation, lambda of the minimum CV loss",
          "last": "the last (smallest) lambda of the path", "given": "given explicitly"}


def _p(text: str, cls: str | None = None) -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{html.escape(text)}</p>"


def _pairs(rows: list[tuple[str, object]]) -> str:
    return table(pd.DataFrame({"value": [number(v, 6) for _, v in rows]},
                              index=pd.Index([k for k, _ in rows], name="")))


def _card(model, data: ModelData, n_rows: int, exposure: str | None) -> str:
    doc = model.document
    relaxed = {True: "yes: the selected factors were refitted without penalty",
               False: "no: the coefficients are penalised (shrunk)", None: "not recorded"}[model.relaxed]
    record = model.training_data or {}
    match = {True: "yes: the data given is the training data",
             False: "no: the data given differs from the training data",
             None: "not checked (the file records no training fingerprint)"}[data.fingerprint_match]
    rows = [("model id", model.model_id), ("version", model.version), ("created", model.created_at),
            ("estimator", model.estimator), ("package version", model.package_version),
            ("SHA-256", model.sha256), ("signature verified", model.verified),
            ("Tweedie power", model.power), ("lambda", model.lambda_),
            ("lambda chosen by", "none: an unpenalised GLM" if model.estimator == "TweedieGLM"
             else _RULES.get(doc.get("lambda_rule"), str(doc.get("lambda_rule")))),
            ("relaxed refit", relaxed), ("features (non-zero)",
                                         f"{len(model.feature_names)} ({int(np.count_nonzero(model.coef))})"),
            ("data rows", n_rows),
            ("data exposure", float(data.exposure.sum()) if exposure else "not given (1 per row)"),
            ("training rows", record.get("n_rows")), ("training exposure", record.get("exposure_sum")),
            ("training-data fingerprint", record.get("fingerprint", "not recorded")),
            ("data matches the training fingerprint", match)]
    return _pairs(rows)


def _coefficients(model, inf, level: float) -> str:
    if inf.coef_table is None:
        keep = model.coef != 0
        coef = np.concatenate([[model.intercept], model.coef[keep]])
        names = ["intercept"] + [f for f, k in zip(model.feature_names, keep) if k]
        plain = pd.DataFrame({"coef": coef, "relativity": np.exp(coef)}, index=pd.Index(names, name="term"))
        return (_p(inf.note, "note") + _p("The file's coefficients (features with a zero coefficient "
                                          "are not listed):") + table(plain))
    ct = inf.coef_table
    text = (f"Unpenalised coefficients with {level:.0%} Wald intervals, computed on the data given at the "
            f"file's coefficients (dispersion {number(ct.attrs.get('dispersion'))}, "
            f"reference distribution {ct.attrs.get('distribution', 'normal')}). Features with a zero "
            "coefficient are not in the model and are not listed.")
    return _p(text) + table(ct, index_label="feature")


def _tests(inf) -> str:
    if inf.factor_tests is None:
        return _p(inf.note, "note")
    return _p("Per factor: the joint Wald test of its coefficients and the likelihood-ratio test of "
              "dropping it.") + table(inf.factor_tests, index_label="factor")


def _fit_statistics(model, data: ModelData, inf) -> str:
    from .._distribution import d2_score, tweedie_deviance
    from ..diagnostics import gini

    if inf.fit_statistics is not None:
        stats = inf.fit_statistics
        return _pairs([(k.replace("_", " "), v) for k, v in stats.items()])
    rate, fitted = data.y / data.exposure, data.expected / data.exposure
    rows = [("mean deviance (of the rate)", tweedie_deviance(rate, fitted, model.power, data.exposure)),
            ("D^2 against the mean rate", d2_score(rate, fitted, model.power, data.exposure)),
            ("Gini", gini(data.y, data.expected, data.exposure))]
    return _p(inf.note + " Shown instead: deviance and ranking statistics of the file's predictions.",
              "note") + _pairs(rows)


def _factor_charts(model, df: pd.DataFrame, data: ModelData, inf) -> str:
    from ..charts import factor_chart, factor_chart_data

    tables = factor_chart_data(model, df, data.y, data.exposure, coef_table=inf.coef_table)
    parts = []
    for factor, t in tables.items():
        parts.append(f"<h3>{html.escape(factor)}</h3>")
        if not (t["fitted"] != 1.0).any():
            parts.append(_p(f"{factor} has no effect in the model (every relativity is 1)."))
        parts.append(figure(factor_chart(t), f"Relativities of {factor}"))
    if not parts:
        parts.append(_p("The model has no rating factors."))
    return "".join(parts)


def _ae_columns(model, df: pd.DataFrame, response: str, exposure, benchmark) -> tuple[list, dict]:
    from ..portfolio import choose_columns

    skip = [c for c in (exposure, benchmark) if c is not None]
    choice = choose_columns(df, response=response, exposure=exposure, exclude=skip)
    columns = [c for c in model.input_names if c in df.columns]
    columns += [c for c in list(choice.factors) + list(choice.numeric) if c not in columns]
    left_out = {c: r for c, r in choice.left_out.items() if c not in columns and c not in skip}
    return columns, left_out


def _ae(model, df: pd.DataFrame, data: ModelData, response, exposure, benchmark) -> str:
    from ..charts import ae_chart
    from ..diagnostics import actual_vs_expected

    columns, left_out = _ae_columns(model, df, response, exposure, benchmark)
    modelled = set(model.input_names)
    parts = [_p("Actual against expected by level of every column of the data, modelled or not; numeric "
                "columns with many values are cut into bands of equal exposure.")]
    if left_out:
        parts.append(_p("Left out: " + "; ".join(f"{c} ({r})" for c, r in left_out.items()) + "."))
    for column in columns:
        by = df[[column]].copy()
        if not pd.api.types.is_numeric_dtype(by[column]):
            by[column] = by[column].astype(object).where(by[column].notna(), "(missing)")
        kind = "modelled" if column in modelled else "not in the model"
        parts.append(f"<h3>{html.escape(column)} <span class=\"muted\">({kind})</span></h3>")
        try:
            t = actual_vs_expected(by, column, data.y, data.expected, data.exposure, power=model.power)
        except (ValueError, TypeError) as exc:
            parts.append(_p(f"skipped: {exc}"))
            continue
        parts.append(figure(ae_chart(t), f"Actual vs expected by {column}"))
        parts.append(table(t))
    return "".join(parts)


def _lift(model, data: ModelData, benchmark_values) -> str:
    from ..charts import double_lift_chart, lift_chart, lorenz_chart
    from ..diagnostics import double_lift_table, gini, lift_table

    parts = ["<h3>Lift</h3>"]
    lt = lift_table(data.y, data.expected, data.exposure)
    parts += [figure(lift_chart(lt), "Lift chart"), table(lt, index_label="bin")]
    if benchmark_values is not None:
        dl = double_lift_table(data.y, data.expected, benchmark_values, data.exposure)
        parts += ["<h3>Double lift against the benchmark</h3>",
                  figure(double_lift_chart(dl), "Double lift chart"), table(dl, index_label="bin")]
    g = gini(data.y, data.expected, data.exposure)
    parts += ["<h3>Lorenz curve</h3>", _p(f"Gini: {number(g)}"),
              figure(lorenz_chart(data.y, data.expected, data.exposure), "Lorenz curve")]
    if benchmark_values is not None:
        parts.append(_p(f"Gini of the benchmark: {number(gini(data.y, benchmark_values, data.exposure))}"))
    return "".join(parts)


def _read(model, data, response: str, exposure, benchmark) -> pd.DataFrame:
    from .. import tables

    if isinstance(data, pd.DataFrame):
        df = data
    elif isinstance(data, (str, os.PathLike)):
        text = [s["name"] for s in model.document["inputs"] if s["kind"] == "factor"]
        df = tables.read_table(data, text_columns=text)
    else:
        raise TypeError(f"data must be a DataFrame or the path of a data file, got {type(data).__name__}")
    for name, column in (("response", response), ("exposure", exposure), ("benchmark", benchmark)):
        if column is not None and (not isinstance(column, str) or column not in df.columns):
            raise ValueError(f"{name}: no column {column!r} in the data (columns: {list(df.columns)[:20]})")
    return df


def build_report(model, data, response, exposure=None, benchmark=None, *, confidence_level=0.95) -> str:
    """The sign-off report of a model on a data set, as one self-contained HTML page.

    Parameters
    ----------
    model : ScoringModel, str, os.PathLike or fitted estimator
        The model (a file is loaded).
    data : pandas.DataFrame, str or os.PathLike
        The data (a CSV or Parquet file is read with factor columns as text):
        every input of the model, the response and the other columns given.
    response : str
        Response column: the loss amount with ``exposure``, else the pure premium.
    exposure : str, optional
        Exposure column.
    benchmark : str, optional
        Column of a benchmark's predicted amounts (e.g. the current rates),
        for the double lift chart.
    confidence_level : float, default=0.95
        Of the coefficient intervals.

    Returns
    -------
    str
        HTML with inline CSS and PNG images embedded as base64: no scripts
        and no reference to any other file or address.

    Raises
    ------
    ValueError
        For a column missing from the data, bad response, exposure or
        benchmark values, or rows the model cannot encode.
    TypeError
        For a model or data of the wrong type.
    ImportError
        Without matplotlib.
    """
    from .._checks import check_scalar
    from ..charts import _scoring_model
    from ..diagnostics import _vector

    confidence_level = check_scalar(confidence_level, "confidence_level", float, low=0, high=1,
                                    low_open=True, high_open=True)
    m = _scoring_model(model)
    if hasattr(m, "parts"):
        raise TypeError("model: the sign-off report takes a single model; report each part of a "
                        "composite on its own data")
    df = _read(m, data, response, exposure, benchmark)
    md = model_data(m, df, response, exposure)
    bench = None if benchmark is None else _vector(benchmark, "benchmark", len(df), df)
    if bench is not None and not (np.all(np.isfinite(bench)) and np.all(bench > 0)):
        raise ValueError(f"benchmark: column {benchmark!r} must hold finite positive predictions")
    inf = model_inference(m, md, confidence_level)
    sections = [
        ("card", "Model card", _card(m, md, len(df), exposure)),
        ("coefficients", "Coefficients", _coefficients(m, inf, confidence_level)),
        ("tests", "Factor tests", _tests(inf)),
        ("fit", "Fit statistics", _fit_statistics(m, md, inf)),
        ("factors", "Factor charts", _factor_charts(m, df, md, inf)),
        ("ae", "Actual vs expected", _ae(m, df, md, response, exposure, benchmark)),
        ("lift", "Lift, double lift, Lorenz and Gini", _lift(m, md, bench)),
    ]
    return page(f"Model sign-off: {m.model_id} version {m.version}", sections)


def write_report(path, model, data, response, exposure=None, benchmark=None, *, confidence_level=0.95) -> str:
    """Write :func:`build_report` to ``path``, whole or not at all.

    Parameters
    ----------
    path : str or os.PathLike
        The HTML file.
    model, data, response, exposure, benchmark, confidence_level
        As for :func:`build_report`.

    Returns
    -------
    str
        The HTML written.

    Raises
    ------
    OSError
        If ``path`` cannot be written; an existing file is then left as it was.
    ValueError, TypeError, ImportError
        As for :func:`build_report`; nothing is written.
    """
    from ..scoring._files import write_shared

    text = build_report(model, data, response, exposure, benchmark, confidence_level=confidence_level)
    write_shared(path, text)
    return text

"""MLflow flavour: log the hashed JSON model file with a pyfunc wrapper; load it back by URI.

The model travels as its JSON file (``artifacts/hdtweedie-model.json``),
never as a pickle of coefficients; the pyfunc wrapper only remembers the name
of the exposure column and loads the file through
:func:`hdtweedie.scoring.load_model`, so the SHA-256 (and any signature) is
checked again wherever the model is served.  Needs ``mlflow-skinny``
(``pip install "hdtweedie[mlflow]"``), imported when a function is called.
"""

from __future__ import annotations

import math
import numbers
import os
import tempfile
from pathlib import Path

from ._batch import score_frame

__all__ = ["load_model", "log_model", "model_file"]

MODEL_FILE = "hdtweedie-model.json"
_ARTIFACT = "model"


def _mlflow():
    try:
        import mlflow
        import mlflow.pyfunc
    except ImportError:
        raise ImportError("hdtweedie.mlflow needs MLflow: pip install 'hdtweedie[mlflow]'") from None
    return mlflow


_PYFUNC: list = []


def _pyfunc_class() -> type:
    """The :class:`mlflow.pyfunc.PythonModel` subclass, defined on first use so MLflow stays optional."""
    if _PYFUNC:
        return _PYFUNC[0]
    mlflow = _mlflow()

    class HDTweediePyfunc(mlflow.pyfunc.PythonModel):
        """Score a DataFrame of raw rating factors with the logged model file.

        Parameters
        ----------
        exposure : str or None
            Column holding the exposure (None: exposure 1).
        column : str
            Name of the prediction column returned.
        """

        def __init__(self, exposure: str | None = "exposure", column: str = "prediction"):
            self.exposure = exposure
            self.column = column
            self.model = None

        def load_context(self, context) -> None:
            """Load and verify the JSON model file.

            Parameters
            ----------
            context : mlflow.pyfunc.PythonModelContext
            """
            from .scoring import load_model as load_file

            self.model = load_file(context.artifacts[_ARTIFACT])

        def predict(self, context, model_input, params=None):
            """Predictions and their caveats, one row per input row.

            Parameters
            ----------
            context : mlflow.pyfunc.PythonModelContext
            model_input : pandas.DataFrame
                Raw rating factors and numeric inputs, with the exposure column.
            params : dict, optional
                Unused.

            Returns
            -------
            pandas.DataFrame
                Columns ``column`` and ``column + "_warnings"``.
            """
            from ._frames import to_pandas

            return score_frame(self.model, to_pandas(model_input, "model_input"), self.exposure,
                               self.column, keep=False)

    # Pickled by reference: unpickling finds it through the module __getattr__ below.
    HDTweediePyfunc.__qualname__ = "HDTweediePyfunc"
    _PYFUNC.append(HDTweediePyfunc)
    return HDTweediePyfunc


def __getattr__(name: str):
    if name == "HDTweediePyfunc":
        return _pyfunc_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _example(model, exposure: str | None):
    """One record at the base levels (numeric inputs mid-range), for the signature."""
    import pandas as pd

    row = {}
    for spec in model.document["inputs"]:
        if spec["kind"] == "factor":
            row[spec["name"]] = spec.get("base_level", spec["levels"][0])
        else:
            lo, hi = spec.get("min"), spec.get("max")
            row[spec["name"]] = 0.0 if lo is None or hi is None else (lo + hi) / 2
    if exposure is not None:
        row[exposure] = 1.0
    return pd.DataFrame([row])


def _flat_params(estimator) -> dict:
    """Scalar fit parameters (of the model step of a pipeline), for ``log_params``."""
    step = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    out = {}
    for key, value in step.get_params(deep=False).items():
        if value is None or isinstance(value, (str, bool, numbers.Number)):
            out[key] = value
    return out


def _cv_metrics(estimator) -> dict:
    step = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    metrics = {}
    for name in ("lambda_", "lambda_min_", "lambda_1se_"):
        if hasattr(step, name):
            metrics[name.rstrip("_")] = float(getattr(step, name))
    if hasattr(step, "cv_mean_") and hasattr(step, "lambda_"):
        i = int(abs(step.lambdas_ - step.lambda_).argmin())
        metrics["cv_mean"] = float(step.cv_mean_[i])
        metrics["cv_std"] = float(step.cv_std_[i])
    return {k: v for k, v in metrics.items() if math.isfinite(v)}


def _model_file(model_or_file, folder: str, export_kwargs: dict) -> tuple[str, object | None]:
    """``(path of a JSON model file, the estimator or None)``."""
    from .scoring import ScoringModel

    if isinstance(model_or_file, (str, os.PathLike)):
        if export_kwargs:
            raise TypeError(f"export options {sorted(export_kwargs)} need an estimator, not a model file")
        return os.fspath(model_or_file), None
    if isinstance(model_or_file, ScoringModel):
        if export_kwargs:
            raise TypeError(f"export options {sorted(export_kwargs)} need an estimator, not a ScoringModel")
        path = os.path.join(folder, MODEL_FILE)
        Path(path).write_text(_document_text(model_or_file.document), encoding="utf-8")
        return path, None
    if not hasattr(model_or_file, "export") and not hasattr(model_or_file, "steps"):
        raise TypeError("model_or_file must be a model file path, a ScoringModel or a fitted hdtweedie "
                        f"estimator, got {type(model_or_file).__name__}")
    from ._export import export_model

    path = os.path.join(folder, MODEL_FILE)
    export_model(model_or_file, path, **export_kwargs)
    return path, model_or_file


def _document_text(document: dict) -> str:
    from .scoring._format import document_text

    return document_text(document)


def log_model(model_or_file, name, registered_model_name=None, *, exposure="exposure",
              column="prediction", input_example=None, **export_kwargs):
    """Log a model to the active MLflow run as its JSON file with a pyfunc wrapper.

    Parameters
    ----------
    model_or_file : str, path-like, ScoringModel, or fitted estimator
        A model file written by ``export``, a loaded model, or a fitted
        :class:`HDTweedie`, :class:`HDTweedieCV` or pipeline (exported here
        with ``export_kwargs``; its scalar parameters, CV metrics and factor
        table are logged with it).
    name : str
        Name of the logged model within the run.
    registered_model_name : str, optional
        Also register it under this name (a new version each call).
    exposure : str or None
        Column of the pyfunc input holding the exposure; None for exposure 1.
    column : str
        Name of the prediction column the pyfunc returns (and of
        ``column + "_warnings"``).
    input_example : pandas.DataFrame, optional
        Default: one record at the base levels with exposure 1.
    **export_kwargs
        Passed to ``export`` for an estimator (``encoder``, ``s``, ``model_id``,
        ``version``, ``X``, ``sign_key``, ``key_id``).

    Returns
    -------
    mlflow.models.model.ModelInfo
        ``model_uri`` addresses the logged model.

    Raises
    ------
    TypeError
        For an object that is none of these, or export options with a file.
    ValueError
        For an empty ``name`` or a bad ``exposure``/``column``.
    hdtweedie.scoring.ModelFileError
        If the model file does not load (damaged, tampered with).
    ImportError
        Without MLflow.
    """
    mlflow = _mlflow()
    from mlflow.models import infer_signature

    from .scoring import load_model as load_file

    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if exposure is not None and (not isinstance(exposure, str) or not exposure):
        raise ValueError(f"exposure must be a column name or None, got {exposure!r}")
    if not isinstance(column, str) or not column:
        raise ValueError(f"column must be a non-empty string, got {column!r}")
    with tempfile.TemporaryDirectory(prefix="hdtweedie-mlflow-") as folder:
        source, estimator = _model_file(model_or_file, folder, export_kwargs)
        model = load_file(source)
        path = os.path.join(folder, MODEL_FILE)
        if os.path.abspath(source) != os.path.abspath(path):  # the artifact always has one name
            Path(path).write_bytes(Path(source).read_bytes())
        example = _example(model, exposure) if input_example is None else input_example
        output = score_frame(model, example, exposure, column, keep=False)
        signature = infer_signature(example, output)
        wrapper = _pyfunc_class()(exposure=exposure, column=column)
        info = mlflow.pyfunc.log_model(
            name=name, python_model=wrapper, artifacts={_ARTIFACT: path}, signature=signature,
            input_example=example, registered_model_name=registered_model_name,
            metadata={"hdtweedie_model_id": model.model_id, "hdtweedie_version": model.version,
                      "hdtweedie_sha256": model.sha256},
        )
        if estimator is not None:
            mlflow.log_params(_flat_params(estimator))
            metrics = _cv_metrics(estimator)
            if metrics:
                mlflow.log_metrics(metrics)
        table = os.path.join(folder, f"{name}-factor-table.csv")
        model.factor_table(table)
        mlflow.log_artifact(table, artifact_path="hdtweedie")
    return info


def model_file(model_uri, dst_path=None):
    """Download a logged model and return the path of its JSON model file.

    Parameters
    ----------
    model_uri : str
        Any MLflow model URI: ``models:/NAME@alias``, ``models:/NAME/3``,
        ``runs:/RUN_ID/NAME``, or a local folder.
    dst_path : str or path-like, optional
        Folder to download into (default: a new temporary folder).

    Returns
    -------
    str
        Local path of ``hdtweedie-model.json``, ready for
        :func:`hdtweedie.scoring.load_model` or ``hdtweedie serve``.

    Raises
    ------
    ValueError
        For a URI that is not a string, or a model without an hdtweedie file.
    mlflow.exceptions.MlflowException
        If the URI cannot be resolved (unknown model, alias or version).
    """
    mlflow = _mlflow()
    if not isinstance(model_uri, (str, os.PathLike)) or not os.fspath(model_uri):
        raise ValueError(f"model_uri must be an MLflow model URI, got {model_uri!r}")
    if dst_path is None:
        dst_path = tempfile.mkdtemp(prefix="hdtweedie-model-")
    local = mlflow.artifacts.download_artifacts(artifact_uri=os.fspath(model_uri),
                                                dst_path=os.fspath(dst_path))
    path = os.path.join(local, "artifacts", MODEL_FILE)
    if not os.path.isfile(path):
        raise ValueError(f"model_uri: {model_uri!r} holds no {MODEL_FILE}; was it logged with "
                         "hdtweedie.mlflow.log_model?")
    return path


def load_model(model_uri, key=None, **kwargs):
    """Load a logged model as a :class:`hdtweedie.scoring.ScoringModel`.

    Parameters
    ----------
    model_uri : str
        As in :func:`model_file` (``models:/NAME@champion``).
    key : optional
        Verify the file's signature, as in :func:`hdtweedie.scoring.load_model`.
    **kwargs
        Passed to :func:`hdtweedie.scoring.load_model` (``algorithm``, ``max_bytes``).

    Returns
    -------
    ScoringModel

    Raises
    ------
    ValueError, ModelFileError, mlflow.exceptions.MlflowException
        As :func:`model_file` and :func:`hdtweedie.scoring.load_model`.
    """
    from .scoring import load_model as load_file

    with tempfile.TemporaryDirectory(prefix="hdtweedie-model-") as folder:
        model = load_file(model_file(model_uri, folder), key, **kwargs)
    return model


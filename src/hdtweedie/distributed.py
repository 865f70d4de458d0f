"""Score a portfolio held in a Spark or Dask DataFrame, partition by partition.

Each engine gets the model as the text of its JSON file; a worker process
verifies and loads it once (cached by the text's SHA-256) and scores its
partitions with :func:`hdtweedie._batch.score_frame`, so the prediction and
the ``<column>_warnings`` caveats are those of ``hdtweedie score``.  pyspark
and dask are imported only by the function that needs them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

from ._batch import check_columns, score_frame, warnings_column

__all__ = ["score_dask", "score_spark"]

_LOADED: dict[str, object] = {}  # SHA-256 of a model file's text -> ScoringModel, per process


def _model_text(model) -> tuple[str, object]:
    """``(text of the model file, the loaded model)`` from a path or a ScoringModel."""
    from .scoring import ScoringModel, load_model
    from .scoring._format import document_text

    if isinstance(model, ScoringModel):
        return document_text(model.document), model
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a model file path or a ScoringModel, got {type(model).__name__}")
    loaded = load_model(model)
    with open(model, encoding="utf-8") as fh:
        return fh.read(), loaded


def _model_from_text(text: str):
    """The model whose file is ``text``, verified and loaded once per process."""
    key = hashlib.sha256(text.encode("utf-8")).hexdigest()
    model = _LOADED.get(key)
    if model is None:
        from .scoring import load_model

        with tempfile.TemporaryDirectory(prefix="hdtweedie-worker-") as folder:
            path = os.path.join(folder, "model.json")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
            model = _LOADED[key] = load_model(path)
    return model


def score_spark(df, model, exposure: str | None = "exposure", column: str = "prediction",
                keep: bool = True):
    """Score a Spark DataFrame of raw inputs with ``mapInPandas``.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        One row per risk: the rating factors (as text or numbers), the
        numeric inputs and the exposure.
    model : str, path-like or ScoringModel
        The model file (verified here, then broadcast as text and loaded once
        per Python worker).
    exposure : str or None
        Column holding the exposure; None for an exposure of 1.
    column : str
        Name of the prediction column (double); caveats go in the string
        column ``column + "_warnings"`` (empty when none).
    keep : bool
        Keep the input columns (True) or return the two new columns only.

    Returns
    -------
    pyspark.sql.DataFrame
        Lazy: nothing is scored until an action runs.  A row that cannot be
        scored gets a null prediction (Spark reads NaN back as NaN) and its
        caveats.

    Raises
    ------
    TypeError
        For a ``model`` that is neither a path nor a ScoringModel.
    ValueError
        For a missing exposure or input column, or an output column the data already has.
    ModelFileError
        If the model file does not load.
    """
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    text, loaded = _model_text(model)
    check_columns(list(df.columns), loaded, exposure, column, keep)
    shared = df.sparkSession.sparkContext.broadcast(text)
    added = [StructField(column, DoubleType(), True),
             StructField(warnings_column(column), StringType(), True)]
    schema = StructType((list(df.schema.fields) if keep else []) + added)

    def score(batches):
        scorer = _model_from_text(shared.value)
        for frame in batches:
            yield score_frame(scorer, frame, exposure, column, keep)

    return df.mapInPandas(score, schema)


def _score_partition(frame, text: str, exposure: str | None, column: str, keep: bool):
    return score_frame(_model_from_text(text), frame, exposure, column, keep)


def score_dask(ddf, model, exposure: str | None = "exposure", column: str = "prediction",
               keep: bool = True):
    """Score a Dask DataFrame of raw inputs with ``map_partitions``.

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        One row per risk, as for :func:`score_spark`.
    model : str, path-like or ScoringModel
        The model file (verified here; each worker process loads its text once).
    exposure : str or None
        Column holding the exposure; None for an exposure of 1.
    column : str
        Name of the float64 prediction column; caveats go in ``column + "_warnings"``.
    keep : bool
        Keep the input columns (True) or return the two new columns only.

    Returns
    -------
    dask.dataframe.DataFrame
        Lazy, with the same partitions and index as ``ddf``.

    Raises
    ------
    TypeError, ValueError, ModelFileError
        As :func:`score_spark`.
    """
    import pandas as pd

    text, loaded = _model_text(model)
    check_columns(list(ddf.columns), loaded, exposure, column, keep)
    empty = ddf._meta.iloc[:0]
    added = pd.DataFrame({column: pd.Series(dtype="float64", index=empty.index),
                          warnings_column(column): pd.Series(dtype=str, index=empty.index)})
    meta = pd.concat([empty, added], axis=1) if keep else added
    return ddf.map_partitions(_score_partition, text, exposure, column, keep, meta=meta)

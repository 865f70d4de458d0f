"""``hdtweedie score``, ``explain`` and ``compare``: use an exported model."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import warnings
from collections.abc import Callable, Iterator

import numpy as np

from .. import tables
from .._batch import BatchScorer, warnings_column
from .._table_stream import TableReader, TableWriter
from ._common import UserError, factor_names, load_json_arg, load_model, one_line
from ._report import Reporter

_ISSUE_WORDS = {
    "unseen_level": "a level not seen in training",
    "out_of_range": "a value outside the training range",
    "missing_value": "a missing value",
    "not_a_number": "a value that is not a number",
    "invalid_exposure": "an invalid exposure",
    "invalid_encoding": "an invalid value",
    "not_finite": "a prediction too large to represent",
}


class _Rescore(Exception):
    """A row was flagged in a file being written without a warnings column: start again with one."""


class _Columns:
    """The columns of one file and what the model reads from them, checked before anything is written."""

    def __init__(self, args: argparse.Namespace, model, columns: list) -> None:
        self.source = args.data
        tables.require_columns(columns, list(model.required_inputs), "model input", args.data)
        # Inputs the model gives no weight may be absent from the file.
        self.present = [name for name in model.input_names if name in columns]
        self.numeric = [name for name in self.present if name not in factor_names(model)]
        if args.column in columns:
            raise UserError(f"{args.data} already has a column {args.column!r}; "
                            "name the prediction column with --column")
        if args.exposure is not None:
            tables.require_columns(columns, [args.exposure], "exposure", args.data)
        self.exposure = args.exposure
        self.seen: dict[str, list] = {}  # numeric column -> [a number seen, a value seen]

    def inputs(self, chunk) -> tuple:
        """``(inputs, exposure, not_number)`` of a chunk: numeric inputs as floats."""
        inputs = chunk[self.present].copy()
        not_number = {}
        for name in self.numeric:
            inputs[name], not_number[name] = self._numbers(chunk, name, "model input")
        exposure = None if self.exposure is None else self._numbers(chunk, self.exposure, "exposure")[0]
        return inputs, exposure, not_number

    def _numbers(self, chunk, column: str, what: str) -> tuple[np.ndarray, np.ndarray]:
        """A column's values as floats and the rows holding text that is not a number."""
        series = chunk[column]
        try:
            values, bad = tables.numeric_values(series)
        except TypeError as exc:
            if str(exc) != "is not numeric":
                raise UserError(f"{what} column {column!r} in {self.source} {exc}") from None
            # No number in this chunk: the column is refused only if the file has none (see finish).
            values, bad = np.full(len(series), np.nan), np.ones(len(series), dtype=bool)
        present = series.notna().to_numpy()
        seen = self.seen.setdefault(column, [False, False])
        seen[0] = seen[0] or bool((~bad).any())
        seen[1] = seen[1] or bool(present.any())
        return values, bad & present

    def finish(self) -> None:
        """Refuse a numeric column in which values are present but none of the whole file is a number."""
        for column, (number, value) in self.seen.items():
            if value and not number:
                what = "exposure" if column == self.exposure else "model input"
                raise UserError(f"{what} column {column!r} in {self.source} is not numeric")


def _score_file(args: argparse.Namespace, rep: Reporter, model, reader, flag_column: bool) -> BatchScorer:
    """Score ``reader``'s chunks into ``args.out``; raise :class:`_Rescore` on a flag without its column."""
    columns = _Columns(args, model, reader.columns)
    scorer = BatchScorer(model)
    update = rep.counter("scoring", reader.rows)
    # closing(): on any exit, SIGTERM included, the input file is closed then, not at shutdown.
    with TableWriter(args.out) as out, contextlib.closing(iter(reader)) as chunks:
        for chunk in chunks:
            inputs, exposure, not_number = columns.inputs(chunk)
            try:
                values, text = scorer.score(inputs, exposure, not_number)
            except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
                raise UserError(f"cannot score {args.data}: {one_line(exc)}") from None
            if scorer.issues and not flag_column and not args.strict:
                raise _Rescore
            chunk = chunk.assign(**{args.column: values})
            if flag_column:
                chunk[warnings_column(args.column)] = text
            out.write(chunk)
            update(scorer.n_rows)
        columns.finish()
        if scorer.issues and args.strict:
            first = min(first for _, first, _ in scorer.issues.values())
            raise UserError(f"{scorer.n_flagged:,} of {scorer.n_rows:,} rows of {args.data} flagged (first "
                            f"at data row {first + 1}); nothing written (--strict)")
    return scorer


def cmd_score(args: argparse.Namespace, rep: Reporter) -> int:
    """Run ``hdtweedie score``; return the exit status.

    The file is read, scored and written a chunk (``--chunk-size`` rows) at a
    time.  The warnings column is written only when a row is flagged: the
    first flag in a file started without it starts the file again with it.
    """
    if tables.file_kind(args.out) is None:
        raise UserError(f"cannot tell the format of {args.out} from its name: use .csv or .parquet")
    tables.refuse_same_file(args.out, [args.data, args.model])
    model = load_model(args.model)
    reader = TableReader(args.data, text_columns=factor_names(model), chunk_size=args.chunk_size)
    try:
        scorer = _score_file(args, rep, model, reader, flag_column=False)
    except _Rescore:
        scorer = _score_file(args, rep, model, reader, flag_column=True)
    for (kind, name), (count, first, scored) in scorer.issues.items():
        what = "scored and flagged" if scored else "not scored, prediction left empty"
        rep.warn(f"{name}: {count:,} row(s) with {_ISSUE_WORDS.get(kind, kind.replace('_', ' '))}, "
                 f"{what} (first at data row {first + 1})")
    n = scorer.n_rows
    if scorer.issues:
        rep.warn(f"{scorer.n_flagged:,} of {n:,} rows flagged, {scorer.n_unscored:,} not scored; "
                 f"see column {warnings_column(args.column)} in {args.out}")
    rep.say(f"scored {n:,} rows; predictions written to {args.out}")
    return 0


@contextlib.contextmanager
def _collect_warnings() -> Iterator[list[str]]:
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield messages
    messages.extend(one_line(str(w.message)) for w in caught)


def to_jsonable(obj):
    """Scoring results (dataclasses, numpy numbers) as JSON values; non-finite numbers as null.

    Parameters
    ----------
    obj : object
        A result, or part of one.

    Returns
    -------
    object
        Made of dicts, lists, str, int, finite float, bool and None.
    """
    if hasattr(obj, "to_dict") and not isinstance(obj, type):
        return to_jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _print_result(args: argparse.Namespace, rep: Reporter, action: Callable, what: str) -> int:
    """Run ``action`` collecting its warnings; print the result as text or JSON."""
    with _collect_warnings() as caught:
        try:
            result = action()
            text = (json.dumps(to_jsonable(result), indent=2, allow_nan=False) if args.json
                    else str(result))
        except ArithmeticError as exc:
            raise UserError(f"cannot {what}: a value is too large to compute with "
                            f"({one_line(exc)})") from None
        except (ValueError, TypeError, KeyError) as exc:
            raise UserError(f"cannot {what}: {one_line(exc)}") from None
    for message in dict.fromkeys(caught):
        rep.warn(message)
    rep.result(text)
    return 0


def cmd_explain(args: argparse.Namespace, rep: Reporter) -> int:
    """Run ``hdtweedie explain``; return the exit status."""
    model = load_model(args.model)
    record = load_json_arg(args.record, "--record")
    return _print_result(args, rep, lambda: model.explain(record, exposure=args.exposure),
                         "explain the record")


def cmd_compare(args: argparse.Namespace, rep: Reporter) -> int:
    """Run ``hdtweedie compare``; return the exit status."""
    model = load_model(args.model)
    other = load_model(args.model_b) if args.model_b is not None else None
    a = load_json_arg(args.a, "--a")
    b = load_json_arg(args.b, "--b")
    return _print_result(args, rep, lambda: model.compare(a, b, other=other, exposure_a=args.exposure),
                         "compare the records")

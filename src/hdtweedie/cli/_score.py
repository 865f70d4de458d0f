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


def _numbers(df, column: str, what: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    """A column's values as floats and the rows holding text that is not a number."""
    try:
        values, bad = tables.numeric_values(df[column])
    except TypeError as exc:
        raise UserError(f"{what} column {column!r} in {source} {exc}") from None
    return values, bad & df[column].notna().to_numpy()


class _Flags:
    """Per-row caveats and their totals while a file is scored in chunks."""

    def __init__(self, n: int) -> None:
        self.rows: dict[int, list[str]] = {}
        self.issues: dict[tuple[str, str], list] = {}  # (kind, input) -> [count, first row, scored]
        self.unscored = np.zeros(n, dtype=bool)

    def add(self, kind: str, name: str, rows: np.ndarray, scored: bool) -> None:
        if rows.size == 0:
            return
        entry = self.issues.setdefault((kind, name), [0, int(rows.min()), scored])
        entry[0] += rows.size
        entry[1] = min(entry[1], int(rows.min()))
        if not scored:
            self.unscored[rows] = True
        for r in rows:
            self.rows.setdefault(int(r), []).append(f"{kind}:{name}")

    def column(self, n: int) -> list[str]:
        return ["; ".join(self.rows.get(i, ())) for i in range(n)]


def _score_chunk(model, inputs, expo, start: int, flags: _Flags, not_number: dict, source: str):
    try:
        result = model.predict(inputs, exposure=expo, errors="flag", warn=False)
    except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
        raise UserError(f"cannot score {source}: {one_line(exc)}") from None
    values = np.array(result.values, dtype=float)
    for issue in result.warnings:
        rows = np.asarray(issue.rows, dtype=int).reshape(-1)
        kind = issue.kind
        if kind == "missing_value" and issue.input in not_number:  # text that is not a number
            text = rows[not_number[issue.input][start + rows]]
            flags.add("not_a_number", issue.input, start + text, issue.scored)
            rows = np.setdiff1d(rows, text)
        flags.add(kind, issue.input, start + rows, issue.scored)
    # Never a silent inf: a prediction that overflows is flagged and left empty.
    overflow = np.flatnonzero(np.isinf(values))
    values[overflow] = np.nan
    flags.add("not_finite", "prediction", start + overflow, False)
    return values


def cmd_score(args: argparse.Namespace, rep: Reporter) -> int:
    """Run ``hdtweedie score``; return the exit status."""
    if tables.file_kind(args.out) is None:
        raise UserError(f"cannot tell the format of {args.out} from its name: use .csv or .parquet")
    tables.refuse_same_file(args.out, [args.data, args.model])
    model = load_model(args.model)
    df = tables.read_table(args.data, text_columns=factor_names(model))
    tables.require_columns(df, list(model.required_inputs), "model input", args.data)
    # Inputs the model gives no weight may be absent from the file.
    present = [name for name in model.input_names if name in df.columns]
    factors = [name for name in present if name in factor_names(model)]
    if args.column in df.columns:
        raise UserError(f"{args.data} already has a column {args.column!r}; "
                        "name the prediction column with --column")
    inputs = df[present].copy()
    not_number = {}
    for name in present:
        if name not in factors:
            inputs[name], not_number[name] = _numbers(df, name, "model input", args.data)
    exposure = None
    if args.exposure is not None:
        tables.require_columns(df, [args.exposure], "exposure", args.data)
        exposure, _ = _numbers(df, args.exposure, "exposure", args.data)
    n = len(df)
    update = rep.counter("scoring", n)
    preds = np.empty(n)
    flags = _Flags(n)
    for start in range(0, n, args.chunk_size):
        stop = min(n, start + args.chunk_size)
        expo = None if exposure is None else exposure[start:stop]
        preds[start:stop] = _score_chunk(model, inputs.iloc[start:stop], expo, start, flags,
                                         not_number, args.data)
        update(stop)
    if flags.issues and args.strict:
        first = min(first for _, first, _ in flags.issues.values())
        raise UserError(f"{len(flags.rows):,} of {n:,} rows of {args.data} flagged (first at data row "
                        f"{first + 1}); nothing written (--strict)")
    out = df.copy()
    out[args.column] = preds
    if flags.issues:
        out[f"{args.column}_warnings"] = flags.column(n)
    tables.write_table(out, args.out)
    for (kind, name), (count, first, scored) in flags.issues.items():
        what = "scored and flagged" if scored else "not scored, prediction left empty"
        rep.warn(f"{name}: {count:,} row(s) with {_ISSUE_WORDS.get(kind, kind.replace('_', ' '))}, "
                 f"{what} (first at data row {first + 1})")
    if flags.issues:
        rep.warn(f"{len(flags.rows):,} of {n:,} rows flagged, {int(flags.unscored.sum()):,} not scored; "
                 f"see column {args.column}_warnings in {args.out}")
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

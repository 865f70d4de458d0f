"""The ``hdtweedie`` command line.

Subcommands: ``demo``, ``fit``, ``score``, ``explain``, ``compare``,
``factor-table`` and ``validate``; ``hdtweedie <command> --help`` describes
each.  User errors (a missing column, an unreadable file, a bad option) are
reported on one line of standard error with exit status 1 (2 for a bad
command line), without a traceback; ``--verbose`` adds the traceback.

Progress of long steps is drawn on standard error only when it is a terminal
and ``--quiet`` is not given, so output piped to a file stays clean.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import shutil
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path

PROG = "hdtweedie"

#: Exit status of a user error (bad data, bad file) and of a bad command line.
EXIT_ERROR = 1
EXIT_USAGE = 2


class UserError(Exception):
    """A problem with the user's input, reported in one line."""


class UsageError(UserError):
    """A malformed command line."""


class _Parser(argparse.ArgumentParser):
    """Argument parser whose errors are one line, not usage plus message."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


# -- reporting ---------------------------------------------------------------

def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Reporter:
    """Where the command line writes: results, notes, progress and warnings.

    Results (tables the user asked for) always go to standard output; notes go
    there unless ``quiet``; progress is drawn on standard error only when it
    is a terminal and not ``quiet``; ``verbose`` adds step timings and details.
    """

    def __init__(self, quiet=False, verbose=False, out=None, err=None):
        self.out = sys.stdout if out is None else out
        self.err = sys.stderr if err is None else err
        self.quiet = quiet
        self.verbose = verbose and not quiet
        self.live = not quiet and _isatty(self.err)
        self._lock = threading.Lock()

    def result(self, text=""):
        print(text, file=self.out, flush=True)

    def say(self, text=""):
        if not self.quiet:
            print(text, file=self.out, flush=True)

    def detail(self, text):
        if self.verbose:
            print(text, file=self.err, flush=True)

    def warn(self, text):
        if not self.quiet:
            self._clear()
            print(f"{PROG}: warning: {text}", file=self.err, flush=True)

    @staticmethod
    def _fit(line):
        """Cut a progress line to the terminal width so that \\r can redraw it."""
        width = shutil.get_terminal_size((80, 24)).columns - 1
        return line if len(line) <= width else line[: max(width - 3, 1)] + "..."

    def _clear(self):
        if self.live:
            self.err.write("\r\033[K")
            self.err.flush()

    @contextlib.contextmanager
    def step(self, label):
        """Show ``label`` with a spinner and elapsed time while the body runs.

        Yields a :class:`_Step` whose ``note`` (e.g. "3/5 folds") is shown
        after the label.
        """
        start = time.perf_counter()
        stop = threading.Event()
        thread = None
        handle = _Step()
        if self.live:
            def spin():
                frames = "|/-\\"
                k = 0
                while not stop.wait(0.2):
                    elapsed = time.perf_counter() - start
                    note = f": {handle.note}" if handle.note else ""
                    line = self._fit(f"{frames[k % 4]} {label}{note} ({elapsed:.0f} s)")
                    with self._lock:
                        self.err.write(f"\r\033[K{line}")
                        self.err.flush()
                    k += 1

            self.err.write(f"\r\033[K{label} ...")
            self.err.flush()
            thread = threading.Thread(target=spin, daemon=True)
            thread.start()
        ok = False
        try:
            yield handle
            ok = True
        finally:
            stop.set()
            if thread is not None:
                thread.join()
            elapsed = time.perf_counter() - start
            if self.live:
                status = "done" if ok else "failed"
                note = f"{handle.note}, " if handle.note else ""
                self.err.write(f"\r\033[K{label}: {note}{status} in {elapsed:.1f} s\n")
                self.err.flush()
            else:
                self.detail(f"{label}: {elapsed:.2f} s")

    def counter(self, label, total, unit="rows"):
        """Return a callable ``update(done)`` drawing ``label: done/total``."""
        start = time.perf_counter()

        def update(done):
            if not self.live:
                return
            pct = 100.0 * done / total if total else 100.0
            self.err.write("\r\033[K" + self._fit(f"{label}: {done:,}/{total:,} {unit} ({pct:.0f}%)"))
            if done >= total:
                self.err.write(f" in {time.perf_counter() - start:.1f} s\n")
            self.err.flush()

        return update


class _Step:
    """Mutable note shown next to a running step."""

    note = ""


class _FoldProgress:
    """Stand-in for ``sys.stderr`` during cross-validation.

    joblib reports finished fits as ``[Parallel(...)]: Done  3 ...`` lines; they
    become a "3/6 fits" note on the running step (the full path runs beside the K
    folds when the lambda grid is the default one, so there are K + 1 fits).  Any
    other text is passed through unchanged.
    """

    _done = re.compile(r"Done\s+(\d+)(?:\s+out of\s+(\d+))?")

    def __init__(self, stream, step, n_folds):
        self.stream = stream
        self.step = step
        self.total = n_folds + 1
        self.count = 0

    def write(self, text):
        if "[Parallel(" not in text:
            return self.stream.write(text)
        for match in self._done.finditer(text):
            self.count = max(self.count, int(match.group(1)))
            if match.group(2):
                self.total = int(match.group(2))
        self.step.note = f"{self.count}/{self.total} fits"
        return len(text)

    def flush(self):
        self.stream.flush()

    def isatty(self):
        return False


@contextlib.contextmanager
def _fold_progress(step, n_folds):
    old = sys.stderr
    sys.stderr = _FoldProgress(old, step, n_folds)
    try:
        yield
    finally:
        sys.stderr = old


# -- small helpers -----------------------------------------------------------

def _pandas():
    try:
        import pandas as pd
    except ImportError:
        raise UserError(
            "the command line needs pandas: pip install hdtweedie[pandas]"
        ) from None
    return pd


_CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
_COMPRESSED = {".gz", ".bz2", ".zip", ".xz", ".zst"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}


def _file_kind(path):
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in _PARQUET_SUFFIXES:
        return "parquet"
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _CSV_SUFFIXES:
        return "tsv" if suffixes[-1] == ".tsv" else "csv"
    return None


def _has_pyarrow():
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None


def read_table(path):
    """Read a CSV (optionally compressed) or Parquet file into a DataFrame."""
    pd = _pandas()
    p = Path(path)
    if not p.exists():
        raise UserError(f"data file not found: {path}")
    if p.is_dir():
        raise UserError(f"{path} is a folder, not a data file")
    kind = _file_kind(p)
    if kind is None:
        raise UserError(
            f"cannot tell the format of {path} from its name: use .csv, "
            ".csv.gz, .tsv or .parquet"
        )
    if kind == "parquet":
        if not _has_pyarrow():
            raise UserError(f"reading {path} needs pyarrow: pip install hdtweedie[parquet]")
        try:
            df = pd.read_parquet(p)
        except Exception as exc:  # pyarrow raises many kinds of errors
            raise UserError(f"cannot read {path} as Parquet: {_one_line(exc)}") from None
    else:
        try:
            df = pd.read_csv(p, sep="\t" if kind == "tsv" else ",")
        except pd.errors.EmptyDataError:
            raise UserError(f"{path} is empty") from None
        except (ValueError, UnicodeDecodeError, OSError, EOFError) as exc:
            raise UserError(f"cannot read {path} as CSV: {_one_line(exc)}") from None
    if len(df) == 0:
        raise UserError(f"{path} has no data rows")
    return df


def write_table(df, path):
    """Write a DataFrame as CSV or Parquet, chosen by the file name."""
    p = Path(path)
    kind = _file_kind(p)
    if kind is None:
        raise UserError(
            f"cannot tell the format of {path} from its name: use .csv or .parquet"
        )
    _make_parent(p)
    if kind == "parquet":
        if not _has_pyarrow():
            raise UserError(f"writing {path} needs pyarrow: pip install hdtweedie[parquet]")
        df.to_parquet(p, index=False)
    else:
        df.to_csv(p, index=False, sep="\t" if kind == "tsv" else ",")


def _make_parent(path):
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create folder {parent}: {exc.strerror or exc}") from None


def _one_line(exc):
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def _split_columns(values):
    """Flatten repeated, comma-separated column options, keeping order."""
    if not values:
        return []
    out = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if name and name not in out:
                out.append(name)
    return out


def _check_columns(df, columns, what, source):
    missing = [c for c in columns if c not in df.columns]
    if missing:
        shown = ", ".join(map(str, list(df.columns)[:20]))
        more = ", ..." if len(df.columns) > 20 else ""
        noun = "column" if len(missing) == 1 else "columns"
        raise UserError(
            f"{what} {noun} {', '.join(repr(m) for m in missing)} not found in "
            f"{source} (columns: {shown}{more})"
        )


def _numeric_column(df, column, what, source, *, positive=False, nonnegative=False):
    """A column as float64, with missing, negative or non-numeric values refused."""
    import numpy as np

    pd = _pandas()
    series = df[column]
    if not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)):
        raise UserError(f"{what} column {column!r} in {source} is not numeric")
    # A writable copy: pandas may hand out read-only views of its data.
    values = np.array(series.to_numpy(dtype=float, na_value=np.nan), dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise UserError(
            f"{what} column {column!r} in {source} has {int(bad.sum())} missing or "
            f"infinite value(s), first at row {int(np.flatnonzero(bad)[0]) + 1}"
        )
    if positive and (values <= 0).any():
        row = int(np.flatnonzero(values <= 0)[0])
        raise UserError(
            f"{what} column {column!r} in {source} must be positive; row {row + 1} "
            f"has {values[row]:g}"
        )
    if nonnegative and (values < 0).any():
        row = int(np.flatnonzero(values < 0)[0])
        raise UserError(
            f"{what} column {column!r} in {source} must not be negative; row {row + 1} "
            f"has {values[row]:g}"
        )
    return values


def _float_in(name, low, high, *, low_open=False):
    """argparse type: a float within [low, high] (or (low, high])."""

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or value > high:
            bracket = "(" if low_open else "["
            raise argparse.ArgumentTypeError(
                f"{name} must be in {bracket}{low:g}, {high:g}], got {text}"
            )
        return value

    return parse


def _int_at_least(name, low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{name} must be at least {low}, got {value}")
        return value

    return parse


def _load_json_arg(text, option):
    """A JSON object given inline, or as the path of a JSON file (``@file`` too)."""
    source = text
    candidate = text[1:] if text.startswith("@") else text
    if text.startswith("@") or (not text.lstrip().startswith("{") and Path(candidate).is_file()):
        try:
            source = Path(candidate).read_text()
        except OSError as exc:
            raise UserError(f"{option}: cannot read {candidate}: {exc.strerror or exc}") from None
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        raise UserError(f"{option} is not valid JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(value, dict):
        raise UserError(
            f"{option} must be a JSON object of factor values, got {type(value).__name__}"
        )
    return value


def _load_model(path):
    from . import scoring

    p = Path(path)
    if not p.exists():
        raise UserError(f"model file not found: {path}")
    if p.is_dir():
        raise UserError(f"{path} is a folder, not a model file")
    try:
        return scoring.load_model(p)
    except (ValueError, TypeError, KeyError, OSError) as exc:
        raise UserError(_one_line(exc)) from None


# -- fitting (shared by fit and demo) ----------------------------------------

def _infer_columns(df, exclude):
    """Split the remaining columns into factors (text, bool) and numeric inputs."""
    pd = _pandas()
    factors, numeric = [], []
    for col in df.columns:
        if col in exclude:
            continue
        s = df[col]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            factors.append(col)
        else:
            numeric.append(col)
    return factors, numeric


def _make_encoder(factors):
    from ._encoder import FactorEncoder

    # One-hot columns are mostly zeros: the sparse kernel is faster on them.
    return FactorEncoder(factors=list(factors), sparse_output=True)


def _selected_groups(est):
    """Group labels with a non-zero coefficient in ``coef_``."""
    import numpy as np

    coef = np.asarray(est.coef_)
    index = np.asarray(est.group_index_)
    return [label for g, label in enumerate(est.group_labels_)
            if np.any(coef[index == g] != 0)]


def fit_portfolio(df, *, response, factors, numeric, exposure=None, weights=None,
                  power=1.5, alpha=1.0, folds=5, select="lambda_1se", seed=0,
                  n_jobs=None, relax=False, reporter=None, source="data"):
    """Encode rating factors and fit an ``HDTweedieCV`` with one group per factor.

    Returns
    -------
    (HDTweedieCV, FactorEncoder, dict)
        The fitted model, the encoder and a summary (rows, columns, timings).
    """
    import numpy as np

    from . import HDTweedieCV

    rep = reporter or Reporter(quiet=True)
    y = _numeric_column(df, response, "response", source, nonnegative=True)
    if not np.any(y > 0):
        raise UserError(f"response column {response!r} in {source} is zero on every row")
    offset = None
    expo = None
    if exposure is not None:
        expo = _numeric_column(df, exposure, "exposure", source, positive=True)
        offset = np.log(expo)
    w = None
    if weights is not None:
        w = _numeric_column(df, weights, "weights", source, nonnegative=True)
    if not factors and not numeric:
        raise UserError("no input columns: give --factors and/or --numeric")
    for col in numeric:
        _numeric_column(df, col, "numeric", source)

    encoder = _make_encoder(factors)
    inputs = df[list(factors) + list(numeric)]
    with rep.step(f"encoding {len(factors)} factor(s) and {len(numeric)} numeric input(s)"):
        # Base levels default to the level with the most exposure (or weight).
        X = encoder.fit_transform(inputs, sample_weight=expo if expo is not None else w)
    # joblib's fold messages (verbose) feed the progress line on a terminal.
    cv = HDTweedieCV(power=power, alpha=alpha, n_folds=folds, select=select,
                     groups=list(encoder.groups_), random_state=seed, n_jobs=n_jobs,
                     relax=bool(relax), verbose=10 if rep.live else 0)
    start = time.perf_counter()
    with rep.step(f"fitting path + {folds}-fold CV ({X.shape[0]:,} x {X.shape[1]})") as step:
        with (_fold_progress(step, folds) if rep.live else contextlib.nullcontext()):
            cv.fit(X, y, sample_weight=w, offset=offset)
    seconds = time.perf_counter() - start
    summary = {"rows": int(X.shape[0]), "columns": int(X.shape[1]), "fit_seconds": seconds}
    return cv, encoder, summary


def _print_fit_summary(rep, cv, summary):
    selected = _selected_groups(cv)
    dropped = [g for g in cv.group_labels_ if g not in selected]
    rep.say(f"rows: {summary['rows']:,}   encoded columns: {summary['columns']}   "
            f"fit time: {summary['fit_seconds']:.1f} s")
    pos = int(_index_of(cv.lambdas_, cv.lambda_))
    rep.say(f"selected lambda ({cv.select}): {cv.lambda_:.6g}   "
            f"CV {getattr(cv, 'loss', 'deviance')}: {cv.cv_mean_[pos]:.6g} "
            f"+/- {cv.cv_std_[pos]:.2g}")
    rep.say(f"selected factors ({len(selected)}): {', '.join(map(str, selected)) or 'none'}")
    rep.say(f"dropped factors ({len(dropped)}): {', '.join(map(str, dropped)) or 'none'}")


def _index_of(values, value):
    import numpy as np

    return int(np.argmin(np.abs(np.asarray(values) - value)))


# -- subcommands -------------------------------------------------------------

def cmd_fit(args, rep):
    out = Path(args.out)
    if out.suffix.lower() != ".json":
        raise UserError(f"--out must name a .json model file, got {args.out}")
    df = read_table(args.data)
    source = args.data
    special = [c for c in (args.response, args.exposure, args.weights) if c is not None]
    _check_columns(df, [args.response], "response", source)
    if args.exposure is not None:
        _check_columns(df, [args.exposure], "exposure", source)
    if args.weights is not None:
        _check_columns(df, [args.weights], "weights", source)
    factors = _split_columns(args.factors)
    numeric = _split_columns(args.numeric)
    _check_columns(df, factors, "factor", source)
    _check_columns(df, numeric, "numeric", source)
    both = [c for c in factors if c in numeric]
    if both:
        raise UserError(f"column(s) {', '.join(map(repr, both))} given as both --factors and --numeric")
    clash = [c for c in factors + numeric if c in special]
    if clash:
        raise UserError(f"column(s) {', '.join(map(repr, clash))} cannot be both an input and "
                        "the response, exposure or weights")
    if not factors and not numeric:
        factors, numeric = _infer_columns(df, set(special))
        rep.detail(f"factors: {factors}; numeric: {numeric}")
    if args.exposure is None and args.weights is None:
        rep.detail("no --exposure or --weights: every row has the same weight")
    rep.say(f"fitting {args.response} on {len(df):,} rows of {source}")
    cv, encoder, summary = fit_portfolio(
        df, response=args.response, factors=factors, numeric=numeric,
        exposure=args.exposure, weights=args.weights, power=args.power,
        alpha=args.alpha, folds=args.folds, select=args.select, seed=args.seed,
        n_jobs=args.n_jobs, relax=args.relax, reporter=rep,
        source=source)
    _print_fit_summary(rep, cv, summary)
    _make_parent(out)
    model_id = args.model_id or out.stem
    cv.export(out, model_id=model_id, version=args.model_version, encoder=encoder)
    rep.say(f"model written to {out}")
    return 0


_ISSUE_WORDS = {
    "unseen_level": "a level not seen in training",
    "out_of_range": "a value outside the training range",
    "missing_value": "a missing value",
    "invalid_exposure": "an invalid exposure",
    "invalid_encoding": "an invalid value",
}


def cmd_score(args, rep):
    import numpy as np

    if _file_kind(args.out) is None:
        raise UserError(f"cannot tell the format of {args.out} from its name: use .csv or .parquet")
    model = _load_model(args.model)
    df = read_table(args.data)
    _check_columns(df, list(model.input_names), "model input", args.data)
    if args.column in df.columns:
        raise UserError(f"{args.data} already has a column {args.column!r}; "
                        "name the prediction column with --column")
    exposure = None
    if args.exposure is not None:
        _check_columns(df, [args.exposure], "exposure", args.data)
        exposure = _numeric_column(df, args.exposure, "exposure", args.data, nonnegative=True)
    n = len(df)
    chunk = args.chunk_size
    update = rep.counter("scoring", n)
    preds = np.empty(n)
    flags = {}  # row -> caveats, for flagged rows only
    issues = {}  # (kind, input) -> [rows affected, first row, scored]
    inputs = df[list(model.input_names)]
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        expo = None if exposure is None else exposure[start:stop]
        try:
            result = model.predict(inputs.iloc[start:stop], exposure=expo,
                                   errors="flag", warn=False)
        except (ValueError, TypeError, KeyError) as exc:
            raise UserError(f"cannot score {args.data}: {_one_line(exc)}") from None
        preds[start:stop] = np.asarray(result.values, dtype=float)
        for issue in result.warnings:
            rows = np.asarray(issue.rows, dtype=int).reshape(-1)
            if rows.size == 0:
                continue
            key = (issue.kind, issue.input)
            entry = issues.setdefault(key, [0, start + int(rows.min()), issue.scored])
            entry[0] += rows.size
            for r in rows:
                flags.setdefault(start + int(r), []).append(f"{issue.kind}:{issue.input}")
        update(stop)
    out = df.copy()
    out[args.column] = preds
    if issues:
        out[f"{args.column}_warnings"] = ["; ".join(flags.get(i, ())) for i in range(n)]
    write_table(out, args.out)
    for (kind, name), (count, first, scored) in issues.items():
        what = "scored and flagged" if scored else "not scored, prediction left empty"
        rep.warn(f"{name}: {count:,} row(s) with {_ISSUE_WORDS.get(kind, kind.replace('_', ' '))}, "
                 f"{what} (first at data row {first + 1})")
    if issues:
        rep.warn(f"see column {args.column}_warnings in {args.out} for the rows concerned")
    rep.say(f"scored {n:,} rows; predictions written to {args.out}")
    return 0


@contextlib.contextmanager
def _collect_warnings():
    messages = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield messages
    messages.extend(_one_line(w.message) for w in caught)


def _to_jsonable(obj):
    """Convert scoring results (dataclasses, numpy numbers) to JSON values."""
    import dataclasses

    import numpy as np

    if hasattr(obj, "to_dict") and not isinstance(obj, type):
        return _to_jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _to_jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _print_result(args, rep, action, what):
    """Run ``action`` collecting its warnings; print the result as text or JSON."""
    with _collect_warnings() as caught:
        try:
            result = action()
        except (ValueError, TypeError, KeyError) as exc:
            raise UserError(f"cannot {what}: {_one_line(exc)}") from None
    for message in dict.fromkeys(caught):
        rep.warn(message)
    rep.result(json.dumps(_to_jsonable(result), indent=2) if args.json else str(result))
    return 0


def cmd_explain(args, rep):
    model = _load_model(args.model)
    record = _load_json_arg(args.record, "--record")
    return _print_result(args, rep, lambda: model.explain(record, exposure=args.exposure),
                         "explain the record")


def cmd_compare(args, rep):
    model = _load_model(args.model)
    other = _load_model(args.model_b) if args.model_b is not None else None
    a = _load_json_arg(args.a, "--a")
    b = _load_json_arg(args.b, "--b")
    return _print_result(
        args, rep, lambda: model.compare(a, b, other=other, exposure_a=args.exposure),
        "compare the records")


def cmd_factor_table(args, rep):
    import csv

    model = _load_model(args.model)
    if args.out is not None:
        out = Path(args.out)
        _make_parent(out)
        rows = model.factor_table(path=out)
        rep.say(f"factor table ({len(rows)} rows) written to {out}")
    else:
        writer = csv.writer(rep.out, lineterminator="\n")
        writer.writerow(["Factor", "Level", "Relativity"])
        for row in model.factor_table():
            writer.writerow([row["Factor"], row["Level"], repr(float(row["Relativity"]))])
    return 0


def _find_validation():
    """Import the validation suite's comparison module from a source checkout."""
    import importlib.util

    candidates = [Path.cwd() / "validation" / "compare.py",
                  Path(__file__).resolve().parents[2] / "validation" / "compare.py"]
    for path in candidates:
        if path.is_file():
            spec = importlib.util.spec_from_file_location("_hdtweedie_validation", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise UserError(
        "the validation suite was not found: it ships with the source repository; "
        "run 'hdtweedie validate' from a clone of hdtweedie (folder 'validation/')"
    )


def cmd_validate(args, rep):
    suite = _find_validation()
    reference = args.reference
    for ref in reference or []:
        if not Path(ref).is_dir():
            raise UserError(f"reference folder not found: {ref}")
    shared = None if args.no_shared else (args.shared or suite.DEFAULT_SHARED)
    try:
        cases = suite.discover_cases(reference, shared)
    except ValueError as exc:
        raise UserError(_one_line(exc)) from None
    if args.case:
        unknown = sorted(set(args.case) - {c.name for c in cases})
        if unknown:
            raise UserError(f"unknown case(s) {', '.join(unknown)}; available: "
                            f"{', '.join(c.name for c in cases)}")
        cases = [c for c in cases if c.name in set(args.case)]
    if not cases:
        raise UserError("no reference cases found (a case is a folder with params.json)")
    update = rep.counter("validating", len(cases), unit="cases")
    done = []

    def progress(record):
        done.append(record)
        update(len(done))
        rep.detail(f"{record['case']}: {'ok' if record['passed'] else 'FAIL'} "
                   f"({record['seconds']:.2f} s)")

    records = suite.run_all(reference or None, shared, cases=[c.name for c in cases],
                            run_cv=not args.no_cv, progress=progress)
    report = suite.format_report(records)
    if args.out is not None:
        out = Path(args.out)
        _make_parent(out)
        out.write_text(report + "\n")
        rep.say(f"report written to {out}")
    failed = [r["case"] for r in records if not r["passed"]]
    if not args.out or rep.verbose:
        rep.result(report)
    rep.say(f"{len(records) - len(failed)} of {len(records)} reference cases match R "
            f"within {suite.TOL:g}")
    if failed:
        print(f"{PROG}: validation failed for: {', '.join(failed)}", file=rep.err)
        return EXIT_ERROR
    return 0


# -- demo --------------------------------------------------------------------

DEMO_FACTORS_NOTE = "levels whose true relativity differs from 1 by more than 10%"


def _use_agg():
    """Draw off-screen: the command line only ever writes image files."""
    try:
        import matplotlib
    except ImportError:
        return False
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    return True


def _save_plots(cv, model, true_table, out_dir, rep):
    """Write path.png, cv.png and relativities.png; return the file names."""
    if not _use_agg():
        rep.say("plots skipped: matplotlib is not installed (pip install hdtweedie[plot])")
        return []
    import matplotlib.pyplot as plt

    from .plotting import plot_cv, plot_path, plot_relativities

    written = []
    ax = plot_path(cv, group_norm=True)
    ax.set_title("Group norm paths (dashed: selected lambda)")
    ax.figure.savefig(out_dir / "path.png", dpi=110, bbox_inches="tight")
    plt.close(ax.figure)
    written.append("path.png")
    ax = plot_cv(cv)
    ax.set_title(f"{cv.n_folds}-fold cross-validation")
    ax.figure.savefig(out_dir / "cv.png", dpi=110, bbox_inches="tight")
    plt.close(ax.figure)
    written.append("cv.png")
    fig = plot_relativities(model, true=true_table)
    fig.savefig(out_dir / "relativities.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    written.append("relativities.png")
    return written


def relativity_errors(fitted_rows, truth, base_levels):
    """Join fitted and true relativities on the fitted base of each factor.

    Parameters
    ----------
    fitted_rows : list of (factor, level, relativity)
    truth : dict
        ``{factor: {level: relativity}}``.
    base_levels : dict
        ``{factor: base level}`` of the fitted model.

    Returns
    -------
    list of dict
        Keys ``factor``, ``level``, ``true``, ``fitted``, ``error`` (fitted /
        true - 1), for every fitted level of a factor in ``truth``.
    """
    rows = []
    for factor, level, fitted in fitted_rows:
        if factor not in truth or level not in truth[factor]:
            continue
        base = base_levels.get(factor)
        scale = truth[factor].get(base, 1.0) if base is not None else 1.0
        true = truth[factor][level] / scale
        rows.append({"factor": factor, "level": level, "true": true,
                     "fitted": float(fitted), "error": float(fitted) / true - 1.0})
    return rows


def cmd_demo(args, rep):
    from .datasets import NOISE_FACTORS, RATING_FACTORS, make_motor_portfolio, true_relativities
    from .plotting import _tidy_rows, base_levels

    t_start = time.perf_counter()
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {args.out} exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create folder {out_dir}: {exc.strerror or exc}") from None

    with rep.step(f"simulating {args.n:,} motor policies"):
        df = make_motor_portfolio(n=args.n, random_state=args.seed)
    t_data = time.perf_counter() - t_start
    truth = df.attrs["true_relativities"]
    rep.say("hdtweedie demo: synthetic UK motor portfolio with known true effects")
    rep.say(f"  {len(df):,} policies, {df['exposure'].sum():,.0f} years of exposure, "
            f"{int(df['claim_count'].sum()):,} claims, {df['incurred'].sum():,.0f} incurred")
    rep.say(f"  rating factors with a true effect: {', '.join(RATING_FACTORS)}")
    rep.say(f"  pure-noise factors: {', '.join(NOISE_FACTORS)}")
    rep.say("")

    factors = list(RATING_FACTORS) + list(NOISE_FACTORS)
    cv, encoder, summary = fit_portfolio(
        df, response="incurred", factors=factors, numeric=[], exposure="exposure",
        power=args.power, folds=5, select=args.select, seed=args.seed,
        n_jobs=args.n_jobs, relax=args.relax, reporter=rep,
        source="the portfolio")

    model_path = out_dir / "model.json"
    cv.export(model_path, model_id="motor-demo", version="1", encoder=encoder)
    model = _load_model(model_path)
    table_path = out_dir / "factor_table.csv"
    model.factor_table(path=table_path)
    fitted_rows = _tidy_rows(model.factor_table(include_base=False))

    selected = set(map(str, _selected_groups(cv)))
    rep.say(f"HDTweedieCV: power {args.power:g}, one group per factor, log(exposure) as offset, "
            f"5-fold CV, {cv.select} = {cv.lambda_:.4g}")
    if args.relax:
        rep.say("  selected factors refitted without penalty (relax=True)")
    rep.say(f"  {summary['rows']:,} rows x {summary['columns']} one-hot columns, "
            f"fitted in {summary['fit_seconds']:.1f} s")
    rep.say("")
    rep.say("Selected factors:")
    rep.say(f"  {'factor':<16}{'true effect':<14}selected")
    matches = True
    for factor in factors:
        real = factor in RATING_FACTORS
        chosen = factor in selected
        matches &= real == chosen
        rep.say(f"  {factor:<16}{'yes' if real else 'no (noise)':<14}{'yes' if chosen else 'no'}")
    rep.say(f"  selection {'matches' if matches else 'does NOT match'} the truth")
    rep.say("")

    bases = base_levels(model)
    errors = relativity_errors(fitted_rows, truth, bases)
    rep.say("Fitted vs. true relativities (base level of each factor = 1):")
    rep.say(f"  {'factor':<16}{'level':<8}{'true':>8}{'fitted':>9}{'error':>9}")
    for row in errors:
        if row["factor"] not in RATING_FACTORS:
            continue
        if row["level"] == bases.get(row["factor"]):
            shown = f"{'base':>9}"
        else:
            pct = 100 * row["error"]
            shown = f"{0.0 if abs(pct) < 0.05 else pct:>+8.1f}%"
        rep.say(f"  {row['factor']:<16}{row['level']:<8}{row['true']:>8.3f}"
                f"{row['fitted']:>9.3f}{shown}")
    big = [r for r in errors if abs(r["true"] - 1.0) > 0.10]
    if big:
        worst = max(big, key=lambda r: abs(r["error"]))
        rep.say(f"  largest error on {DEMO_FACTORS_NOTE}: {100 * abs(worst['error']):.1f}% "
                f"({worst['factor']} {worst['level']})")
    noise = [r for r in errors if r["factor"] in NOISE_FACTORS]
    if noise:
        rep.say(f"  noise factors: largest fitted deviation from 1 is "
                f"{100 * max(abs(r['fitted'] - 1.0) for r in noise):.1f}%")
    rep.say("")

    written = ["model.json", "factor_table.csv"]
    if not args.no_plots:
        with rep.step("drawing plots"):
            written += _save_plots(cv, model, true_relativities(), out_dir, rep)
    if not args.no_data:
        with rep.step("writing portfolio.csv"):
            df.to_csv(out_dir / "portfolio.csv", index=False)
        written.append("portfolio.csv")
    total = time.perf_counter() - t_start
    rep.say(f"Time: data {t_data:.1f} s, fit {summary['fit_seconds']:.1f} s, total {total:.1f} s")
    rep.say(f"Wrote to {out_dir}: {', '.join(written)}")
    if not args.no_data:
        rep.say(f"Next: hdtweedie score {model_path} {out_dir / 'portfolio.csv'} "
                f"--exposure exposure --out {out_dir / 'predictions.csv'}")
    return 0


# -- command line ------------------------------------------------------------

def build_parser():
    """The ``hdtweedie`` argument parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="print only results and errors; no progress")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="print step timings and details, and tracebacks on errors")

    parser = _Parser(
        prog=PROG, parents=[common],
        description="Tweedie lasso and grouped elastic net for insurance pricing.",
        epilog="Run 'hdtweedie demo' to see a full fit on a synthetic motor portfolio.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("demo", parents=[common],
                       help="fit a synthetic UK motor portfolio and compare with the truth",
                       description="Build the synthetic motor portfolio, fit HDTweedieCV with one "
                                   "group per rating factor and log exposure as offset, print the "
                                   "selected factors and fitted vs. true relativities, and write "
                                   "the model, factor table and plots.")
    p.add_argument("--out", default="hdtweedie-demo", metavar="DIR",
                   help="folder for the outputs (default: hdtweedie-demo)")
    p.add_argument("--n", type=_int_at_least("--n", 500), default=100_000,
                   help="number of policies (default: 100000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--power", type=_float_in("--power", 1.0, 2.0), default=1.5,
                   help="Tweedie power of the fit (default: 1.5)")
    p.add_argument("--select", choices=("lambda_1se", "lambda_min"), default="lambda_1se",
                   help="lambda used for the model (default: lambda_1se)")
    p.add_argument("--no-relax", dest="relax", action="store_false",
                   help="keep the penalised (shrunk) relativities instead of refitting the "
                        "selected factors without penalty")
    p.add_argument("--n-jobs", type=int, default=-1,
                   help="CV folds fitted in parallel (joblib; default -1: all cores)")
    p.add_argument("--no-plots", action="store_true", help="do not draw the plots")
    p.add_argument("--no-data", action="store_true",
                   help="do not write the portfolio as portfolio.csv")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("fit", parents=[common], help="fit a cross-validated model to a data file",
                       description="Fit HDTweedieCV to a CSV or Parquet file, one group per rating "
                                   "factor, and export the selected model as JSON.")
    p.add_argument("data", metavar="DATA", help="CSV (.csv, .csv.gz, .tsv) or Parquet file")
    p.add_argument("--response", required=True, metavar="COL",
                   help="response column: incurred loss (with --exposure) or pure premium")
    p.add_argument("--exposure", metavar="COL",
                   help="exposure column; log(exposure) is used as offset")
    p.add_argument("--weights", metavar="COL", help="observation weight column")
    p.add_argument("--factors", action="append", metavar="COLS",
                   help="comma-separated categorical rating factors (one-hot, one group each)")
    p.add_argument("--numeric", action="append", metavar="COLS",
                   help="comma-separated numeric inputs (one group each); without --factors "
                        "and --numeric, text columns are factors and numbers numeric")
    p.add_argument("--power", type=_float_in("--power", 1.0, 2.0), default=1.5,
                   help="Tweedie power in [1, 2] (default: 1.5)")
    p.add_argument("--alpha", type=_float_in("--alpha", 0.0, 1.0, low_open=True), default=1.0,
                   help="elastic-net mixing in (0, 1]; 1 is the group lasso (default: 1)")
    p.add_argument("--folds", type=_int_at_least("--folds", 3), default=5,
                   help="cross-validation folds, at least 3 (default: 5)")
    p.add_argument("--select", choices=("lambda_1se", "lambda_min"), default="lambda_1se",
                   help="lambda used for the exported model (default: lambda_1se)")
    p.add_argument("--relax", action="store_true",
                   help="refit the selected factors without penalty (unshrunk relativities)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random folds (default: 0)")
    p.add_argument("--n-jobs", type=int, default=None,
                   help="CV folds fitted in parallel (joblib; -1: all cores; default 1)")
    p.add_argument("--model-id", metavar="ID",
                   help="model id stored in the file (default: the output file name)")
    p.add_argument("--model-version", metavar="VERSION", help="model version stored in the file")
    p.add_argument("--out", required=True, metavar="MODEL.json", help="model file to write")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("score", parents=[common], help="predict with an exported model",
                       description="Score every row of a CSV or Parquet file with an exported "
                                   "model; writes the input columns plus the prediction.")
    p.add_argument("model", metavar="MODEL.json")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--out", required=True, metavar="PRED.csv",
                   help="output file (.csv or .parquet)")
    p.add_argument("--exposure", metavar="COL",
                   help="exposure column; predictions are exposure * exp(link)")
    p.add_argument("--column", default="prediction",
                   help="name of the prediction column (default: prediction)")
    p.add_argument("--chunk-size", type=_int_at_least("--chunk-size", 1), default=100_000,
                   metavar="N", help="rows scored per batch (default: 100000)")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("explain", parents=[common], help="explain one prediction factor by factor")
    p.add_argument("model", metavar="MODEL.json")
    p.add_argument("--record", required=True, metavar="JSON",
                   help="the risk as a JSON object, or @file.json")
    p.add_argument("--exposure", type=_float_in("--exposure", 0.0, math.inf, low_open=True),
                   default=None, help="exposure of the risk (default: 1)")
    p.add_argument("--json", action="store_true", help="print the explanation as JSON")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("compare", parents=[common],
                       help="attribute the difference between two predictions to factors")
    p.add_argument("model", metavar="MODEL.json")
    p.add_argument("--a", required=True, metavar="JSON", help="first risk (JSON or @file)")
    p.add_argument("--b", required=True, metavar="JSON", help="second risk (JSON or @file)")
    p.add_argument("--model-b", metavar="MODEL2.json",
                   help="score the second risk on this model (a model change)")
    p.add_argument("--exposure", type=_float_in("--exposure", 0.0, math.inf, low_open=True),
                   default=None, help="exposure of both risks (default: 1)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("factor-table", parents=[common],
                       help="print or write the relativities of every factor level")
    p.add_argument("model", metavar="MODEL.json")
    p.add_argument("--out", metavar="FILE.csv", help="write CSV here instead of printing it")
    p.set_defaults(func=cmd_factor_table)

    p = sub.add_parser("validate", parents=[common],
                       help="compare fits with the R HDtweedie reference outputs",
                       description="Run the validation suite (from a source checkout) against "
                                   "the R reference fits.")
    p.add_argument("--reference", action="append", metavar="DIR",
                   help="folder of reference cases (repeatable; default: validation/reference)")
    p.add_argument("--shared", metavar="DIR",
                   help="folder from which auto_* cases are added (default: ../shared/r-reference)")
    p.add_argument("--no-shared", action="store_true", help="do not add the auto_* cases")
    p.add_argument("--case", action="append", metavar="NAME",
                   help="run only this case (repeatable)")
    p.add_argument("--no-cv", action="store_true", help="skip the cross-validation comparisons")
    p.add_argument("--out", metavar="REPORT.md", help="write the Markdown report here")
    p.set_defaults(func=cmd_validate)
    return parser


def _version():
    try:
        from . import __version__
    except ImportError:  # pragma: no cover
        return "unknown"
    return __version__


def main(argv=None):
    """Run the command line and return its exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    verbose = getattr(args, "verbose", False)
    rep = Reporter(quiet=getattr(args, "quiet", False), verbose=verbose)

    def show_warning(message, category, filename, lineno, file=None, line=None):
        rep.warn(_one_line(message))

    old_show = warnings.showwarning
    warnings.showwarning = show_warning
    try:
        return int(args.func(args, rep) or 0)
    except (UserError, ValueError, TypeError, KeyError, OSError, ImportError) as exc:
        rep._clear()
        if verbose:
            traceback.print_exc(file=sys.stderr)
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_ERROR
    except KeyboardInterrupt:
        rep._clear()
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = old_show

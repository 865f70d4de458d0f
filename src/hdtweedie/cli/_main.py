"""The ``hdtweedie`` argument parser and entry point."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator, Sequence

from ._common import Parser, UsageError, UserError, float_in, int_at_least, one_line
from ._compose import add_compose
from ._fit import cmd_demo, cmd_fit
from ._keys_cmd import add_keys
from ._ledger_cmd import add_ledger
from ._power import add_profile_power, power_option
from ._report import PROG, Reporter
from ._review import cmd_diff_models, cmd_factor_table, cmd_report
from ._score import cmd_compare, cmd_explain, cmd_score
from ._serve import add_serve

#: Exit status of a user error (bad data, bad file) and of a bad command line.
EXIT_ERROR = 1
EXIT_USAGE = 2
_EXIT_SIGPIPE = 128 + 13
_EXIT_SIGTERM = 128 + 15


class _Terminated(BaseException):
    """SIGTERM, raised so that files being written are removed on the way out."""


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="print only results and errors; no progress")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="print step timings and details, and tracebacks on errors")
    return common


def _add_demo(sub, common) -> None:
    p = sub.add_parser("demo", parents=[common],
                       help="fit a synthetic UK motor portfolio and compare with the truth",
                       description="Build the synthetic motor portfolio, fit HDTweedieCV with one "
                                   "group per rating factor and log exposure as offset, print the "
                                   "selected factors and fitted vs. true relativities, and write "
                                   "the model, factor table, plots and sign-off report.")
    p.add_argument("--out", default="hdtweedie-demo", metavar="DIR",
                   help="folder for the outputs (default: hdtweedie-demo)")
    p.add_argument("--n", type=int_at_least("--n", 500), default=100_000,
                   help="number of policies (default: 100000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--power", type=float_in("--power", 1.0, 2.0), default=1.5,
                   help="Tweedie power of the fit (default: 1.5)")
    p.add_argument("--select", choices=("lambda_1se", "lambda_min"), default="lambda_1se",
                   help="lambda used for the model (default: lambda_1se)")
    p.add_argument("--no-relax", dest="relax", action="store_false",
                   help="keep the penalised (shrunk) relativities instead of refitting the "
                        "selected factors without penalty")
    p.add_argument("--n-jobs", type=int, default=-1,
                   help="CV folds fitted in parallel (joblib; default -1: all cores)")
    p.add_argument("--no-plots", action="store_true", help="do not draw the plots or write report.html")
    p.add_argument("--no-data", action="store_true", help="do not write the portfolio as portfolio.csv")
    p.set_defaults(func=cmd_demo)


def _add_fit(sub, common) -> None:
    p = sub.add_parser("fit", parents=[common], help="fit a cross-validated model to a data file",
                       description="Fit HDTweedieCV to a CSV or Parquet file, one group per rating "
                                   "factor, and export the selected model as JSON.  Without "
                                   "--factors and --numeric, text columns become factors and numbers "
                                   "numeric inputs, leaving out identifiers (id, *_id, a distinct value "
                                   "per row), constant columns and columns derived from the response; "
                                   "the columns used and left out are printed.")
    p.add_argument("data", metavar="DATA", help="CSV (.csv, .csv.gz, .tsv) or Parquet file")
    p.add_argument("--response", required=True, metavar="COL",
                   help="response column: incurred loss (with --exposure) or pure premium")
    p.add_argument("--exposure", metavar="COL", help="exposure column; log(exposure) is used as offset")
    p.add_argument("--weights", metavar="COL", help="observation weight column")
    p.add_argument("--factors", action="append", metavar="COLS",
                   help="comma-separated categorical rating factors (read as text; one-hot, one group each)")
    p.add_argument("--numeric", action="append", metavar="COLS",
                   help="comma-separated numeric inputs (one group each)")
    p.add_argument("--exclude", action="append", metavar="COLS",
                   help="comma-separated columns never used as inputs")
    p.add_argument("--bands", action="append", metavar="COL=E1,E2,...|COL=qK",
                   help="band a numeric column into a factor: by edges (closed on the left, the last "
                        "band closed) or into K bands of about equal exposure (qK); repeatable")
    p.add_argument("--min-exposure", type=float_in("--min-exposure", 0.0, float("inf")), default=None,
                   metavar="X", help="merge factor levels with less exposure (or weight, or rows) than X "
                                     "into a neighbour (ordered factors) or 'Other'")
    p.add_argument("--missing-level", metavar="LEVEL",
                   help="level of missing factor values, e.g. Unknown (default: missing values are an error)")
    p.add_argument("--interaction", action="append", metavar="A:B",
                   help="a two-way interaction of two inputs (factor x factor or factor x numeric), "
                        "one group; repeatable")
    p.add_argument("--power", type=power_option, default=1.5, metavar="P|auto|P1,P2,...",
                   help="Tweedie power in [1, 2] (default: 1.5); 'auto' or a comma-separated list "
                        "of powers in (1, 2] chooses the power with lambda by held-out "
                        "log-likelihood ('auto': 1.1,1.2,...,1.9)")
    p.add_argument("--alpha", type=float_in("--alpha", 0.0, 1.0, low_open=True), default=1.0,
                   help="elastic-net mixing in (0, 1]; 1 is the group lasso (default: 1)")
    p.add_argument("--folds", type=int_at_least("--folds", 3), default=5,
                   help="cross-validation folds, at least 3 (default: 5)")
    p.add_argument("--select", choices=("lambda_1se", "lambda_min"), default="lambda_1se",
                   help="lambda used for the exported model (default: lambda_1se)")
    p.add_argument("--relax", action="store_true",
                   help="refit the selected factors without penalty (unshrunk relativities)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random folds (default: 0)")
    p.add_argument("--n-jobs", type=int, default=None,
                   help="CV folds fitted in parallel (joblib; -1: all cores; default 1)")
    p.add_argument("--model-id", metavar="ID", help="model id stored in the file (default: the file name)")
    p.add_argument("--model-version", metavar="VERSION", help="model version stored in the file")
    p.add_argument("--out", required=True, metavar="MODEL.json", help="model file to write")
    p.set_defaults(func=cmd_fit)


def _add_score(sub, common) -> None:
    p = sub.add_parser("score", parents=[common], help="predict with an exported model",
                       description="Score every row of a CSV or Parquet file with an exported model; "
                                   "writes the input columns plus the prediction.  Rows that cannot be "
                                   "scored get an empty prediction and are described in a "
                                   "<column>_warnings column, with a summary on standard error.")
    p.add_argument("model", metavar="MODEL.json")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--out", required=True, metavar="PRED.csv", help="output file (.csv or .parquet)")
    p.add_argument("--exposure", metavar="COL", help="exposure column; predictions are exposure * exp(link)")
    p.add_argument("--column", default="prediction",
                   help="name of the prediction column (default: prediction)")
    p.add_argument("--chunk-size", type=int_at_least("--chunk-size", 1), default=100_000,
                   metavar="N", help="rows scored per batch (default: 100000)")
    p.add_argument("--strict", action="store_true",
                   help="fail, writing nothing, if any row is flagged (instead of flagging rows)")
    p.set_defaults(func=cmd_score)


def _add_explain_compare(sub, common) -> None:
    exposure = float_in("--exposure", 0.0, math.inf, low_open=True)
    p = sub.add_parser("explain", parents=[common], help="explain one prediction factor by factor")
    p.add_argument("model", metavar="MODEL.json")
    p.add_argument("--record", required=True, metavar="JSON", help="the risk as a JSON object, or @file.json")
    p.add_argument("--exposure", type=exposure, default=None, help="exposure of the risk (default: 1)")
    p.add_argument("--json", action="store_true", help="print the explanation as JSON")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("compare", parents=[common],
                       help="attribute the difference between two predictions to factors")
    p.add_argument("model", metavar="MODEL.json")
    p.add_argument("--a", required=True, metavar="JSON", help="first risk (JSON or @file)")
    p.add_argument("--b", required=True, metavar="JSON", help="second risk (JSON or @file)")
    p.add_argument("--model-b", metavar="MODEL2.json",
                   help="score the second risk on this model (a model change)")
    p.add_argument("--exposure", type=exposure, default=None, help="exposure of both risks (default: 1)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=cmd_compare)



def _add_review(sub, common) -> None:
    p = sub.add_parser("factor-table", parents=[common],
                       help="print or write the relativities of every factor level",
                       description="The relativity of every level of every factor as CSV for a rating "
                                   "engine; with --se-from, Emblem's layout Factor,Level,Relativity,SE,"
                                   "LowerCI,UpperCI (standard errors of an unpenalised model on that data).")
    p.add_argument("model", metavar="MODEL.json")
    p.add_argument("--out", metavar="FILE.csv", help="write CSV here instead of printing it")
    p.add_argument("--se-from", metavar="DATA", help="data to compute standard errors on (the training data)")
    p.add_argument("--response", metavar="COL", help="response column of --se-from")
    p.add_argument("--exposure", metavar="COL", help="exposure column of --se-from")
    p.add_argument("--decimals", type=int_at_least("--decimals", 0), metavar="N",
                   help="round the numbers to N decimals")
    p.add_argument("--rename", metavar="OLD=NEW,...", help="factor names to write, e.g. area=PostcodeArea")
    p.add_argument("--policies", metavar="FILE",
                   help="policies to be rated: fail, writing nothing, if the table lacks a level they use")
    p.set_defaults(func=cmd_factor_table)

    p = sub.add_parser("diff-models", parents=[common], help="list the relativity changes between two models",
                       description="Every factor level's old and new relativity and the change, levels "
                                   "beyond the threshold flagged, factors added or dropped, and the change "
                                   "of the base rate: a rate review's change log.")
    p.add_argument("old", metavar="OLD.json")
    p.add_argument("new", metavar="NEW.json")
    p.add_argument("--threshold", type=float_in("--threshold", 0.0, math.inf), default=0.05,
                   help="flag relative changes beyond this (default: 0.05, i.e. 5%%)")
    p.add_argument("--format", choices=("markdown", "csv"), default="markdown",
                   help="output format (default: markdown)")
    p.add_argument("--out", metavar="FILE", help="write here instead of printing")
    p.set_defaults(func=cmd_diff_models)

    p = sub.add_parser("report", parents=[common], help="write an HTML sign-off report of a model on data",
                       description="One self-contained HTML page: model card, coefficients with "
                                   "intervals, factor tests, fit statistics, factor charts, A/E by every "
                                   "column, lift, double lift (with --benchmark), Lorenz curve and Gini.")
    p.add_argument("model", metavar="MODEL.json")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--response", required=True, metavar="COL", help="response column (loss amount)")
    p.add_argument("--exposure", metavar="COL", help="exposure column")
    p.add_argument("--benchmark", metavar="COL", help="column of benchmark predictions, for the double lift")
    p.add_argument("--out", required=True, metavar="REPORT.html", help="the HTML file to write")
    p.set_defaults(func=cmd_report)


def build_parser() -> argparse.ArgumentParser:
    """The ``hdtweedie`` argument parser.

    Returns
    -------
    argparse.ArgumentParser
        Its errors raise ``UsageError`` instead of exiting.
    """
    common = _common_options()
    parser = Parser(prog=PROG, parents=[common],
                    description="Tweedie lasso and grouped elastic net for insurance pricing.",
                    epilog="Run 'hdtweedie demo' to see a full fit on a synthetic motor portfolio.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    _add_demo(sub, common)
    _add_fit(sub, common)
    _add_score(sub, common)
    _add_explain_compare(sub, common)
    add_compose(sub, common)
    _add_review(sub, common)
    add_profile_power(sub, common)
    add_serve(sub, common)
    add_ledger(sub, common)
    add_keys(sub, common)
    return parser


def _version() -> str:
    from .. import __version__

    return __version__


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into an exception so that partly written files are removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Terminated

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _quiet_stdout() -> None:
    """After a broken pipe: send further output to /dev/null so that exit does not complain."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 for a user error, 2 for a malformed command line,
        130 when interrupted, 141 when standard output was closed (a broken
        pipe), 143 on SIGTERM.
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
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
        rep.warn(one_line(str(message)))

    old_show = warnings.showwarning
    warnings.showwarning = show_warning
    try:
        with _sigterm_raises():
            return int(args.func(args, rep) or 0)
    except BrokenPipeError:
        _quiet_stdout()
        return _EXIT_SIGPIPE
    except (UserError, ValueError, TypeError, KeyError, OSError, ImportError, ArithmeticError,
            RecursionError, MemoryError) as exc:
        rep.clear()
        if verbose:
            traceback.print_exc(file=sys.stderr)
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"{PROG}: error: {one_line(str(message))}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_ERROR
    except KeyboardInterrupt:
        rep.clear()
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        rep.clear()
        print(f"{PROG}: terminated", file=sys.stderr)
        return _EXIT_SIGTERM
    finally:
        warnings.showwarning = old_show

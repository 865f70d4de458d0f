"""The Tweedie power on the command line: ``hdtweedie profile-power`` and ``fit --power``."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from .. import portfolio, tables
from ._common import UserError, split_columns
from ._report import Reporter


def _numbers(text: str, option: str) -> list[float]:
    values = []
    for part in text.split(","):
        try:
            values.append(float(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} must be numbers separated by commas, got "
                                             f"{part.strip()!r} in {text!r}") from None
    return values


def power_option(text: str):
    """argparse type of ``fit --power``: a power in [1, 2], ``auto`` or a comma-separated list.

    Parameters
    ----------
    text : str
        The option's value.

    Returns
    -------
    float, str or list of float
        A single power, ``"auto"`` (1.1, 1.2, ..., 1.9), or the powers to choose from.
    """
    text = text.strip()
    if text == "auto":
        return text
    values = _numbers(text, "--power")
    if len(values) == 1 and "," not in text:
        if not 1 <= values[0] <= 2:  # NaN fails too
            raise argparse.ArgumentTypeError(f"--power must be in [1, 2], 'auto' or a list, got {text}")
        return values[0]
    from .._power_cv import check_power_grid

    try:
        check_power_grid(values)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"--{exc}") from None
    return values


def _powers_option(text: str) -> list[float]:
    return _numbers(text, "--powers")


def add_profile_power(sub, common) -> None:
    """Register ``hdtweedie profile-power``.

    Parameters
    ----------
    sub : argparse subparsers action
    common : argparse.ArgumentParser
        The options every command takes.
    """
    p = sub.add_parser("profile-power", parents=[common],
                       help="profile likelihood of the Tweedie power on a data file",
                       description="Fit the unpenalised Tweedie GLM (one-hot rating factors and "
                                   "numeric inputs, log(exposure) as offset) at each power, estimate "
                                   "the dispersion by maximum likelihood, and print the profile "
                                   "log-likelihood, the best power and its 95%% likelihood-ratio "
                                   "interval.  Columns are chosen as by 'fit'.")
    p.add_argument("data", metavar="DATA", help="CSV (.csv, .csv.gz, .tsv) or Parquet file")
    p.add_argument("--response", required=True, metavar="COL",
                   help="response column: incurred loss (with --exposure) or pure premium")
    p.add_argument("--exposure", metavar="COL", help="exposure column; log(exposure) is used as offset")
    p.add_argument("--weights", metavar="COL", help="prior weight column (row i has dispersion phi / w_i)")
    p.add_argument("--factors", action="append", metavar="COLS",
                   help="comma-separated categorical rating factors")
    p.add_argument("--numeric", action="append", metavar="COLS", help="comma-separated numeric inputs")
    p.add_argument("--exclude", action="append", metavar="COLS",
                   help="comma-separated columns never used as inputs")
    p.add_argument("--powers", type=_powers_option, default=None, metavar="P1,P2,...",
                   help="powers in (1, 2] to evaluate (default: 1.1,1.2,...,1.9)")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the profile as a PNG image")
    p.set_defaults(func=cmd_profile_power)


def _check_plot_path(plot: str | None, data: str) -> Path | None:
    from ..demo import _use_agg

    if plot is None:
        return None
    out = Path(plot)
    if out.suffix.lower() != ".png":
        raise UserError(f"--plot must name a .png file, got {plot}")
    tables.refuse_same_file(out, [data], "--plot")
    if not _use_agg():
        raise UserError("--plot needs matplotlib: pip install 'hdtweedie[plot]'")
    return out


def _save_plot(profile, out: Path) -> None:
    from ..demo import _save

    tables.make_parent(out)
    _save(profile.plot().figure, out)


def profile_lines(profile) -> list[str]:
    """The profile as a table, the best power first.

    Parameters
    ----------
    profile : PowerProfile

    Returns
    -------
    list of str
    """
    lines = [f"{'power':>8}  {'log-likelihood':>16}  {'phi':>10}  {'vs best':>9}"]
    for p, ll, phi in zip(profile.powers, profile.loglik, profile.phi):
        mark = "  <- best" if p == profile.power else ""
        gap = ll - profile.max_loglik
        gap = 0.0 if abs(gap) < 5e-4 else gap  # no "-0.000"
        lines.append(f"{p:>8.4f}  {ll:>16.4f}  {phi:>10.5g}  {gap:>9.3f}{mark}")
    lo, hi = profile.ci
    shown = [f"{v:.4f}" if math.isfinite(v) else "beyond the grid" for v in (lo, hi)]
    lines.append(f"best power: {profile.power:.4f}   dispersion: {profile.dispersion:.6g}   "
                 f"{100 * profile.conf_level:g}% interval: [{shown[0]}, {shown[1]}]")
    return lines


def cmd_profile_power(args: argparse.Namespace, rep: Reporter) -> int:
    """Run ``hdtweedie profile-power``; return the exit status."""
    from .. import profile_power
    from .._power_cv import DEFAULT_POWERS
    from ._fit import _report_columns

    plot = _check_plot_path(args.plot, args.data)
    factors, numeric = split_columns(args.factors), split_columns(args.numeric)
    df = tables.read_table(args.data, text_columns=factors)
    choice = portfolio.choose_columns(df, response=args.response, exposure=args.exposure,
                                      weights=args.weights, factors=factors, numeric=numeric,
                                      exclude=split_columns(args.exclude), source=args.data)
    _report_columns(rep, choice, inferred=not (factors or numeric))
    data = portfolio.encode_portfolio(df, response=args.response, factors=list(choice.factors),
                                      numeric=list(choice.numeric), exposure=args.exposure,
                                      weights=args.weights, source=args.data)
    powers = list(DEFAULT_POWERS) if args.powers is None else args.powers
    with rep.step(f"profiling {len(powers)} powers ({len(df):,} rows)"):
        profile = profile_power(data.X, data.y, powers, sample_weight=data.sample_weight,
                                offset=data.offset, groups=list(data.encoder.groups_))
    for line in profile_lines(profile):
        rep.result(line)
    if plot is not None:
        with rep.step("drawing the profile"):
            _save_plot(profile, plot)
        rep.say(f"plot written to {plot}")
    return 0

"""``hdtweedie fit`` and ``hdtweedie demo``: fit a portfolio and export the model."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .. import portfolio, tables
from ._common import UserError, factor_table_csv, load_model, split_columns, write_text
from ._report import Reporter


def _fit(rep: Reporter, df, source: str, **options) -> portfolio.PortfolioFit:
    """:func:`hdtweedie.portfolio.fit_portfolio` with a progress line on a terminal."""
    factors, numeric = options["factors"], options["numeric"]
    rep.detail(f"encoding {len(factors)} factor(s) and {len(numeric)} numeric input(s)")
    at = "" if isinstance(options["power"], float) else " at each power"
    with rep.step(f"fitting path + {options['folds']}-fold CV{at} ({len(df):,} rows)") as step:
        return portfolio.fit_portfolio(df, source=source, progress=step.jobs if rep.live else None,
                                       **options)


def _structure(args: argparse.Namespace) -> dict:
    """FactorEncoder options from --bands, --min-exposure, --missing-level and --interaction."""
    bands = {}
    for item in args.bands or ():
        column, sep, spec = item.partition("=")
        if not (sep and column and spec):
            raise UserError(f"--bands: expected COL=E1,E2,... or COL=qK, got {item!r}")
        if spec[0] in "qQ" and spec[1:].isdigit():
            bands[column] = {"quantiles": int(spec[1:])}
            continue
        try:
            bands[column] = [float(e) for e in spec.split(",")]
        except ValueError:
            raise UserError(f"--bands: the edges of {column} must be numbers or qK, got {spec!r}") from None
    interactions = []
    for item in args.interaction or ():
        a, sep, b = item.partition(":")
        if not (sep and a and b):
            raise UserError(f"--interaction: expected A:B, got {item!r}")
        interactions.append((a, b))
    options = {"bands": bands or None, "min_exposure": args.min_exposure,
               "missing_level": args.missing_level, "interactions": interactions or None}
    return {k: v for k, v in options.items() if v is not None}


def _report_columns(rep: Reporter, choice: portfolio.ColumnChoice, inferred: bool) -> None:
    rep.say(f"factors ({len(choice.factors)}): {', '.join(choice.factors) or 'none'}")
    rep.say(f"numeric ({len(choice.numeric)}): {', '.join(choice.numeric) or 'none'}")
    shown = {c: r for c, r in choice.left_out.items() if inferred or not r.startswith("not listed")}
    if shown:
        rep.say(f"left out ({len(shown)}):")
        for column, reason in shown.items():
            rep.say(f"  {column}: {reason}")
    for warning in choice.warnings:
        rep.warn(warning)


def _print_fit_summary(rep: Reporter, fit: portfolio.PortfolioFit) -> None:
    summary = portfolio.selection_summary(fit.cv)
    rep.say(f"rows: {fit.rows:,}   encoded columns: {fit.columns}   fit time: {fit.fit_seconds:.1f} s")
    if summary["powers"] is not None:
        rep.say(f"chosen power: {summary['power']:g} (of {', '.join(f'{p:g}' for p in summary['powers'])}, "
                f"by held-out log-likelihood)")
    if summary["dispersion"] is not None:
        rep.say(f"dispersion phi (maximum likelihood): {summary['dispersion']:.6g}")
    loss = "minus log-likelihood per row" if summary["loss"] == "loglik" else summary["loss"]
    rep.say(f"selected lambda ({summary['select']}): {summary['lambda']:.6g}   "
            f"CV {loss}: {summary['cv_mean']:.6g} +/- {summary['cv_std']:.2g}")
    for kind in ("selected", "dropped"):
        labels = summary[kind]
        rep.say(f"{kind} factors ({len(labels)}): {', '.join(map(str, labels)) or 'none'}")


def cmd_fit(args: argparse.Namespace, rep: Reporter) -> int:
    """Run ``hdtweedie fit``; return the exit status."""
    out = Path(args.out)
    if out.suffix.lower() != ".json":
        raise UserError(f"--out must name a .json model file, got {args.out}")
    tables.refuse_same_file(out, [args.data])
    factors, numeric = split_columns(args.factors), split_columns(args.numeric)
    df = tables.read_table(args.data, text_columns=factors)
    choice = portfolio.choose_columns(df, response=args.response, exposure=args.exposure,
                                      weights=args.weights, factors=factors, numeric=numeric,
                                      exclude=split_columns(args.exclude), source=args.data)
    if args.exposure is None and args.weights is None:
        rep.detail("no --exposure or --weights: every row has the same weight")
    structure = _structure(args)
    rep.say(f"fitting {args.response} on {len(df):,} rows of {args.data}")
    _report_columns(rep, choice, inferred=not (factors or numeric))
    # A banded column is an input even when it was not listed or detected as one.
    numeric_inputs = list(choice.numeric) + [c for c in structure.get("bands", {})
                                             if c not in choice.numeric and c not in choice.factors]
    fit = _fit(rep, df, args.data, response=args.response, factors=list(choice.factors),
               numeric=numeric_inputs, exposure=args.exposure, weights=args.weights,
               power=args.power, alpha=args.alpha, folds=args.folds, select=args.select,
               seed=args.seed, n_jobs=args.n_jobs, relax=args.relax, structure=structure)
    if structure.get("bands"):
        rep.say(f"banded ({len(structure['bands'])}): {', '.join(structure['bands'])}")
    for factor, merged in fit.encoder.merged_levels_.items():
        rep.say(f"merged sparse levels of {factor}: "
                + ", ".join(f"{a} -> {b}" for a, b in merged.items()))
    _print_fit_summary(rep, fit)
    tables.make_parent(out)
    fit.cv.export(out, model_id=args.model_id or out.stem, version=args.model_version,
                  encoder=fit.encoder)
    rep.say(f"model written to {out}")
    return 0


def _demo_folder(path: str) -> Path:
    out_dir = Path(path)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {path} exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create folder {out_dir}: {exc.strerror or exc}") from None
    return out_dir


def _print_analysis(rep: Reporter, analysis, bases: dict, rating) -> None:
    from ..demo import BIG_EFFECT

    rep.say("Selected factors:")
    rep.say(f"  {'factor':<16}{'true effect':<14}selected")
    for factor, real, chosen in analysis.selection:
        rep.say(f"  {factor:<16}{'yes' if real else 'no (noise)':<14}{'yes' if chosen else 'no'}")
    rep.say(f"  selection {'matches' if analysis.matches else 'does NOT match'} the truth")
    rep.say("")
    rep.say("Fitted vs. true relativities (base level of each factor = 1):")
    rep.say(f"  {'factor':<16}{'level':<8}{'true':>8}{'fitted':>9}{'error':>9}")
    for row in analysis.errors:
        if row["factor"] not in rating:
            continue
        if row["level"] == bases.get(row["factor"]):
            shown = f"{'base':>9}"
        else:
            pct = 100 * row["error"]
            shown = f"{0.0 if abs(pct) < 0.05 else pct:>+8.1f}%"
        rep.say(f"  {row['factor']:<16}{row['level']:<8}{row['true']:>8.3f}{row['fitted']:>9.3f}{shown}")
    worst = analysis.largest_error
    if worst is not None:
        rep.say(f"  largest error on levels whose true relativity differs from 1 by more than "
                f"{100 * BIG_EFFECT:.0f}%: {100 * abs(worst['error']):.1f}% "
                f"({worst['factor']} {worst['level']})")
    if analysis.noise_deviation is not None:
        rep.say(f"  noise factors: largest fitted deviation from 1 is {100 * analysis.noise_deviation:.1f}%")
    rep.say("")


def cmd_demo(args: argparse.Namespace, rep: Reporter) -> int:
    """Run ``hdtweedie demo``; return the exit status."""
    from .. import demo
    from ..datasets import NOISE_FACTORS, RATING_FACTORS, make_motor_portfolio, true_relativities
    from ..plotting import base_levels

    t_start = time.perf_counter()
    out_dir = _demo_folder(args.out)
    with rep.step(f"simulating {args.n:,} motor policies"):
        df = make_motor_portfolio(n=args.n, random_state=args.seed)
    t_data = time.perf_counter() - t_start
    rep.say("hdtweedie demo: synthetic UK motor portfolio with known true effects")
    rep.say(f"  {len(df):,} policies, {df['exposure'].sum():,.0f} years of exposure, "
            f"{int(df['claim_count'].sum()):,} claims, {df['incurred'].sum():,.0f} incurred")
    rep.say(f"  rating factors with a true effect: {', '.join(RATING_FACTORS)}")
    rep.say(f"  pure-noise factors: {', '.join(NOISE_FACTORS)}")
    rep.say("")

    fit = _fit(rep, df, "the portfolio", response="incurred",
               factors=list(RATING_FACTORS) + list(NOISE_FACTORS), numeric=[], exposure="exposure",
               power=args.power, folds=5, select=args.select, seed=args.seed, n_jobs=args.n_jobs,
               relax=args.relax)
    cv = fit.cv
    model_path = out_dir / "model.json"
    cv.export(model_path, model_id="motor-demo", version="1", encoder=fit.encoder)
    model = load_model(model_path)
    write_text(out_dir / "factor_table.csv", factor_table_csv(model))

    rep.say(f"HDTweedieCV: power {args.power:g}, one group per factor, log(exposure) as offset, "
            f"5-fold CV, {cv.select} = {cv.lambda_:.4g}")
    if args.relax:
        rep.say("  selected factors refitted without penalty (relax=True)")
    rep.say(f"  {fit.rows:,} rows x {fit.columns} one-hot columns, fitted in {fit.fit_seconds:.1f} s")
    rep.say("")
    analysis = demo.analyse(model, portfolio.selected_groups(cv), df.attrs["true_relativities"],
                            RATING_FACTORS, NOISE_FACTORS)
    _print_analysis(rep, analysis, base_levels(model), RATING_FACTORS)

    written = ["model.json", "factor_table.csv"]
    if not args.no_plots:
        with rep.step("drawing plots"):
            plots = demo.save_plots(cv, model, true_relativities(), out_dir)
        if not plots:
            rep.say("plots skipped: matplotlib is not installed (pip install hdtweedie[plot])")
        written += plots
        if plots:
            with rep.step("writing the sign-off report"):
                written += demo.save_report(model, df, out_dir)
    if not args.no_data:
        with rep.step("writing portfolio.csv"):
            tables.write_table(df, out_dir / "portfolio.csv")
        written.append("portfolio.csv")
    rep.say(f"Time: data {t_data:.1f} s, fit {fit.fit_seconds:.1f} s, "
            f"total {time.perf_counter() - t_start:.1f} s")
    rep.say(f"Wrote to {out_dir}: {', '.join(written)}")
    if not args.no_data:
        rep.say(f"Next: hdtweedie score {model_path} {out_dir / 'portfolio.csv'} "
                f"--exposure exposure --out {out_dir / 'predictions.csv'}")
    return 0

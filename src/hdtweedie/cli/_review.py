"""``hdtweedie factor-table``, ``diff-models`` and ``report``: a model's tables for rating and sign-off."""

from __future__ import annotations

import argparse

from .. import tables
from ._common import UserError, factor_names, factor_table_csv, load_model, one_line, write_text
from ._report import Reporter


def _renames(text: str | None) -> dict | None:
    """``area=PostcodeArea,ncd=NCD`` as a dict."""
    if text is None:
        return None
    out = {}
    for item in text.split(","):
        old, sep, new = item.partition("=")
        old, new = old.strip(), new.strip()
        if not sep or not old or not new:
            raise UserError(f"--rename takes FACTOR=NEW pairs separated by commas, got {item!r}")
        if old in out:
            raise UserError(f"--rename names {old!r} twice")
        out[old] = new
    return out


def _data(model, path: str, response: str, exposure: str | None):
    df = tables.read_table(path, text_columns=factor_names(model))
    tables.require_columns(df, [c for c in (response, exposure) if c], "column", path)
    return df


def cmd_factor_table(args: argparse.Namespace, rep: Reporter) -> int:
    """Run ``hdtweedie factor-table``; return the exit status."""
    inputs = [args.model] + [p for p in (args.se_from, args.policies) if p]
    if args.out is not None:
        tables.refuse_same_file(args.out, inputs)
    if args.se_from is None and (args.response or args.exposure):
        raise UserError("--response and --exposure go with --se-from DATA")
    if args.se_from is not None and args.response is None:
        raise UserError("--se-from needs --response COL (and --exposure COL if the fit had one)")
    model = load_model(args.model)
    options = {"decimals": args.decimals, "names": _renames(args.rename)}
    if args.se_from is not None:
        from ..report._stats import SHRUNK_NOTE, model_data, model_inference, unpenalised

        if not hasattr(model, "relaxed"):  # a composite: each part has its own data
            raise UserError("--se-from: standard errors are computed per model; run factor-table "
                            "--se-from on each part's model file with its own data")
        if not unpenalised(model):
            raise UserError(f"--se-from: {SHRUNK_NOTE}")
        df = _data(model, args.se_from, args.response, args.exposure)
        inf = model_inference(model, model_data(model, df, args.response, args.exposure))
        if inf.coef_table is None:
            raise UserError(f"--se-from: {inf.note}")
        se = inf.coef_table["se"].to_dict()
        options["standard_errors"] = {f: se.get(f, 0.0) for f in ("intercept", *model.feature_names)}
    if args.policies is not None:
        options["policies"] = tables.read_table(args.policies, text_columns=factor_names(model)
                                                + list((options["names"] or {}).values()))
    text = factor_table_csv(model, **options)
    if args.out is None:
        rep.out.write(text)
        rep.out.flush()
    else:
        write_text(args.out, text)
        rep.say(f"factor table ({len(text.splitlines()) - 1} rows) written to {args.out}")
    return 0


def cmd_diff_models(args: argparse.Namespace, rep: Reporter) -> int:
    """Run ``hdtweedie diff-models``; return the exit status."""
    from ..model_diff import diff_models

    if args.out is not None:
        tables.refuse_same_file(args.out, [args.old, args.new])
    diff = diff_models(load_model(args.old), load_model(args.new), threshold=args.threshold)
    if args.format == "csv":
        text = diff.to_csv()
    else:
        text = diff.to_markdown()
    if args.out is None:
        rep.out.write(text)
        rep.out.flush()
    else:
        if args.format == "csv":
            tables.make_parent(args.out)
            diff.to_csv(args.out)
        else:
            write_text(args.out, text)
        rep.say(f"{len(diff.flagged)} of {len(diff.rows)} levels flagged; changes written to {args.out}")
    return 0


def cmd_report(args: argparse.Namespace, rep: Reporter) -> int:
    """Run ``hdtweedie report``; return the exit status."""
    from ..report import write_report

    if not str(args.out).lower().endswith((".html", ".htm")):
        raise UserError(f"--out must name an .html file, got {args.out}")
    tables.refuse_same_file(args.out, [args.model, args.data])
    model = load_model(args.model)
    df = _data(model, args.data, args.response, args.exposure)
    if args.benchmark is not None:
        tables.require_columns(df, [args.benchmark], "benchmark", args.data)
    tables.make_parent(args.out)
    with rep.step("building the report"):
        try:
            write_report(args.out, model, df, args.response, args.exposure, args.benchmark)
        except ImportError as exc:
            raise UserError(one_line(exc)) from None
    rep.say(f"report written to {args.out}")
    return 0

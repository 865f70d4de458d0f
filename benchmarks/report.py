"""Turn a benchmark run into the results tables of ``benchmarks/README.md``.

Usage (from the project root)::

    pytest benchmarks/ --benchmark-only --benchmark-json=benchmarks/results.json
    python benchmarks/report.py benchmarks/results.json --readme benchmarks/README.md

Without ``--readme`` the tables are only printed.  With it, the part of the
README between the ``results:start`` and ``results:end`` markers is replaced.
Timings are the median over the rounds of each benchmark; "passes" is
``HDTweedie.n_passes_`` (full and inner coordinate passes over the whole path,
R's ``npasses``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

LABELS = {"motor_csc": "motor, CSC input"}
# R HDtweedie is timed by bench_vs_r.py in its own run (its table in the README); no R
# figure is quoted here.

# Bounds on peak extra memory / X.nbytes in the tall memory benchmark, by the
# layout of the X given.  With p = 20 one copy of X is 20 length-n vectors; the
# bounds leave room for 15 vectors of per-solve state on top of no copy
# (Fortran-ordered input) or exactly one copy (C-ordered input).
MAX_EXTRA_OVER_X = {"F": 0.75, "C": 1.75}

START = "<!-- results:start -->"
END = "<!-- results:end -->"


def machine_description():
    """CPU model, core count and library versions of this machine."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        cpu = platform.processor() or "unknown"
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "threads": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
    }
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
        info["memory_gib"] = round(kb / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    for mod in ("hdtweedie", "glum", "numpy", "scipy"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # not installed, or no version attribute
            info[mod] = None
    return info


def _index(records):
    """Map (kind, problem, solver, variant) -> record with 'seconds' added."""
    out = {}
    for rec in records:
        info = rec.get("extra_info", {})
        if "problem" not in info:
            continue
        stats = rec.get("stats", {})
        key = (info.get("kind"), info["problem"], info.get("solver"), info.get("variant"))
        out[key] = {**info, "seconds": stats.get("median"), "rounds": stats.get("rounds")}
    return out


def _fmt_s(x):
    if x is None:
        return "–"
    return f"{x:.3g} s" if x < 10 else f"{x:.1f} s"


def _fmt_x(x):
    return "–" if x is None else f"{x:.2f}x"


def _fmt_ratio(x):
    return "–" if x is None else f"{x:.2f}"


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def path_table(idx):
    rows = [
        "| problem | n x p | hdtweedie tol | passes | lambdas | hdtweedie | glum (same run) "
        "| glum / hdtweedie | max objective gap |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for prob in ("motor", "motor_csc", "wide", "tall"):
        glum = idx.get(("path", prob, "glum", None))
        variants = sorted(
            (key[3] for key in idx if key[:3] == ("path", prob, "hdtweedie")),
            key=lambda v: (v is not None, str(v)),
        ) or [None]
        for variant in variants:
            ours = idx.get(("path", prob, "hdtweedie", variant))
            if ours is None and glum is None:
                continue
            t_ours = ours and ours["seconds"]
            t_glum = glum and glum["seconds"]
            vs_glum = _ratio(t_glum, t_ours)
            gap = glum.get("max_rel_objective_gap") if glum else None
            if isinstance(gap, dict):
                gap = gap.get(variant or "default")
            shape = (ours or glum).get("shape")
            tol = variant.split("=", 1)[1] if variant else "1e-08 (default)"
            rows.append(
                f"| {LABELS.get(prob, prob)} | {shape[0]:,} x {shape[1]:,} | {tol} | "
                f"{ours.get('passes', '–') if ours else '–'} | "
                f"{ours.get('n_lambdas', '–') if ours else '–'} | "
                f"{_fmt_s(t_ours)} | {_fmt_s(t_glum)} | {_fmt_x(vs_glum)} | "
                f"{'–' if gap is None else f'{gap:.1e}'} |"
            )
    return "\n".join(rows)


def cv_table(idx):
    rows = [
        "| solver | n_jobs | seconds | speed-up n_jobs=2 over 1 | glum / hdtweedie |",
        "|---|---|---|---|---|",
    ]
    found = False
    for solver in ("hdtweedie", "glum"):
        t1 = idx.get(("cv", "motor", solver, "n_jobs=1"))
        t2 = idx.get(("cv", "motor", solver, "n_jobs=2"))
        for n_jobs, rec in ((1, t1), (2, t2)):
            if rec is None:
                continue
            found = True
            ours = idx.get(("cv", "motor", "hdtweedie", f"n_jobs={n_jobs}"))
            glum = idx.get(("cv", "motor", "glum", f"n_jobs={n_jobs}"))
            vs_glum = _ratio(glum and glum["seconds"], ours and ours["seconds"])
            speedup = _ratio(t1 and t1["seconds"], t2 and t2["seconds"]) if n_jobs == 2 else None
            rows.append(
                f"| {solver} | {n_jobs} | {_fmt_s(rec['seconds'])} | {_fmt_x(speedup)} | "
                f"{_fmt_x(vs_glum) if solver == 'hdtweedie' else ''} |"
            )
    if not found:
        return ""
    return "\n".join(rows)


def memory_table(idx):
    rows = [
        "| solver | X layout given | X size | peak extra memory (RSS) | extra / X size "
        "| extra in n-vectors (8n bytes) | numpy/Python peak (tracemalloc) / X size "
        "| bound (hdtweedie) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    found = False
    for (kind, _prob, solver, variant), rec in sorted(
        idx.items(), key=lambda kv: (kv[0][2] != "hdtweedie", kv[0][3] != "F-ordered")
    ):
        if kind != "memory":
            continue
        found = True
        mib = 2**20
        rows.append(
            f"| {solver} | {variant} | {rec['x_nbytes'] / mib:.0f} MiB | "
            f"{rec['peak_extra_bytes'] / mib:.0f} MiB | {rec['extra_over_x']:.2f} | "
            f"{rec['extra_n_vectors']:.1f} | "
            f"{_fmt_ratio(rec.get('tracemalloc_over_x'))} | {_memory_bound(solver, variant, rec)} |"
        )
    return "\n".join(rows) if found else ""


def _memory_bound(solver, variant, rec):
    bound = MAX_EXTRA_OVER_X.get(str(variant)[:1])
    if solver != "hdtweedie" or bound is None:
        return ""
    ok = rec["extra_over_x"] < bound
    return f"< {bound:.2f}: {'met' if ok else 'exceeded'}"


def format_tables(records, machine_info=None):
    """Markdown for the path, CV and memory tables of one run."""
    idx = _index(records)
    parts = []
    if machine_info:
        m = machine_info.get("hdtweedie_bench", machine_info)
        parts.append(
            f"Machine: {m.get('cpu')}, {m.get('cores')} cores, "
            f"{m.get('memory_gib', '?')} GiB; Python {m.get('python')}; "
            f"hdtweedie {m.get('hdtweedie')}, glum {m.get('glum')}, numpy {m.get('numpy')}, "
            f"scipy {m.get('scipy')}; one BLAS/OpenMP thread per process."
        )
        if m.get("load_average_start"):
            parts.append(
                f"Load average (1 min) at start / end of the run: "
                f"{m['load_average_start'][0]:.2f} / {m['load_average_end'][0]:.2f}."
            )
        parts.append("")
    parts.append(
        "Full default lasso path (power 1.5), median seconds, both solvers on the same "
        "lambda grid in the same run:"
    )
    parts.append("")
    parts.append(path_table(idx))
    cv = cv_table(idx)
    if cv:
        title = "5-fold CV on motor (same grid and folds for both; full-data path included):"
        parts += ["", title, "", cv]
    mem = memory_table(idx)
    if mem:
        title = "Peak memory of one tall fit (1,000,000 x 20), each in a fresh process:"
        parts += ["", title, "", mem]
    return "\n".join(parts)


def update_readme(readme, text):
    """Replace the marked results block of ``readme`` (append it if absent)."""
    path = Path(readme)
    body = path.read_text() if path.exists() else ""
    block = f"{START}\n{text}\n{END}"
    if START in body and END in body:
        head, rest = body.split(START, 1)
        _, tail = rest.split(END, 1)
        body = head + block + tail
    else:
        body = body.rstrip("\n") + ("\n\n" if body else "") + block + "\n"
    path.write_text(body)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="output of pytest --benchmark-json")
    parser.add_argument("--readme", help="README to update between the results markers")
    args = parser.parse_args(argv)
    with open(args.json) as fh:
        data = json.load(fh)
    text = format_tables(data.get("benchmarks", []), data.get("machine_info"))
    print(text)
    if args.readme:
        update_readme(args.readme, text)
        print(f"\nwrote {args.readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""HDTweedie against R HDtweedie (and glum) on R's own problems, in one run.

Usage::

    python benchmarks/bench_vs_r.py [--datasets motor wide tall] [--rounds 3]
                                    [--data-dir DIR] [--no-glum] [--readme benchmarks/README.md]

The problems are written as CSV by ``<repo>/../shared/bench/gen_data.py``; R is timed
with ``<repo>/../shared/bench/time_r.R`` (R HDtweedie's default lasso path, p = 1.5) and
hdtweedie on the same CSV data, alternately, one thread each.  The benchmark skips,
saying why, when that folder is absent; the R column is skipped, saying why, when R
HDtweedie cannot be loaded even after ``setup-r.sh``.  glum runs once per problem
on hdtweedie's lambdas.
"""

from __future__ import annotations

import os

# One BLAS/OpenMP thread, before numpy loads its pools (R gets the same environment).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "bench"
DATASETS = ("motor", "wide", "tall")
POWER = 1.5
R_LIB = "/tmp/Rlib"
START, END = "<!-- bench_vs_r:start -->", "<!-- bench_vs_r:end -->"


def r_available() -> str | None:
    """None when R HDtweedie loads (running setup-r.sh once if needed), else why not."""
    probe = ["Rscript", "-e", f'.libPaths(c("{R_LIB}", .libPaths())); library(HDtweedie)']
    for attempt in range(2):
        try:
            done = subprocess.run(probe, capture_output=True, text=True)
        except FileNotFoundError:
            return "Rscript is not installed"
        if done.returncode == 0:
            return None
        if attempt == 0:
            print("R HDtweedie not found; running setup-r.sh (about 5 minutes)", file=sys.stderr)
            subprocess.run(["bash", str(SHARED / "setup-r.sh")], check=False)
    return f"R HDtweedie does not load: {done.stderr.strip()[-200:]}"


def ensure_data(name: str, data_dir: Path) -> None:
    """Write the problem's CSV files with gen_data.py unless they are there."""
    if (data_dir / f"{name}_x.csv").exists() and (data_dir / f"{name}_y.csv").exists():
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(SHARED / "gen_data.py"), str(data_dir), "--only", name],
                   check=True)


def load(name: str, data_dir: Path):
    """``(X, y, w)`` from the CSV files, X Fortran-ordered float64 as R reads it."""
    import pandas as pd

    X = np.asfortranarray(pd.read_csv(data_dir / f"{name}_x.csv").to_numpy(dtype=np.float64))
    y = pd.read_csv(data_dir / f"{name}_y.csv")["y"].to_numpy(dtype=np.float64)
    wf = data_dir / f"{name}_w.csv"
    w = pd.read_csv(wf)["w"].to_numpy(dtype=np.float64) if wf.exists() else np.ones(y.size)
    return X, y, w


def time_r(name: str, data_dir: Path) -> tuple[float, int]:
    """One R fit: ``(seconds, passes)`` as time_r.R prints them."""
    out = subprocess.run(["Rscript", str(SHARED / "time_r.R"), name, "1", str(data_dir)],
                         capture_output=True, text=True, check=True, env=os.environ.copy())
    fields = out.stdout.split()
    return float(fields[0]), int(fields[1])


def time_ours(X, y, w):
    """One hdtweedie fit of the default path: ``(seconds, model)``."""
    from threadpoolctl import threadpool_limits

    from hdtweedie import HDTweedie

    with threadpool_limits(limits=1):
        t0 = time.perf_counter()
        model = HDTweedie(power=POWER).fit(X, y, sample_weight=w)
        return time.perf_counter() - t0, model


def time_glum(X, y, w, lambdas) -> float | None:
    """One glum path on the given lambdas (seconds), or None without glum."""
    try:
        from glum import GeneralizedLinearRegressor, TweedieDistribution
    except ImportError:
        return None
    from threadpoolctl import threadpool_limits

    model = GeneralizedLinearRegressor(family=TweedieDistribution(POWER), link="log",
                                       alpha=np.asarray(lambdas), l1_ratio=1.0,
                                       alpha_search=True, solver="irls-cd")
    with threadpool_limits(limits=1):
        t0 = time.perf_counter()
        model.fit(X, y, sample_weight=w)
        return time.perf_counter() - t0


def run(names, rounds: int, data_dir: Path, glum: bool) -> dict:
    """Alternate R and hdtweedie ``rounds`` times per problem; medians and counts."""
    why_no_r = r_available()
    load0 = os.getloadavg()
    rows = []
    for name in names:
        ensure_data(name, data_dir)
        X, y, w = load(name, data_dir)
        time_ours(X[:2000], y[:2000], w[:2000])  # imports and first-call costs
        ours, theirs, r_passes, model = [], [], None, None
        for _ in range(rounds):
            if why_no_r is None:
                sec, r_passes = time_r(name, data_dir)
                theirs.append(sec)
            sec, model = time_ours(X, y, w)
            ours.append(sec)
        row = {"problem": name, "shape": f"{X.shape[0]:,} x {X.shape[1]:,}",
               "ours": statistics.median(ours), "ours_passes": model.n_passes_,
               "r": statistics.median(theirs) if theirs else None, "r_passes": r_passes,
               "glum": time_glum(X, y, w, model.lambdas_) if glum else None}
        rows.append(row)
        print(row, file=sys.stderr)
    return {"rows": rows, "load_before": load0, "load_after": os.getloadavg(),
            "why_no_r": why_no_r, "rounds": rounds,
            "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{cpu_name()}, {os.cpu_count()} cores"}


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, or the platform's word for it."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine()
    found = re.search(r"model name\s*:\s*(.+)", text)
    return found.group(1).strip() if found else platform.machine()


def table(res: dict) -> str:
    """The results as a markdown section."""
    def sec(v):
        return "-" if v is None else f"{v:.2f}"

    lines = [f"Measured {res['when']} on {res['machine']}; {res['rounds']} alternating "
             f"round(s) per problem, medians, one thread each; load average (1, 5, 15 min) "
             f"{'/'.join(f'{x:.2f}' for x in res['load_before'])} before and "
             f"{'/'.join(f'{x:.2f}' for x in res['load_after'])} after.", ""]
    if res["why_no_r"]:
        lines += [f"R column skipped: {res['why_no_r']}.", ""]
    lines += ["| problem | shape | hdtweedie s | passes | R HDtweedie s | R passes | R / hdtweedie "
              "| glum s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in res["rows"]:
        ratio = f"{r['r'] / r['ours']:.1f}x" if r["r"] else "-"
        lines.append(f"| {r['problem']} | {r['shape']} | {sec(r['ours'])} | {r['ours_passes']} | "
                     f"{sec(r['r'])} | {r['r_passes'] or '-'} | {ratio} | {sec(r['glum'])} |")
    return "\n".join(lines) + "\n"


def write_readme(path: Path, text: str) -> None:
    """Replace the section between the markers (appended when absent)."""
    body = path.read_text()
    block = f"{START}\n{text}{END}"
    if START in body and END in body:
        body = body[:body.index(START)] + block + body[body.index(END) + len(END):]
    else:
        body = body.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(body)


def main(argv=None) -> int:
    """Command line entry: run, print the table, optionally write it into a README."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=DATASETS)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/hdtweedie-bench-r"))
    ap.add_argument("--no-glum", action="store_true")
    ap.add_argument("--readme", type=Path)
    a = ap.parse_args(argv)
    if not SHARED.is_dir():
        print(f"skipped: {SHARED} (R's problems and timing script) is absent")
        return 0
    text = table(run(a.datasets, a.rounds, a.data_dir, not a.no_glum))
    print(text)
    if a.readme:
        write_readme(a.readme, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

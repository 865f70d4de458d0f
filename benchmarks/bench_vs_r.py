"""R HDtweedie, glum and hdtweedie on R's own problems: one run, one table.

Usage::

    python benchmarks/bench_vs_r.py [--datasets motor wide tall] [--rounds 3]
                                    [--data-dir DIR] [--no-glum] [--no-cv]
                                    [--readme benchmarks/README.md]

The problems are written as CSV by ``<repo>/../shared/bench/gen_data.py``.  Per problem,
R HDtweedie's default lasso path (``time_r.R``, p = 1.5) and hdtweedie's are timed on the
same CSV data, alternately, one thread each; glum runs once on hdtweedie's lambdas, and
its objective is compared with hdtweedie's at every lambda; ``stopping="kkt"`` is timed
beside glum at equal accuracy (largest relative objective gap at most 1e-6); on tall,
hdtweedie also runs with ``n_threads=2`` in the same rounds, when the estimator has that parameter.  Then
5-fold CV on motor, the same folds for all: R's ``cv.HDtweedie`` (``time_r_cv.R``),
``HDTweedieCV`` with ``n_jobs`` 1 and 2, and glum's CV estimator on hdtweedie's grid.
The table records the machine load at the start and the end.

R columns are measured in the run or absent, with the reason (Rscript missing, or R
HDtweedie not loading even after ``setup-r.sh``).  ``HDTWEEDIE_BENCH_QUICK=1`` runs the
same code on the first 20,000 rows of motor and tall, one round: a check that the
benchmark works, not figures to keep (``--readme`` is refused then).
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
QUICK = os.environ.get("HDTWEEDIE_BENCH_QUICK", "") not in ("", "0")
QUICK_ROWS = 20_000
N_FOLDS, FOLD_SEED = 5, 12345
# stopping="kkt" is compared with glum at this accuracy (largest relative objective gap).
EQUAL_ACCURACY = 1e-6
KKT_TOL = 1e-7


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


def quick_data(name: str, data_dir: Path) -> Path:
    """A folder holding the first ``QUICK_ROWS`` rows of the problem's CSV files."""
    out = data_dir / "quick"
    out.mkdir(parents=True, exist_ok=True)
    for part in ("x", "y", "w"):
        src, dst = data_dir / f"{name}_{part}.csv", out / f"{name}_{part}.csv"
        if src.exists() and not dst.exists():
            with src.open() as fin, dst.open("w") as fout:
                for i, line in enumerate(fin):
                    if i > QUICK_ROWS:
                        break
                    fout.write(line)
    return out


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


def _timed(fn):
    """``(seconds, result)`` of ``fn()`` with one BLAS thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out


def time_ours(X, y, w, **params):
    """One hdtweedie fit of the default path: ``(seconds, model)``."""
    from hdtweedie import HDTweedie

    return _timed(lambda: HDTweedie(power=POWER, **params).fit(X, y, sample_weight=w))


def time_glum(X, y, w, lambdas):
    """One glum path on the given lambdas: ``(seconds, model)``, or None without glum."""
    try:
        from glum import GeneralizedLinearRegressor, TweedieDistribution
    except ImportError:
        return None
    model = GeneralizedLinearRegressor(family=TweedieDistribution(POWER), link="log",
                                       alpha=np.asarray(lambdas), l1_ratio=1.0,
                                       alpha_search=True, solver="irls-cd")
    return _timed(lambda: model.fit(X, y, sample_weight=w))


def objective_gap(X, y, w, model, glum_model) -> float:
    """Largest ``|f_glum - f_hdtweedie| / f_hdtweedie`` over the lambdas (the lasso objective)."""
    from _problems import path_objectives

    ours = path_objectives(X, y, w, model.lambdas_, model.intercept_path_, model.coef_path_, POWER)
    theirs = path_objectives(X, y, w, model.lambdas_, glum_model.intercept_path_,
                             np.asarray(glum_model.coef_path_).T, POWER)
    return float(np.max(np.abs(theirs - ours) / np.abs(ours)))


def has_threads() -> bool:
    """Whether the estimator takes ``n_threads``."""
    from hdtweedie import HDTweedie

    return "n_threads" in HDTweedie().get_params()


def path_row(name: str, data_dir: Path, rounds: int, why_no_r: str | None, glum: bool) -> dict:
    """R and hdtweedie alternately, then glum, kkt and (tall) two threads, on one problem."""
    X, y, w = load(name, data_dir)
    time_ours(X[:2000], y[:2000], w[:2000])  # imports and first-call costs
    ours, theirs, two, r_passes, model = [], [], [], None, None
    threads = name == "tall" and has_threads()
    for _ in range(rounds):  # R, one thread and (tall) two threads take turns
        if why_no_r is None:
            sec, r_passes = time_r(name, data_dir)
            theirs.append(sec)
        sec, model = time_ours(X, y, w)
        ours.append(sec)
        if threads:
            two.append(time_ours(X, y, w, n_threads=2)[0])
    row = {"problem": name, "shape": f"{X.shape[0]:,} x {X.shape[1]:,}",
           "ours": statistics.median(ours), "ours_passes": model.n_passes_,
           "r": statistics.median(theirs) if theirs else None, "r_passes": r_passes}
    if two:
        row["threads2"] = statistics.median(two)
    g = time_glum(X, y, w, model.lambdas_) if glum else None
    if g is not None:
        row["glum"], glum_model = g
        row["gap"] = objective_gap(X, y, w, model, glum_model)
        sec, kkt = time_ours(X, y, w, stopping="kkt", tol=KKT_TOL)
        row["kkt"], row["kkt_passes"] = sec, kkt.n_passes_
        row["kkt_gap"] = objective_gap(X, y, w, kkt, glum_model)
    print(row, file=sys.stderr)
    return row


def cv_row(data_dir: Path, why_no_r: str | None, glum: bool) -> dict:
    """5-fold CV on motor, the same folds for R, hdtweedie (n_jobs 1 and 2) and glum."""
    from hdtweedie import HDTweedieCV

    X, y, w = load("motor", data_dir)
    folds = np.random.default_rng(FOLD_SEED).permutation(X.shape[0]) % N_FOLDS + 1
    fold_file = data_dir / "motor_folds.csv"
    fold_file.write_text("fold\n" + "\n".join(map(str, folds)) + "\n")
    row = {"problem": "motor, 5-fold CV", "shape": f"{X.shape[0]:,} x {X.shape[1]:,}"}
    if why_no_r is None:
        out = subprocess.run(["Rscript", str(REPO / "benchmarks" / "time_r_cv.R"), "motor",
                              str(data_dir), str(fold_file)],
                             capture_output=True, text=True, check=True, env=os.environ.copy())
        row["r"] = float(out.stdout.strip().splitlines()[-1].split()[0])
    for n_jobs in (1, 2):
        sec, cv = _timed(lambda j=n_jobs: HDTweedieCV(power=POWER, fold_ids=folds, n_jobs=j)
                         .fit(X, y, sample_weight=w))
        row[f"ours{n_jobs}"] = sec
    row["ours"], row["ours_passes"] = row["ours1"], cv.path_.n_passes_
    if glum:
        try:
            sys.path.insert(0, str(REPO / "benchmarks"))
            import _fits

            row["glum"] = _timed(lambda: _fits.glum_cv(X, y, w, cv.lambdas_, folds, 1))[0]
        except ImportError:
            pass
    print(row, file=sys.stderr)
    return row


def run(names, rounds: int, data_dir: Path, glum: bool, cv: bool) -> dict:
    """Every row of the table, with the load average before and after."""
    why_no_r = r_available()
    load0 = os.getloadavg()
    rows = []
    for name in list(names) + (["motor"] if cv and "motor" not in names else []):
        ensure_data(name, data_dir)
    where = {name: quick_data(name, data_dir) if QUICK else data_dir for name in names}
    for name in names:
        rows.append(path_row(name, where[name], rounds, why_no_r, glum))
    if cv:
        rows.append(cv_row(quick_data("motor", data_dir) if QUICK else data_dir, why_no_r, glum))
    return {"rows": rows, "load_before": load0, "load_after": os.getloadavg(),
            "why_no_r": why_no_r, "rounds": rounds, "quick": QUICK, "threads": has_threads(),
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

    def ratio(a, b):
        return "-" if a is None or not b else f"{a / b:.1f}x"

    load = "/".join(f"{x:.2f}" for x in res["load_before"]), "/".join(
        f"{x:.2f}" for x in res["load_after"])
    lines = [f"Measured {res['when']} on {res['machine']}"
             f"{' (QUICK MODE: 20,000-row subsets, not for keeping)' if res['quick'] else ''}; "
             f"{res['rounds']} alternating round(s) of R and hdtweedie per path, medians; CV once; "
             f"one thread each unless said; load average (1, 5, 15 min) {load[0]} at the start "
             f"and {load[1]} at the end.", ""]
    if res["why_no_r"]:
        lines += [f"R columns absent: {res['why_no_r']}.", ""]
    if not res["threads"]:
        lines += ["No `n_threads=2` column: this hdtweedie has no `n_threads` parameter.", ""]
    lines += ["| problem | shape | R HDtweedie s | R passes | hdtweedie s | passes | glum s "
              "| R / hdtweedie | glum / hdtweedie "
              "| hdtweedie on 2 threads s (tall: n_threads=2, CV: n_jobs=2) "
              "| objective gap to glum |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["rows"]:
        cv = "ours2" in r
        extra = (f"n_jobs=2: {sec(r['ours2'])}" if cv else sec(r.get("threads2")))
        gap = "-" if r.get("gap") is None else f"{r['gap']:.1e}"
        lines.append(f"| {r['problem']} | {r['shape']} | {sec(r.get('r'))} | {r.get('r_passes') or '-'} "
                     f"| {sec(r['ours'])} | {r['ours_passes']} | {sec(r.get('glum'))} "
                     f"| {ratio(r.get('r'), r['ours'])} | {ratio(r.get('glum'), r['ours'])} "
                     f"| {extra} | {gap} |")
    kkt = [r for r in res["rows"] if "kkt" in r]
    if kkt:
        lines += ["", f"`stopping=\"kkt\"` (tol={KKT_TOL:g}) against glum at equal accuracy "
                  f"(largest relative objective gap over the path at most {EQUAL_ACCURACY:g}):", "",
                  "| problem | hdtweedie kkt s | passes | glum s | glum / hdtweedie kkt "
                  "| objective gap | equal accuracy |", "|---|---:|---:|---:|---:|---:|---|"]
        for r in kkt:
            lines.append(f"| {r['problem']} | {sec(r['kkt'])} | {r['kkt_passes']} | {sec(r['glum'])} "
                         f"| {ratio(r['glum'], r['kkt'])} | {r['kkt_gap']:.1e} "
                         f"| {'yes' if r['kkt_gap'] <= EQUAL_ACCURACY else 'no'} |")
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
    ap.add_argument("--no-cv", action="store_true", help="skip the 5-fold CV row")
    ap.add_argument("--readme", type=Path)
    a = ap.parse_args(argv)
    if not SHARED.is_dir():
        print(f"skipped: {SHARED} (R's problems and timing script) is absent")
        return 0
    if QUICK and a.readme:
        ap.error("HDTWEEDIE_BENCH_QUICK=1 is a check that the benchmark works; its figures do "
                 "not go into a README")
    rounds = 1 if QUICK else a.rounds
    text = table(run(a.datasets, rounds, a.data_dir, not a.no_glum, not a.no_cv))
    print(text)
    if a.readme:
        write_readme(a.readme, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Profile likelihood of the Tweedie power on the 100,000-policy demo portfolio, beside R.

``hdtweedie.profile.profile_power`` and R's ``tweedie::tweedie_profile(method = "series",
phi.method = "mle", do.smooth = FALSE)`` profile the same model: response ``incurred``,
offset ``log(exposure)``, the five true rating factors (14 one-hot columns).  R takes about
25 s a power here, so it runs on 5 powers (1.1, 1.3, ..., 1.9) and hdtweedie on the same 5
and on 11 (1.1, 1.18, ..., 1.9), alternating in one run: hdtweedie 5, hdtweedie 11, R 5,
hdtweedie 5, hdtweedie 11.  Printed: seconds per run and per power, the R / hdtweedie ratio
per power, and the largest relative difference in log-likelihood and phi on the shared powers.

Run with ``python benchmarks/bench_profile.py`` (R with tweedie and statmod on
``/tmp/Rlib`` or the default library; ``--no-r`` skips R).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hdtweedie.datasets import RATING_FACTORS, make_motor_portfolio
from hdtweedie.profile import profile_power

POWERS_5 = [1.1, 1.3, 1.5, 1.7, 1.9]
POWERS_11 = [round(1.1 + 0.08 * k, 2) for k in range(11)]

R_SCRIPT = r"""
.libPaths(c("/tmp/Rlib", .libPaths()))
suppressMessages({library(tweedie); library(statmod); library(jsonlite)})
a <- commandArgs(TRUE)
d <- read.csv(a[1], colClasses = c(rep("factor", 5), "numeric", "numeric"))
p.vec <- as.numeric(strsplit(a[2], ",")[[1]])
t <- system.time(out <- tweedie_profile(incurred ~ area + ncd_years + vehicle_group + driver_age +
  conviction, data = d, offset = log(exposure), p.vec = p.vec, method = "series",
  phi.method = "mle", do.smooth = FALSE))[["elapsed"]]
cat(toJSON(list(seconds = t, L = out$L, phi = out$phi), digits = NA, auto_unbox = TRUE), "\n")
"""


def design(df):
    """One-hot rating factors without their most common (base) level, as float columns."""
    cols = []
    for f in RATING_FACTORS:
        levels = df[f].value_counts().index  # most common first
        cols += [(df[f] == lvl).to_numpy(float) for lvl in sorted(levels[1:])]
    return np.column_stack(cols)


def time_ours(X, y, off, powers):
    start = time.perf_counter()
    res = profile_power(X, y, powers, offset=off)
    return time.perf_counter() - start, res


def time_r(df, powers, workdir: Path):
    csv, script = workdir / "motor.csv", workdir / "profile.R"
    df[list(RATING_FACTORS) + ["exposure", "incurred"]].to_csv(csv, index=False, float_format="%.17g")
    script.write_text(R_SCRIPT)
    out = subprocess.run(["Rscript", str(script), str(csv), ",".join(map(str, powers))],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout[out.stdout.index('{"seconds"'):])  # after R's progress bar


def main(argv=None):
    """Run the comparison and print the figures.

    Parameters
    ----------
    argv : list of str, optional
        ``["--no-r"]`` to time hdtweedie only.
    """
    argv = sys.argv[1:] if argv is None else argv
    df = make_motor_portfolio(100_000, random_state=0)
    X, y, off = design(df), df["incurred"].to_numpy(float), np.log(df["exposure"].to_numpy(float))
    print(f"{X.shape[0]} policies, {X.shape[1]} columns, {np.mean(y > 0):.1%} with a claim")
    runs = {5: [], 11: []}
    r_out = None
    with tempfile.TemporaryDirectory() as tmp:
        for step in ("ours", "r", "ours"):
            if step == "r":
                if "--no-r" not in argv:
                    r_out = time_r(df, POWERS_5, Path(tmp))
                    print(f"R tweedie_profile, 5 powers: {r_out['seconds']:.1f} s")
                continue
            for powers in (POWERS_5, POWERS_11):
                secs, res = time_ours(X, y, off, powers)
                runs[len(powers)].append((secs, res))
                print(f"hdtweedie, {len(powers)} powers: {secs:.2f} s (p = {res.power:.4f}, "
                      f"phi = {res.dispersion:.5g}, {100 * res.conf_level:g}% interval "
                      f"[{res.ci[0]:.4f}, {res.ci[1]:.4f}])")
    best5 = min(s for s, _ in runs[5])
    best11 = min(s for s, _ in runs[11])
    print(f"hdtweedie per power: {best5 / 5:.3f} s (5 powers), {best11 / 11:.3f} s (11 powers)")
    if r_out is not None:
        per_r = r_out["seconds"] / 5
        print(f"R per power: {per_r:.2f} s; ratio R / hdtweedie per power: {per_r / (best5 / 5):.0f}x "
              f"(5 powers), {per_r / (best11 / 11):.0f}x (11 powers)")
        ours = runs[5][0][1]
        on_grid = np.isin(ours.powers, POWERS_5)
        dl = np.max(np.abs(ours.loglik[on_grid] / np.asarray(r_out["L"]) - 1))
        dphi = np.max(np.abs(ours.phi[on_grid] / np.asarray(r_out["phi"]) - 1))
        print(f"largest relative difference from R: log-likelihood {dl:.1e}, phi {dphi:.1e}")


if __name__ == "__main__":
    main()

"""Throughput and latency of ``hdtweedie serve`` /predict (SQLite, PostgreSQL ledgers) beside R plumber.

Run from the repository root (needs the serve extra, wrk, PostgreSQL and R with plumber and jsonlite)::

    python benchmarks/bench_service.py [--write-readme] [--rounds 2] [--seconds 10] [--rate 500]
        [--only sqlite-normal-1 postgres-2 ...] [--generator wrk|python] [--baseline OTHER/src]

Each round starts every server in turn (R plumber, then hdtweedie with a
SQLite ledger on 1 and 2 workers, a PostgreSQL ledger on 1 and 2 workers,
and SQLite with ``--durability full``), so that the servers alternate:
wrk with 8 connections for ``--seconds`` gives the most requests/s, then an
open loop at ``--rate`` requests/s (each request timed from its scheduled
send, so queueing counts) gives p50, p99 and p99.9, and the generator's own
lateness (how late it sent a request it could have sent).  The open loop is
wrk pacing one connection per thread (light on the shared cores), or
Python's asyncio with ``--generator python``.  ``--only`` runs some of the
targets (names as in ``--help``); ``--samples DIR`` keeps every request's
timings.  ``--baseline`` also runs every hdtweedie
target from another source tree (built in place), alternating with this
one, for a before/after in the same run.  R plumber serves the same
coefficients without a ledger.  PostgreSQL is a throwaway cluster (with
fsync) in a temporary folder.  Everything is on loopback; the load average
is recorded before and after, and for each run (wrk, open loop) the CPU
time the hypervisor stole and the machine's busy time used by neither the
server, its database nor the generators (``/proc/stat``): a round high in
either was disturbed, not slow.  ``--write-readme`` puts the table in
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for extra in (ROOT / "src", ROOT / "tests", HERE):
    sys.path.insert(0, str(extra))

import httpx  # noqa: E402
from _loadgen import open_loop, open_loop_wrk, wrk  # noqa: E402
from _readme import replace_section  # noqa: E402
from report import machine_description  # noqa: E402
from service_support import RISK, PostgresCluster, Server, free_port, make_models  # noqa: E402

BODY = {"policy_id": "P-bench", "transaction_type": "quote", "record": RISK, "exposure": 1.0}
START, END = "<!-- bench_service:start -->", "<!-- bench_service:end -->"
CONNECTIONS = 8
#: Every target by name: (server, ledger, workers, durability).
TARGETS = {"plumber": ("R plumber", "none", 1, None),
           "sqlite-normal-1": ("hdtweedie", "SQLite", 1, "normal"),
           "sqlite-normal-2": ("hdtweedie", "SQLite", 2, "normal"),
           "postgres-1": ("hdtweedie", "PostgreSQL", 1, "normal"),
           "postgres-2": ("hdtweedie", "PostgreSQL", 2, "normal"),
           "sqlite-full-1": ("hdtweedie", "SQLite", 1, "full")}
GENERATORS = {"wrk": open_loop_wrk, "python": open_loop}


class _Plumber:
    """R plumber serving the model's coefficients (no ledger) on a free port."""

    def __init__(self, model: Path, folder: Path):
        port = free_port()
        self.log = folder / "plumber.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(["Rscript", str(HERE / "bench_service_plumber.R"), str(model),
                                          str(port)], stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"plumber did not start: {self.log.read_text()}")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _targets(args) -> list:
    """The targets to run, in order: ``(server, ledger, workers, durability, source tree or None)``."""
    names = args.only or [n for n in TARGETS if not (args.no_plumber and n == "plumber")
                          and not (args.no_postgres and n.startswith("postgres"))]
    out = []
    for name in names:
        target = TARGETS[name]
        if args.baseline and target[0] == "hdtweedie":
            out.append((*target, str(args.baseline)))
        out.append((*target, None))
    return out


def _start(target, model: Path, folder: Path, cluster, n: int):
    name, ledger, workers, durability, src = target
    if name == "R plumber":
        return _Plumber(model, folder)
    url = (f"sqlite:///{folder / f'bench-{n}.db'}" if ledger == "SQLite" else cluster.url)
    extra = {"PYTHONPATH": os.pathsep.join([src, str(ROOT)])} if src else None
    server = Server([model, "--ledger", url, "--workers", workers, "--durability", durability], folder,
                    extra_env=extra)
    time.sleep(2.0 if workers > 1 else 0.0)  # every worker up (the first answers /health)
    return server


def _cpu_seconds(root: int) -> float:
    """CPU time used so far by process ``root`` and its descendants (Linux /proc)."""
    parents, used = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid], used[pid] = int(fields[1]), int(fields[11]) + int(fields[12])
    tree, more = {root}, True
    while more:
        grown = tree | {p for p, pp in parents.items() if pp in tree}
        more, tree = grown != tree, grown
    return sum(used.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


def _machine_seconds() -> tuple:
    """``(busy, steal)``: CPU seconds the whole machine spent working and lost to the hypervisor so far.

    Busy is user, nice, system, irq and softirq time of ``/proc/stat`` (guest
    time is inside user); steal is time a virtual CPU wanted to run and the
    hypervisor ran something else.
    """
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    user, nice, system, _, _, irq, softirq, steal = map(int, fields)
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def _own_seconds() -> float:
    """CPU seconds of this process and its finished children (the load generators)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class _Usage:
    """Where the machine's CPU went during one phase: server, database, generator, the rest, stolen.

    Parameters
    ----------
    server : int
        The server's process id (its workers are its descendants).
    database : int or None
        The PostgreSQL postmaster's process id (its backends are its descendants).
    """

    def __init__(self, server: int, database: int | None):
        self._pids = (server, database)
        self._start = self._now()

    def _now(self) -> tuple:
        trees = tuple(_cpu_seconds(pid) if pid else 0.0 for pid in self._pids)
        return (time.monotonic(), *_machine_seconds(), *trees, _own_seconds())

    def done(self) -> dict:
        """The phase's shares of the machine's capacity (wall time x cores), in percent.

        Returns
        -------
        dict
            ``steal_pct`` (taken by the hypervisor), ``other_pct`` (busy, but neither the
            server, the database nor the generator: another program on the machine),
            ``database_pct``, and ``server_s``, the server's CPU seconds.
        """
        wall, busy, steal, server, database, generator = (b - a for a, b in zip(self._start, self._now()))
        capacity = wall * (os.cpu_count() or 1) / 100
        other = max(0.0, busy - server - database - generator)
        return {"steal_pct": steal / capacity, "other_pct": other / capacity,
                "database_pct": database / capacity, "server_s": server}


def _postmaster(cluster) -> int | None:
    """The process id of the cluster's postmaster (first line of ``postmaster.pid``), if running."""
    try:
        return int((cluster.data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (AttributeError, OSError, ValueError):
        return None


def measure(target, model: Path, folder: Path, cluster, args, n: int) -> dict:
    """One target's wrk and open-loop figures (the server started and stopped around them)."""
    server = _start(target, model, folder, cluster, n)
    try:
        url = server.url + "/predict"
        wrk(url, BODY, 1.0, CONNECTIONS)  # warm up: imports, connections, caches
        database = _postmaster(cluster) if target[1] == "PostgreSQL" else None
        usage = _Usage(server.proc.pid, database)
        most = wrk(url, BODY, args.seconds, CONNECTIONS)
        most |= usage.done()
        # server CPU per answer: unlike requests/s, hardly changed by other load on the machine
        most["cpu_us"] = most.pop("server_s") / (most["rps"] * args.seconds) * 1e6
        usage = _Usage(server.proc.pid, database)
        fixed = GENERATORS[args.generator](url, BODY, args.open_seconds, args.rate)
        fixed |= usage.done()
        del fixed["server_s"]
    finally:
        server.stop()
    samples = fixed.pop("samples")
    if args.samples:
        _write_samples(args.samples / f"open-loop-{n}.csv", samples)
    return {"wrk": most, "open": fixed}


def _write_samples(path: Path, samples: list) -> None:
    """Each answered request of an open loop: scheduled send (s from the start), lateness, latency (ms)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{due:.6f},{late * 1e3:.3f},{latency * 1e3:.3f}\n" for due, late, latency in samples)
    path.write_text("scheduled_s,send_late_ms,latency_ms\n" + rows)


def _ms(value: float) -> str:
    return f"{value:.1f}" if value != float("inf") else "unanswered"


def _label(target) -> str:
    name, ledger, workers, durability, src = target
    return name if src is None else f"{name} ({src})"


def _row(target, runs: list, plumber_rps: float | None) -> str:
    _, ledger, workers, durability, _ = target
    rps = statistics.mean(r["wrk"]["rps"] for r in runs)
    ratio = f"{rps / plumber_rps:.1f}x" if plumber_rps else "-"
    worst = max(runs, key=lambda r: r["open"]["p99"])["open"]
    errors = sum(r["wrk"]["errors"] + r["open"]["errors"] for r in runs)
    cpu = statistics.mean(r["wrk"]["cpu_us"] for r in runs)
    rounds = " / ".join(_ms(r["open"]["p99"]) for r in runs)
    steal, other = (" · ".join(f"{r['wrk'][k]:.0f}/{r['open'][k]:.0f}" for r in runs)
                    for k in ("steal_pct", "other_pct"))
    return (f"| {_label(target)} | {ledger} | {durability or '-'} | {workers} | {rps:.0f} | {ratio} "
            f"| {cpu:.0f} "
            f"| {statistics.mean(r['wrk']['p99'] for r in runs):.1f} "
            f"| {statistics.mean(r['open']['rate'] for r in runs):.0f} "
            f"| {_ms(statistics.mean(r['open']['p50'] for r in runs))} | {_ms(worst['p99'])} | {rounds} "
            f"| {_ms(max(r['open']['p999'] for r in runs))} "
            f"| {max(r['open']['late_max'] for r in runs):.1f} | {steal} | {other} | {errors} |")


def table(targets: list, results: dict, args, load: tuple) -> str:
    """The markdown table and the conditions it was measured in."""
    machine = machine_description()
    plumber = [r["wrk"]["rps"] for t in targets if t[0] == "R plumber" for r in results.get(t, [])]
    plumber_rps = statistics.mean(plumber) if plumber else None
    generator = ("wrk, one connection per thread" if args.generator == "wrk" else "Python asyncio")
    lines = [
        f"Measured by `python benchmarks/bench_service.py --write-readme` on {time.strftime('%Y-%m-%d')}: "
        f"{machine['cpu']}, {machine['cores']} core(s), Python {machine['python']}, "
        f"load average {load[0]:.2f} before and {load[1]:.2f} after; the load generators run on the "
        f"same machine.  {args.rounds} round(s), servers alternating; figures are means over rounds "
        f"(p99 at {args.rate:g}/s: the worst round, then each round; p99.9 and the generator's "
        f"lateness: the worst round).  Open loop: {generator}.  Steal: the machine's CPU time taken "
        f"by the hypervisor; other busy: CPU time used by neither the server, its database nor the "
        f"generators "
        f"(another program); both in % of the machine's capacity, for the wrk and open-loop runs "
        f"of each round: a round high in either was noisy, not slow.",
        "",
        f"| server | ledger | durability | workers | req/s (wrk, {CONNECTIONS} connections, "
        f"{args.seconds:g} s) | vs plumber | server CPU µs/request | wrk p99 ms "
        f"| open loop {args.rate:g}/s: answered/s | p50 ms | p99 ms | p99 ms by round | p99.9 ms "
        f"| generator late ms | steal % by round (wrk/open) | other busy % by round (wrk/open) | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_row(t, results[t], plumber_rps) for t in targets if results.get(t)]
    return "\n".join(lines)


def main() -> int:
    """Run the benchmark, print the table and optionally write it to benchmarks/README.md.

    Returns
    -------
    int
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=float, default=10.0, help="wrk duration per server and round")
    p.add_argument("--open-seconds", type=float, default=5.0, help="open-loop duration")
    p.add_argument("--rate", type=float, default=500.0, help="open-loop requests/s")
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--no-plumber", action="store_true")
    p.add_argument("--only", nargs="+", choices=list(TARGETS), metavar="TARGET",
                   help=f"run only these targets, of: {', '.join(TARGETS)}")
    p.add_argument("--generator", choices=list(GENERATORS), default="wrk", help="the open loop's sender")
    p.add_argument("--baseline", type=Path, metavar="SRC",
                   help="also run the hdtweedie targets from this source tree (its src folder, built)")
    p.add_argument("--samples", type=Path, metavar="DIR",
                   help="write each open loop's requests to DIR/open-loop-N.csv (N as in the log)")
    p.add_argument("--write-readme", action="store_true")
    args = p.parse_args()
    if args.baseline and not (args.baseline / "hdtweedie" / "__init__.py").exists():
        p.error(f"--baseline must be a source tree's src folder holding hdtweedie/, got {args.baseline}")
    targets = _targets(args)
    folder = Path(tempfile.mkdtemp(prefix="hdtweedie-bench-"))
    model = make_models(folder)[0]
    before = os.getloadavg()[0]
    cluster = PostgresCluster(fsync=True) if any(t[1] == "PostgreSQL" for t in targets) else None
    results: dict = {t: [] for t in targets}
    try:
        for r in range(args.rounds):
            for i, target in enumerate(targets):
                n = r * len(targets) + i
                out = measure(target, model, folder, cluster, args, n)
                results[target].append(out)
                print(f"round {r + 1} [{n}] {_label(target)} {target[1:4]}: {out}", flush=True)
    finally:
        if cluster is not None:
            cluster.remove()
    text = table(targets, results, args, (before, os.getloadavg()[0]))
    print("\n" + text)
    if args.write_readme:
        replace_section(HERE / "README.md", START, END, text, heading="## Pricing service")
    return 0


if __name__ == "__main__":
    sys.exit(main())

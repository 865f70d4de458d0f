"""Throughput and latency of ``hdtweedie serve`` /predict (SQLite, PostgreSQL ledgers) beside R plumber.

Run from the repository root (needs the serve extra, PostgreSQL 15 and R with plumber and jsonlite)::

    PYTHONPATH=src:tests python3 benchmarks/bench_service.py [--seconds 5] [--concurrency 16] [--rate 500]

For each target: a closed loop (``--concurrency`` requests in flight for
``--seconds``) gives requests/s and p50/p99 latency; an open loop at
``--rate`` requests/s (each request timed from its scheduled start, so
queueing counts) gives the p99 at that rate.  The load generator is asyncio +
httpx on the same machine.  R plumber serves the same coefficients without a
ledger.  The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from service_support import RISK, PostgresCluster, Server, free_port, make_models  # noqa: E402

BODY = {"policy_id": "P-bench", "transaction_type": "quote", "record": RISK, "exposure": 1.0}


def _quantile(values: list, q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def closed_loop(url: str, seconds: float, concurrency: int) -> dict:
    """``concurrency`` clients sending back to back for ``seconds``."""
    latencies, errors = [], 0
    end = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        async def worker():
            nonlocal errors
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                r = await client.post("/predict", json=BODY)
                latencies.append(time.perf_counter() - t0)
                errors += r.status_code != 200
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        took = time.perf_counter() - start
    return {"rps": len(latencies) / took, "p50": _quantile(latencies, 0.5) * 1e3,
            "p99": _quantile(latencies, 0.99) * 1e3, "errors": errors}


async def open_loop(url: str, seconds: float, rate: float) -> dict:
    """Requests started at ``rate`` per second; latency from the scheduled start."""
    latencies, errors = [], 0
    n = int(seconds * rate)
    gate = asyncio.Semaphore(64)  # httpx's pool slows down with thousands of waiters
    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=64), timeout=30) as client:
        start = time.perf_counter()

        async def one(i: int):
            nonlocal errors
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            async with gate:
                r = await client.post("/predict", json=BODY)
            latencies.append(time.perf_counter() - due)
            errors += r.status_code != 200

        await asyncio.gather(*(one(i) for i in range(n)))
        took = time.perf_counter() - start
    return {"rate": n / took, "p50": _quantile(latencies, 0.5) * 1e3, "p99": _quantile(latencies, 0.99) * 1e3,
            "errors": errors}


def _plumber(model: Path, folder: Path) -> tuple:
    port = free_port()
    log = open(folder / "plumber.log", "w")
    proc = subprocess.Popen(["Rscript", str(HERE / "bench_service_plumber.R"), str(model), str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"plumber did not start: {(folder / 'plumber.log').read_text()}")


def main() -> int:
    """Run the benchmark and print the table.

    Returns
    -------
    int
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rate", type=float, default=500.0)
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--no-plumber", action="store_true")
    args = p.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="hdtweedie-bench-"))
    model = make_models(folder)[0]
    print(f"load average before: {os.getloadavg()}")
    cluster = None if args.no_postgres else PostgresCluster()
    targets = [("hdtweedie", "SQLite", w) for w in (1, 2)]
    if cluster is not None:
        targets += [("hdtweedie", "PostgreSQL", w) for w in (1, 2)]
    rows = []
    try:
        for name, ledger, workers in targets:
            url = (f"sqlite:///{folder / f'bench-{workers}.db'}" if ledger == "SQLite"
                   else cluster.url)
            server = Server([model, "--ledger", url, "--workers", workers], folder)
            try:
                time.sleep(1.0 if workers > 1 else 0.2)  # all workers up
                rows.append((name, ledger, workers, asyncio.run(closed_loop(server.url, args.seconds,
                                                                            args.concurrency)),
                             asyncio.run(open_loop(server.url, args.seconds, args.rate))))
            finally:
                server.stop()
        if not args.no_plumber:
            proc, url = _plumber(model, folder)
            try:
                closed = asyncio.run(closed_loop(url, args.seconds, args.concurrency))
                opened = asyncio.run(open_loop(url, args.seconds, args.rate))
                rows.append(("R plumber", "none", 1, closed, opened))
            finally:
                proc.kill()
                proc.wait()
    finally:
        if cluster is not None:
            cluster.remove()
    print(f"load average after: {os.getloadavg()}")
    print(f"\n| server | ledger | workers | req/s ({args.concurrency} in flight) | p50 ms | p99 ms "
          "| open loop: req/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, ledger, workers, c, o in rows:
        print(f"| {name} | {ledger} | {workers} | {c['rps']:.0f} | {c['p50']:.1f} | {c['p99']:.1f} "
              f"| {o['rate']:.0f} | {o['p50']:.1f} | {o['p99']:.1f} | {c['errors'] + o['errors']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

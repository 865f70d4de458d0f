"""Load generators for the service benchmark: wrk (most requests/s) and open loops at a fixed rate.

An open loop sends each request at its scheduled time whatever the answers
and times it from that schedule (queueing counts); :func:`open_loop_wrk`
runs one in wrk (C, a Lua script pacing one connection per thread), light
on the shared cores, :func:`open_loop` one in Python's asyncio.  All talk
HTTP/1.1 with keep-alive to a loopback address and stop after a fixed time.
"""

from __future__ import annotations

import asyncio
import csv
import json
import math
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

_OPEN_LOOP_LUA = Path(__file__).with_name("_open_loop.lua")

_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {body}
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(output: str, percent: str) -> float:
    m = re.search(rf"{percent}%\s+([\d.]+)(us|ms|s|m)\b", output)
    if m is None:
        raise RuntimeError(f"no {percent}% latency in the output of wrk:\n{output}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _need_wrk() -> None:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")


def wrk(url: str, body: dict, seconds: float, connections: int, threads: int = 1) -> dict:
    """Most requests/s: ``connections`` keep-alive connections posting ``body`` back to back.

    Parameters
    ----------
    url : str
        The endpoint, e.g. ``http://127.0.0.1:8000/predict``.
    body : dict
        The JSON body.
    seconds : float
    connections : int
    threads : int

    Returns
    -------
    dict
        ``rps``, ``p50`` and ``p99`` (ms), ``errors`` (non-2xx answers and socket errors).

    Raises
    ------
    RuntimeError
        If wrk is missing or fails.
    """
    _need_wrk()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_LUA.format(body=json.dumps(json.dumps(body))))
    try:
        out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency",
                              "-s", f.name, url], capture_output=True, text=True, timeout=seconds + 30)
    finally:
        Path(f.name).unlink()
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed: {out.stderr or out.stdout}")
    text = out.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p50, p99 = _ms(text, "50"), _ms(text, "99")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors += sum(map(int, m.groups())) if m else 0
    return {"rps": rps, "p50": p50, "p99": p99, "errors": errors}


class _Connection:
    """One keep-alive HTTP/1.1 connection sending a fixed request."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    async def send(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


async def _open_loop(host: str, port: int, path: str, body: bytes, seconds: float, rate: float,
                     max_connections: int, drain: float) -> dict:
    request = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    idle: list = []
    opened = 0
    # per request: (scheduled send, how late it was written, latency from the schedule); times in s
    samples: list = []
    errors = 0
    slots = asyncio.Semaphore(max_connections)

    async def one(due: float) -> None:
        nonlocal opened, errors
        async with slots:  # beyond max_connections a request waits: the wait counts in its latency
            conn = idle.pop() if idle else None
            try:
                if conn is None:
                    opened += 1
                    conn = _Connection(*await asyncio.open_connection(host, port))
                sent = time.perf_counter()
                status = await conn.send(request)
            except (OSError, asyncio.IncompleteReadError, ValueError, AttributeError):
                errors += 1
                if conn is not None:
                    conn.close()
                return
            samples.append((due, sent - due, time.perf_counter() - due))
            errors += status != 200
            idle.append(conn)

    start = time.perf_counter()
    n = int(seconds * rate)
    tasks = []
    behind = 0.0  # the generator's own lateness: how late it got round to a scheduled request
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        behind = max(behind, time.perf_counter() - due)
        tasks.append(asyncio.create_task(one(due)))
    done, late = await asyncio.wait(tasks, timeout=drain)  # bounded: the rest counts as errors
    for t in late:
        t.cancel()
    took = time.perf_counter() - start
    for conn in idle:
        conn.close()
    samples = [(due - start, sent, latency) for due, sent, latency in samples]
    return _summary(samples, len(late), errors, took, behind) | {"connections": opened}


def _quantile(values: list, p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(p * len(values)))] * 1e3


def _summary(samples: list, unanswered: int, errors: int, took: float, behind: float) -> dict:
    """Quantiles of ``samples``, ``(scheduled send, send lateness, latency)`` in seconds."""
    latencies = sorted([s[2] for s in samples] + [math.inf] * unanswered)  # unanswered: slowest of all
    sends = sorted(s[1] for s in samples)
    return {"rate": len(samples) / took, "p50": _quantile(latencies, 0.5), "p99": _quantile(latencies, 0.99),
            "p999": _quantile(latencies, 0.999), "max": _quantile(latencies, 1.0),
            "late_max": behind * 1e3, "send_late_p99": _quantile(sends, 0.99),
            "errors": errors + unanswered,
            "samples": samples}


def open_loop(url: str, body: dict, seconds: float, rate: float, max_connections: int = 64,
              drain: float = 5.0) -> dict:
    """Requests sent at ``rate`` per second whatever the answers; latency from each scheduled send.

    Parameters
    ----------
    url : str
        ``http://HOST:PORT/PATH``.
    body : dict
    seconds : float
    rate : float
        Requests per second.
    max_connections : int
        Most connections open at once.
    drain : float
        Seconds to wait for the answers after the last send; later ones count as errors.

    Returns
    -------
    dict
        ``rate`` (answered per second); ``p50``, ``p99``, ``p999`` and ``max`` latency (ms from the
        scheduled send; infinite if unanswered); ``late_max``, the generator's own lateness (ms: how
        late it got round to a scheduled request at worst); ``send_late_p99`` (ms: how late requests
        were written, waits for a connection included); ``errors`` (non-200, failed and
        unanswered); ``connections``; ``samples``, per answered request ``(scheduled send, send
        lateness, latency)`` in seconds from the start.
    """
    m = re.fullmatch(r"http://([^:/]+):(\d+)(/.*)", url)
    host, port, path = m.group(1), int(m.group(2)), m.group(3)
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # the asyncio loop is slower but measures the same thing
        run = asyncio.run
    return run(_open_loop(host, port, path, json.dumps(body).encode(), seconds, rate, max_connections,
                          drain))


def open_loop_wrk(url: str, body: dict, seconds: float, rate: float, connections: int = 32,
                  drain: float = 2.0) -> dict:
    """:func:`open_loop` run by wrk: ``connections`` threads of one connection, each on its own schedule.

    A thread sends its next request at its scheduled time, or at once when the
    previous answer came later (then the wait counts in the latency).

    Parameters
    ----------
    url, body, seconds, drain
        As :func:`open_loop`.
    rate : float
        Requests per second, all threads together.
    connections : int
        Threads, one connection each: each sends every ``connections / rate`` seconds.

    Returns
    -------
    dict
        As :func:`open_loop` (``late_max``: how late wrk sent a request it could have sent, at worst).

    Raises
    ------
    RuntimeError
        If wrk is missing or fails.
    """
    _need_wrk()
    with tempfile.TemporaryDirectory(prefix="hdtweedie-open-loop-") as folder:
        body_file = Path(folder) / "body.json"
        body_file.write_text(json.dumps(body))
        lead = 0.5  # wrk starts its threads and connects before the first scheduled send
        start = time.perf_counter() + lead
        total = int(seconds * rate)
        args = [str(rate), str(connections), str(total), repr(start), folder, str(body_file)]
        cmd = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{math.ceil(lead + seconds + drain)}s",
               "--timeout", f"{math.ceil(drain)}s", "-s", str(_OPEN_LOOP_LUA), url, "--", *args]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=lead + seconds + drain + 30)
        if out.returncode != 0:
            raise RuntimeError(f"wrk failed: {out.stderr or out.stdout}")
        rows = [row for f in Path(folder).glob("open-loop-*.csv")
                for row in csv.reader(f.read_text().splitlines())]
    samples = [(float(due), float(late), float(latency)) for due, late, latency, _ in rows]
    errors = sum(status != "200" for *_, status in rows)
    behind = max((s[1] for s in samples), default=0.0)
    return _summary(samples, total - len(rows), errors, seconds, behind) | {"connections": connections}

"""The benchmark's open loops time each request from its schedule, so a server's stall counts in full."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _loadgen import open_loop, open_loop_wrk  # noqa: E402

# A keep-alive HTTP server that answers at once, except that it stops answering for STALL
# seconds (its event loop blocked) when it reads request number STALL_AT.
_SERVER = r"""
import asyncio, sys, time
count, stall_at, stall = 0, int(sys.argv[1]), float(sys.argv[2])

async def serve(reader, writer):
    global count
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        count += 1
        if count == stall_at:
            time.sleep(stall)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""
RATE, SECONDS, STALL = 200.0, 2.0, 0.3
STALL_AT = int(RATE * 0.8)  # the request that stalls the server: due at 0.8 s


@pytest.fixture
def stalling_server():
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(STALL_AT), str(STALL)],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/predict"
    finally:
        proc.kill()
        proc.wait()


GENERATORS = [open_loop, pytest.param(open_loop_wrk, marks=pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed"))]


@pytest.mark.parametrize("generator", GENERATORS)
def test_a_stall_counts_for_every_request_due_during_it(stalling_server, generator):
    began = time.monotonic()
    out = generator(stalling_server, {"x": 1}, SECONDS, RATE)
    assert time.monotonic() - began < SECONDS + 10  # bounded in time
    assert out["errors"] == 0 and len(out["samples"]) == int(RATE * SECONDS)
    # requests due during the stall waited for its end: timed from their schedule, not their send,
    # those due in its first half took at least half of it (a closed loop would see one or a few)
    slow = [s for s in out["samples"] if s[2] >= STALL / 2]
    assert len(slow) >= RATE * STALL / 2 * 0.8, sorted(s[2] for s in out["samples"])[-20:]
    assert out["max"] >= STALL * 1e3 * 0.8
    # requests due well before the stall were not held up by it
    before = sorted(s[2] for s in out["samples"] if s[0] < STALL_AT / RATE - 0.1)
    assert before[len(before) // 2] < STALL / 2 and out["late_max"] >= 0
    # schedule offsets run from 0 to the end, one per request
    dues = sorted(s[0] for s in out["samples"])
    assert dues[0] == pytest.approx(0.0, abs=1e-3) and dues[-1] == pytest.approx(SECONDS - 1 / RATE, abs=1e-3)



@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="reads Linux /proc")
def test_cpu_of_another_program_counts_as_other_busy_not_as_the_server():
    saved = list(sys.path)
    try:
        from bench_service import _Usage
    finally:
        # bench_service puts the source tree first on the path: later tests' child processes
        # must import the installed package, as they did before
        sys.path[:] = saved

    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    spin = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass"
    try:
        start = time.monotonic()
        usage = _Usage(server.pid, None)
        # started by a shell that exits at once: not a child of this process (not the generator's)
        pid = int(subprocess.run(["sh", "-c", f"{sys.executable} -c '{spin}' >/dev/null & echo $!"],
                                 capture_output=True, text=True, check=True).stdout)
        while Path(f"/proc/{pid}").exists() and time.monotonic() < start + 20:
            time.sleep(0.02)
        shares = usage.done()
        capacity = (time.monotonic() - start) * (os.cpu_count() or 1) / 100
    finally:
        server.kill()
        server.wait()
    assert shares["server_s"] < 0.1
    assert shares["other_pct"] * capacity >= 0.5  # of the 0.6 s spun
    assert 0 <= shares["steal_pct"] <= 100

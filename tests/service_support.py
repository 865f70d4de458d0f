"""Start ``hdtweedie serve`` and throwaway PostgreSQL clusters for the service tests (nothing mocked)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import hdtweedie

ROOT = Path(__file__).resolve().parents[1]
# The newest PostgreSQL server Debian installed (``.ci/run`` installs one when missing).
PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name),
             default=Path("/usr/lib/postgresql/15/bin"))

RISK = {"area": "E", "ncd_years": "0", "vehicle_group": "31-50", "driver_age": "17-24",
        "conviction": "Yes", "vehicle_colour": "Red", "start_month": "Jan"}


def env(**extra: str) -> dict:
    """The environment for a child process that imports the package from this tree."""
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join([str(Path(hdtweedie.__file__).resolve().parents[1]), str(ROOT),
                                    out.get("PYTHONPATH", "")])
    out.pop("HDTWEEDIE_SANDBOX", None)
    out.update(extra)
    return out


def cli(*args: str, **extra: str) -> subprocess.CompletedProcess:
    """Run ``python -m hdtweedie ARGS`` and return the finished process."""
    return subprocess.run([sys.executable, "-m", "hdtweedie", *map(str, args)], capture_output=True,
                          text=True, env=env(**extra), timeout=60)


_FITTED: list = []


def make_models(folder: Path) -> tuple:
    """Two versions of a motor model (fitted once per run on two small portfolios), copied into ``folder``."""
    if not _FITTED:
        _FITTED.extend(_fit_models(Path(tempfile.mkdtemp(prefix="hdtweedie-models-"))))
    return tuple(Path(shutil.copy(p, Path(folder) / p.name)) for p in _FITTED)


def _fit_models(folder: Path) -> tuple:
    pytest.importorskip("pandas")
    import numpy as np

    from hdtweedie import FactorEncoder, HDTweedieCV
    from hdtweedie.datasets import NOISE_FACTORS, RATING_FACTORS, make_motor_portfolio

    factors = list(RATING_FACTORS + NOISE_FACTORS)
    paths = []
    for version, seed in (("1", 0), ("2", 1)):
        df = make_motor_portfolio(n=3000, random_state=seed)
        enc = FactorEncoder(factors=factors).fit(df[factors])
        X = enc.transform(df[factors])
        cv = HDTweedieCV(power=1.5, groups=enc.groups_, n_folds=3, random_state=0, relax=True)
        cv.fit(X, df["incurred"].to_numpy(float), offset=np.log(df["exposure"].to_numpy(float)))
        path = folder / f"motor_v{version}.json"
        cv.export(path, model_id="motor", version=version, encoder=enc)
        paths.append(path)
    return tuple(paths)


class Server:
    """``hdtweedie serve`` in a subprocess on a free port; stopped by :meth:`stop`."""

    def __init__(self, args: list, log_dir: Path, extra_env: dict | None = None, timeout: float = 30.0):
        self.err_path = log_dir / f"serve-{time.monotonic_ns()}.err"
        self.out_path = self.err_path.with_suffix(".out")
        cmd = [sys.executable, "-m", "hdtweedie", "serve", *map(str, args), "--port", "0"]
        with open(self.err_path, "w") as err, open(self.out_path, "w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env(**(extra_env or {})),
                                         cwd=log_dir, start_new_session=True)
        self.url = self._wait_listening(timeout)
        self.wait_ready(timeout)

    def _wait_listening(self, timeout: float) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(r"listening on (http://\S+)", self.err_path.read_text())
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited {self.proc.returncode}: {self.err_path.read_text()}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"serve did not start: {self.err_path.read_text()}")

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until ``/health`` answers (200 or 503)."""
        import httpx

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=2).status_code in (200, 503):
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited {self.proc.returncode}: {self.err_path.read_text()}")
            time.sleep(0.05)
        raise RuntimeError("serve is not answering /health")

    def client(self, key: str | None = None):
        """An httpx client for this server."""
        import httpx

        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def kill(self) -> None:
        """SIGKILL the server (and its workers)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """Terminate, wait, kill."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # workers left behind


def free_port() -> int:
    """A TCP port free on 127.0.0.1 at the time of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    """A throwaway PostgreSQL cluster in a temporary folder, on 127.0.0.1 and a free port.

    ``initdb`` and ``postgres`` refuse to run as root, so as root they run as
    the ``postgres`` system user.  ``fsync=False`` (the tests) skips the
    server's disk flushes; the benchmark keeps them.
    """

    def __init__(self, fsync: bool = False):
        self.fsync = fsync
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError("PostgreSQL is not installed: apt-get install -y postgresql "
                               "(.ci/run does this)")
        self.user = "postgres" if os.geteuid() == 0 else None
        self.dir = Path(tempfile.mkdtemp(prefix="hdtweedie-pg-"))
        if self.user:
            shutil.chown(self.dir, self.user)
        self.data = self.dir / "data"
        self.port = free_port()
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args) -> None:
        cmd = [str(PG_BIN / tool), *map(str, args)]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        """Start (or restart) the server."""
        fsync = "on" if self.fsync else "off"
        self._run("pg_ctl", "-D", self.data, "-l", self.dir / "log", "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync={fsync}", "start")

    def stop(self) -> None:
        """Stop the server (fast shutdown)."""
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        """Stop the server if running and delete the cluster."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

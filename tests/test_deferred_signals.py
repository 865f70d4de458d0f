"""SIGTERM and SIGINT held back while a file and its clean-up are set up, in a process with threads."""

import signal
import subprocess
import sys

import pytest

# A process with a second thread (as a BLAS pool makes) sends itself a signal inside the block.
_CHILD = """
import os, signal, sys, threading, time
from hdtweedie._atomic import deferred_signals

signum = getattr(signal, sys.argv[1])
threading.Thread(target=threading.Event().wait, daemon=True).start()
events = []
try:
    with deferred_signals():
        os.kill(os.getpid(), signum)
        time.sleep(0.05)
        events.append("block done")
except KeyboardInterrupt:
    events.append("interrupted")
print(" ".join(events), signal.getsignal(signum) is signal.default_int_handler)
"""


def child(signame, handler):
    """Run the block with ``handler`` (SIGTERM's) installed; return the CompletedProcess."""
    setup = {"raise": "signal.signal(signal.SIGTERM, signal.default_int_handler)",
             "default": "signal.signal(signal.SIGTERM, signal.SIG_DFL)",
             "ignore": "signal.signal(signal.SIGTERM, signal.SIG_IGN)"}[handler]
    code = _CHILD.replace("threading.Thread", f"{setup}\nthreading.Thread", 1)
    return subprocess.run([sys.executable, "-c", code, signame], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_signal_raised_after_the_block_not_inside(signame):
    proc = child(signame, "raise")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["block", "done", "interrupted", "True"]


def test_default_action_taken_after_the_block():
    proc = child("SIGTERM", "default")
    assert proc.returncode == -signal.SIGTERM
    assert proc.stdout == ""


def test_ignored_signal_stays_ignored():
    proc = child("SIGTERM", "ignore")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["block", "done", "False"]


_OPENED = """
import os, signal, sys, threading
from hdtweedie._atomic import opened

signal.signal(signal.SIGTERM, signal.default_int_handler)
threading.Thread(target=threading.Event().wait, daemon=True).start()
files = []

def open_file():
    files.append(open(sys.argv[1], "rb"))
    os.kill(os.getpid(), signal.SIGTERM)  # lands just after the file was opened
    return files[-1]

try:
    with opened(open_file) as fh:
        print("body ran")
except KeyboardInterrupt:
    print("interrupted", files[0].closed)
"""


def test_opened_closes_a_file_a_signal_followed_at_once(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("x")
    proc = subprocess.run([sys.executable, "-W", "default", "-c", _OPENED, str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["interrupted", "True"]
    assert proc.stderr == ""

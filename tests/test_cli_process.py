"""The command line as a separate process: entry point, pipes, signals, full disks, terminals."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")

from hdtweedie.datasets import NOISE_FACTORS, RATING_FACTORS, make_motor_portfolio  # noqa: E402
from hdtweedie.scoring import load_model  # noqa: E402

FACTORS = list(RATING_FACTORS) + list(NOISE_FACTORS)
ENV = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="default")


def command(*args):
    return [sys.executable, "-m", "hdtweedie", *map(str, args)]


def run(*args, timeout=180, **kwargs):
    """Run ``python -m hdtweedie ARGS``; output is captured (not a terminal)."""
    return subprocess.run(command(*args), capture_output=True, text=True, env=ENV, timeout=timeout,
                          **kwargs)


def run_with_tty_stderr(*args, timeout=180):
    """Run with standard error on a pseudo-terminal; return a CompletedProcess."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(command(*args), stdout=subprocess.PIPE, stderr=slave, env=ENV)
        os.close(slave)
        chunks = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the terminal closes when the process ends
                break
            if not data:
                break
            chunks.append(data)
            if time.monotonic() > deadline:
                proc.kill()
                break
        out = proc.stdout.read().decode()
        proc.wait(timeout=timeout)
    finally:
        os.close(master)
    return subprocess.CompletedProcess(args, proc.returncode, out, b"".join(chunks).decode(errors="replace"))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Small portfolio as CSV and a model fitted from it by ``python -m hdtweedie``."""
    root = tmp_path_factory.mktemp("cli_process")
    df = make_motor_portfolio(n=3000, random_state=1)
    data = root / "portfolio.csv"
    df.to_csv(data, index=False)
    model = root / "model.json"
    proc = run("fit", data, "--response", "incurred", "--exposure", "exposure",
               "--factors", ",".join(FACTORS), "--folds", "3", "--out", model)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return {"root": root, "df": df, "data": data, "model": model}


def test_module_entry_point_fits_and_scores(work, tmp_path):
    assert load_model(work["model"]).input_names == FACTORS
    out = tmp_path / "pred.csv"
    proc = run("score", work["model"], work["data"], "--exposure", "exposure", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(out)) == 3000
    proc = run()
    assert proc.returncode == 2 and "COMMAND" in proc.stderr and "demo" in proc.stderr


def test_broken_pipe_exits_quietly(work):
    """The reader has gone before anything is written: no traceback, no noise at exit."""
    proc = subprocess.Popen(command("factor-table", work["model"]), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    proc.stderr.close()
    assert err == ""
    assert proc.returncode == 141


def test_pipe_into_head(work):
    shell = f"{' '.join(map(str, command('factor-table', work['model'])))} | head -1"
    proc = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, env=ENV, timeout=60)
    assert proc.stdout == "Factor,Level,Relativity\n"
    assert proc.stderr == ""


@pytest.fixture(scope="module")
def big_data(work):
    """A portfolio large enough that writing its scores takes a while."""
    data = work["root"] / "big.csv"
    make_motor_portfolio(n=150_000, random_state=2).to_csv(data, index=False)
    return data


@pytest.mark.parametrize("previous", [None, "old predictions\n"])
def test_sigterm_during_score_leaves_no_partial_file(work, big_data, tmp_path, previous):
    out = tmp_path / "pred.csv"
    if previous is not None:
        out.write_text(previous)
    proc = subprocess.Popen(command("score", work["model"], big_data, "--out", out),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".pred.csv.*.tmp")):  # the output is being written
        assert proc.poll() is None, "finished before the output was being written"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1].decode()
    assert proc.returncode == 143, err
    assert err.strip() == "hdtweedie: terminated"
    if previous is None:
        assert not out.exists()
    else:
        assert out.read_text() == previous
    assert list(tmp_path.glob("*.tmp")) == [] and list(tmp_path.glob(".*.tmp")) == []


# Runs ``hdtweedie`` after wrapping one function so that it sends SIGTERM to the process just after
# it has returned (on its N-th call whose arguments contain MATCH): the signal lands at that exact point.
# An idle thread stands for the threads a process usually has (a BLAS pool), which may be the ones the
# signal reaches.  Descriptors still open at the end that were not open before are reported: a leaked
# descriptor gives no ResourceWarning.
_SIGTERM_AFTER = """
import builtins, gc, io, os, signal, sys, tempfile, threading
import pandas
import pandas.io.parsers.readers as readers
from hdtweedie.cli._main import main

where, nth, match = sys.argv[1], int(sys.argv[2]), sys.argv[3]
targets = {"read_csv": [(pandas, "read_csv")], "get_handle": [(readers, "get_handle")],
           "mkstemp": [(tempfile, "mkstemp")], "fdopen": [(os, "fdopen")], "os.open": [(os, "open")],
           "open": [(builtins, "open"), (io, "open")]}[where]
calls = []

def wrapped(original):
    def call(*args, **kwargs):
        result = original(*args, **kwargs)
        if match in " ".join(map(str, args)):
            calls.append(args)
            if len(calls) == nth:
                os.kill(os.getpid(), signal.SIGTERM)
        return result
    return call

def descriptors():
    found = {}
    for fd in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        try:  # the listing's own descriptor is closed by now
            found[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    return found

for module, name in targets:
    setattr(module, name, wrapped(getattr(module, name)))
threading.Thread(target=threading.Event().wait, daemon=True).start()
before = descriptors()
status = main(sys.argv[4:])
gc.collect()
for fd, target in descriptors().items():
    if fd not in before:
        print("left open:", target, file=sys.stderr)
sys.exit(status)
"""


def run_sigterm_after(where, nth, match, *args):
    """Run ``hdtweedie ARGS`` with SIGTERM sent just after ``where`` returns (see ``_SIGTERM_AFTER``)."""
    return subprocess.run([sys.executable, "-c", _SIGTERM_AFTER, where, str(nth), match, *map(str, args)],
                          capture_output=True, text=True, env=ENV, timeout=120)


@pytest.mark.parametrize("where, nth, match", [
    ("get_handle", 1, ""),  # pandas has opened the input (first pass, typing the columns) ...
    ("get_handle", 2, ""),  # ... or for the second pass, scoring (the output file open meanwhile)
    ("read_csv", 1, ""),    # pandas has returned the open reader, not yet registered for closing
    ("read_csv", 2, ""),
    ("mkstemp", 1, ""),     # the output's temporary file exists, its removal not yet registered
    ("fdopen", 1, "w"),     # the temporary file is open, its closing not yet registered
    ("os.open", 1, "model.json"),  # the model file's descriptor is open, not yet a file object
    ("fdopen", 1, "rb"),    # the model file is a file object, its closing not yet registered
])
def test_sigterm_at_a_file_opening_leaves_no_file_open(work, tmp_path, where, nth, match):
    out = tmp_path / "pred.csv"
    proc = run_sigterm_after(where, nth, match, "score", work["model"], work["data"], "--out", out,
                             "--chunk-size", "1000")
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.strip() == "hdtweedie: terminated"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["get_handle", "read_csv"])
def test_sigterm_at_reading_a_whole_table_leaves_no_file_open(work, tmp_path, where):
    out = tmp_path / "model.json"
    proc = run_sigterm_after(where, 1, "portfolio.csv", "fit", work["data"], "--response", "incurred",
                             "--exposure", "exposure", "--factors", ",".join(FACTORS), "--out", out)
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.strip() == "hdtweedie: terminated"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, match", [
    (["explain", "MODEL", "--record", "@RECORD"], "record.json"),
    (["compare", "MODEL", "--a", "@RECORD", "--b", "@RECORD"], "record.json"),
    (["factor-table", "MODEL"], "factors.csv"),  # the table is written to a temporary file, read back
], ids=["explain", "compare", "factor-table"])
def test_sigterm_at_reading_a_text_file_leaves_no_file_open(work, tmp_path, args, match):
    record = tmp_path / "record.json"
    record.write_text(work["df"][FACTORS].iloc[[0]].to_json(orient="records")[1:-1])
    files = {"MODEL": str(work["model"]), "@RECORD": f"@{record}"}
    proc = run_sigterm_after("open", 1, match, *[files.get(a, a) for a in args])
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.strip() == "hdtweedie: terminated"


@pytest.mark.parametrize("source", ["fifo", "/dev/zero"])
def test_record_file_that_would_block_or_never_end_is_refused(work, tmp_path, source):
    if source == "fifo":
        source = tmp_path / "record.json"
        os.mkfifo(source)  # no writer: opening it to read would wait for ever
    proc = run("explain", work["model"], "--record", f"@{source}", timeout=30)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == f"hdtweedie: error: --record: cannot read {source}: not a regular file"


def test_full_disk_leaves_the_previous_file(work, tmp_path):
    """Writes beyond 64 kB fail (RLIMIT_FSIZE, as on a full disk): one error line, old file intact."""
    resource = pytest.importorskip("resource")
    out = tmp_path / "pred.csv"
    out.write_text("old predictions\n")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (65_536, 65_536))

    proc = subprocess.run(command("score", work["model"], work["data"], "--out", out),
                          capture_output=True, text=True, env=ENV, timeout=120, preexec_fn=limit)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hdtweedie: error: "), proc.stderr
    assert out.read_text() == "old predictions\n"
    assert [p.name for p in tmp_path.iterdir()] == ["pred.csv"]


def test_score_progress_only_on_a_terminal(work, tmp_path):
    args = ["score", work["model"], work["data"], "--out", tmp_path / "p.csv"]
    proc = run_with_tty_stderr(*args, "--chunk-size", "1000")
    assert proc.returncode == 0, proc.stderr
    assert "scoring: 1,000/3,000 rows" in proc.stderr
    assert "scoring: 3,000/3,000 rows (100%)" in proc.stderr
    quiet = run_with_tty_stderr(*args, "--quiet")
    assert quiet.returncode == 0
    assert quiet.stderr.strip() == "" and quiet.stdout == ""


def test_fit_progress_counts_cv_jobs_on_a_terminal(work, tmp_path):
    """The CV progress callback (path + 3 folds = 4 jobs) drives the progress line."""
    fit = run_with_tty_stderr("fit", work["data"], "--response", "incurred", "--exposure", "exposure",
                              "--factors", "area,driver_age", "--folds", "3", "--out", tmp_path / "m.json")
    assert fit.returncode == 0, fit.stderr
    assert re.search(r"fitting path \+ 3-fold CV \(3,000 rows\): 4/4 fits, done in [0-9.]+ s", fit.stderr)


def _demo_numbers(text):
    """Selected-factor rows and relativity rows from the demo's printout."""
    selection = dict(re.findall(r"^  (\w+)\s+(?:yes|no \(noise\))\s+(yes|no)\s*$", text, re.M))
    rel = re.findall(r"^  (\w+)\s+(\S+)\s+([0-9.]+)\s+([0-9.]+)\s+([+-][0-9.]+)%$", text, re.M)
    return selection, [(f, lv, float(t), float(fv), float(e)) for f, lv, t, fv, e in rel]


@pytest.mark.slow
def test_full_demo_recovers_the_truth(tmp_path):
    """The README's main command: right factors, relativities within 5% (timing printed)."""
    start = time.perf_counter()
    proc = run("demo", "--out", tmp_path / "demo", timeout=600)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    selection, rel = _demo_numbers(proc.stdout)
    assert selection == {f: ("yes" if f in RATING_FACTORS else "no") for f in FACTORS}
    assert "selection matches the truth" in proc.stdout
    big = [r for r in rel if abs(r[2] - 1.0) > 0.10]
    assert len(big) >= 12
    for factor, level, true, fitted, _err in big:
        assert abs(fitted / true - 1.0) < 0.05, (factor, level, true, fitted)
    assert Path(tmp_path / "demo" / "portfolio.csv").is_file()
    print(f"full demo: {seconds:.1f} s")

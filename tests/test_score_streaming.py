"""``hdtweedie score`` reads, scores and writes a chunk at a time: same output, bounded memory."""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pq = pytest.importorskip("pyarrow.parquet")

from service_support import env, make_models  # noqa: E402
from test_cli import error, invoke  # noqa: E402

from hdtweedie import tables  # noqa: E402
from hdtweedie._batch import BatchScorer  # noqa: E402
from hdtweedie.datasets import make_motor_portfolio  # noqa: E402
from hdtweedie.scoring import load_model  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_models(tmp_path_factory.mktemp("stream-model"))[0]


def _portfolio(n: int = 3000):
    """Records whose types and flags show only late in the file."""
    df = make_motor_portfolio(n=n, random_state=7).drop(columns=["incurred", "pure_premium"])
    df["code"] = [f"{i % 97:03d}" if i != n - 5 else "7" for i in range(n)]  # a leading zero: text
    df["count"] = df["claim_count"].astype(object)
    df.loc[n - 3, "count"] = None  # an integer column with one missing value, as floats
    df["note"] = df["exposure"].astype(str)
    df.loc[n - 2, "note"] = "n/a"  # numbers but one: text
    df.loc[n - 10, "area"] = "Z"  # the first flag, in the last chunk
    df.loc[n - 8, "driver_age"] = None
    return df


def _whole_file(model: Path, data: Path, out: Path) -> None:
    """Score as the whole table in memory: read_table, one batch, write_table."""
    m = load_model(model)
    df = tables.read_table(data, text_columns=m.input_names)
    values, text = BatchScorer(m).score(df, exposure="exposure")
    tables.write_table(df.assign(prediction=values, prediction_warnings=text), out)


def _score(model, data, out, *extra):
    proc = invoke("score", model, data, "--out", out, "--exposure", "exposure", *extra)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_chunks_give_the_whole_file_output(model, tmp_path):
    data = tmp_path / "p.csv"
    _portfolio().to_csv(data, index=False)
    expected = tmp_path / "whole.csv"
    _whole_file(model, data, expected)
    streamed = tmp_path / "streamed.csv"
    proc = _score(model, data, streamed, "--chunk-size", "500")
    assert streamed.read_bytes() == expected.read_bytes()
    assert "2 of 3,000 rows flagged" in proc.stderr and "first at data row 2991" in proc.stderr
    one = tmp_path / "one.csv"
    _score(model, data, one, "--chunk-size", "100000")
    assert one.read_bytes() == expected.read_bytes()
    for name, unpack in (("s.csv.gz", gzip.decompress),
                         ("s.csv.zip", None)):
        out = tmp_path / name
        _score(model, data, out, "--chunk-size", "700")
        raw = (unpack(out.read_bytes()) if unpack else
               zipfile.ZipFile(out).read("s.csv"))
        assert raw == expected.read_bytes(), name


def test_parquet_row_groups_give_the_whole_file_output(model, tmp_path):
    df = _portfolio()
    df["count"] = pd.to_numeric(df["count"])
    df["vehicle_group"] = df["vehicle_group"].astype("category")
    data = tmp_path / "p.parquet"
    df.to_parquet(data, index=False, row_group_size=400)
    expected = tmp_path / "whole.parquet"
    _whole_file(model, data, expected)
    streamed = tmp_path / "streamed.parquet"
    _score(model, data, streamed, "--chunk-size", "300")
    pd.testing.assert_frame_equal(pd.read_parquet(streamed), pd.read_parquet(expected))
    assert pq.ParquetFile(streamed).metadata.num_row_groups > 1
    clean = tmp_path / "clean.parquet"
    df.drop(index=[2990, 2992]).to_parquet(clean, index=False, row_group_size=400)
    _score(model, clean, tmp_path / "c.parquet", "--chunk-size", "300")
    assert "prediction_warnings" not in pd.read_parquet(tmp_path / "c.parquet").columns


def test_a_late_error_leaves_no_partial_file(model, tmp_path):
    data = tmp_path / "p.csv"
    _portfolio().to_csv(data, index=False)
    lines = data.read_text().splitlines(keepends=True)
    lines[2500] = lines[2500].rstrip("\n") + ",extra\n"
    data.write_text("".join(lines))
    out = tmp_path / "out.csv"
    out.write_text("before\n")
    error("score", model, data, "--out", out, "--chunk-size", "200", ["cannot read", str(data)])
    assert out.read_text() == "before\n"
    error("score", model, tmp_path / "p.csv", "--out", out, "--chunk-size", "200", "--strict",
          ["cannot read"])
    clean = tmp_path / "q.csv"
    _portfolio().to_csv(clean, index=False)
    error("score", model, clean, "--out", out, "--exposure", "exposure", "--chunk-size", "200",
          "--strict", ["2 of 3,000 rows", "first at data row 2991", "nothing written (--strict)"])
    assert out.read_text() == "before\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


_STATUS = "import re, sys; print(re.search(r'VmPeak:\\s*(\\d+)', open('/proc/self/status').read()).group(1))"
_LIMITED = """
import resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.argv = sys.argv[2:]
{body}
"""
_STREAM = "from hdtweedie import cli; raise SystemExit(cli.main(sys.argv))"
_WHOLE = """
from hdtweedie import tables
from hdtweedie.scoring import load_model
m = load_model(sys.argv[0])
df = tables.read_table(sys.argv[1], text_columns=m.input_names)
tables.write_table(df.assign(prediction=m.predict(df, exposure='exposure', errors='flag', warn=False)),
                   sys.argv[2])
"""


def _child_env() -> dict:
    # One malloc arena and no thread pools: the address space then follows the data.
    return env(MALLOC_ARENA_MAX="1", ARROW_DEFAULT_MEMORY_POOL="system", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")


def test_a_file_larger_than_memory_streams_in_bounded_memory(model, tmp_path):
    small = make_motor_portfolio(n=20_000, random_state=3).drop(columns=["incurred", "pure_premium"])
    df = pd.concat([small] * 30, ignore_index=True)  # 600,000 rows
    data = tmp_path / "big.parquet"
    df.to_parquet(data, index=False, row_group_size=20_000)
    del df
    imports = "import hdtweedie, hdtweedie.cli, hdtweedie.tables, pandas, pyarrow, pyarrow.parquet; "
    idle = subprocess.run([sys.executable, "-c", imports + _STATUS], capture_output=True, text=True,
                          env=_child_env(), timeout=60)
    baseline = int(idle.stdout) * 1024  # bytes of address space with the libraries mapped
    limit = baseline + 150 * 2**20  # the table alone takes more than this in memory

    def run(body: str, *args) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", _LIMITED.format(body=body), str(limit), *map(str, args)],
                              capture_output=True, text=True, env=_child_env(), timeout=120)

    whole = run(_WHOLE, model, data, tmp_path / "whole.parquet")
    assert whole.returncode != 0 and re.search(r"MemoryError|ArrowMemoryError|Cannot allocate|bad_alloc",
                                               whole.stderr), whole.stderr[-2000:]
    out = tmp_path / "streamed.parquet"
    streamed = run(_STREAM, "score", model, data, "--out", out, "--exposure", "exposure",
                   "--chunk-size", "20000")
    assert streamed.returncode == 0, streamed.stderr[-2000:]
    got = pd.read_parquet(out)
    m = load_model(model)
    for start in range(0, len(got), 100_000):  # the in-memory result, a slice at a time
        part = got.iloc[start:start + 100_000]
        expected = m.predict(part.drop(columns="prediction"), exposure="exposure", errors="flag", warn=False)
        np.testing.assert_allclose(part["prediction"], np.asarray(expected), rtol=1e-12)
    assert len(got) == 600_000


@pytest.fixture(scope="module")
def age_model(tmp_path_factory):
    """A model with a numeric input, vehicle_age, that carries weight."""
    from hdtweedie import FactorEncoder, HDTweedieCV

    df = make_motor_portfolio(n=2000, random_state=4)
    df["vehicle_age"] = np.arange(len(df)) % 15
    names = ["area", "driver_age", "vehicle_age"]
    enc = FactorEncoder(factors=names[:2]).fit(df[names])
    y = df["incurred"] * np.exp(0.1 * df["vehicle_age"])
    cv = HDTweedieCV(groups=enc.groups_, n_folds=3, n_lambdas=20, random_state=0,
                     select="lambda_min").fit(enc.transform(df[names]), y, offset=np.log(df["exposure"]))
    path = tmp_path_factory.mktemp("age") / "age.json"
    cv.export(path, encoder=enc)
    assert load_model(path).coefficients["vehicle_age"] != 0.0
    return path


def test_a_numeric_column_is_judged_over_the_whole_file(age_model, tmp_path):
    df = make_motor_portfolio(n=1000, random_state=2)[["area", "driver_age", "exposure"]]
    df["vehicle_age"] = (np.arange(1000) % 15).astype(str)
    df.loc[:399, "vehicle_age"] = "old"  # no number in the first two chunks
    data = tmp_path / "p.csv"
    df.to_csv(data, index=False)
    expected = tmp_path / "whole.csv"
    proc = _score(age_model, data, expected, "--chunk-size", "100000")
    assert "vehicle_age: 400 row(s) with a value that is not a number" in proc.stderr
    streamed = tmp_path / "streamed.csv"
    _score(age_model, data, streamed, "--chunk-size", "200")
    assert streamed.read_bytes() == expected.read_bytes()
    df["vehicle_age"] = "old"
    df.loc[:399, "vehicle_age"] = None  # missing first, then text only: not a numeric column
    df.to_csv(data, index=False)
    error("score", age_model, data, "--out", tmp_path / "no.csv", "--chunk-size", "200",
          ["model input column 'vehicle_age'", "is not numeric"])
    assert not (tmp_path / "no.csv").exists()


def test_an_error_while_opening_the_output_removes_the_temporary_file_at_once(tmp_path):
    from hdtweedie._table_stream import TableWriter

    class Failing(TableWriter):
        def _compressor(self, fh):
            raise RuntimeError("compressor unavailable")

    writer = Failing(tmp_path / "scores.csv.gz")
    with pytest.raises(RuntimeError, match="compressor unavailable"):
        with writer:
            pass
    # The writer (and the traceback) are still alive: the clean-up did not wait for them.
    assert writer is not None and list(tmp_path.iterdir()) == []


def test_sigterm_while_the_output_is_opened_is_held_back_until_it_is_set_up(tmp_path):
    import signal
    import threading

    from hdtweedie._table_stream import TableWriter

    class Interrupted(Exception):
        pass

    def handler(signum, frame):
        raise Interrupted

    opened = []

    class SignalWhileOpening(TableWriter):
        def _compressor(self, fh):
            # To this thread: a signal sent to the process may be taken by another thread.
            signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)
            opened.append(True)  # reached only when the signal is held back
            return super()._compressor(fh)

    writer = SignalWhileOpening(tmp_path / "scores.csv.gz")
    old = signal.signal(signal.SIGTERM, handler)
    try:
        with pytest.raises(Interrupted):
            with writer:
                pass
    finally:
        signal.signal(signal.SIGTERM, old)
    assert opened == [True]
    assert list(tmp_path.iterdir()) == []

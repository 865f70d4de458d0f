"""The ``hdtweedie`` command line, run in subprocesses on small data."""

import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from hdtweedie import cli  # noqa: E402
from hdtweedie.datasets import NOISE_FACTORS, RATING_FACTORS, make_motor_portfolio  # noqa: E402
from hdtweedie.scoring import load_model  # noqa: E402

FACTORS = list(RATING_FACTORS) + list(NOISE_FACTORS)
REPO = Path(__file__).resolve().parents[1]
RECORD = {"area": "E", "ncd_years": "0", "vehicle_group": "31-50", "driver_age": "17-24",
          "conviction": "Yes", "vehicle_colour": "Red", "start_month": "Jan"}


def run(*args, cwd=None, timeout=180, stderr_tty=False):
    """Run ``python -m hdtweedie ARGS``; output is captured (not a terminal)."""
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="default")
    cmd = [sys.executable, "-m", "hdtweedie", *map(str, args)]
    if stderr_tty:
        return _run_with_tty_stderr(cmd, env, cwd, timeout)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=timeout)


def _run_with_tty_stderr(cmd, env, cwd, timeout):
    """Run with standard error on a pseudo-terminal; return (code, stdout, stderr)."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, cwd=cwd, env=env)
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
    return subprocess.CompletedProcess(cmd, proc.returncode, out,
                                       b"".join(chunks).decode(errors="replace"))


def assert_one_line_error(proc, *fragments, code=1):
    """A user error: exit status, one line on stderr, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("hdtweedie: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Small portfolio as CSV, and a model fitted from it through the CLI."""
    root = tmp_path_factory.mktemp("cli")
    df = make_motor_portfolio(n=3000, random_state=1)
    data = root / "portfolio.csv"
    df.to_csv(data, index=False)
    model = root / "model.json"
    proc = run("fit", data, "--response", "incurred", "--exposure", "exposure",
               "--factors", ",".join(FACTORS), "--folds", "3", "--seed", "4",
               "--model-version", "2024.1", "--out", model)
    assert proc.returncode == 0, proc.stderr
    return {"root": root, "df": df, "data": data, "model": model, "fit": proc}


# -- fit ------------------------------------------------------------------------

def test_fit_writes_a_loadable_model_and_reports_selection(work):
    proc = work["fit"]
    assert proc.stderr == ""  # not a terminal: no progress drawn
    out = proc.stdout
    assert "fitting incurred on 3,000 rows" in out
    assert re.search(r"selected lambda \(lambda_1se\): [0-9.e+-]+", out)
    selected = re.search(r"selected factors \(\d+\): (.*)", out).group(1).split(", ")
    dropped = re.search(r"dropped factors \(\d+\): (.*)", out).group(1)
    assert set(selected) | set(dropped.split(", ")) - {"none"} == set(FACTORS)
    model = load_model(work["model"])
    assert model.version == "2024.1"
    assert model.model_id == "model"
    assert model.input_names == FACTORS
    # The factors reported as selected are those with non-zero coefficients.
    nonzero = {name.split("=")[0] for name, c in model.coefficients.items() if c != 0.0}
    assert nonzero == set(selected)


def test_fit_parquet_inferred_columns_weights_numeric(work, tmp_path):
    pytest.importorskip("pyarrow")
    df = work["df"].copy()
    df["vehicle_age"] = np.arange(len(df)) % 15
    df["w"] = 1.0
    data = tmp_path / "data.parquet"
    df.drop(columns=["policy_id", "claim_count", "pure_premium"]).to_parquet(data)
    out = tmp_path / "sub" / "m.json"
    proc = run("fit", data, "--response", "incurred", "--exposure", "exposure",
               "--weights", "w", "--power", "1.6", "--alpha", "0.9", "--folds", "3",
               "--select", "lambda_min", "--quiet", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""  # --quiet
    model = load_model(out)
    # Text columns became factors and vehicle_age a numeric input.
    assert model.input_names == FACTORS + ["vehicle_age"]
    assert model.power == 1.6
    kinds = {spec["name"]: spec["kind"] for spec in model.document["inputs"]}
    assert kinds["vehicle_age"] == "numeric" and kinds["area"] == "factor"


def main_error(capsys, args, *fragments, code=1):
    """Run ``cli.main`` in this process and check it reports a one-line user error."""
    capsys.readouterr()
    assert cli.main([str(a) for a in args]) == code
    captured = capsys.readouterr()
    return assert_one_line_error(
        subprocess.CompletedProcess(args, code, captured.out, captured.err), *fragments, code=code)


def test_fit_user_errors_in_a_subprocess(work, tmp_path):
    out = tmp_path / "m.json"
    proc = run("fit", work["data"], "--response", "nope", "--out", out)
    assert_one_line_error(proc, "response column 'nope' not found", "columns: policy_id")
    proc = run("fit", work["data"], "--response", "incurred", "--power", "2.5", "--out", out)
    assert_one_line_error(proc, "--power must be in [1, 2]", code=2)
    proc = run("fit", tmp_path / "none.csv", "--response", "y", "--out", out)
    assert_one_line_error(proc, "data file not found", "none.csv")
    assert not out.exists()


@pytest.mark.parametrize(
    "args, fragments, code",
    [
        (["--response", "incurred", "--factors", "area,colour"], ["factor column 'colour'"], 1),
        (["--response", "incurred", "--exposure", "claim_count"], ["exposure", "positive"], 1),
        (["--response", "area"], ["response column 'area'", "not numeric"], 1),
        (["--response", "incurred", "--factors", "area", "--numeric", "area"],
         ["both --factors and --numeric"], 1),
        (["--response", "incurred", "--factors", "incurred,area"], ["cannot be both"], 1),
        (["--response", "incurred", "--folds", "2"], ["--folds must be at least 3"], 2),
        (["--response", "incurred", "--alpha", "0"], ["--alpha must be in (0, 1]"], 2),
        (["--response", "incurred", "--select", "best"], ["invalid choice: 'best'"], 2),
        (["--response", "incurred", "--bogus"], ["unrecognized arguments: --bogus"], 2),
    ],
)
def test_fit_user_errors(work, tmp_path, capsys, args, fragments, code):
    out = tmp_path / "m.json"
    main_error(capsys, ["fit", work["data"], *args, "--out", out], *fragments, code=code)
    assert not out.exists()


def test_fit_bad_files(tmp_path, capsys):
    odd = tmp_path / "data.xlsx"
    odd.write_text("y\n1\n")
    main_error(capsys, ["fit", odd, "--response", "y", "--out", tmp_path / "m.json"],
               "cannot tell the format", ".parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_text("this is not parquet")
    main_error(capsys, ["fit", bad, "--response", "y", "--out", tmp_path / "m.json"],
               "bad.parquet")
    main_error(capsys, ["fit", tmp_path, "--response", "y", "--out", tmp_path / "m.json"],
               "is a folder")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    main_error(capsys, ["fit", empty, "--response", "y", "--out", tmp_path / "m.json"],
               "is empty")
    neg = tmp_path / "neg.csv"
    neg.write_text("y,x\n1,a\n-2,b\n")
    main_error(capsys, ["fit", neg, "--response", "y", "--out", tmp_path / "m.json"],
               "must not be negative; row 2 has -2")
    main_error(capsys, ["fit", neg, "--response", "y", "--out", tmp_path / "m.txt"],
               "--out must name a .json model file")
    zero = tmp_path / "zero.csv"
    zero.write_text("y,x\n0,a\n0,b\n0,a\n")
    main_error(capsys, ["fit", zero, "--response", "y", "--out", tmp_path / "m.json"],
               "zero on every row")


# -- score ----------------------------------------------------------------------

def test_score_matches_the_model(work, tmp_path):
    out = tmp_path / "pred.csv"
    proc = run("score", work["model"], work["data"], "--exposure", "exposure",
               "--chunk-size", "700", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "scored 3,000 rows" in proc.stdout
    assert proc.stderr == ""
    pred = pd.read_csv(out)
    assert len(pred) == 3000
    assert list(pred.columns) == list(work["df"].columns) + ["prediction"]
    model = load_model(work["model"])
    expected = model.predict(work["df"][FACTORS], exposure=work["df"]["exposure"].to_numpy())
    np.testing.assert_allclose(pred["prediction"], np.asarray(expected), rtol=1e-12)


def test_score_to_parquet(work, tmp_path, capsys):
    pytest.importorskip("pyarrow")
    out = tmp_path / "pred.parquet"
    assert cli.main(["score", str(work["model"]), str(work["data"]), "--out", str(out),
                     "--column", "pure_premium_hat"]) == 0
    pred = pd.read_parquet(out)
    expected = load_model(work["model"]).predict(work["df"][FACTORS])
    np.testing.assert_allclose(pred["pure_premium_hat"], np.asarray(expected), rtol=1e-12)


def test_score_flags_unseen_levels_and_refuses_missing_inputs(work, tmp_path):
    df = work["df"].head(50).copy()
    df.loc[3, "area"] = "Z"
    data = tmp_path / "new.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "pred.csv"
    proc = run("score", work["model"], data, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert ("area: 1 row(s) with a level not seen in training, not scored, prediction left "
            "empty (first at data row 4)") in proc.stderr
    pred = pd.read_csv(out, keep_default_na=False)
    assert pred.loc[3, "prediction"] == ""  # not scored: empty, not a made-up number
    assert "unseen_level:area" in pred.loc[3, "prediction_warnings"]
    assert (pred.drop(index=3)["prediction_warnings"] == "").all()

    data2 = tmp_path / "no_area.csv"
    df.drop(columns=["area"]).to_csv(data2, index=False)
    proc = run("score", work["model"], data2, "--out", tmp_path / "p2.csv")
    assert_one_line_error(proc, "model input column 'area' not found")


def test_score_refuses_bad_models_and_options(work, tmp_path, capsys):
    doc = json.loads(Path(work["model"]).read_text())
    doc["intercept"] += 1.0
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    main_error(capsys, ["score", tampered, work["data"], "--out", tmp_path / "p.csv"],
               "tampered.json")
    assert not (tmp_path / "p.csv").exists()
    truncated = tmp_path / "truncated.json"
    truncated.write_text(Path(work["model"]).read_text()[:200])
    main_error(capsys, ["score", truncated, work["data"], "--out", tmp_path / "p.csv"],
               "truncated.json")
    main_error(capsys, ["score", tmp_path / "missing.json", work["data"], "--out",
                        tmp_path / "p.csv"], "model file not found")
    main_error(capsys, ["score", work["model"], work["data"], "--out", tmp_path / "p.csv",
                        "--column", "incurred"], "already has a column 'incurred'")
    main_error(capsys, ["score", work["model"], work["data"], "--out", tmp_path / "p.csv",
                        "--exposure", "area"], "exposure column 'area'", "not numeric")
    main_error(capsys, ["score", work["model"], work["data"], "--out", tmp_path / "p.xyz"],
               "cannot tell the format")


# -- explain, compare, factor-table -----------------------------------------------

def test_explain_text_and_json(work, tmp_path):
    proc = run("explain", work["model"], "--record", json.dumps(RECORD), "--exposure", "0.5")
    assert proc.returncode == 0, proc.stderr
    assert "prediction =" in proc.stdout and "driver_age" in proc.stdout
    record_file = tmp_path / "risk.json"
    record_file.write_text(json.dumps(RECORD))
    proc = run("explain", work["model"], "--record", f"@{record_file}", "--exposure", "0.5",
               "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    expected = load_model(work["model"]).explain(RECORD, exposure=0.5)
    assert got["prediction"] == pytest.approx(expected.prediction, rel=1e-12)
    rels = np.prod([c["relativity"] for c in got["contributions"]])
    assert got["base"]["value"] * rels == pytest.approx(got["prediction"], rel=1e-12)


def test_explain_errors(work, capsys):
    assert_one_line_error(run("explain", work["model"], "--record", "{area: E}"),
                          "--record is not valid JSON")
    main_error(capsys, ["explain", work["model"], "--record", "[1, 2]"],
               "--record must be a JSON object")
    partial = {k: v for k, v in RECORD.items() if k != "ncd_years"}
    main_error(capsys, ["explain", work["model"], "--record", json.dumps(partial)],
               "cannot explain the record", "ncd_years")
    main_error(capsys, ["explain", work["model"], "--record", json.dumps(RECORD),
                        "--exposure", "-1"], "--exposure must be in (0, inf]", code=2)
    main_error(capsys, ["explain", work["model"], "--record", "@/no/such/file.json"],
               "--record: cannot read /no/such/file.json")


def test_compare_records_and_models(work, tmp_path):
    b = dict(RECORD, area="A", driver_age="40-59")
    proc = run("compare", work["model"], "--a", json.dumps(RECORD), "--b", json.dumps(b),
               "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert {c["input"] for c in got["changed_inputs"]} == {"area", "driver_age"}
    assert got["input_part"] == pytest.approx(got["log_ratio"], abs=1e-12)

    # A second model version: the change splits into inputs and model.
    other = tmp_path / "model_v2.json"
    fit = run("fit", work["data"], "--response", "incurred", "--exposure", "exposure",
              "--factors", ",".join(FACTORS), "--folds", "3", "--select", "lambda_min",
              "--model-version", "2", "--out", other)
    assert fit.returncode == 0, fit.stderr
    proc = run("compare", work["model"], "--a", json.dumps(RECORD), "--b", json.dumps(b),
               "--model-b", other)
    assert proc.returncode == 0, proc.stderr
    assert "Due to the input changes" in proc.stdout
    assert "Due to the model change" in proc.stdout
    assert_one_line_error(run("compare", work["model"], "--a", json.dumps(RECORD)),
                          "--b", code=2)
    odd = dict(b, area="Q")
    proc = run("compare", work["model"], "--a", json.dumps(RECORD), "--b", json.dumps(odd))
    assert_one_line_error(proc, "cannot compare the records", "'Q'")


def test_factor_table_stdout_and_file(work, tmp_path):
    proc = run("factor-table", work["model"])
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(proc.stdout.splitlines()))
    expected = load_model(work["model"]).factor_table()
    assert [(r["Factor"], r["Level"]) for r in rows] == [(r["Factor"], r["Level"]) for r in expected]
    np.testing.assert_array_equal([float(r["Relativity"]) for r in rows],
                                  [r["Relativity"] for r in expected])
    out = tmp_path / "tables" / "factors.csv"
    proc = run("factor-table", work["model"], "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert f"written to {out}" in proc.stdout
    assert out.read_text().splitlines() == proc_lines(expected)


def test_quiet_before_the_command(work, tmp_path, capsys):
    out = tmp_path / "factors.csv"
    assert cli.main(["-q", "factor-table", str(work["model"]), "--out", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert out.is_file()


def proc_lines(rows):
    return ["Factor,Level,Relativity"] + [f"{r['Factor']},{r['Level']},{r['Relativity']!r}"
                                          for r in rows]


# -- validate ---------------------------------------------------------------------

@pytest.mark.skipif(not (REPO / "validation" / "compare.py").is_file(),
                    reason="the validation suite ships with the source repository only")
def test_validate_runs_the_r_comparison(tmp_path):
    report = tmp_path / "report.md"
    proc = run("validate", "--case", "lasso_gaussian", "--no-shared", "--no-cv",
               "--out", report, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 of 1 reference cases match R" in proc.stdout
    assert "lasso_gaussian" in report.read_text()
    proc = run("validate", "--reference", tmp_path / "nowhere", cwd=REPO)
    assert_one_line_error(proc, "reference folder not found")


@pytest.mark.skipif(not (REPO / "validation" / "compare.py").is_file(),
                    reason="the validation suite ships with the source repository only")
def test_validate_unknown_case(capsys):
    main_error(capsys, ["validate", "--case", "no_such_case", "--no-shared"],
               "unknown case(s) no_such_case")


# -- demo -----------------------------------------------------------------------

def test_demo_small_writes_every_output(tmp_path):
    out = tmp_path / "demo"
    proc = run("demo", "--n", "5000", "--out", out)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "Selected factors:" in text
    assert "Fitted vs. true relativities" in text
    assert re.search(r"Time: data [0-9.]+ s, fit [0-9.]+ s, total [0-9.]+ s", text)
    for name in ("model.json", "factor_table.csv", "path.png", "cv.png", "relativities.png",
                 "portfolio.csv"):
        assert (out / name).stat().st_size > 0, name
    for name in ("path.png", "cv.png", "relativities.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = load_model(out / "model.json")
    table = pd.read_csv(out / "factor_table.csv", keep_default_na=False)
    assert list(table["Relativity"]) == [r["Relativity"] for r in model.factor_table()]
    assert len(pd.read_csv(out / "portfolio.csv")) == 5000


def test_demo_without_matplotlib_skips_plots(tmp_path, capsys, monkeypatch):
    # A None entry in sys.modules makes the import fail as if not installed.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    out = tmp_path / "demo"
    assert cli.main(["demo", "--n", "2000", "--out", str(out), "--no-data", "--n-jobs", "1"]) == 0
    text = capsys.readouterr().out
    assert "plots skipped: matplotlib is not installed (pip install hdtweedie[plot])" in text
    assert sorted(p.name for p in out.iterdir()) == ["factor_table.csv", "model.json"]


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
    print(f"full demo: {seconds:.1f} s")


# -- progress, quiet, verbose, help --------------------------------------------------

def test_progress_only_on_a_terminal(work, tmp_path):
    args = ["score", work["model"], work["data"], "--out", tmp_path / "p.csv"]
    proc = run(*args, "--chunk-size", "1000", stderr_tty=True)
    assert proc.returncode == 0, proc.stderr
    assert "scoring: 1,000/3,000 rows" in proc.stderr
    assert "scoring: 3,000/3,000 rows (100%)" in proc.stderr
    fit = run("fit", work["data"], "--response", "incurred", "--exposure", "exposure",
              "--factors", "area,driver_age", "--folds", "3", "--out", tmp_path / "m.json",
              stderr_tty=True)
    assert fit.returncode == 0, fit.stderr
    assert re.search(r"fitting path \+ 3-fold CV \(3,000 x 7\): 4/4 fits, done in "
                     r"[0-9.]+ s", fit.stderr)
    quiet = run(*args, "--quiet", stderr_tty=True)
    assert quiet.returncode == 0
    assert quiet.stderr.strip() == "" and quiet.stdout == ""


def test_verbose_adds_a_traceback_to_errors(tmp_path, capsys):
    assert cli.main(["fit", str(tmp_path / "none.csv"), "--response", "y",
                     "--out", str(tmp_path / "m.json"), "--verbose"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("hdtweedie: error: data file not found")


def test_help_and_version(capsys):
    proc = run()
    assert proc.returncode == 2 and "COMMAND" in proc.stderr and "demo" in proc.stderr
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert re.match(r"hdtweedie \d+\.\d+", capsys.readouterr().out)
    with pytest.raises(SystemExit):
        cli.main(["fit", "--help"])
    assert "--response" in capsys.readouterr().out


# -- in-process checks of the helpers -----------------------------------------------

def test_factor_table_missing_model(capsys, tmp_path):
    err = main_error(capsys, ["factor-table", tmp_path / "none.json"])
    assert err == f"hdtweedie: error: model file not found: {tmp_path / 'none.json'}"


def test_relativity_errors_rebase_to_the_fitted_base():
    truth = {"f": {"a": 1.0, "b": 2.0, "c": 0.5}}
    rows = cli.relativity_errors([("f", "a", 0.5), ("f", "b", 1.0), ("f", "c", 0.26)],
                                 truth, {"f": "b"})
    assert [r["true"] for r in rows] == [0.5, 1.0, 0.25]
    assert rows[2]["error"] == pytest.approx(0.04)


def test_console_script_points_at_main():
    from importlib.metadata import entry_points

    scripts = [ep for ep in entry_points(group="console_scripts") if ep.name == "hdtweedie"]
    if not scripts:
        pytest.skip("hdtweedie is not installed as a distribution")
    assert scripts[0].value == "hdtweedie.cli:main"
    assert scripts[0].load() is cli.main

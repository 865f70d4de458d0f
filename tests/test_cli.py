"""The ``hdtweedie`` command line, run in this process (``main(argv)``) on small data."""

import contextlib
import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from hdtweedie import cli  # noqa: E402
from hdtweedie.datasets import NOISE_FACTORS, RATING_FACTORS, make_motor_portfolio  # noqa: E402
from hdtweedie.demo import relativity_errors  # noqa: E402
from hdtweedie.scoring import load_model  # noqa: E402

FACTORS = list(RATING_FACTORS) + list(NOISE_FACTORS)
RECORD = {"area": "E", "ncd_years": "0", "vehicle_group": "31-50", "driver_age": "17-24",
          "conviction": "Yes", "vehicle_colour": "Red", "start_month": "Jan"}


def invoke(*args):
    """Run ``cli.main(args)`` here; return a CompletedProcess with the captured output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


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


def error(*args, code=1):
    """The one-line error of a command that must fail."""
    *argv, fragments = args
    return assert_one_line_error(invoke(*argv), *fragments, code=code)


def no_temporaries(folder):
    return [p.name for p in Path(folder).iterdir() if p.name.endswith(".tmp")] == []


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Small portfolio as CSV, and a model fitted from it through the CLI."""
    root = tmp_path_factory.mktemp("cli")
    df = make_motor_portfolio(n=3000, random_state=1)
    data = root / "portfolio.csv"
    df.to_csv(data, index=False)
    model = root / "model.json"
    proc = invoke("fit", data, "--response", "incurred", "--exposure", "exposure",
                  "--factors", ",".join(FACTORS), "--folds", "3", "--seed", "4",
                  "--model-version", "2024.1", "--out", model)
    assert proc.returncode == 0, proc.stderr
    return {"root": root, "df": df, "data": data, "model": model, "fit": proc}


@pytest.fixture(scope="module")
def numeric_model(work):
    """A model with a numeric input (vehicle_age, trained on 0..14)."""
    df = work["df"].copy()
    df["vehicle_age"] = np.arange(len(df)) % 15
    data = work["root"] / "with_age.csv"
    df.to_csv(data, index=False)
    model = work["root"] / "age.json"
    proc = invoke("fit", data, "--response", "incurred", "--exposure", "exposure", "--factors",
                  "area,driver_age", "--numeric", "vehicle_age", "--folds", "3", "--select",
                  "lambda_min", "--out", model)
    assert proc.returncode == 0, proc.stderr
    assert load_model(model).coefficients["vehicle_age"] != 0.0
    return model


# -- fit ------------------------------------------------------------------------

def test_fit_writes_a_loadable_model_and_reports_selection(work):
    proc = work["fit"]
    assert proc.stderr == ""  # not a terminal: no progress drawn
    out = proc.stdout
    assert "fitting incurred on 3,000 rows" in out
    assert f"factors (7): {', '.join(FACTORS)}" in out
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
    proc = invoke("fit", data, "--response", "incurred", "--exposure", "exposure",
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


def test_fit_leaves_out_identifiers_and_response_columns(work, tmp_path):
    """Inferred inputs never include policy_id, claim_count or pure_premium; the choice is printed."""
    out = tmp_path / "m.json"
    proc = invoke("fit", work["data"], "--response", "incurred", "--exposure", "exposure",
                  "--folds", "3", "--exclude", "start_month", "--out", out)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "factors (6): area, ncd_years, vehicle_group, driver_age, conviction, vehicle_colour" in text
    assert "numeric (0): none" in text
    assert "  policy_id: its name looks like an identifier" in text
    assert "  claim_count: zero exactly where the response is zero" in text
    assert "  pure_premium: equal to response / exposure" in text
    assert "  start_month: excluded (--exclude)" in text
    assert load_model(out).input_names == FACTORS[:-1]


def test_fit_warns_about_an_explicit_derived_input(work, tmp_path):
    proc = invoke("fit", work["data"], "--response", "incurred", "--exposure", "exposure",
                  "--factors", "area", "--numeric", "claim_count", "--folds", "3",
                  "--out", tmp_path / "m.json")
    assert proc.returncode == 0, proc.stderr
    assert ("hdtweedie: warning: input column 'claim_count': zero exactly where the response is zero"
            in proc.stderr)


def test_fit_keeps_factor_codes_as_text(tmp_path):
    rng = np.random.default_rng(3)
    n = 600
    region = rng.choice(["01", "02", "10"], n)
    y = rng.gamma(2.0, 1.0, n) * np.where(region == "10", 2.0, 1.0) * (rng.random(n) < 0.7)
    data = tmp_path / "codes.csv"
    pd.DataFrame({"region": region, "y": y}).to_csv(data, index=False)
    assert "01," in data.read_text()
    out = tmp_path / "m.json"
    proc = invoke("fit", data, "--response", "y", "--factors", "region", "--folds", "3", "--out", out)
    assert proc.returncode == 0, proc.stderr
    spec = load_model(out).document["inputs"][0]
    assert sorted(spec["levels"]) == ["01", "02", "10"]
    # Scoring reads the codes as text too, and writes the input column back unchanged.
    pred = tmp_path / "pred.csv"
    assert invoke("score", out, data, "--out", pred).returncode == 0
    scored = pd.read_csv(pred, dtype={"region": str})
    assert list(scored["region"]) == list(region)
    assert scored["prediction"].notna().all()


@pytest.mark.parametrize(
    "args, fragments, code",
    [
        (["--response", "nope"], ["response column 'nope' not found", "columns: policy_id"], 1),
        (["--response", "incurred", "--power", "2.5"], ["--power must be in [1, 2]"], 2),
        (["--response", "incurred", "--factors", "area,colour"], ["factor column 'colour'"], 1),
        (["--response", "incurred", "--exposure", "claim_count"], ["exposure", "positive"], 1),
        (["--response", "area"], ["response column 'area'", "not numeric"], 1),
        (["--response", "incurred", "--factors", "area", "--numeric", "area"],
         ["both --factors and --numeric"], 1),
        (["--response", "incurred", "--factors", "incurred,area"], ["cannot be both"], 1),
        (["--response", "incurred", "--factors", "area", "--exclude", "area"], ["in --exclude"], 1),
        (["--response", "incurred", "--exclude", "nope"], ["--exclude column 'nope' not found"], 1),
        (["--response", "incurred", "--folds", "2"], ["--folds must be at least 3"], 2),
        (["--response", "incurred", "--alpha", "0"], ["--alpha must be in (0, 1]"], 2),
        (["--response", "incurred", "--select", "best"], ["invalid choice: 'best'"], 2),
        (["--response", "incurred", "--bogus"], ["unrecognized arguments: --bogus"], 2),
    ],
)
def test_fit_user_errors(work, tmp_path, args, fragments, code):
    out = tmp_path / "m.json"
    error("fit", work["data"], *args, "--out", out, fragments, code=code)
    assert not out.exists()


def test_fit_bad_files(tmp_path):
    out = tmp_path / "m.json"
    odd = tmp_path / "data.xlsx"
    odd.write_text("y\n1\n")
    error("fit", odd, "--response", "y", "--out", out, ["cannot tell the format", ".parquet"])
    bad = tmp_path / "bad.parquet"
    bad.write_text("this is not parquet")
    error("fit", bad, "--response", "y", "--out", out, ["bad.parquet"])
    error("fit", tmp_path, "--response", "y", "--out", out, ["is a folder"])
    error("fit", tmp_path / "none.csv", "--response", "y", "--out", out, ["data file not found", "none.csv"])
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    error("fit", empty, "--response", "y", "--out", out, ["is empty"])
    corrupt = tmp_path / "corrupt.csv.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)
    error("fit", corrupt, "--response", "y", "--out", out, ["cannot read", "corrupt.csv.gz"])
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 16)
    error("fit", binary, "--response", "y", "--out", out, ["cannot read", "binary.csv"])
    neg = tmp_path / "neg.csv"
    neg.write_text("y,x\n1,a\n-2,b\n")
    error("fit", neg, "--response", "y", "--out", out, ["must not be negative; row 2 has -2"])
    error("fit", neg, "--response", "y", "--out", tmp_path / "m.txt", ["--out must name a .json model file"])
    zero = tmp_path / "zero.csv"
    zero.write_text("y,x\n0,a\n0,b\n0,a\n")
    error("fit", zero, "--response", "y", "--out", out, ["zero on every row"])
    assert not out.exists()


def test_fit_refuses_a_fifo_without_waiting(tmp_path):
    fifo = tmp_path / "data.csv"
    import os

    os.mkfifo(fifo)
    error("fit", fifo, "--response", "y", "--out", tmp_path / "m.json", ["not a regular file"])


# -- score ----------------------------------------------------------------------

def test_score_matches_the_model(work, tmp_path):
    out = tmp_path / "pred.csv"
    proc = invoke("score", work["model"], work["data"], "--exposure", "exposure",
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
    assert no_temporaries(tmp_path)


def test_score_to_parquet(work, tmp_path):
    pytest.importorskip("pyarrow")
    out = tmp_path / "pred.parquet"
    assert invoke("score", work["model"], work["data"], "--out", out,
                  "--column", "pure_premium_hat").returncode == 0
    pred = pd.read_parquet(out)
    expected = load_model(work["model"]).predict(work["df"][FACTORS])
    np.testing.assert_allclose(pred["pure_premium_hat"], np.asarray(expected), rtol=1e-12)


def test_score_flags_unseen_levels_and_refuses_missing_inputs(work, tmp_path):
    df = work["df"].head(50).copy()
    df.loc[3, "area"] = "Z"
    data = tmp_path / "new.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "pred.csv"
    proc = invoke("score", work["model"], data, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert ("area: 1 row(s) with a level not seen in training, not scored, prediction left "
            "empty (first at data row 4)") in proc.stderr
    pred = pd.read_csv(out, keep_default_na=False)
    assert pred.loc[3, "prediction"] == ""  # not scored: empty, not a made-up number
    assert "unseen_level:area" in pred.loc[3, "prediction_warnings"]
    assert (pred.drop(index=3)["prediction_warnings"] == "").all()

    data2 = tmp_path / "no_area.csv"
    df.drop(columns=["area"]).to_csv(data2, index=False)
    error("score", work["model"], data2, "--out", tmp_path / "p2.csv",
          ["model input column 'area' not found"])


def test_score_needs_no_column_of_a_dropped_factor(work, tmp_path):
    model = load_model(work["model"])
    dropped = [name for name in model.input_names if name not in model.required_inputs]
    assert dropped, "the fixture model should drop at least one noise factor"
    df = work["df"].head(40).drop(columns=dropped)
    data = tmp_path / "fewer.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "pred.csv"
    proc = invoke("score", work["model"], data, "--exposure", "exposure", "--out", out)
    assert proc.returncode == 0, proc.stderr
    pred = pd.read_csv(out)
    expected = model.predict(work["df"].head(40)[FACTORS], exposure=df["exposure"].to_numpy())
    np.testing.assert_allclose(pred["prediction"], np.asarray(expected), rtol=1e-12)


def test_score_flags_bad_rows_and_scores_the_rest(work, numeric_model, tmp_path):
    """A missing factor, a non-number and a negative exposure flag their rows only."""
    df = work["df"].head(20).copy()
    df["vehicle_age"] = (np.arange(20) % 15).astype(object)
    df.loc[1, "area"] = None
    df.loc[2, "vehicle_age"] = "abc"
    df.loc[3, "exposure"] = -1.0
    data = tmp_path / "bad.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "pred.csv"
    proc = invoke("score", numeric_model, data, "--exposure", "exposure", "--out", out)
    assert proc.returncode == 0, proc.stderr
    pred = pd.read_csv(out, keep_default_na=False)
    flagged = {1: "missing_value:area", 2: "not_a_number:vehicle_age", 3: "invalid_exposure:exposure"}
    for row, flag in flagged.items():
        assert pred.loc[row, "prediction"] == "", row
        assert flag in pred.loc[row, "prediction_warnings"], (row, pred.loc[row, "prediction_warnings"])
    others = pred.drop(index=list(flagged))
    assert (others["prediction_warnings"] == "").all()
    good = df.drop(index=list(flagged))
    good_inputs = good[["area", "driver_age"]].assign(vehicle_age=good["vehicle_age"].astype(float))
    expected = load_model(numeric_model).predict(good_inputs, exposure=good["exposure"].to_numpy())
    np.testing.assert_allclose(others["prediction"].astype(float), np.asarray(expected), rtol=1e-12)
    summary = "hdtweedie: warning: 3 of 20 rows flagged, 3 not scored; see column prediction_warnings"
    assert summary in proc.stderr

    strict = tmp_path / "strict.csv"
    error("score", numeric_model, data, "--exposure", "exposure", "--strict", "--out", strict,
          ["3 of 20 rows", "first at data row 2", "nothing written (--strict)"])
    assert not strict.exists()


def test_score_refuses_bad_models_and_options(work, tmp_path):
    p = tmp_path / "p.csv"
    doc = json.loads(Path(work["model"]).read_text())
    doc["intercept"] += 1.0
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    error("score", tampered, work["data"], "--out", p, ["tampered.json"])
    truncated = tmp_path / "truncated.json"
    truncated.write_text(Path(work["model"]).read_text()[:200])
    error("score", truncated, work["data"], "--out", p, ["truncated.json"])
    error("score", tmp_path / "missing.json", work["data"], "--out", p, ["model file not found"])
    error("score", work["model"], work["data"], "--out", p, "--column", "incurred",
          ["already has a column 'incurred'"])
    error("score", work["model"], work["data"], "--out", p, "--exposure", "area",
          ["exposure column 'area'", "not numeric"])
    error("score", work["model"], work["data"], "--out", tmp_path / "p.xyz", ["cannot tell the format"])
    assert not p.exists()


def test_out_equal_to_an_input_is_refused(work, tmp_path):
    data = tmp_path / "data.csv"
    data.write_bytes(Path(work["data"]).read_bytes())
    before = data.read_bytes()
    error("score", work["model"], data, "--out", data, ["is the input file"])
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    error("score", work["model"], link, "--out", tmp_path / "." / "data.csv", ["is the input file"])
    error("score", work["model"], data, "--out", link, ["is the input file"])
    assert data.read_bytes() == before
    model = tmp_path / "model.json"
    model.write_bytes(Path(work["model"]).read_bytes())
    error("factor-table", model, "--out", model, ["is the input file"])
    disguised = tmp_path / "model.csv"
    disguised.symlink_to(model)
    error("score", model, data, "--out", disguised, ["is the input file"])
    assert load_model(model).model_id == "model"


def test_write_error_leaves_no_partial_file(work, tmp_path):
    """The destination is a folder: the write fails at the end, nothing is left behind."""
    target = tmp_path / "pred.csv"
    target.mkdir()
    error("score", work["model"], work["data"], "--out", target, ["pred.csv"])
    assert target.is_dir() and list(target.iterdir()) == []
    assert no_temporaries(tmp_path)


# -- explain, compare, factor-table -----------------------------------------------

def test_explain_text_and_json(work, tmp_path):
    proc = invoke("explain", work["model"], "--record", json.dumps(RECORD), "--exposure", "0.5")
    assert proc.returncode == 0, proc.stderr
    assert "prediction =" in proc.stdout and "driver_age" in proc.stdout
    record_file = tmp_path / "risk.json"
    record_file.write_text(json.dumps(RECORD))
    proc = invoke("explain", work["model"], "--record", f"@{record_file}", "--exposure", "0.5", "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    expected = load_model(work["model"]).explain(RECORD, exposure=0.5)
    assert got["prediction"] == pytest.approx(expected.prediction, rel=1e-12)
    rels = np.prod([c["relativity"] for c in got["contributions"]])
    assert got["base"]["value"] * rels == pytest.approx(got["prediction"], rel=1e-12)


def test_explain_errors(work):
    error("explain", work["model"], "--record", "{area: E}", ["--record is not valid JSON"])
    error("explain", work["model"], "--record", "[1, 2]", ["--record must be a JSON object"])
    partial = {k: v for k, v in RECORD.items() if k != "ncd_years"}
    error("explain", work["model"], "--record", json.dumps(partial),
          ["cannot explain the record", "ncd_years"])
    error("explain", work["model"], "--record", json.dumps(RECORD), "--exposure", "-1",
          ["--exposure must be in (0, inf]"], code=2)
    error("explain", work["model"], "--record", "@/no/such/file.json",
          ["--record: cannot read /no/such/file.json"])
    error("explain", work["model"], "--record", json.dumps(dict(RECORD, driver_age=1e5)),
          ["cannot explain the record", "driver_age"])


def _flagged_or_one_error(proc):
    """A huge input ends in one error line, or in a result that says it is flagged."""
    if proc.returncode != 0:
        return assert_one_line_error(proc, "cannot")
    assert "Traceback" not in proc.stderr
    assert "inf" not in proc.stdout.lower().replace("info", "")
    return proc.stdout


@pytest.mark.parametrize("age", [-1e6, 1e300])
def test_huge_numeric_input_is_one_error_or_flagged(numeric_model, age):
    record = {"area": "A", "driver_age": "17-24", "vehicle_age": age}
    for extra in ([], ["--json"]):
        _flagged_or_one_error(invoke("explain", numeric_model, "--record", json.dumps(record), *extra))
        proc = invoke("compare", numeric_model, "--a", json.dumps(dict(record, vehicle_age=1)),
                      "--b", json.dumps(record), *extra)
        _flagged_or_one_error(proc)
        if extra and proc.returncode == 0:
            json.loads(proc.stdout)  # valid JSON: no Infinity or NaN tokens


def test_compare_records_and_models(work, tmp_path):
    b = dict(RECORD, area="A", driver_age="40-59")
    proc = invoke("compare", work["model"], "--a", json.dumps(RECORD), "--b", json.dumps(b), "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert {c["input"] for c in got["changed_inputs"]} == {"area", "driver_age"}
    assert got["input_part"] == pytest.approx(got["log_ratio"], abs=1e-12)

    # A second model version: the change splits into inputs and model.
    other = tmp_path / "model_v2.json"
    fit = invoke("fit", work["data"], "--response", "incurred", "--exposure", "exposure",
                 "--factors", ",".join(FACTORS), "--folds", "3", "--select", "lambda_min",
                 "--model-version", "2", "--out", other)
    assert fit.returncode == 0, fit.stderr
    proc = invoke("compare", work["model"], "--a", json.dumps(RECORD), "--b", json.dumps(b),
                  "--model-b", other)
    assert proc.returncode == 0, proc.stderr
    assert "Due to the input changes" in proc.stdout
    assert "Due to the model change" in proc.stdout
    error("compare", work["model"], "--a", json.dumps(RECORD), ["--b"], code=2)
    odd = dict(b, area="Q")
    error("compare", work["model"], "--a", json.dumps(RECORD), "--b", json.dumps(odd),
          ["cannot compare the records", "'Q'"])


def test_factor_table_stdout_and_file(work, tmp_path):
    proc = invoke("factor-table", work["model"])
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(proc.stdout.splitlines()))
    expected = load_model(work["model"]).factor_table()
    assert [(r["Factor"], r["Level"]) for r in rows] == [(r["Factor"], r["Level"]) for r in expected]
    np.testing.assert_array_equal([float(r["Relativity"]) for r in rows], [r["Relativity"] for r in expected])
    out = tmp_path / "tables" / "factors.csv"
    proc = invoke("factor-table", work["model"], "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert f"written to {out}" in proc.stdout
    assert out.read_text().splitlines() == proc_lines(expected)


def test_quiet_before_the_command(work, tmp_path):
    out = tmp_path / "factors.csv"
    proc = invoke("-q", "factor-table", work["model"], "--out", out)
    assert proc.returncode == 0 and proc.stdout == ""
    assert out.is_file()


def proc_lines(rows):
    return ["Factor,Level,Relativity"] + [f"{r['Factor']},{r['Level']},{r['Relativity']!r}" for r in rows]


def test_validate_is_not_a_command():
    error("validate", ["invalid choice: 'validate'"], code=2)


# -- demo -----------------------------------------------------------------------

def test_demo_small_writes_every_output(tmp_path):
    out = tmp_path / "demo"
    proc = invoke("demo", "--n", "5000", "--out", out, "--n-jobs", "1")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "Selected factors:" in text
    assert "Fitted vs. true relativities" in text
    assert re.search(r"Time: data [0-9.]+ s, fit [0-9.]+ s, total [0-9.]+ s", text)
    for name in ("model.json", "factor_table.csv", "path.png", "cv.png", "relativities.png", "portfolio.csv"):
        assert (out / name).stat().st_size > 0, name
    for name in ("path.png", "cv.png", "relativities.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert no_temporaries(out)
    model = load_model(out / "model.json")
    table = pd.read_csv(out / "factor_table.csv", keep_default_na=False)
    assert list(table["Relativity"]) == [r["Relativity"] for r in model.factor_table()]
    assert len(pd.read_csv(out / "portfolio.csv")) == 5000


def test_demo_without_matplotlib_skips_plots(tmp_path, monkeypatch):
    # A None entry in sys.modules makes the import fail as if not installed.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    out = tmp_path / "demo"
    proc = invoke("demo", "--n", "2000", "--out", out, "--no-data", "--n-jobs", "1")
    assert proc.returncode == 0, proc.stderr
    assert "plots skipped: matplotlib is not installed (pip install hdtweedie[plot])" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["factor_table.csv", "model.json"]


def test_demo_out_is_a_file(tmp_path):
    target = tmp_path / "demo"
    target.write_text("x")
    error("demo", "--out", target, ["exists and is not a folder"])


# -- progress, quiet, verbose, help --------------------------------------------------

def test_verbose_adds_a_traceback_to_errors(tmp_path):
    proc = invoke("fit", tmp_path / "none.csv", "--response", "y", "--out", tmp_path / "m.json", "--verbose")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("hdtweedie: error: data file not found")


def test_help_and_version(capsys):
    proc = invoke()
    assert proc.returncode == 2 and "COMMAND" in proc.stderr and "demo" in proc.stderr
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert re.match(r"hdtweedie \d+\.\d+", capsys.readouterr().out)
    with pytest.raises(SystemExit):
        cli.main(["fit", "--help"])
    assert "--exclude" in capsys.readouterr().out


def test_factor_table_missing_model(tmp_path):
    err = error("factor-table", tmp_path / "none.json", [])
    assert err == f"hdtweedie: error: model file not found: {tmp_path / 'none.json'}"


def test_relativity_errors_rebase_to_the_fitted_base():
    truth = {"f": {"a": 1.0, "b": 2.0, "c": 0.5}}
    rows = relativity_errors([("f", "a", 0.5), ("f", "b", 1.0), ("f", "c", 0.26)], truth, {"f": "b"})
    assert [r["true"] for r in rows] == [0.5, 1.0, 0.25]
    assert rows[2]["error"] == pytest.approx(0.04)


def test_console_script_points_at_main():
    from importlib.metadata import entry_points

    scripts = [ep for ep in entry_points(group="console_scripts") if ep.name == "hdtweedie"]
    if not scripts:
        pytest.skip("hdtweedie is not installed as a distribution")
    assert scripts[0].value == "hdtweedie.cli:main"
    assert scripts[0].load() is cli.main


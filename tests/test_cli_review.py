"""``hdtweedie factor-table`` options, ``diff-models`` and ``report``, run in this process."""

import csv
import io
import math

import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")

from signoff_models import FIXTURE, add_level, fit_portfolio_model, fixture_document, write_document  # noqa: E402
from test_cli import assert_one_line_error, invoke  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("review")
    df, model = fit_portfolio_model(root / "relaxed.json", n=2500, seed=5)
    data = root / "data.csv"
    df.to_csv(data, index=False)
    new = add_level(fixture_document(), "area", "D", math.log(1.2))
    new["coefficients"]["area=B"] += math.log(1.08)
    return {"root": root, "df": df, "model": model, "data": data,
            "new": write_document(new, root / "new.json")}


def rows(text):
    return list(csv.reader(io.StringIO(text)))


# -- diff-models ----------------------------------------------------------------------------------

def test_diff_models_markdown(files):
    proc = invoke("diff-models", FIXTURE, files["new"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# Model changes: motor-old version 1 -> motor-old version 1")
    assert "| area | B | 1.3410 | 1.4483 | +8.0% | changed | **!** |" in proc.stdout
    assert "| area | D |  | 1.2000 |  | level added | **!** |" in proc.stdout


def test_diff_models_csv_to_a_file(files):
    out = files["root"] / "changes.csv"
    proc = invoke("diff-models", FIXTURE, files["new"], "--format", "csv", "--threshold", "0.1",
                  "--out", out)
    assert proc.returncode == 0, proc.stderr
    table = {(r[0], r[1]): r for r in rows(out.read_text(encoding="utf-8"))}
    assert table[("area", "B")][6] == "False"  # 8% is within 10%
    assert table[("area", "D")][5] == "level added"
    assert "levels flagged" in proc.stdout


@pytest.mark.parametrize("args, code, fragment", [
    (["--threshold", "-1"], 2, "--threshold must be in [0, inf]"),
    (["--threshold", "x"], 2, "--threshold must be a number"),
    (["--format", "xml"], 2, "invalid choice"),
])
def test_diff_models_bad_options(files, args, code, fragment):
    assert_one_line_error(invoke("diff-models", FIXTURE, files["new"], *args), fragment, code=code)


def test_diff_models_missing_file(files):
    assert_one_line_error(invoke("diff-models", FIXTURE, files["root"] / "nope.json"), "model file not found")


# -- factor-table ---------------------------------------------------------------------------------

def test_factor_table_decimals_and_rename():
    proc = invoke("factor-table", FIXTURE, "--decimals", "2", "--rename", "area=PostcodeArea,age=Age")
    assert proc.returncode == 0, proc.stderr
    table = rows(proc.stdout)
    assert table[0] == ["Factor", "Level", "Relativity"]
    assert table[2] == ["PostcodeArea", "A", "1.0"] and table[3] == ["PostcodeArea", "B", "1.34"]
    assert table[-1][0] == "Age"


@pytest.mark.parametrize("args, fragment", [
    (["--rename", "area"], "--rename takes FACTOR=NEW pairs"),
    (["--rename", "postcode=X"], "['postcode'] are not inputs"),
    (["--response", "incurred"], "--response and --exposure go with --se-from"),
])
def test_factor_table_bad_options(args, fragment):
    assert_one_line_error(invoke("factor-table", FIXTURE, *args), fragment)


def test_factor_table_policies(files):
    policies = files["root"] / "policies.csv"
    pd.DataFrame({"area": ["A", "D", "E"], "ncd": ["0", "1", "9"]}).to_csv(policies, index=False)
    out = files["root"] / "ft.csv"
    line = assert_one_line_error(invoke("factor-table", FIXTURE, "--policies", policies, "--out", out),
                                 "area: level(s) 'D', 'E'", "ncd: level(s) '9'")
    assert "lacks levels" in line and not out.exists()


def test_factor_table_standard_errors_from_data(files):
    proc = invoke("factor-table", files["model"], "--se-from", files["data"], "--response", "incurred",
                  "--exposure", "exposure", "--decimals", "4")
    assert proc.returncode == 0, proc.stderr
    table = rows(proc.stdout)
    assert table[0] == ["Factor", "Level", "Relativity", "SE", "LowerCI", "UpperCI"]
    body = [r for r in table[2:] if r[3] != "0.0"]
    assert body and all(float(r[4]) < float(r[2]) < float(r[5]) for r in body)


def test_factor_table_standard_errors_refused_for_a_penalised_file(files):
    proc = invoke("factor-table", FIXTURE, "--se-from", files["data"], "--response", "incurred")
    assert_one_line_error(proc, "--se-from:", "do not apply to shrunk coefficients")


# -- report ---------------------------------------------------------------------------------------

def test_report_command_writes_one_html_file(files):
    out = files["root"] / "out" / "report.html"
    proc = invoke("report", files["model"], files["data"], "--response", "incurred", "--exposure", "exposure",
                  "--benchmark", "benchmark", "--out", out)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "Double lift against the benchmark" in text
    assert "report written to" in proc.stdout
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


@pytest.mark.parametrize("args, fragment", [
    (["--response", "loss", "--out", "r.html"], "loss"),
    (["--response", "incurred", "--benchmark", "bench", "--out", "r.html"], "bench"),
    (["--response", "incurred", "--out", "r.pdf"], "--out must name an .html file"),
])
def test_report_bad_input_is_one_line(files, args, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(invoke("report", files["model"], files["data"], *args), fragment)
    assert list(tmp_path.iterdir()) == []

"""``hdtweedie compose`` and the other commands on a composite (frequency x severity) model file."""

import contextlib
import io
import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from hdtweedie import cli  # noqa: E402
from hdtweedie.datasets import make_motor_portfolio  # noqa: E402
from hdtweedie.scoring import CompositeModel, content_hash, load_model  # noqa: E402
from hdtweedie.service._pricing import compare, price, reexplain  # noqa: E402
from hdtweedie.service._registry import Registry  # noqa: E402

FACTORS = "area,ncd_years,vehicle_group,driver_age,conviction"
RISK = {"area": "E", "ncd_years": "0", "vehicle_group": "31-50", "driver_age": "17-24", "conviction": "Yes"}


def invoke(*args):
    """Run ``cli.main(args)`` here; return a CompletedProcess with the captured output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def one_line_error(proc, *fragments):
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hdtweedie: error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """The recipe: one portfolio, frequency on all policies, severity on the claimed ones, composed."""
    root = tmp_path_factory.mktemp("compose")
    df = make_motor_portfolio(3000, random_state=5)
    df.to_csv(root / "portfolio.csv", index=False)
    claims = df[df["claim_count"] > 0].assign(average_cost=lambda d: d["incurred"] / d["claim_count"])
    claims.to_csv(root / "claims.csv", index=False)
    for args in (
        ["fit", root / "portfolio.csv", "--response", "claim_count", "--exposure", "exposure",
         "--power", "1", "--factors", FACTORS, "--out", root / "freq.json"],
        ["fit", root / "claims.csv", "--response", "average_cost", "--weights", "claim_count",
         "--power", "2", "--factors", FACTORS, "--out", root / "sev.json"],
        ["compose", root / "freq.json", root / "sev.json", "--out", root / "pp.json", "--id", "motor_pp",
         "--version", "2026.1"],
    ):
        proc = invoke("-q", *args)
        assert proc.returncode == 0, proc.stderr
    return root


def test_compose_writes_a_composite_that_loads(work):
    m = load_model(work / "pp.json")
    assert isinstance(m, CompositeModel)
    assert (m.model_id, m.version, m.roles) == ("motor_pp", "2026.1", ("frequency", "severity"))
    assert m.parts["frequency"].sha256 == load_model(work / "freq.json").sha256
    assert m.parts["severity"].power == 2.0 and m.parts["frequency"].power == 1.0
    proc = invoke("compose", work / "freq.json", work / "sev.json", "--out", work / "default_id.json")
    assert proc.returncode == 0 and "frequency: freq version 1" in proc.stdout
    assert load_model(work / "default_id.json").model_id == "default_id"


def test_score_gives_the_product_of_the_parts(work):
    for model in ("pp", "freq", "sev"):
        args = ["--exposure", "exposure"] if model != "sev" else []
        proc = invoke("-q", "score", work / f"{model}.json", work / "portfolio.csv", "--out",
                      work / f"scored_{model}.csv", *args)
        assert proc.returncode == 0, proc.stderr
    pp, f, s = (pd.read_csv(work / f"scored_{m}.csv")["prediction"].to_numpy() for m in ("pp", "freq", "sev"))
    np.testing.assert_allclose(pp, f * s, rtol=1e-12)


def test_score_counts_a_row_both_parts_flag_once(work, tmp_path):
    df = pd.read_csv(work / "portfolio.csv", dtype=str).head(20)
    df.loc[3, "area"] = "ZZ"
    df.to_csv(tmp_path / "odd.csv", index=False)
    proc = invoke("score", work / "pp.json", tmp_path / "odd.csv", "--out", tmp_path / "odd_scored.csv")
    assert proc.returncode == 0, proc.stderr
    assert "area: 1 row(s) with a level not seen in training" in proc.stderr
    assert "1 of 20 rows flagged" in proc.stderr


def test_explain_and_compare_json(work):
    proc = invoke("-q", "explain", work / "pp.json", "--record", json.dumps(RISK), "--exposure", "0.5",
                  "--json")
    assert proc.returncode == 0, proc.stderr
    x = json.loads(proc.stdout)
    assert math.isclose(x["prediction"], x["parts"]["frequency"]["prediction"]
                        * x["parts"]["severity"]["prediction"], rel_tol=1e-12)
    links = math.fsum(c["link"] for c in x["contributions"])
    assert math.isclose(x["base"]["intercept"] + links, x["link"], rel_tol=1e-12)
    other = {**RISK, "area": "A"}
    proc = invoke("-q", "compare", work / "pp.json", "--a", json.dumps(RISK), "--b", json.dumps(other),
                  "--json")
    assert proc.returncode == 0, proc.stderr
    c = json.loads(proc.stdout)
    assert {t["part"] for t in c["input_attribution"]} == {"frequency", "severity"}
    assert math.isclose(math.fsum(t["link"] for t in c["input_attribution"]), c["log_ratio"], rel_tol=1e-10)


def test_factor_table_of_a_composite(work):
    proc = invoke("-q", "factor-table", work / "pp.json", "--out", work / "pp_factors.csv")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(work / "pp_factors.csv", keep_default_na=False)
    assert list(table.columns) == ["Factor", "Level", "Relativity"]
    one_line_error(invoke("factor-table", work / "pp.json", "--se-from", work / "portfolio.csv",
                          "--response", "incurred"), "each part")


def test_the_service_prices_explains_and_compares_with_a_composite(work):
    registry = Registry([str(work / "pp.json")])
    m = registry.default
    a = {"prediction_id": "a", **price(m, RISK, 0.5)}
    b = {"prediction_id": "b", **price(m, {**RISK, "area": "A"}, 1.0)}
    assert math.isclose(a["prediction"], float(m.predict([RISK], 0.5)[0]), rel_tol=1e-12)
    assert reexplain(registry, {**a, "policy_id": "p", "transaction_type": "quote", "created_at": "now"})[
        "verified"]
    side = {"policy_id": "p", "transaction_type": "quote", "created_at": "now"}
    out = compare(registry, {**a, **side}, {**b, **side})
    assert math.isclose(math.fsum(t["money"] for t in out["attribution"]), out["output"]["delta"],
                        rel_tol=1e-9)


def test_compose_refuses_bad_parts_with_one_line(work, tmp_path):
    out = tmp_path / "out.json"
    one_line_error(invoke("compose", work / "pp.json", work / "sev.json", "--out", out),
                   "already a composite")
    one_line_error(invoke("compose", work / "missing.json", work / "sev.json", "--out", out), "not found")
    one_line_error(invoke("compose", work / "freq.json", work / "sev.json", "--out", work / "sev.json"))
    one_line_error(invoke("compose", work / "freq.json", work / "sev.json", "--out", out, "--step", "Bad"),
                   "--step")
    one_line_error(invoke("compose", work / "freq.json", work / "sev.json", "--out", out, "--step",
                          f"severity={work / 'sev.json'}"), "twice")
    doc = json.loads((work / "sev.json").read_text())
    doc["intercept"] += 1.0
    (tmp_path / "edited.json").write_text(json.dumps(doc))
    one_line_error(invoke("compose", work / "freq.json", tmp_path / "edited.json", "--out", out), "integrity")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_swapped_parts_are_warned_about(work, tmp_path):
    proc = invoke("compose", work / "sev.json", work / "freq.json", "--out", tmp_path / "swapped.json")
    assert proc.returncode == 0
    assert "usually Poisson (power 1)" in proc.stderr and "usually Gamma (power 2)" in proc.stderr


def test_a_tampered_composite_is_refused_by_score(work, tmp_path):
    doc = json.loads((work / "pp.json").read_text())
    doc["parts"][0]["model"]["intercept"] += 0.5
    doc["sha256"] = content_hash(doc)
    Path(tmp_path / "pp.json").write_text(json.dumps(doc))
    one_line_error(invoke("score", tmp_path / "pp.json", work / "portfolio.csv", "--out", tmp_path / "s.csv"),
                   "part 'frequency'", "integrity")

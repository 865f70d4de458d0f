"""The change log between two model versions: levels, factors, base rate, Markdown and CSV."""

import csv
import io
import math

import pytest
from signoff_models import FIXTURE, add_level, drop_input, fixture_document, write_document

from hdtweedie.model_diff import diff_models
from hdtweedie.scoring import load_model


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Old: the fixture.  New: area=B up 10%, area=C up 2%, area D added, ncd dropped, intercept +0.1."""
    root = tmp_path_factory.mktemp("diff")
    old = fixture_document()
    new = add_level(old, "area", "D", math.log(1.3))
    new["coefficients"]["area=B"] += math.log(1.10)
    new["coefficients"]["area=C"] += math.log(1.02)
    new["intercept"] += 0.1
    new = drop_input(new, "ncd")
    new["version"] = "2"
    old_m = load_model(write_document(old, root / "old.json"))
    return old_m, load_model(write_document(new, root / "new.json"))


def rows_of(diff):
    return {(r["factor"], r["level"]): r for r in diff.rows}


def test_levels_changes_and_flags(pair):
    old, new = pair
    diff = diff_models(old, new, threshold=0.05)
    rows = rows_of(diff)
    b = rows[("area", "B")]
    assert b["old"] == pytest.approx(old.factor_table()[2]["Relativity"])
    assert b["change"] == pytest.approx(0.10, rel=1e-12) and b["flagged"] and b["status"] == "changed"
    c = rows[("area", "C")]
    assert c["change"] == pytest.approx(0.02, rel=1e-12) and not c["flagged"]
    assert rows[("area", "A")]["status"] == "unchanged" and not rows[("area", "A")]["flagged"]
    d = rows[("area", "D")]
    assert d["old"] is None and d["new"] == pytest.approx(1.3)
    assert d["status"] == "level added" and d["flagged"]
    assert rows[("age", "per unit")]["status"] == "unchanged"


def test_factors_added_and_dropped(pair):
    old, new = pair
    diff = diff_models(old, new)
    assert diff.factors_dropped == ("ncd",) and diff.factors_added == ()
    ncd = [r for r in diff.rows if r["factor"] == "ncd"]
    assert len(ncd) == 4 and all(r["status"] == "factor dropped" and r["flagged"] for r in ncd)
    back = diff_models(new, old)
    assert back.factors_added == ("ncd",)
    assert rows_of(back)[("area", "D")]["status"] == "level dropped"


def test_base_rate_change(pair):
    old, new = pair
    diff = diff_models(old, new)
    assert diff.base_rate["old"] == pytest.approx(math.exp(old.intercept))
    assert diff.base_rate["change"] == pytest.approx(math.exp(0.1) - 1, rel=1e-12)
    assert diff.old_label == "motor-old version 1" and diff.new_label.endswith("version 2")


def test_threshold_moves_the_flags(pair):
    old, new = pair
    assert rows_of(diff_models(old, new, threshold=0.01))[("area", "C")]["flagged"]
    assert not rows_of(diff_models(old, new, threshold=0.2))[("area", "B")]["flagged"]


def test_different_base_levels_are_restated(tmp_path):
    old = fixture_document()
    new = fixture_document()
    # same tariff, area written against base C: rel(A) = 1/rel_old(C), rel(B) = rel_old(B)/rel_old(C)
    c = old["coefficients"]["area=C"]
    spec = next(s for s in new["inputs"] if s["name"] == "area")
    spec["base_level"] = "C"
    spec["features"] = {"A": "area=A", "B": "area=B"}
    new["features"] = ["area=A" if f == "area=C" else f for f in new["features"]]
    new["coefficients"] = {("area=A" if k == "area=C" else k): v for k, v in new["coefficients"].items()}
    new["coefficients"]["area=A"] = -c
    new["coefficients"]["area=B"] = old["coefficients"]["area=B"] - c
    new["intercept"] = old["intercept"] + c
    diff = diff_models(write_document(old, tmp_path / "a.json"), write_document(new, tmp_path / "b.json"))
    assert diff.rebased == ("area",)
    assert all(abs(r["change"]) < 1e-12 for r in diff.rows)
    assert abs(diff.base_rate["change"]) < 1e-12


def test_markdown(pair):
    text = diff_models(*pair).to_markdown()
    assert text.startswith("# Model changes: motor-old version 1 -> motor-old version 2")
    assert "- Factors dropped: ncd" in text
    assert "| area | B | 1.3410 | 1.4751 | +10.0% | changed | **!** |" in text
    assert "| area | D |  | 1.3000 |  | level added | **!** |" in text
    assert "Base rate (exp(intercept)):" in text and "(+10.5%)" in text


def test_csv_round_trips_and_is_written_whole(pair, tmp_path):
    diff = diff_models(*pair)
    path = tmp_path / "changes.csv"
    text = diff.to_csv(path)
    assert path.read_text(encoding="utf-8").replace("\r\n", "\n") == text
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["Factor", "Level", "Old", "New", "Change", "Status", "Flagged"]
    assert lines[1][0] == "(intercept)" and float(lines[1][4]) == diff.base_rate["change"]
    body = {(r[0], r[1]): r for r in lines[2:]}
    assert float(body[("area", "B")][4]) == rows_of(diff)[("area", "B")]["change"]
    assert body[("area", "D")][2] == "" and body[("area", "D")][6] == "True"
    assert len(lines) == 2 + len(diff.rows)


@pytest.mark.parametrize("threshold, error", [(-0.1, ValueError), (math.inf, ValueError),
                                              (math.nan, ValueError), ("5%", TypeError), (True, TypeError)])
def test_bad_threshold(pair, threshold, error):
    with pytest.raises(error, match="threshold"):
        diff_models(*pair, threshold=threshold)


def test_bad_models():
    with pytest.raises(TypeError, match="old must be a ScoringModel"):
        diff_models({"intercept": 1}, load_model(FIXTURE))

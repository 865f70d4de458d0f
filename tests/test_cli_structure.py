"""``hdtweedie fit`` with the rating structure: bands, sparse levels, missing level, interactions."""

from __future__ import annotations

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from test_cli import assert_one_line_error, invoke  # noqa: E402

from hdtweedie import FactorEncoder  # noqa: E402
from hdtweedie.datasets import make_motor_portfolio  # noqa: E402
from hdtweedie.scoring import load_model  # noqa: E402

EDGES = [17, 21, 25, 30, 40, 50, 60, 70, 90]
FACTORS = ["area", "ncd_years", "vehicle_group", "conviction", "vehicle_colour"]


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory):
    df = make_motor_portfolio(6_000, random_state=2)
    rng = np.random.default_rng(2)
    low = df["driver_age"].map({"17-24": 17, "25-39": 25, "40-59": 40, "60+": 60})
    width = df["driver_age"].map({"17-24": 8, "25-39": 15, "40-59": 20, "60+": 30})
    df["driver_age"] = (low + rng.integers(0, width)).astype(float)
    df.loc[rng.random(len(df)) < 0.03, "vehicle_colour"] = None
    path = tmp_path_factory.mktemp("structure") / "portfolio.csv"
    df.to_csv(path, index=False)
    return path, df


def test_fit_options_reach_the_model_file_as_the_library_builds_it(portfolio, tmp_path):
    path, df = portfolio
    out = tmp_path / "m.json"
    proc = invoke("fit", path, "--response", "incurred", "--exposure", "exposure", "--factors",
                  ",".join(FACTORS), "--bands", "driver_age=" + ",".join(map(str, EDGES)),
                  "--min-exposure", "400", "--missing-level", "Unknown",
                  "--interaction", "area:ncd_years", "--n-jobs", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "banded (1): driver_age" in proc.stdout
    model = load_model(out)
    assert "area:ncd_years" in model.input_names or any(
        s["kind"] == "interaction" for s in model.document["inputs"])
    # The same encoder built in Python gives the same levels, merges and missing level.
    enc = FactorEncoder(factors=FACTORS, bands={"driver_age": EDGES}, min_exposure=400,
                        missing_level="Unknown", interactions=[("area", "ncd_years")])
    data = pd.read_csv(path, dtype={f: str for f in FACTORS})
    enc.fit(data[FACTORS + ["driver_age"]], sample_weight=data["exposure"])
    specs = {s["name"]: s for s in model.document["inputs"]}
    assert specs["driver_age"]["bands"]["edges"] == enc.bands_["driver_age"]
    assert specs["vehicle_colour"]["missing_level"] == "Unknown"
    assert enc.merged_levels_, "the minimum exposure should merge some levels here"
    for factor, merged in enc.merged_levels_.items():
        assert f"merged sparse levels of {factor}" in proc.stdout
        if factor != "driver_age":  # merged bands are wider bands, recorded as their edges
            assert specs[factor]["merged"] == merged
    # A missing colour is scored at the Unknown level, an age beyond the edges in the end band.
    record = {"area": "C", "ncd_years": "5+", "vehicle_group": "1-10", "conviction": "No",
              "vehicle_colour": None, "driver_age": 95.0}
    ex = model.explain(record)
    assert [(w.kind, w.input) for w in ex.warnings] == [("out_of_range", "driver_age")]
    levels = {c["input"]: c.get("level") for c in ex.contributions}
    assert levels["vehicle_colour"] == "Unknown" and levels["driver_age"] == "[70, 90]"


@pytest.mark.parametrize("args, fragment", [
    (["--bands", "driver_age=a,b"], "--bands: the edges of driver_age must be numbers"),
    (["--bands", "driver_age"], "--bands: expected COL=E1,E2,... or COL=qK"),
    (["--interaction", "area"], "--interaction: expected A:B"),
    (["--interaction", "area:nope"], "interactions"),
    (["--min-exposure", "-1"], "--min-exposure"),
    (["--bands", "area=1,2"], "bands"),
])
def test_bad_structure_options_are_one_line_errors(portfolio, tmp_path, args, fragment):
    path, _ = portfolio
    proc = invoke("fit", path, "--response", "incurred", "--factors", "area,ncd_years",
                  *args, "--out", tmp_path / "m.json")
    assert_one_line_error(proc, fragment, code=proc.returncode)
    assert proc.returncode != 0
    assert not (tmp_path / "m.json").exists()


def test_quantile_bands_from_the_command_line(portfolio, tmp_path):
    path, _ = portfolio
    out = tmp_path / "q.json"
    proc = invoke("fit", path, "--response", "incurred", "--exposure", "exposure", "--factors",
                  "area", "--bands", "driver_age=q4", "--n-jobs", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    spec = {s["name"]: s for s in load_model(out).document["inputs"]}["driver_age"]
    assert len(spec["bands"]["edges"]) <= 5 and len(spec["features"]) >= 1

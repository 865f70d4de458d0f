"""Composite model files: frequency x severity scored, explained, compared and tabled as one model."""

import json
import math
import pickle

import numpy as np
import pytest

from hdtweedie import FactorEncoder, HDTweedie
from hdtweedie.datasets import make_motor_portfolio
from hdtweedie.scoring import (
    CompositeExplanation,
    CompositeModel,
    ModelFileError,
    ScoringModel,
    compose_models,
    content_hash,
    load_model,
    sign_model_file,
)

FACTORS = ["area", "ncd_years", "vehicle_group", "driver_age"]
TOL = 1e-12


def fit_pair(folder, seed=3, n=3000, sev_factors=None, version="1"):
    """Fit a Poisson frequency and a Gamma severity model on one portfolio; return their paths."""
    df = make_motor_portfolio(n, random_state=seed)
    enc = FactorEncoder(factors=FACTORS, handle_unknown="base")
    X = enc.fit_transform(df[FACTORS])
    freq = HDTweedie(power=1.0, groups=enc.groups_, n_lambdas=15)
    freq.fit(X, df["claim_count"].to_numpy(float), offset=np.log(df["exposure"].to_numpy()))
    f_path = folder / f"freq_{version}.json"
    freq.export(f_path, model_id="frequency", version=version, encoder=enc)
    claims = df[df["claim_count"] > 0]
    factors = sev_factors or FACTORS
    enc_s = FactorEncoder(factors=factors, handle_unknown="base")
    Xs = enc_s.fit_transform(claims[factors])
    sev = HDTweedie(power=2.0, groups=enc_s.groups_, n_lambdas=15)
    sev.fit(Xs, (claims["incurred"] / claims["claim_count"]).to_numpy(),
            sample_weight=claims["claim_count"].to_numpy(float))
    s_path = folder / f"sev_{version}.json"
    sev.export(s_path, model_id="severity", version=version, encoder=enc_s)
    return df, f_path, s_path


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("composite")
    df, f_path, s_path = fit_pair(folder, sev_factors=["area", "vehicle_group"])
    out = folder / "pure_premium.json"
    composite = compose_models(out, f_path, s_path, model_id="pure_premium", version="1")
    return {"df": df, "freq": load_model(f_path), "sev": load_model(s_path), "path": out,
            "model": composite, "folder": folder}


def records(df, n=50):
    return df[FACTORS].head(n).to_dict(orient="records")


def test_load_returns_a_composite_with_the_union_of_inputs(pair):
    m = load_model(pair["path"])
    assert isinstance(m, CompositeModel)
    assert m.roles == ("frequency", "severity")
    assert m.sha256 == pair["model"].sha256
    assert set(m.input_names) == set(pair["freq"].input_names) | set(pair["sev"].input_names)
    assert set(m.required_inputs) == set(pair["freq"].required_inputs) | set(pair["sev"].required_inputs)
    assert set(m.factor_names) == set(FACTORS)
    # each embedded part keeps its own hash: the same model as its own file
    assert m.parts["frequency"].sha256 == pair["freq"].sha256
    assert m.parts["severity"].sha256 == pair["sev"].sha256
    assert pickle.loads(pickle.dumps(m)).sha256 == m.sha256
    doc = m.document
    doc["parts"][0]["model"]["intercept"] = 99.0
    assert m.document["parts"][0]["model"]["intercept"] != 99.0
    with pytest.raises(TypeError):
        CompositeModel()
    with pytest.raises(AttributeError):
        m.model_id = "x"


def test_predict_is_the_product_of_the_parts(pair):
    df, m = pair["df"], pair["model"]
    recs = records(df, 200)
    exposure = df["exposure"].head(200).to_numpy()
    got = m.predict(recs, exposure)
    want = pair["freq"].predict(recs, exposure).values * pair["sev"].predict(recs).values
    np.testing.assert_allclose(got.values, want, rtol=TOL)
    np.testing.assert_allclose(got.link, pair["freq"].predict(recs).link + pair["sev"].predict(recs).link,
                               rtol=TOL)
    np.testing.assert_array_equal(got.exposure, exposure)
    # the exposure scales the frequency only: doubling it doubles the pure premium
    np.testing.assert_allclose(m.predict(recs, 2 * exposure).values, 2 * want, rtol=TOL)
    # an exposure column of the records is read too
    with_e = [{**r, "exposure": e} for r, e in zip(recs, exposure)]
    np.testing.assert_allclose(m.predict(with_e, "exposure").values, want, rtol=TOL)


def test_caveats_of_both_parts_are_reported_and_name_their_part(pair):
    m = pair["model"]
    rec = {**records(pair["df"], 1)[0], "area": "ZZ"}
    with pytest.warns(UserWarning):
        p = m.predict([rec])
    # the row both parts flag is one caveat naming both parts
    assert [(w.kind, w.input, w.rows.tolist()) for w in p.warnings] == [("unseen_level", "area", [0])]
    assert "frequency part: area" in p.warnings[0].message and "severity part: area" in p.warnings[0].message
    assert p.flagged.all()
    bad = {**rec, "area": None}
    with pytest.raises(ValueError, match="frequency part: area"):
        m.predict([bad])
    flagged = m.predict([bad, records(pair["df"], 1)[0]], errors="flag", warn=False)
    assert np.isnan(flagged.values[0]) and np.isfinite(flagged.values[1])


def test_explain_sums_on_the_log_scale(pair):
    m = pair["model"]
    rec = records(pair["df"], 7)[6]
    x = m.explain(rec, exposure=0.5)
    assert isinstance(x, CompositeExplanation)
    assert set(x.parts) == {"frequency", "severity"}
    links = [c["link"] for c in x.contributions]
    assert math.isclose(x.intercept + math.fsum(links), x.link, rel_tol=TOL, abs_tol=TOL)
    assert math.isclose(x.base * math.prod(c["relativity"] for c in x.contributions), x.prediction,
                        rel_tol=1e-12)
    assert math.isclose(x.prediction, float(m.predict([rec], 0.5)[0]), rel_tol=TOL)
    assert math.isclose(x.prediction, x.parts["frequency"].prediction * x.parts["severity"].prediction,
                        rel_tol=TOL)
    assert x.parts["frequency"].exposure == 0.5 and x.parts["severity"].exposure == 1.0
    # an input in both parts gets the sum of their links; one in a part only, that part's
    by = {c["input"]: c["link"] for c in x.contributions}
    f = x.parts["frequency"].relativities
    s = x.parts["severity"].relativities
    assert math.isclose(math.exp(by["area"]), f["area"] * s["area"], rel_tol=TOL)
    assert math.isclose(math.exp(by["ncd_years"]), f["ncd_years"], rel_tol=TOL)
    d = json.loads(json.dumps(x.to_dict()))
    assert set(d["parts"]) == {"frequency", "severity"}
    assert "severity part" in str(x)
    with pytest.raises(ValueError, match="one record"):
        m.explain(records(pair["df"], 2))


def test_compare_attributes_the_log_ratio_exactly(pair):
    m = pair["model"]
    a, b = records(pair["df"], 12)[10:12]
    c = m.compare(a, b, exposure_a=0.4, exposure_b=0.9)
    pa = float(m.predict([a], 0.4)[0])
    pb = float(m.predict([b], 0.9)[0])
    assert math.isclose(c.prediction_a, pa, rel_tol=TOL) and math.isclose(c.prediction_b, pb, rel_tol=TOL)
    total = math.fsum(t["link"] for t in c.input_attribution + c.model_attribution)
    assert math.isclose(total, c.log_ratio, rel_tol=1e-10, abs_tol=1e-12)
    assert math.isclose(c.log_ratio, math.log(pb / pa), rel_tol=1e-10, abs_tol=1e-12)
    assert {t["part"] for t in c.input_attribution} <= {"frequency", "severity"}
    exposure_terms = [t for t in c.input_attribution if t["input"] == "exposure"]
    assert [t["part"] for t in exposure_terms] == ["frequency"]
    assert c.model_attribution == []
    json.dumps(c.to_dict())
    with pytest.raises(TypeError, match="CompositeModel"):
        m.compare(a, b, other=pair["freq"])


def test_compare_across_composites_separates_input_and_model_change(pair, tmp_path):
    _, f2, s2 = fit_pair(tmp_path, seed=4, n=2500, version="2")
    m2 = compose_models(tmp_path / "pp2.json", f2, s2, version="2")
    m = pair["model"]
    a, b = records(pair["df"], 3)[1:3]
    c = m.compare(a, b, other=m2, exposure_a=0.7)
    pa, pb = float(m.predict([a], 0.7)[0]), float(m2.predict([b], 0.7)[0])
    assert math.isclose(c.ratio, pb / pa, rel_tol=1e-10)
    assert math.isclose(c.input_part + c.model_part, c.log_ratio, rel_tol=1e-10, abs_tol=1e-12)
    assert {t["part"] for t in c.model_attribution} == {"frequency", "severity"}


def test_factor_table_multiplies_relativities_per_level(pair, tmp_path):
    m, f, s = pair["model"], pair["freq"], pair["sev"]
    rows = m.factor_table(tmp_path / "ft.csv")
    fr = {(r["Factor"], r["Level"]): r["Relativity"] for r in f.factor_table()}
    sr = {(r["Factor"], r["Level"]): r["Relativity"] for r in s.factor_table()}
    got = {(r["Factor"], r["Level"]): r["Relativity"] for r in rows}
    assert set(got) == set(fr) | set(sr)
    for key, value in got.items():
        assert math.isclose(value, fr.get(key, 1.0) * sr.get(key, 1.0), rel_tol=TOL)
    assert rows[0]["Factor"] == "(intercept)"
    # a factor of the frequency only carries the frequency's relativities
    assert got[("ncd_years", "5+")] == fr[("ncd_years", "5+")]
    # the table reproduces a prediction
    rec = records(pair["df"], 1)[0]
    rate = got[("(intercept)", "")] * math.prod(got[(k, v)] for k, v in rec.items())
    assert math.isclose(rate, float(m.predict([rec])[0]), rel_tol=1e-12)
    text = (tmp_path / "ft.csv").read_text().splitlines()
    assert text[0] == "Factor,Level,Relativity" and len(text) == len(rows) + 1
    renamed = m.factor_table(include_base=False, decimals=4, names={"area": "PostcodeArea"})
    assert {r["Factor"] for r in renamed} >= {"PostcodeArea"} and "(intercept)" not in {r["Factor"]
                                                                                         for r in renamed}
    with pytest.raises(ValueError, match="not inputs"):
        m.factor_table(names={"colour": "x"})
    with pytest.raises(TypeError, match="names"):
        m.factor_table(names=["area"])
    with pytest.raises(ValueError, match="decimals"):
        m.factor_table(decimals=99)


def _rewrite(path, doc):
    path.write_text(json.dumps(doc))


def test_tampered_part_or_composite_hash_is_refused(pair, tmp_path):
    doc = json.loads(pair["path"].read_text())
    # a part edited without its own hash updated, the composite hash recomputed
    edited = json.loads(json.dumps(doc))
    part = edited["parts"][1]["model"]
    part["intercept"] = part["intercept"] + 0.1
    edited["sha256"] = content_hash(edited)
    _rewrite(tmp_path / "a.json", edited)
    with pytest.raises(ModelFileError, match="part 'severity'.*integrity"):
        load_model(tmp_path / "a.json")
    # the part's hash recomputed too, but not the composite's
    part["sha256"] = content_hash(part)
    edited["sha256"] = doc["sha256"]
    _rewrite(tmp_path / "b.json", edited)
    with pytest.raises(ModelFileError, match="integrity"):
        load_model(tmp_path / "b.json")
    # the composite's own fields
    edited = json.loads(json.dumps(doc))
    edited["model_id"] = "other"
    _rewrite(tmp_path / "c.json", edited)
    with pytest.raises(ModelFileError, match="integrity"):
        load_model(tmp_path / "c.json")


def test_malformed_composites_are_refused(pair, tmp_path):
    doc = json.loads(pair["path"].read_text())

    def refused(edit, match):
        bad = json.loads(json.dumps(doc))
        edit(bad)
        bad["sha256"] = content_hash(bad)
        _rewrite(tmp_path / "bad.json", bad)
        with pytest.raises(ModelFileError, match=match):
            load_model(tmp_path / "bad.json")

    refused(lambda d: d["parts"].pop(), "schema")
    refused(lambda d: d["parts"][1].update(role="frequency"), "exactly one 'frequency'")
    refused(lambda d: d.update(extra=1), "schema")
    refused(lambda d: d["parts"][1].update(model=json.loads(json.dumps(d))), "composite")
    refused(lambda d: d["parts"][1]["model"].update(format="other"), "not an hdtweedie model file")


def test_parts_that_disagree_about_an_input_are_refused(pair, tmp_path):
    sev = pair["sev"].document
    spec = next(s for s in sev["inputs"] if s["name"] == "area")
    spec["levels"] = [f"x{lv}" for lv in spec["levels"]]
    spec["base_level"] = "x" + spec["base_level"]
    spec["features"] = {f"x{k}": v for k, v in spec["features"].items()}
    sev["sha256"] = content_hash(sev)
    _rewrite(tmp_path / "sev_x.json", sev)
    with pytest.raises(ModelFileError, match="'area' has no level in common"):
        compose_models(tmp_path / "x.json", pair["freq"], tmp_path / "sev_x.json")
    assert not (tmp_path / "x.json").exists()


def test_an_input_numeric_in_one_part_and_a_factor_in_the_other_is_refused(pair, tmp_path):
    claims = pair["df"][pair["df"]["claim_count"] > 0].head(400)
    X = claims[["vehicle_group"]].assign(area=claims["area"].map({"A": 1.0, "B": 2.0, "C": 3.0, "D": 4.0,
                                                                  "E": 5.0, "F": 6.0}))
    enc = FactorEncoder(factors=["vehicle_group"])
    Xs = enc.fit_transform(X)
    sev = HDTweedie(power=2.0, groups=enc.groups_, n_lambdas=5).fit(Xs, claims["incurred"].to_numpy())
    sev.export(tmp_path / "sev_numeric.json", model_id="severity", encoder=enc)
    assert load_model(tmp_path / "sev_numeric.json").input_names == ["vehicle_group", "area"]
    with pytest.raises(ModelFileError, match="'area' is factor in part 'frequency' but numeric"):
        compose_models(tmp_path / "x.json", pair["freq"], tmp_path / "sev_numeric.json")
    assert not (tmp_path / "x.json").exists()


def test_level_gaps_are_listed(pair, tmp_path):
    sev = pair["sev"].document
    spec = next(s for s in sev["inputs"] if s["name"] == "vehicle_group")
    lost = next(lv for lv in spec["levels"] if lv != spec["base_level"])
    spec["levels"].remove(lost)
    feature = spec["features"].pop(lost)
    sev["features"].remove(feature)
    del sev["coefficients"][feature]
    sev["sha256"] = content_hash(sev)
    _rewrite(tmp_path / "sev_gap.json", sev)
    m = compose_models(tmp_path / "gap.json", pair["freq"], tmp_path / "sev_gap.json")
    assert len(m.level_gaps) == 1 and repr(lost) in m.level_gaps[0] and "'severity'" in m.level_gaps[0]


def test_compose_arguments_are_checked(pair, tmp_path):
    out = tmp_path / "o.json"
    with pytest.raises(TypeError, match="frequency"):
        compose_models(out, 3, pair["sev"])
    with pytest.raises(TypeError, match="composite"):
        compose_models(out, pair["model"], pair["sev"])
    with pytest.raises(ValueError, match="model_id"):
        compose_models(out, pair["freq"], pair["sev"], model_id="")
    with pytest.raises(ValueError, match="once"):
        compose_models(out, pair["freq"], pair["sev"], steps={"severity": pair["sev"]})
    with pytest.raises(TypeError, match="steps"):
        compose_models(out, pair["freq"], pair["sev"], steps=[pair["sev"]])
    assert not out.exists()


def test_a_further_step_multiplies(pair, tmp_path):
    m = compose_models(tmp_path / "three.json", pair["freq"], pair["sev"], steps={"loading": pair["sev"]})
    assert m.roles == ("frequency", "severity", "loading")
    recs = records(pair["df"], 20)
    want = pair["model"].predict(recs).values * pair["sev"].predict(recs).values
    np.testing.assert_allclose(m.predict(recs).values, want, rtol=TOL)


def test_signed_composite(pair, tmp_path):
    key = b"0123456789abcdef-secret"
    m = compose_models(tmp_path / "signed.json", pair["freq"], pair["sev"], sign_key=key, key_id="k1")
    assert m.verified and m.signature["key_id"] == "k1"
    assert load_model(tmp_path / "signed.json", key).verified
    with pytest.raises(ModelFileError, match="wrong signature"):
        load_model(tmp_path / "signed.json", b"another-key-0123456789")
    copy = tmp_path / "later.json"
    copy.write_text(pair["path"].read_text())
    sign_model_file(copy, key)
    assert isinstance(load_model(copy, key), CompositeModel)


def test_an_ordinary_model_file_loads_as_before(pair):
    m = load_model(pair["freq"].source)
    assert type(m) is ScoringModel
    assert m.document == pair["freq"].document and m.sha256 == pair["freq"].sha256


def test_a_product_beyond_a_double_is_flagged_never_inf(pair, tmp_path):
    parts = []
    for name in ("freq", "sev"):
        doc = pair[name].document
        doc["intercept"] = 400.0  # each part stays below the 700 bound; their product does not
        doc["sha256"] = content_hash(doc)
        _rewrite(tmp_path / f"{name}_big.json", doc)
        parts.append(tmp_path / f"{name}_big.json")
    m = compose_models(tmp_path / "big.json", *parts)
    recs = records(pair["df"], 3)
    with pytest.raises(ValueError, match="beyond the range of a double"):
        m.predict(recs)
    p = m.predict(recs, errors="flag", warn=False)
    assert np.isnan(p.values).all() and p.flagged.all()
    assert [w.kind for w in p.warnings] == ["overflow"]
    with pytest.raises(ValueError, match="record: the product of the parts is beyond"):
        m.explain(recs[0])
    with pytest.raises(ValueError, match="record_a: the product of the parts is beyond"):
        m.compare(recs[0], recs[1])


def test_compare_needs_a_composite_with_the_same_parts(pair, tmp_path):
    three = compose_models(tmp_path / "three.json", pair["freq"], pair["sev"], steps={"loading": pair["sev"]})
    rec = records(pair["df"], 1)[0]
    with pytest.raises(ValueError, match="other has the parts"):
        pair["model"].compare(rec, other=three)
    with pytest.raises(ValueError, match="frequency part: exposure"):
        pair["model"].compare(rec, exposure_a=0.0)


def test_the_shipped_composite_schema_is_valid_json_schema(pair):
    jsonschema = pytest.importorskip("jsonschema")
    from hdtweedie.scoring import composite_schema

    schema = composite_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(pair["path"].read_text()), schema)
    assert composite_schema() is not composite_schema()  # a new dict each time


def test_factor_chart_of_a_composite_shows_the_multiplied_relativities(pair):
    pd = pytest.importorskip("pandas")
    from hdtweedie.charts import factor_chart_data

    pp, df = pair["model"], pair["df"]
    tables = factor_chart_data(pp, df, "incurred", "exposure")
    rows = {(r["Factor"], r["Level"]): r["Relativity"] for r in pp.factor_table(include_base=False)}
    for factor, table in tables.items():
        for level in table.index:
            assert table.loc[level, "fitted"] == pytest.approx(rows[(factor, level)], rel=1e-12)
        assert table["exposure"].sum() == pytest.approx(df["exposure"].sum())
    with pytest.raises(ValueError, match="coef_table"):
        factor_chart_data(pp, df, "incurred", "exposure", coef_table=pd.DataFrame())
    assert set(tables) == set(pp.factor_names)


def test_the_sign_off_report_refuses_a_composite(pair):
    from hdtweedie.report import build_report

    with pytest.raises(TypeError, match="single model"):
        build_report(pair["model"], pair["df"], "incurred", "exposure")

"""hdtweedie.scoring: load, predict, explain, compare and factor tables from exported files."""

import csv
import json
import math
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hdtweedie import FactorEncoder, HDTweedie
from hdtweedie._export import export_model
from hdtweedie.scoring import (
    ModelFileError,
    Prediction,
    ScoringInputWarning,
    ScoringModel,
    content_hash,
    load_model,
)

RTOL = 1e-12
AREAS = ["A", "B", "C", "D"]
VEHICLES = ["hatch", "saloon", "estate", "suv", "van"]


def _portfolio(n, seed, conviction=False):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "area": rng.choice(AREAS, n, p=[0.15, 0.4, 0.3, 0.15]),
        "ncd": rng.integers(0, 6, n),
        "vehicle": rng.choice(VEHICLES, n),
        "age": rng.uniform(18, 80, n),
    })
    if conviction:
        df["conviction"] = rng.random(n) < 0.15
    exposure = rng.uniform(0.2, 1.0, n)
    eta = (-1.2 + df["area"].map({"A": -0.2, "B": 0.0, "C": 0.3, "D": 0.5}) - 0.08 * df["ncd"]
           + df["vehicle"].map({"hatch": 0, "saloon": 0.1, "estate": 0.15, "suv": 0.4, "van": 0.25})
           - 0.01 * (df["age"] - 45))
    if conviction:
        eta = eta + 0.4 * df["conviction"]
    y = rng.poisson(exposure * np.exp(eta)) * rng.gamma(2.0, 0.5, n)
    return df, exposure, np.asarray(y, dtype=float)


def _fit_encoded(path, seed, conviction=False, version="1", handle_unknown="error"):
    df, exposure, y = _portfolio(2500, seed, conviction)
    factors = ["area", "ncd", "vehicle"] + (["conviction"] if conviction else [])
    enc = FactorEncoder(factors=factors, handle_unknown=handle_unknown)
    X = enc.fit_transform(df, sample_weight=exposure)
    est = HDTweedie(power=1.5, groups=enc.groups_, n_lambdas=30).fit(X, y, offset=np.log(exposure))
    est.export(path, model_id="motor", version=version, encoder=enc)
    return {"est": est, "enc": enc, "df": df, "X": X, "exposure": exposure, "path": path,
            "model": load_model(path)}


@pytest.fixture(scope="module")
def v1(tmp_path_factory):
    return _fit_encoded(tmp_path_factory.mktemp("v1") / "motor_v1.json", seed=11)


@pytest.fixture(scope="module")
def v2(tmp_path_factory):
    return _fit_encoded(tmp_path_factory.mktemp("v2") / "motor_v2.json", seed=12, conviction=True,
                        version="2")


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(600, 5))
    exposure = rng.uniform(0.5, 2.0, 600)
    mu = exposure * np.exp(0.2 + 0.5 * X[:, 0] - 0.4 * X[:, 3])
    y = rng.poisson(mu) * rng.gamma(1.5, 1.0, 600)
    est = HDTweedie(power=1.3, n_lambdas=25).fit(X, y, offset=np.log(exposure))
    path = tmp_path_factory.mktemp("dense") / "dense.json"
    export_model(est, path, X=X)
    return {"est": est, "X": X, "exposure": exposure, "path": path, "model": load_model(path)}


def _records(df):
    return df.to_dict(orient="records")


def _estimator_predict(fit, df, exposure):
    X = fit["enc"].transform(df)
    return fit["est"].predict(X, offset=np.log(exposure))


# -- import hygiene ----------------------------------------------------------------------------

def test_scoring_imports_only_numpy_and_the_standard_library(v1, v2):
    script = textwrap.dedent(f"""
        import sys
        import numpy
        before = set(sys.modules)
        import hdtweedie.scoring as scoring
        a = scoring.load_model({str(v1['path'])!r})
        b = scoring.load_model({str(v2['path'])!r})
        rec = {{"area": "C", "ncd": 2, "vehicle": "suv", "age": 40.0, "conviction": True}}
        p = a.predict([rec, dict(rec, area="A")], exposure=[0.5, 1.0])
        a.explain(rec)
        a.compare(rec, dict(rec, ncd=4), other=b)
        a.factor_table()
        new = {{m.split(".")[0] for m in set(sys.modules) - before}}
        outside = sorted(new - set(sys.stdlib_module_names) - {{"hdtweedie"}})
        assert not outside, outside
        assert not [m for m in sys.modules if m.split(".")[0] in ("sklearn", "scipy", "pandas")]
        print("ok", float(p[0]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ok")


# -- round trips -------------------------------------------------------------------------------

def test_round_trip_dense_inputs(dense):
    est, X, e, model = dense["est"], dense["X"], dense["exposure"], dense["model"]
    expected = est.predict(X, offset=np.log(e))
    np.testing.assert_allclose(model.predict(X, exposure=e), expected, rtol=RTOL, atol=0)
    columns = {f"x{j}": X[:, j] for j in range(X.shape[1])}
    np.testing.assert_allclose(model.predict(columns, exposure=e), expected, rtol=RTOL, atol=0)
    np.testing.assert_allclose(model.predict(X), est.predict(X, offset=0), rtol=RTOL, atol=0)
    assert model.estimator == "HDTweedie" and model.lambda_ == est.lambdas_[-1]
    np.testing.assert_array_equal(list(model.coefficients.values()), est.coef_)


def test_round_trip_factor_encoded_inputs(v1):
    df, e, model = v1["df"], v1["exposure"], v1["model"]
    expected = _estimator_predict(v1, df, e)
    encoded = pd.DataFrame(v1["X"], columns=v1["enc"].get_feature_names_out())  # pandas output
    for data in (df, _records(df), {c: df[c].to_numpy() for c in df.columns}, v1["X"], encoded):
        pred = model.predict(data, exposure=e)
        assert isinstance(pred, Prediction) and not pred.warnings
        np.testing.assert_allclose(pred, expected, rtol=RTOL, atol=0)
    # one record at a time: dict, Series, one-row frame
    for i in (0, 17, 2499):
        for record in (df.iloc[i].to_dict(), df.iloc[i], df.iloc[[i]]):
            got = float(model.predict(record, exposure=e[i]))
            assert got == pytest.approx(expected[i], rel=RTOL, abs=0)


def test_round_trip_without_exposure_and_with_exposure_column(v1):
    df, e, model = v1["df"], v1["exposure"], v1["model"]
    np.testing.assert_allclose(model.predict(df), v1["est"].predict(v1["X"], offset=0), rtol=RTOL, atol=0)
    with_col = df.assign(earned=e)
    np.testing.assert_allclose(model.predict(with_col, exposure="earned"),
                               _estimator_predict(v1, df, e), rtol=RTOL, atol=0)
    encoded = pd.DataFrame(v1["X"], columns=v1["enc"].get_feature_names_out()).assign(earned=e)
    np.testing.assert_allclose(model.predict(encoded, exposure="earned"),
                               _estimator_predict(v1, df, e), rtol=RTOL, atol=0)


def test_round_trip_cross_validated(tmp_path):
    from hdtweedie import HDTweedieCV

    df, exposure, y = _portfolio(1500, seed=21)
    enc = FactorEncoder(factors=["area", "ncd", "vehicle"])
    X = enc.fit_transform(df, sample_weight=exposure)
    cv = HDTweedieCV(power=1.5, groups=enc.groups_, n_lambdas=20, n_folds=3, random_state=0)
    cv.fit(X, y, offset=np.log(exposure))
    cv.export(tmp_path / "cv.json", encoder=enc)
    model = load_model(tmp_path / "cv.json")
    assert model.lambda_ == cv.lambda_ and model.document["lambda_rule"] == cv.select
    assert model.estimator == "HDTweedieCV"
    np.testing.assert_allclose(model.predict(df, exposure=exposure),
                               cv.predict(X, offset=np.log(exposure)), rtol=RTOL, atol=0)
    cv.export(tmp_path / "cv_min.json", s="lambda_min", encoder=enc)
    at_min = load_model(tmp_path / "cv_min.json")
    assert at_min.lambda_ == cv.lambda_min_ and at_min.document["lambda_rule"] == "lambda_min"
    np.testing.assert_allclose(at_min.predict(df), cv.predict(X, s="lambda_min", offset=0), rtol=RTOL, atol=0)


def _record_strategy(conviction=False):
    fields = {
        "area": st.sampled_from(AREAS),
        "ncd": st.integers(0, 5),
        "vehicle": st.sampled_from(VEHICLES),
        "age": st.floats(20, 78),
    }
    if conviction:
        fields["conviction"] = st.booleans()
    return st.fixed_dictionaries(fields)


@settings(max_examples=40, deadline=None)
@given(records=st.lists(_record_strategy(), min_size=1, max_size=20),
       exposure=st.floats(0.01, 5.0))
def test_round_trip_generated_records(v1, records, exposure):
    df = pd.DataFrame(records)
    e = np.full(len(df), exposure)
    np.testing.assert_allclose(v1["model"].predict(records, exposure=exposure),
                               _estimator_predict(v1, df, e), rtol=RTOL, atol=0)


# -- explain -----------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(record=_record_strategy(), exposure=st.floats(0.01, 5.0))
def test_explain_reconciles(v1, record, exposure):
    model = v1["model"]
    ex = model.explain(record, exposure=exposure)
    assert ex.base == pytest.approx(exposure * math.exp(model.intercept), rel=RTOL)
    product = ex.base * math.prod(c["relativity"] for c in ex.contributions)
    assert product == pytest.approx(ex.prediction, rel=RTOL, abs=0)
    assert ex.prediction == float(model.predict(record, exposure=exposure))
    assert ex.link == pytest.approx(model.intercept + math.fsum(c["link"] for c in ex.contributions),
                                    rel=RTOL, abs=RTOL)
    by_input = {c["input"]: c for c in ex.contributions}
    assert list(by_input) == ["area", "ncd", "vehicle", "age"]
    area = by_input["area"]
    assert area["level"] == record["area"]
    expected = 0.0 if record["area"] == v1["enc"].base_levels_["area"] \
        else model.coefficients[f"area={record['area']}"]
    assert area["link"] == expected and area["relativity"] == math.exp(expected)
    assert by_input["age"]["link"] == record["age"] * model.coefficients["age"]


def test_explain_of_a_design_row_matches_the_record(v1):
    model, df = v1["model"], v1["df"]
    from_record = model.explain(df.iloc[5].to_dict())
    from_row = model.explain(v1["X"][5])
    assert [c["level"] for c in from_row.contributions] == [c["level"] for c in from_record.contributions]
    for a, b in zip(from_row.contributions, from_record.contributions):
        assert a["link"] == pytest.approx(b["link"], rel=RTOL, abs=1e-15)
    assert from_row.prediction == pytest.approx(from_record.prediction, rel=RTOL)


def test_explain_output_forms(v1):
    ex = v1["model"].explain({"area": "D", "ncd": 0, "vehicle": "van", "age": 99.0}, exposure=0.5)
    text = str(ex)
    assert "base: exposure 0.5" in text and "prediction =" in text and "outside the training" in text
    as_json = json.loads(json.dumps(ex.to_dict()))
    assert as_json["base"]["exposure"] == 0.5 and len(as_json["contributions"]) == 4
    assert [w.kind for w in ex.warnings] == ["out_of_range"]
    with pytest.raises(ValueError, match="explain takes one record, got 3 rows"):
        v1["model"].explain(v1["df"].head(3))


# -- compare -----------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(a=_record_strategy(), b=_record_strategy(), ea=st.floats(0.05, 3.0), eb=st.floats(0.05, 3.0))
def test_compare_on_one_model_reconciles(v1, a, b, ea, eb):
    model = v1["model"]
    c = model.compare(a, b, exposure_a=ea, exposure_b=eb)
    pa = float(model.predict(a, exposure=ea))
    pb = float(model.predict(b, exposure=eb))
    assert (c.prediction_a, c.prediction_b) == (pa, pb)
    assert c.log_ratio == pytest.approx(math.log(pb / pa), abs=RTOL)
    assert math.fsum(x["link"] for x in c.input_attribution) == pytest.approx(c.log_ratio, abs=RTOL)
    assert c.input_part == pytest.approx(c.log_ratio, abs=RTOL)
    assert c.model_part == 0.0 and c.model_attribution == []
    differs = {k for k in a if a[k] != b[k]} | ({"exposure"} if ea != eb else set())
    assert {x["input"] for x in c.changed_inputs} == differs
    assert {x["input"] for x in c.input_attribution} == differs


@settings(max_examples=60, deadline=None)
@given(a=_record_strategy(conviction=True), b=_record_strategy(conviction=True),
       e=st.floats(0.05, 3.0))
def test_compare_across_model_versions_separates_inputs_and_model(v1, v2, a, b, e):
    old, new = v1["model"], v2["model"]
    c = old.compare(a, b, other=new, exposure_a=e)
    pa_old = float(old.predict(a, exposure=e))
    pb_old = float(old.predict(b, exposure=e))
    pb_new = float(new.predict(b, exposure=e))
    assert (c.prediction_a, c.prediction_b) == (pa_old, pb_new)
    assert c.input_part == pytest.approx(math.log(pb_old / pa_old), abs=RTOL)
    assert c.model_part == pytest.approx(math.log(pb_new / pb_old), abs=RTOL)
    assert c.input_part + c.model_part == pytest.approx(c.log_ratio, abs=RTOL)
    # the model part has a term for the intercept and for every input of either model,
    # including the factor only the new model uses
    assert [x["input"] for x in c.model_attribution] == \
        ["intercept", "area", "ncd", "vehicle", "age", "conviction"]
    conviction = c.model_attribution[-1]
    coef = new.coefficients.get("conviction=True", 0.0)
    assert conviction["link"] == (coef if b["conviction"] else 0.0)
    assert "Due to the model change from motor version 1 to motor version 2" in c.summary
    assert [x["input"] for x in c.input_attribution] == [x["input"] for x in c.changed_inputs]
    if c.changed_inputs:
        assert "Due to the input changes (scored on model motor version 1)" in c.summary
    if a["conviction"] != b["conviction"]:  # not an input of the old model: no input effect
        (conv,) = [x for x in c.input_attribution if x["input"] == "conviction"]
        assert conv["link"] == 0.0 and "conviction x1.000000 (not an input of this model)" in c.summary


def test_compare_same_record_on_two_models_is_the_model_change(v1, v2):
    record = {"area": "C", "ncd": 1, "vehicle": "suv", "age": 33.0, "conviction": False}
    c = v1["model"].compare(record, other=v2["model"])
    assert c.changed_inputs == [] and c.input_part == 0.0
    assert c.model_part == pytest.approx(c.log_ratio, abs=RTOL)
    assert "The inputs are the same." in c.summary
    assert json.loads(json.dumps(c.to_dict()))["ratio"] == c.ratio


def test_compare_errors(v1, v2):
    record = {"area": "C", "ncd": 1, "vehicle": "suv", "age": 33.0}
    with pytest.raises(ValueError, match="lack the input\\(s\\) \\['conviction'\\]"):
        v1["model"].compare(record, other=v2["model"])
    with pytest.raises(ValueError, match="exposure for record_a must be positive"):
        v1["model"].compare(record, exposure_a=0.0)
    with pytest.raises(TypeError, match="other must be a ScoringModel"):
        v1["model"].compare(record, other=v2["path"])


# -- warnings and errors while scoring --------------------------------------------------------

def test_out_of_range_inputs_are_scored_and_flagged(v1):
    model, df = v1["model"], v1["df"].head(6).copy()
    df.loc[df.index[[1, 4]], "age"] = [12.0, 120.0]
    with pytest.warns(ScoringInputWarning, match="age: 2 rows with a value outside the training range"):
        pred = model.predict(df)
    np.testing.assert_allclose(pred, v1["est"].predict(v1["enc"].transform(df), offset=0), rtol=RTOL)
    (issue,) = pred.warnings
    assert issue.kind == "out_of_range" and issue.input == "age" and issue.scored
    assert issue.rows.tolist() == [1, 4]
    assert pred.flagged.tolist() == [False, True, False, False, True, False]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model.predict(df, warn=False).warnings  # still in the result, no Python warning


def test_unseen_levels(v1, tmp_path):
    model, df = v1["model"], v1["df"].head(4).copy()
    df.loc[df.index[2], "vehicle"] = "tractor"
    with pytest.raises(ValueError, match="vehicle: 1 row with a level not seen in training \\('tractor'\\)"):
        model.predict(df)
    with pytest.warns(ScoringInputWarning):
        flagged = model.predict(df, errors="flag")
    assert np.isnan(flagged[2]) and np.all(np.isfinite(flagged.values[[0, 1, 3]]))
    assert flagged.flagged.tolist() == [False, False, True, False]
    assert not flagged.warnings[0].scored
    with pytest.warns(ScoringInputWarning, match="scored at the base level"):
        as_base = model.predict(df, unknown="base")
    base_row = df.copy()
    base_row.loc[base_row.index[2], "vehicle"] = v1["enc"].base_levels_["vehicle"]
    np.testing.assert_allclose(as_base, model.predict(base_row), rtol=RTOL)
    # an encoder fitted with handle_unknown="base" exports that policy
    lenient = _fit_encoded(tmp_path / "lenient.json", seed=11, handle_unknown="base")
    with pytest.warns(ScoringInputWarning, match="scored at the base level"):
        pred = lenient["model"].predict(df)
    assert pred.warnings[0].kind == "unseen_level"


def test_missing_and_nan_values(v1):
    model = v1["model"]
    record = {"area": "C", "ncd": 1, "vehicle": "suv", "age": 33.0}
    with pytest.raises(ValueError, match=r"records lack the input\(s\) \['vehicle'\]"):
        model.predict({k: v for k, v in record.items() if k != "vehicle"})
    with pytest.raises(ValueError, match="age: 1 row with a missing or NaN value"):
        model.predict(dict(record, age=float("nan")))
    with pytest.raises(ValueError, match="area: 1 row with a missing value"):
        model.predict(dict(record, area=None))
    pred = model.predict([record, dict(record, age=None)], errors="flag", warn=False)
    assert np.isfinite(pred[0]) and np.isnan(pred[1])
    X = v1["X"][:3].copy()
    X[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite entry in the design matrix"):
        model.predict(X)
    with pytest.raises(TypeError, match="input 'age' must be numeric"):
        model.predict(dict(record, age="old"))
    with pytest.raises(ValueError, match="design matrix must have 13 columns"):
        model.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match="errors must be 'raise' or 'flag'"):
        model.predict(record, errors="ignore")


def test_invalid_exposure(v1):
    model = v1["model"]
    records = _records(v1["df"].head(3))
    with pytest.raises(ValueError, match="exposure: 1 row with negative, NaN or infinite exposure"):
        model.predict(records, exposure=[1.0, -0.5, 1.0])
    with pytest.raises(ValueError, match="exposure: 1 row"):
        model.predict(records, exposure=[1.0, 1.0, np.nan])
    pred = model.predict(records, exposure=[1.0, -0.5, 1.0], errors="flag", warn=False)
    assert np.isnan(pred[1]) and pred.warnings[0].kind == "invalid_exposure"
    with pytest.raises(ValueError, match="exposure: expected 3 values"):
        model.predict(records, exposure=[1.0, 2.0])
    with pytest.raises(ValueError, match="exposure: no column 'earned'"):
        model.predict(records, exposure="earned")
    assert float(model.predict(records[0], exposure=0.0)) == 0.0


def test_design_rows_that_are_not_one_hot_are_flagged(v1):
    X = v1["X"][:2].copy()
    area = [i for i, g in enumerate(v1["enc"].groups_) if g == "area"]
    X[0, area] = 1.0
    with pytest.warns(ScoringInputWarning, match="not a one-hot level"):
        pred = v1["model"].predict(X)
    assert pred.flagged.tolist() == [True, False]
    np.testing.assert_allclose(pred, v1["est"].predict(X, offset=0), rtol=RTOL)


# -- loading -----------------------------------------------------------------------------------

def _rewrite(path, doc, rehash=True):
    if rehash:
        doc["sha256"] = content_hash(doc)
    path.write_text(json.dumps(doc, indent=2))
    return path


def test_corrupted_and_mismatched_files_are_refused(v1, tmp_path):
    text = v1["path"].read_text()
    doc = json.loads(text)

    tampered = tmp_path / "tampered.json"
    feature = doc["features"][1]
    edited = json.loads(text)
    edited["coefficients"][feature] = doc["coefficients"][feature] + 1e-9
    _rewrite(tampered, edited, rehash=False)
    with pytest.raises(ModelFileError, match="failed its integrity check.*changed after export"):
        load_model(tampered)

    truncated = tmp_path / "truncated.json"
    truncated.write_text(text[: len(text) // 2])
    with pytest.raises(ModelFileError, match="not valid JSON \\(truncated or corrupted\\?\\)"):
        load_model(truncated)

    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ModelFileError, match="not UTF-8"):
        load_model(binary)

    with pytest.raises(ModelFileError, match="cannot read model file"):
        load_model(tmp_path / "nowhere.json")

    with pytest.raises(ModelFileError, match="must hold a JSON object"):
        load_model(_rewrite(tmp_path / "list.json", [1, 2], rehash=False))

    with pytest.raises(ModelFileError, match="is not an hdtweedie model file"):
        load_model(_rewrite(tmp_path / "other.json", dict(doc, format="something-else")))

    with pytest.raises(ModelFileError, match="schema version '2.0'; this scorer reads version 1.x"):
        load_model(_rewrite(tmp_path / "future.json", dict(doc, schema_version="2.0")))

    no_power = {k: v for k, v in doc.items() if k != "power"}
    with pytest.raises(ModelFileError, match="does not match the schema: \\$: missing required key 'power'"):
        load_model(_rewrite(tmp_path / "nopower.json", no_power))

    missing_factor = json.loads(text)
    missing_factor["inputs"] = [i for i in missing_factor["inputs"] if i["name"] != "vehicle"]
    with pytest.raises(ModelFileError, match="inputs must use every feature exactly once"):
        load_model(_rewrite(tmp_path / "nofactor.json", missing_factor))

    nan_file = tmp_path / "nan.json"
    nan_file.write_text(text.replace(f'"intercept": {doc["intercept"]!r}', '"intercept": NaN'))
    with pytest.raises(ModelFileError, match="non-standard JSON number NaN"):
        load_model(nan_file)

    dup = tmp_path / "dup.json"
    dup.write_text(text.replace('"link": "log",', '"link": "log", "link": "log",'))
    with pytest.raises(ModelFileError, match="duplicate key 'link'"):
        load_model(dup)

    huge = tmp_path / "huge.json"
    huge.write_text(text.replace(f'"intercept": {doc["intercept"]!r}', '"intercept": 1e999'))
    with pytest.raises(ModelFileError, match="non-finite number"):
        load_model(huge)


def test_loaded_model_attributes(v1):
    model, est = v1["model"], v1["est"]
    assert (model.model_id, model.version) == ("motor", "1")
    assert model.intercept == est.intercept_ and model.power == 1.5
    assert model.input_names == ["area", "ncd", "vehicle", "age"]
    assert model.feature_names == list(v1["enc"].get_feature_names_out())
    assert model.sha256 == json.loads(v1["path"].read_text())["sha256"]
    assert "motor" in repr(model)
    with pytest.raises(TypeError, match="load_model"):
        ScoringModel()


# -- factor tables -----------------------------------------------------------------------------

def test_factor_table(v1, tmp_path):
    model, enc = v1["model"], v1["enc"]
    path = tmp_path / "factors.csv"
    rows = model.factor_table(path)
    assert rows[0] == {"Factor": "(intercept)", "Level": "", "Relativity": math.exp(model.intercept)}
    body = rows[1:]
    n_levels = sum(len(v) for v in enc.levels_.values())
    assert len(body) == n_levels + len(enc.numeric_)
    for row in body:
        factor, level = row["Factor"], row["Level"]
        if factor in enc.levels_:
            if level == enc.base_levels_[factor]:
                assert row["Relativity"] == 1.0
            else:
                assert row["Relativity"] == math.exp(model.coefficients[f"{factor}={level}"])
        else:
            assert level == "per unit" and row["Relativity"] == math.exp(model.coefficients[factor])
    assert [r["Level"] for r in body if r["Factor"] == "ncd"] == ["0", "1", "2", "3", "4", "5"]
    with open(path, newline="") as fh:
        read = list(csv.DictReader(fh))
    assert list(read[0]) == ["Factor", "Level", "Relativity"]
    assert [(r["Factor"], r["Level"], float(r["Relativity"])) for r in read] == \
        [(r["Factor"], r["Level"], r["Relativity"]) for r in rows]  # exact through the CSV text
    assert model.factor_table(include_base=False) == body


def test_factor_table_reproduces_a_prediction(v1):
    model = v1["model"]
    record = {"area": "D", "ncd": 3, "vehicle": "estate", "age": 50.0}
    table = {(r["Factor"], r["Level"]): r["Relativity"] for r in model.factor_table()}
    rating = table[("(intercept)", "")] * table[("area", "D")] * table[("ncd", "3")] \
        * table[("vehicle", "estate")] * table[("age", "per unit")] ** 50.0
    assert rating == pytest.approx(float(model.predict(record)), rel=1e-12)


def test_prediction_behaves_like_an_array(v1):
    pred = v1["model"].predict(v1["df"].head(3))
    assert len(pred) == 3 and np.asarray(pred).shape == (3,) and list(pred) == list(pred.values)
    assert pred.link == pytest.approx(np.log(pred.values), rel=RTOL)
    assert "Prediction(" in repr(pred)
    with pytest.raises(TypeError, match="only a single prediction"):
        float(pred)

"""One plain record scored without the batch machinery gives exactly what the batch path gives."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signoff_models import fixture_document, write_document

from hdtweedie.scoring import ScoringInputWarning, compose_models, load_model
from hdtweedie.scoring._bands import band_labels
from hdtweedie.scoring._format import schema_version_for

EDGES = [17.0, 25.0, 40.0, 60.0, 100.0]
OMIT = object()


def _document(seed: int, handle_unknown: str, missing: str, model_id: str = "record") -> dict:
    """Factors with merged levels, a missing level and bands; numeric inputs; four interactions."""
    rng = np.random.default_rng(seed)
    doc = fixture_document()
    doc.update(model_id=model_id, intercept=float(rng.normal(-1.0, 0.3)))
    bands = band_labels(EDGES)
    coefs, features = {}, []

    def feature(name, value):
        features.append(name)
        coefs[name] = float(value)
        return name

    area = {"kind": "factor", "name": "area", "levels": ["A", "B", "C", "D"], "base_level": "A",
            "features": {lv: feature(f"area={lv}", rng.normal(0, 0.3)) for lv in "BCD"},
            "handle_unknown": handle_unknown, "merged": {"E": "D", "F": "B", "7": "C"}}
    ncd_levels = ["0", "1", "2", "3"] + (["(missing)"] if missing == "level" else [])
    ncd = {"kind": "factor", "name": "ncd", "levels": ncd_levels, "base_level": "0",
           "features": {lv: feature(f"ncd={lv}", rng.normal(0, 0.3)) for lv in ncd_levels[1:]},
           "handle_unknown": handle_unknown}
    if missing != "none":
        ncd["missing_level"] = "(missing)"  # "absent": not a level, so missing values are unseen
    age_levels = bands + (["(missing)"] if missing == "level" else [])
    age = {"kind": "factor", "name": "driver_age", "levels": age_levels, "base_level": bands[1],
           "features": {lv: feature(f"driver_age={lv}", rng.normal(0, 0.3)) for lv in age_levels
                        if lv != bands[1]},
           "handle_unknown": handle_unknown, "bands": {"edges": EDGES, "min": 18.0, "max": 95.0}}
    if missing != "none":
        age["missing_level"] = "(missing)"
    colour = {"kind": "factor", "name": "colour", "levels": ["Red", "Blue"], "base_level": "Red",
              "features": {"Blue": feature("colour=Blue", 0.0)}, "handle_unknown": "error"}
    value = {"kind": "numeric", "name": "vehicle_value",
             "feature": feature("vehicle_value", rng.normal(0, 0.02)), "min": 2, "max": 60.5}
    noise = {"kind": "numeric", "name": "noise", "feature": feature("noise", 0.0), "min": None, "max": None}
    cells = {"kind": "interaction", "name": "area:ncd", "of": ["area", "ncd"],
             "features": {a: {n: feature(f"area={a}:ncd={n}", rng.normal(0, 0.2) * (rng.random() < 0.7))
                              for n in ncd_levels[1:]} for a in "BCD"}}
    slopes = {"kind": "interaction", "name": "vehicle_value:driver_age",
              "of": ["vehicle_value", "driver_age"],
              "features": {lv: feature(f"vehicle_value:driver_age={lv}", rng.normal(0, 0.01))
                           for lv in age_levels if lv != bands[1]}}
    lines = {"kind": "interaction", "name": "area:vehicle_value", "of": ["area", "vehicle_value"],
             "features": {a: feature(f"area={a}:vehicle_value", rng.normal(0, 0.01)) for a in "BCD"}}
    idle = {"kind": "interaction", "name": "colour:noise", "of": ["colour", "noise"],
            "features": {"Blue": feature("colour=Blue:noise", 0.0)}}
    doc.update(features=features, coefficients=coefs,
               inputs=[area, ncd, age, colour, value, noise, cells, slopes, lines, idle])
    doc["schema_version"] = schema_version_for(doc)
    return doc


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("record")
    out = []
    for k, (policy, missing) in enumerate([("error", "level"), ("base", "absent"), ("base", "none")]):
        out.append(load_model(write_document(_document(k, policy, missing), folder / f"m{k}.json")))
    return out


@pytest.fixture(scope="module")
def composite(tmp_path_factory, models):
    folder = tmp_path_factory.mktemp("composite")
    severity = load_model(write_document(_document(7, "base", "level", "severity"), folder / "sev.json"))
    return compose_models(folder / "pure.json", models[1], severity)


def _anything():
    return st.one_of(st.none(), st.booleans(), st.integers(-10 ** 20, 10 ** 20), st.text(max_size=4),
                     st.floats(allow_nan=True, allow_infinity=True))


def _level(levels):
    return st.one_of(st.sampled_from(levels), st.sampled_from(levels), _anything())


def _number():
    return st.one_of(st.floats(-5, 120), st.integers(-5, 120), st.floats(-1e5, 1e5),
                     st.sampled_from([17.0, 25.0, 39.99999999999999, 40.0, 60.0, 100.0, -0.0, 2, 60.5]),
                     _anything(), st.sampled_from(["30", "abc", "1e400"]))


def _optional(strategy):
    return st.one_of(strategy, strategy, strategy, st.just(OMIT))


MESSY = st.fixed_dictionaries({
    "area": _optional(_level(["A", "B", "C", "D", "E", "F", "7", 7, 7.0, "Z"])),
    "ncd": _optional(_level(["0", "1", "2", "3", 0, 1, 2.0, 3, "(missing)", "9"])),
    "driver_age": _optional(_number()),
    "colour": _optional(_level(["Red", "Blue", "Green"])),
    "vehicle_value": _optional(_number()),
    "noise": _optional(_number()),
    "policy_id": _optional(st.text(max_size=3)),
    "expo": _optional(st.floats(0, 3)),
}).map(lambda r: {k: v for k, v in r.items() if v is not OMIT})
CLEAN = st.fixed_dictionaries({
    "area": st.sampled_from(["A", "B", "C", "D", "E", "F", "7", 7]),
    "ncd": st.sampled_from(["0", "1", "2", "3", 0, 1, 2.0, 3]),
    "driver_age": st.one_of(st.floats(17, 99), st.integers(18, 95),
                            st.sampled_from([17.0, 25.0, 39.99999999999999, 40.0, 60, 100.0])),
    "colour": _optional(st.sampled_from(["Red", "Blue"])),
    "vehicle_value": st.one_of(st.floats(2, 60.5), st.integers(2, 60), st.floats(-1e3, 1e3)),
    "noise": _optional(st.floats(-10, 10)),
    "expo": st.floats(0, 3),
}).map(lambda r: {k: v for k, v in r.items() if v is not OMIT})
# a clean record, one with a single odd field, or anything
RECORDS = st.one_of(
    CLEAN,
    st.tuples(CLEAN, MESSY, st.sampled_from(["area", "ncd", "driver_age", "colour", "vehicle_value",
                                             "noise"]))
    .map(lambda t: {**{k: v for k, v in t[0].items() if k != t[2]},
                    **({t[2]: t[1][t[2]]} if t[2] in t[1] else {})}),
    MESSY,
)
EXPOSURES = st.one_of(st.none(), st.floats(0, 5), st.floats(0, 5), st.integers(0, 3), st.just("expo"),
                      st.sampled_from([-1.0, math.nan, math.inf, True, 1e308]))
UNKNOWN = st.sampled_from([None, "error", "base"])


def _bits(x):
    """A float by its bits (NaN and -0.0 included), anything else as itself."""
    return ("float", float(x).hex()) if isinstance(x, (float, np.floating)) else (type(x).__name__, x)


def _issues(issues):
    return [(i.kind, i.input, i.rows.tolist(), i.message, i.scored) for i in issues]


def _explained(x):
    rows = [tuple((k, _bits(v)) for k, v in c.items()) for c in x.contributions]
    return (rows, _bits(x.link), _bits(x.prediction), _bits(x.exposure), _bits(x.base), _bits(x.intercept),
            _issues(x.warnings))


def _outcome(call):
    """The result of ``call`` or the exception it raises (type and message)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScoringInputWarning)
        try:
            return call()
        except (ValueError, TypeError, OverflowError) as exc:
            return (type(exc).__name__, str(exc))


def _predicted(p):
    if isinstance(p, tuple):
        return p
    return ([v.hex() for v in p.values.tolist()], [v.hex() for v in p.link.tolist()],
            [v.hex() for v in p.exposure.tolist()], p.flagged.tolist(), _issues(p.warnings))


def _assert_same_explain(model, record, exposure, unknown) -> tuple:
    """Explain of ``record`` and of the one-row batch ``[record]``: the same outcome; returns both."""
    one = _outcome(lambda: model.explain(record, exposure, unknown=unknown))
    batch = _outcome(lambda: model.explain([record], exposure, unknown=unknown))
    assert type(one) is type(batch)
    if isinstance(one, tuple):
        assert one == batch
    else:
        assert _explained(one) == _explained(batch)
    return one, batch


SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(record=RECORDS, exposure=EXPOSURES, unknown=UNKNOWN, which=st.integers(0, 2))
def test_explain_of_a_record_is_the_batch_explain_of_one_row(models, record, exposure, unknown, which):
    model = models[which]
    _assert_same_explain(model, record, exposure, unknown)


@SETTINGS
@given(record=RECORDS, exposure=EXPOSURES, unknown=UNKNOWN, which=st.integers(0, 2),
       errors=st.sampled_from(["raise", "flag"]))
def test_predict_of_a_record_is_the_batch_predict_of_one_row(models, record, exposure, unknown, which,
                                                             errors):
    model = models[which]
    one = _outcome(lambda: model.predict(record, exposure, unknown=unknown, errors=errors))
    columns = {k: [v] for k, v in record.items()}
    batch = _outcome(lambda: model.predict(columns, exposure, unknown=unknown, errors=errors))
    assert _predicted(one) == _predicted(batch)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=RECORDS, exposure=EXPOSURES, unknown=UNKNOWN)
def test_composite_explain_and_predict_of_a_record_match_one_row(composite, record, exposure, unknown):
    one, batch = _assert_same_explain(composite, record, exposure, unknown)
    if not isinstance(one, tuple):
        assert [_explained(p) for p in one.parts.values()] == [_explained(p) for p in batch.parts.values()]
    p_one = _outcome(lambda: composite.predict(record, exposure, unknown=unknown, errors="flag"))
    p_batch = _outcome(lambda: composite.predict([record], exposure, unknown=unknown, errors="flag"))
    assert _predicted(p_one) == _predicted(p_batch)


GOOD = {"area": "E", "ncd": 2, "driver_age": 33.5, "colour": "Blue", "vehicle_value": 12, "noise": 1.0}


@pytest.mark.parametrize("change", [
    {}, {"area": "F"}, {"ncd": "3"}, {"driver_age": 99.0}, {"driver_age": 17}, {"driver_age": -math.inf},
    {"vehicle_value": 75.0}, {"area": "Z"}, {"noise": math.nan}, {"colour": None}, {"colour": 3.5},
])
def test_ordinary_records_take_the_record_path(models, change):
    # the base-policy model scores unseen levels with a caveat: still the record path
    plan = models[1]._engine.record
    assert plan.score({**GOOD, **change}, 1.0, None) is not None


@pytest.mark.parametrize("record, exposure", [
    ({**GOOD, "vehicle_value": "12"}, None), ({**GOOD, "vehicle_value": math.nan}, None),
    ({**GOOD, "vehicle_value": True}, None), ({**GOOD, "driver_age": "30"}, None),
    ({k: v for k, v in GOOD.items() if k != "area"}, None), ({**GOOD, "area": ["E"]}, None),
    ({**GOOD, "ncd": np.int64(2)}, None), (GOOD, "expo"), (GOOD, -1.0), (GOOD, True), (GOOD, 10 ** 30),
    ({**GOOD, "area": "Z"}, 1.0),
])
def test_unusual_records_take_the_batch_path(models, record, exposure):
    assert models[0]._engine.record.score(record, exposure, None) is None


def test_the_caveats_of_a_record_are_the_batch_caveats(models):
    record = {**GOOD, "area": "Z", "driver_age": 120, "vehicle_value": 75.0}
    with pytest.warns(ScoringInputWarning) as one:
        p = models[1].predict(record)
    with pytest.warns(ScoringInputWarning) as batch:
        q = models[1].predict([record])
    assert [str(w.message) for w in one] == [str(w.message) for w in batch]
    assert [i.kind for i in p.warnings] == ["unseen_level", "out_of_range", "out_of_range"]
    assert _predicted(p) == _predicted(q)
    assert p.flagged.tolist() == [True]


def test_a_record_that_cannot_be_scored_raises_the_batch_error(models):
    with pytest.raises(ValueError, match=r"area: 1 row with a level not seen in training \('Z'\)"):
        models[0].explain({**GOOD, "area": "Z"})
    with pytest.raises(TypeError, match="input 'vehicle_value' must be numeric, got 'abc' at row 0"):
        models[0].explain({**GOOD, "vehicle_value": "abc"})

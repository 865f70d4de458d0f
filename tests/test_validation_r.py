"""hdtweedie against the R HDtweedie reference fits (validation/reference).

The comparisons are the ones of ``python -m validation``: this module loads
``validation/compare.py`` from its path and asserts its checks, one test per
case and per kind of output (path, interpolated coefficients, CV loss, error).
"""

import importlib.util
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
VALIDATION = ROOT / "validation"


def _load_compare():
    # By path, the way other tools load it; no need for the repository on sys.path.
    spec = importlib.util.spec_from_file_location("_hdtweedie_validation_compare",
                                                  VALIDATION / "compare.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


compare = _load_compare()

PUBLIC_DIRS = sorted(p for p in compare.DEFAULT_REFERENCE.iterdir() if (p / "params.json").is_file())
# The auto_* cases may only be read from the shared folder, which may be absent.
AUTO_NAMES = ["auto_grouped_enet", "auto_lasso"]
if compare.DEFAULT_SHARED.is_dir():
    AUTO_NAMES = sorted(set(AUTO_NAMES) | {p.name for p in compare.DEFAULT_SHARED.glob("auto_*")})

def _meta(path):
    return json.loads((path / "params.json").read_text())


def _is_error(path):
    return "error" in json.loads((path / "fit.json").read_text())


def _params(filter_fn, with_auto=True):
    out = []
    for d in PUBLIC_DIRS:
        if filter_fn(d):
            out.append(pytest.param(d, id=d.name))
    if with_auto:
        for name in AUTO_NAMES:
            d = compare.DEFAULT_SHARED / name
            if d.is_dir() and not filter_fn(d):
                continue
            out.append(pytest.param(d, id=name, marks=pytest.mark.skipif(
                not d.is_dir(), reason=f"{d} (shared R outputs) not present")))
    return out


def _cv_params():
    out = []
    for d in PUBLIC_DIRS:
        if (d / "cv.json").is_file():
            cv = {compare._norm_key(k): v for k, v in _meta(d)["cv"].items()}
            for loss in cv["pred.loss"]:
                # grouped_motor (20000 x 22, six fits) takes about 15 s: kept in the fast run.
                out.append(pytest.param(d, loss, id=f"{d.name}-{loss}"))
    for name in AUTO_NAMES:
        d = compare.DEFAULT_SHARED / name
        if d.is_dir():
            cv = {compare._norm_key(k): v for k, v in (_meta(d).get("cv") or {}).items()}
            for loss in cv.get("pred.loss", []):
                out.append(pytest.param(d, loss, id=f"{name}-{loss}"))
    return out


_CASES = {}
_FITS = {}


def _case(path):
    if path not in _CASES:
        _CASES[path] = compare.load_case(path)
    return _CASES[path]


def _fit(path):
    # Path and interpolation tests share one fit per case.
    if path not in _FITS:
        _FITS[path] = compare.fit_path(_case(path))
    return _FITS[path]


def _assert_checks(checks):
    failures = compare._failures(checks)
    assert not failures, "\n".join(failures)


# --------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------
def test_project_reference_holds_synthetic_cases_only():
    assert PUBLIC_DIRS, "validation/reference holds no case"
    names = [p.name for p in compare.DEFAULT_REFERENCE.iterdir()]
    assert not [n for n in names if n.startswith("auto_")]
    for d in PUBLIC_DIRS:
        assert (d / "fit.json").is_file() and (d / "x.csv.gz").is_file(), d.name


@pytest.mark.parametrize("path", _params(lambda d: True))
def test_case_inputs_consistent(path):
    case = _case(path)
    n, p = case.X.shape
    assert case.y.shape == (n,)
    for vec in (case.sample_weight, case.fold_ids):
        assert vec is None or vec.shape == (n,)
    assert case.groups is None or case.groups.shape == (p,)
    compare.estimator_params(case)  # every R argument is mapped


# --------------------------------------------------------------------------
# Comparisons with R
# --------------------------------------------------------------------------
@pytest.mark.parametrize("path", _params(lambda d: not _is_error(d)))
def test_path_matches_r(path):
    """Lambdas, intercepts, coefficients, df, passes, status, warning."""
    _assert_checks(compare.compare_path(_case(path), _fit(path)))


@pytest.mark.parametrize("path", _params(lambda d: (d / "coef_s.json").is_file()))
def test_interpolated_coefficients_match_r(path):
    outcome = _fit(path)
    assert outcome["estimator"] is not None, f"fit raised {outcome['exception']!r}"
    _assert_checks(compare.compare_coef_s(_case(path), outcome["estimator"]))


@pytest.mark.parametrize("path", _params(_is_error, with_auto=False))
def test_rejected_input_raises_value_error(path):
    _assert_checks(compare.compare_error(_case(path), _fit(path)))


@pytest.mark.parametrize(("path", "loss"), _cv_params())
def test_cv_matches_r(path, loss):
    """cvm, cvsd, lambda_min, lambda_1se and coefficients there, with R's folds."""
    res = compare.compare_cv(_case(path), loss)
    _assert_checks(res["checks"])


# --------------------------------------------------------------------------
# The harness itself
# --------------------------------------------------------------------------
def test_max_rel_diff_is_relative_above_one_absolute_below():
    assert compare.max_rel_diff([1000.0 + 1e-3], [1000.0]) == pytest.approx(1e-6)
    assert compare.max_rel_diff([1e-3 + 1e-9], [1e-3]) == pytest.approx(1e-9)
    assert compare.max_rel_diff([], []) == 0.0


def test_max_rel_diff_missing_values_and_shapes():
    assert compare.max_rel_diff([np.nan, 1.0], [np.nan, 1.0]) == 0.0
    assert math.isinf(compare.max_rel_diff([np.nan, 1.0], [2.0, 1.0]))
    assert math.isinf(compare.max_rel_diff([1.0, 2.0], [1.0, 2.0, 3.0]))
    assert compare.max_rel_diff([np.inf], [np.inf]) == 0.0


def test_params_accept_dots_and_underscores_and_reject_unknown(tmp_path):
    src = compare.DEFAULT_REFERENCE / "user_lambda_pf"
    case = compare.load_case(src)
    case.r_params = {compare._norm_key(k): v for k, v in
                     {"p": 1.2, "lambda_factor": 0.01, "nlambda": 30.0, "maxit": 1e4,
                      "eps": 1e-7, "standardize": True, "dfmax": 4, "pmax": 5,
                      "alpha": 0.5}.items()}
    kw = compare.estimator_params(case)
    assert kw["power"] == 1.2 and kw["lambda_min_ratio"] == 0.01
    assert kw["n_lambdas"] == 30 and isinstance(kw["n_lambdas"], int)
    assert kw["max_iter"] == 10000 and kw["tol"] == 1e-7 and kw["standardize"] is True
    assert kw["dfmax"] == 4 and kw["pmax"] == 5 and kw["alpha"] == 0.5
    assert kw["groups"].tolist() == case.groups.tolist()
    assert kw["penalty_factor"].tolist() == case.penalty_factor.tolist()
    assert sorted(kw["lambdas"]) == sorted(case.lambdas)
    case.r_params = {"intercept": True}
    with pytest.raises(ValueError, match="intercept"):
        compare.estimator_params(case)


def _tampered_copy(tmp_path, name="user_lambda_pf"):
    dst = tmp_path / name
    shutil.copytree(compare.DEFAULT_REFERENCE / name, dst)
    fit = json.loads((dst / "fit.json").read_text())
    fit["beta"][10][2] += 1e-6
    fit["npasses"] += 1
    (dst / "fit.json").write_text(json.dumps(fit))
    return dst


def test_runner_reports_a_tampered_reference(tmp_path):
    dst = _tampered_copy(tmp_path)
    out = tmp_path / "report.md"
    code = compare.main(["--reference", str(tmp_path), "--no-shared", "--out", str(out)])
    assert code == 1
    text = out.read_text()
    assert "**FAIL**" in text
    assert "coef: max rel diff 1.000e-06" in text
    assert "feature 2, lambda 10" in text
    assert "passes: ours 281, R 282" in text
    rec = compare.compare_case(dst)
    assert not rec["passed"] and rec["passes"] == (281, 282)


def test_runner_passes_untampered_case_and_writes_report(tmp_path):
    out = tmp_path / "r.md"
    code = compare.main(["--case", "user_lambda_pf", "--no-shared", "--out", str(out)])
    assert code == 0
    assert "| user_lambda_pf | 25/25 |" in out.read_text()


def test_unknown_case_is_a_usage_error(tmp_path):
    assert compare.main(["--case", "no_such_case", "--no-shared",
                         "--out", str(tmp_path / "r.md")]) == 2


def test_module_entry_point_runs_from_repository_root(tmp_path):
    out = tmp_path / "r.md"
    proc = subprocess.run(
        [sys.executable, "-m", "validation", "--case", "error_negative_y", "--case",
         "dfmax_stop", "--no-shared", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = out.read_text()
    assert "| dfmax_stop | 8/8 |" in text and "error_negative_y" in text
    assert text.strip() in proc.stdout


def test_script_entry_point_loads_runner():
    # run.py shares main() with the module entry point; --help checks it loads as a script.
    proc = subprocess.run([sys.executable, str(VALIDATION / "run.py"), "--help"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "python validation/run.py" in proc.stdout and "--reference" in proc.stdout

"""Compare hdtweedie fits with reference outputs of the R package HDtweedie.

Each reference case is a folder holding the inputs of one R fit (``x.csv.gz``,
``y.csv``, optional ``weights.csv``, ``group.csv``, ``pf.csv``, ``lambda.csv``,
``foldid.csv`` and ``params.json``) and what R returned (``fit.json``, and
optionally ``cv.json`` and ``coef_s.json``).  :func:`compare_case` refits the
case with :class:`hdtweedie.HDTweedie` (and :class:`hdtweedie.HDTweedieCV` for
every cross-validation loss listed) and measures the differences;
:func:`run_all` does that for every case of one or more folders and
:func:`format_report` renders the result as Markdown.

This module depends on numpy, hdtweedie and the standard library only and uses
no relative imports, so it can be imported as ``validation.compare`` from the
repository root or loaded from its file path (``importlib``) by other tools.

Differences are measured as ``max |ours - R| / max(1, |R|)`` over all entries.
"""

import argparse
import gzip
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

__all__ = [
    "TOL",
    "PARAM_MAP",
    "DEFAULT_REFERENCE",
    "DEFAULT_SHARED",
    "ReferenceCase",
    "max_rel_diff",
    "discover_cases",
    "load_case",
    "estimator_params",
    "fit_path",
    "compare_path",
    "compare_coef_s",
    "compare_cv",
    "compare_error",
    "compare_case",
    "run_all",
    "format_report",
    "main",
]

#: Tolerance on the relative differences (lambdas, coefficients, CV curves).
TOL = 1e-8

#: R argument of ``HDtweedie()`` -> hdtweedie parameter name.
PARAM_MAP = {
    "p": "power",
    "alpha": "alpha",
    "nlambda": "n_lambdas",
    "lambda.factor": "lambda_min_ratio",
    "dfmax": "dfmax",
    "pmax": "pmax",
    "standardize": "standardize",
    "maxit": "max_iter",
    "eps": "tol",
}
_INT_PARAMS = {"n_lambdas", "dfmax", "pmax", "max_iter"}

_HERE = Path(__file__).resolve().parent
#: Synthetic reference cases shipped with the project.
DEFAULT_REFERENCE = _HERE / "reference"
#: Folder of the shared R outputs; only its ``auto_*`` cases are used by default.
DEFAULT_SHARED = _HERE.parent.parent / "shared" / "r-reference"

# Warnings that say nothing about the fit itself.
_IGNORED_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


# --------------------------------------------------------------------------
# Reading a case
# --------------------------------------------------------------------------
def _norm_key(key):
    """R arguments may be written ``lambda.factor`` or ``lambda_factor``."""
    return str(key).replace("_", ".")


def _to_float(value):
    """JSON number, null or R's "NA"/"NaN"/"Inf" strings -> float."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        text = value.strip()
        table = {"NA": math.nan, "NaN": math.nan, "Inf": math.inf, "-Inf": -math.inf}
        if text in table:
            return table[text]
        return float(text)
    return float(value)


def _as_array(value, ndim=1):
    """JSON list (possibly a length-1 vector written as a scalar) -> float array."""
    if ndim == 1:
        if not isinstance(value, list):
            value = [value]
        return np.array([_to_float(v) for v in value], dtype=float)
    if not isinstance(value, list):
        value = [[value]]
    rows = [_as_array(v, 1) for v in value]
    if not rows:
        return np.empty((0, 0))
    return np.vstack(rows)


def _read_vector(path):
    """One number per line; a non-numeric first line is taken as a header."""
    tokens = Path(path).read_text().split()
    if tokens:
        try:
            _to_float(tokens[0].strip('"'))
        except ValueError:
            tokens = tokens[1:]
    return np.array([_to_float(t.strip('"')) for t in tokens], dtype=float)


def _read_matrix(path):
    """``x.csv.gz``: a header row of column names, then one row per observation."""
    with gzip.open(path, "rt") as fh:
        header = fh.readline().strip()
        names = [name.strip().strip('"') for name in header.split(",")]
        X = np.loadtxt(fh, delimiter=",", dtype=float, ndmin=2)
    if X.shape[1] != len(names):
        raise ValueError(
            f"{path}: header names {len(names)} columns but rows have {X.shape[1]}"
        )
    return np.asfortranarray(X), names


class ReferenceCase:
    """Inputs and R outputs of one reference folder.

    Attributes
    ----------
    name, path : str, Path
    X : ndarray of shape (n_samples, n_features)
    feature_names : list of str
    y, sample_weight, groups, penalty_factor, lambdas, fold_ids : ndarray or None
    r_params : dict
        The ``params`` entry of ``params.json`` with keys normalised to R's
        dotted spelling.
    cv_losses : list of str
        The ``pred.loss`` values R was run with (empty when there is no CV).
    fit_ref, cv_ref, coef_s_ref : dict or None
        Parsed ``fit.json``, ``cv.json`` and ``coef_s.json``.
    """

    def __init__(self, path):
        path = Path(path)
        self.path = path
        self.name = path.name
        meta = json.loads((path / "params.json").read_text())
        self.r_params = {_norm_key(k): v for k, v in (meta.get("params") or {}).items()}
        cv_meta = {_norm_key(k): v for k, v in (meta.get("cv") or {}).items()}
        losses = cv_meta.get("pred.loss", [])
        self.cv_losses = [losses] if isinstance(losses, str) else list(losses)
        self.cv_meta = cv_meta
        self.coef_at_s = bool(meta.get("coef_at_s", False))

        self.X, self.feature_names = _read_matrix(path / "x.csv.gz")
        self.y = _read_vector(path / "y.csv")

        def optional(name):
            file = path / name
            return _read_vector(file) if file.exists() else None

        self.sample_weight = optional("weights.csv")
        group = optional("group.csv")
        self.groups = None if group is None else group.astype(np.int64)
        self.penalty_factor = optional("pf.csv")
        self.lambdas = optional("lambda.csv")
        fold = optional("foldid.csv")
        self.fold_ids = None if fold is None else fold.astype(np.int64)

        self.fit_ref = json.loads((path / "fit.json").read_text())
        self.cv_ref = self._optional_json("cv.json")
        self.coef_s_ref = self._optional_json("coef_s.json")

    def _optional_json(self, name):
        file = self.path / name
        if not file.exists():
            return None
        data = json.loads(file.read_text())
        return {_norm_key(k): v for k, v in data.items()} if name == "cv.json" else data

    @property
    def is_error(self):
        """True when R rejected the input (``fit.json`` holds ``{"error": ...}``)."""
        return "error" in self.fit_ref

    def __repr__(self):
        return f"ReferenceCase({self.name!r}, X={self.X.shape})"


def load_case(case_dir):
    """Read one reference folder into a :class:`ReferenceCase`."""
    return ReferenceCase(case_dir)


def estimator_params(case):
    """Keyword arguments of ``HDTweedie`` equivalent to the R call of ``case``.

    Raises
    ------
    ValueError
        If ``params.json`` names an R argument this mapping does not know, so a
        setting is never silently dropped.
    """
    kwargs = {}
    for key, value in case.r_params.items():
        if key not in PARAM_MAP:
            raise ValueError(
                f"case {case.name!r}: unknown R argument {key!r} in params.json; "
                f"known: {sorted(PARAM_MAP)}"
            )
        name = PARAM_MAP[key]
        if name in _INT_PARAMS:
            value = int(value)
        elif name == "standardize":
            value = bool(value)
        else:
            value = float(value)
        kwargs[name] = value
    if case.groups is not None:
        kwargs["groups"] = case.groups
    if case.penalty_factor is not None:
        kwargs["penalty_factor"] = case.penalty_factor
    if case.lambdas is not None:
        kwargs["lambdas"] = case.lambdas
    return kwargs


def discover_cases(reference_dirs=None, shared_dir=DEFAULT_SHARED):
    """List the case folders to run.

    Parameters
    ----------
    reference_dirs : path or list of paths, optional
        Folders whose case sub-folders are all used (a folder that itself holds
        ``params.json`` is one case).  Default: the project's
        ``validation/reference``.
    shared_dir : path or None
        Folder from which only the ``auto_*`` cases are added; skipped when
        None or missing.  Default: ``../shared/r-reference`` next to the
        repository root.

    Returns
    -------
    list of Path
        Sorted by case name, each folder listed once.
    """
    if reference_dirs is None:
        reference_dirs = [DEFAULT_REFERENCE]
    elif isinstance(reference_dirs, (str, os.PathLike)):
        reference_dirs = [reference_dirs]
    found = {}

    def add(folder):
        folder = Path(folder).resolve()
        if (folder / "params.json").is_file():
            found.setdefault(folder, None)

    for ref in reference_dirs:
        ref = Path(ref)
        if not ref.is_dir():
            raise ValueError(f"reference folder {str(ref)!r} does not exist")
        if (ref / "params.json").is_file():
            add(ref)
        else:
            for sub in ref.iterdir():
                add(sub)
    if shared_dir is not None and Path(shared_dir).is_dir():
        for sub in Path(shared_dir).iterdir():
            if sub.name.startswith("auto_"):
                add(sub)
    return sorted(found, key=lambda p: (p.name, str(p)))


# --------------------------------------------------------------------------
# Metrics and check records
# --------------------------------------------------------------------------
def max_rel_diff(ours, ref):
    """``max |ours - ref| / max(1, |ref|)`` over all entries.

    Entries missing (NaN) on both sides agree; NaN on one side only, or
    different shapes, give ``inf``.  Empty input gives 0.
    """
    ours = np.asarray(ours, dtype=float)
    ref = np.asarray(ref, dtype=float)
    if ours.shape != ref.shape:
        return math.inf
    if ours.size == 0:
        return 0.0
    nan_o, nan_r = np.isnan(ours), np.isnan(ref)
    if np.any(nan_o != nan_r):
        return math.inf
    keep = ~nan_o
    if not np.any(keep):
        return 0.0
    o, r = ours[keep], ref[keep]
    with np.errstate(invalid="ignore"):
        d = np.abs(o - r) / np.maximum(1.0, np.abs(r))
    d[(o == r)] = 0.0  # equal infinities
    d[np.isnan(d)] = math.inf
    return float(d.max())


def _argmax_rel(ours, ref):
    """Flat index of the largest relative difference (same shapes)."""
    ours = np.asarray(ours, dtype=float)
    ref = np.asarray(ref, dtype=float)
    with np.errstate(invalid="ignore"):
        d = np.abs(ours - ref) / np.maximum(1.0, np.abs(ref))
    d[ours == ref] = 0.0
    d[np.isnan(ours) & np.isnan(ref)] = 0.0
    d[np.isnan(d)] = math.inf
    return np.unravel_index(int(np.argmax(d)), d.shape)


def _fmt_num(v):
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return f"{float(v):.17g}"


def _rel_check(name, ours, ref, labels=None, tol=TOL):
    """Check record for a relative-difference comparison.

    ``labels`` names the axes of the arrays (e.g. ``("lambda",)`` or
    ``("feature", "lambda")``) so the worst entry can be located in the message.
    """
    ours = np.asarray(ours, dtype=float)
    ref = np.asarray(ref, dtype=float)
    value = max_rel_diff(ours, ref)
    ok = value <= tol
    detail = ""
    if not ok:
        if ours.shape != ref.shape:
            detail = f"shape ours {ours.shape} vs R {ref.shape}"
        else:
            idx = _argmax_rel(ours, ref)
            where = ", ".join(
                f"{(labels[i] if labels and i < len(labels) else 'index')} {j}"
                for i, j in enumerate(idx)
            )
            detail = f"ours {_fmt_num(ours[idx])}, R {_fmt_num(ref[idx])}"
            if where:
                detail = f"worst at (0-based) {where}: {detail}"
    return {"name": name, "kind": "rel", "value": value, "tol": tol, "ok": bool(ok),
            "detail": detail}


def _eq_check(name, ours, ref):
    """Check record for an exact equality (counts, codes, arrays of ints)."""
    o = np.asarray(ours)
    r = np.asarray(ref)
    ok = o.shape == r.shape and bool(np.all(o == r))
    detail = ""
    if not ok:
        if o.ndim == 0 and r.ndim == 0:
            detail = f"ours {o.item()!r}, R {r.item()!r}"
        elif o.shape != r.shape:
            detail = f"length ours {o.size}, R {r.size}"
        else:
            k = int(np.flatnonzero(o != r)[0])
            detail = f"first difference at index {k}: ours {o.flat[k]!r}, R {r.flat[k]!r}"
    value = (o.item() if o.ndim == 0 else None, r.item() if r.ndim == 0 else None)
    return {"name": name, "kind": "equal", "value": value, "tol": None, "ok": bool(ok),
            "detail": detail}


def _fail_check(name, detail):
    return {"name": name, "kind": "fail", "value": None, "tol": None, "ok": False,
            "detail": detail}


def _failures(checks, prefix=""):
    out = []
    for c in checks:
        if c["ok"]:
            continue
        if c["kind"] == "rel":
            out.append(f"{prefix}{c['name']}: max rel diff {c['value']:.3e} > {c['tol']:g}"
                       + (f" ({c['detail']})" if c["detail"] else ""))
        else:
            out.append(f"{prefix}{c['name']}: {c['detail']}")
    return out


# --------------------------------------------------------------------------
# Fitting and comparing
# --------------------------------------------------------------------------
def _hdtweedie():
    try:
        import hdtweedie
    except ImportError as exc:  # pragma: no cover - environment problem
        raise ImportError(
            "the validation suite needs the hdtweedie package; install it with "
            "'pip install -e .' from the repository root"
        ) from exc
    return hdtweedie


def fit_path(case):
    """Fit ``HDTweedie`` on a case.

    Returns
    -------
    dict
        ``estimator`` (None if the fit raised), ``exception``, ``warnings``
        (messages of warnings emitted during the fit) and ``seconds``.
    """
    hdt = _hdtweedie()
    kwargs = estimator_params(case)
    caught = []
    start = time.perf_counter()
    est = None
    exc = None
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            est = hdt.HDTweedie(**kwargs).fit(case.X, case.y, sample_weight=case.sample_weight)
        except Exception as err:  # reported, never hidden
            est, exc = None, err
    seconds = time.perf_counter() - start
    for w in record:
        if not issubclass(w.category, _IGNORED_WARNINGS):
            caught.append(f"{w.category.__name__}: {w.message}")
    return {"estimator": est, "exception": exc, "warnings": caught, "seconds": seconds}


def _common(ours, ref):
    """Trim two path arrays (last axis = lambda) to their common length."""
    n = min(ours.shape[-1], ref.shape[-1])
    return ours[..., :n], ref[..., :n]


def compare_path(case, outcome):
    """Checks of the fitted path against ``fit.json``.

    Compares the number of lambdas, lambdas, intercepts, coefficients, df,
    passes, status and whether a warning was emitted exactly when R printed
    one.  Arrays of different length are compared over their common prefix
    (the length mismatch is its own failed check).
    """
    ref = case.fit_ref
    est = outcome["estimator"]
    if est is None:
        exc = outcome["exception"]
        return [_fail_check("fit", f"fit raised {type(exc).__name__}: {exc}")]
    lam_r = _as_array(ref["lambda"])
    b0_r = _as_array(ref["b0"])
    beta_r = _as_array(ref["beta"], ndim=2).T
    if beta_r.size == 0:
        beta_r = np.empty((case.X.shape[1], 0))
    df_r = np.rint(_as_array(ref["df"])).astype(np.int64)

    lam = np.asarray(est.lambdas_, dtype=float)
    b0 = np.asarray(est.intercept_path_, dtype=float)
    beta = np.asarray(est.coef_path_, dtype=float)
    df = np.asarray(est.df_)

    checks = [_eq_check("n_lambdas", lam.size, lam_r.size)]
    checks.append(_rel_check("lambda", *_common(lam, lam_r), labels=("lambda",)))
    checks.append(_rel_check("intercept", *_common(b0, b0_r), labels=("lambda",)))
    if beta.shape[0] != beta_r.shape[0]:
        checks.append(_fail_check("coef", f"n_features ours {beta.shape[0]}, R {beta_r.shape[0]}"))
    else:
        checks.append(_rel_check("coef", *_common(beta, beta_r), labels=("feature", "lambda")))
    checks.append(_eq_check("df", *_common(df.astype(np.int64), df_r)))
    checks.append(_eq_check("passes", int(est.n_passes_), int(ref["npasses"])))
    checks.append(_eq_check("status", int(est.status_), int(ref["jerr"])))
    r_warned = bool(str(ref.get("printed", "")).strip())
    we_warned = bool(outcome["warnings"])
    check = _eq_check("warning", we_warned, r_warned)
    if not check["ok"]:
        check["detail"] = (
            f"R printed {ref.get('printed', '')!r}; ours: "
            + ("; ".join(outcome["warnings"]) if we_warned else "no warning")
        )
    checks.append(check)
    return checks


def _coef_vector(est, s):
    """Intercept followed by the coefficients at ``s`` (one value of s)."""
    b0, beta = est.coef_at(s)
    return np.concatenate([np.ravel(np.asarray(b0, dtype=float))[:1],
                           np.ravel(np.asarray(beta, dtype=float))])


def compare_coef_s(case, est):
    """Checks of ``coef_at`` and ``predict`` at R's interpolation points.

    Each ``s`` of ``coef_s.json`` is evaluated on its own.  Returns three
    checks (``coef_s``, ``link_s``, ``response_s``), each the maximum over
    all ``s``.
    """
    ref = case.coef_s_ref
    s_values = _as_array(ref["s"])
    coef_r = _as_array(ref["coef"], ndim=2)
    link_r = _as_array(ref["link"], ndim=2)
    resp_r = _as_array(ref["response"], ndim=2)
    n_rows = link_r.shape[1]
    X_head = case.X[:n_rows]
    try:
        coef = np.vstack([_coef_vector(est, float(s)) for s in s_values])
        link = np.vstack([np.ravel(est.predict(X_head, s=float(s), kind="link"))
                          for s in s_values])
        resp = np.vstack([np.ravel(est.predict(X_head, s=float(s), kind="response"))
                          for s in s_values])
    except Exception as err:
        return [_fail_check("coef_s", f"coef_at/predict raised {type(err).__name__}: {err}")]
    return [
        _rel_check("coef_s", coef, coef_r, labels=("s", "coef (0 = intercept)")),
        _rel_check("link_s", link, link_r, labels=("s", "row")),
        _rel_check("response_s", resp, resp_r, labels=("s", "row")),
    ]


def compare_cv(case, loss):
    """Fit ``HDTweedieCV`` with R's fold ids and one loss; compare with ``cv.json``.

    Returns
    -------
    dict
        ``loss``, ``checks`` (list of check records), ``seconds`` and
        ``lambda_min`` / ``lambda_1se`` as ``(ours, R)`` pairs.
    """
    hdt = _hdtweedie()
    ref = {_norm_key(k): v for k, v in case.cv_ref[loss].items()}
    kwargs = estimator_params(case)
    kwargs["loss"] = loss
    if case.fold_ids is not None:
        kwargs["fold_ids"] = case.fold_ids
    lmin_r = _to_float(ref["lambda.min"])
    l1se_r = _to_float(ref["lambda.1se"])
    out = {"loss": loss, "seconds": math.nan, "lambda_min": (math.nan, lmin_r),
           "lambda_1se": (math.nan, l1se_r)}
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cv = hdt.HDTweedieCV(**kwargs).fit(case.X, case.y, sample_weight=case.sample_weight)
    except Exception as err:
        out["checks"] = [_fail_check("cv fit", f"raised {type(err).__name__}: {err}")]
        return out
    out["seconds"] = time.perf_counter() - start

    lam_r = _as_array(ref["lambda"])
    lam = np.asarray(cv.lambdas_, dtype=float)
    checks = [_eq_check("cv n_lambdas", lam.size, lam_r.size),
              _rel_check("cv lambda", *_common(lam, lam_r), labels=("lambda",))]
    for ours_name, r_name, label in (("cv_mean_", "cvm", "cvm"), ("cv_std_", "cvsd", "cvsd"),
                                     ("cv_upper_", "cvupper", "cvupper"),
                                     ("cv_lower_", "cvlo", "cvlo")):
        if r_name not in ref:
            continue
        ours = np.asarray(getattr(cv, ours_name), dtype=float)
        checks.append(_rel_check(label, *_common(ours, _as_array(ref[r_name])),
                                 labels=("lambda",)))
    lmin, l1se = float(cv.lambda_min_), float(cv.lambda_1se_)
    out["lambda_min"] = (lmin, lmin_r)
    out["lambda_1se"] = (l1se, l1se_r)
    checks.append(_rel_check("lambda_min", lmin, lmin_r))
    checks.append(_rel_check("lambda_1se", l1se, l1se_r))
    for which, key in (("lambda_min", "coef.min"), ("lambda_1se", "coef.1se")):
        if key not in ref:
            continue
        try:
            ours = _coef_vector(cv, which)
        except Exception as err:
            checks.append(_fail_check(f"coef_{which[7:]}",
                                      f"coef_at({which!r}) raised {type(err).__name__}: {err}"))
            continue
        checks.append(_rel_check(f"coef_{which[7:]}", ours, _as_array(ref[key]),
                                 labels=("coef (0 = intercept)",)))
    out["checks"] = checks
    return out


def compare_error(case, outcome):
    """R rejected the input: ours must raise ``ValueError``."""
    exc = outcome["exception"]
    if exc is None:
        return [_fail_check("raises ValueError",
                            "fit succeeded but R stopped with: " + case.fit_ref["error"])]
    if not isinstance(exc, ValueError):
        return [_fail_check("raises ValueError",
                            f"raised {type(exc).__name__} instead: {exc}")]
    return [{"name": "raises ValueError", "kind": "equal", "value": None, "tol": None,
             "ok": True, "detail": ""}]


def compare_case(case_dir, run_cv=True):
    """Fit one reference case and compare every output R recorded.

    Parameters
    ----------
    case_dir : path or ReferenceCase
    run_cv : bool, default True
        Also run the cross-validation comparisons (``cv.json``).

    Returns
    -------
    dict
        The result record: ``case``, ``path``, ``kind`` ("path" or "error"),
        ``passed``, ``failures`` (readable messages with the numbers),
        ``checks`` (path and interpolation checks), ``cv`` (list of per-loss
        results), ``n_lambdas`` / ``passes`` / ``status`` as ``(ours, R)``,
        ``warnings``, ``r_printed``, ``error`` (our exception message),
        ``r_error`` and ``seconds`` (our path fit time).
    """
    case = case_dir if isinstance(case_dir, ReferenceCase) else load_case(case_dir)
    outcome = fit_path(case)
    est = outcome["estimator"]
    exc = outcome["exception"]
    record = {
        "case": case.name,
        "path": str(case.path),
        "kind": "error" if case.is_error else "path",
        "seconds": outcome["seconds"],
        "warnings": outcome["warnings"],
        "error": None if exc is None else f"{type(exc).__name__}: {exc}",
        "r_error": case.fit_ref.get("error"),
        "r_printed": case.fit_ref.get("printed", ""),
        "n_lambdas": (None, None),
        "passes": (None, None),
        "status": (None, None),
        "cv": [],
    }
    if case.is_error:
        checks = compare_error(case, outcome)
    else:
        checks = compare_path(case, outcome)
        ref = case.fit_ref
        record["n_lambdas"] = (None if est is None else int(np.size(est.lambdas_)),
                               int(_as_array(ref["lambda"]).size))
        record["passes"] = (None if est is None else int(est.n_passes_), int(ref["npasses"]))
        record["status"] = (None if est is None else int(est.status_), int(ref["jerr"]))
        if est is not None and case.coef_s_ref is not None:
            checks += compare_coef_s(case, est)
        if run_cv and case.cv_ref is not None:
            for loss in case.cv_losses:
                if loss not in case.cv_ref:
                    raise ValueError(f"case {case.name!r}: cv.json has no entry for loss {loss!r}")
                record["cv"].append(compare_cv(case, loss))
    record["checks"] = checks
    failures = _failures(checks)
    for res in record["cv"]:
        failures += _failures(res["checks"], prefix=f"cv[{res['loss']}] ")
    record["failures"] = failures
    record["passed"] = not failures
    return record


def run_all(reference_dirs=None, shared_dir=DEFAULT_SHARED, cases=None, run_cv=True,
            progress=None):
    """Run :func:`compare_case` on every case found by :func:`discover_cases`.

    Parameters
    ----------
    reference_dirs, shared_dir
        See :func:`discover_cases`.
    cases : iterable of str, optional
        Only run the cases with these folder names.
    run_cv : bool, default True
    progress : callable, optional
        Called with each record as soon as it is ready.

    Returns
    -------
    list of dict
        One record per case (see :func:`compare_case`).
    """
    dirs = discover_cases(reference_dirs, shared_dir)
    if cases is not None:
        wanted = set(cases)
        unknown = wanted - {d.name for d in dirs}
        if unknown:
            raise ValueError(f"unknown case(s): {sorted(unknown)}; "
                             f"available: {[d.name for d in dirs]}")
        dirs = [d for d in dirs if d.name in wanted]
    records = []
    for d in dirs:
        rec = compare_case(d, run_cv=run_cv)
        records.append(rec)
        if progress is not None:
            progress(rec)
    return records


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------
def _check(record_checks, name):
    for c in record_checks:
        if c["name"] == name:
            return c
    return None


def _cell_rel(check):
    if check is None:
        return "—"
    if check["kind"] != "rel":
        return "**FAIL**"
    text = "inf" if math.isinf(check["value"]) else f"{check['value']:.1e}"
    return text if check["ok"] else f"**{text}**"


def _cell_pair(pair, ok=True):
    ours, ref = pair
    if ref is None:
        return "—"
    text = f"{'—' if ours is None else ours}/{ref}"
    return text if ok else f"**{text}**"


def _max_check(checks, names):
    """Combine several rel checks into one cell value (the worst)."""
    found = [c for c in checks if c["name"] in names]
    if not found:
        return None
    if any(c["kind"] != "rel" for c in found):
        return next(c for c in found if c["kind"] != "rel")
    worst = max(found, key=lambda c: c["value"])
    return {**worst, "ok": all(c["ok"] for c in found)}


def _cv_summary(record):
    """(cvm/cvsd cell, lambda_min/1se cell) for the main table."""
    if not record["cv"]:
        return "—", "—"
    checks = [c for res in record["cv"] for c in res["checks"]]
    broken = [c for c in checks if c["kind"] == "fail"]
    if broken:
        return "**FAIL**", "**FAIL**"
    cvm = _max_check(checks, {"cvm"})
    cvsd = _max_check(checks, {"cvsd"})
    sel = [c for c in checks if c["name"] in ("lambda_min", "lambda_1se")]
    mins = all(c["ok"] for c in sel if c["name"] == "lambda_min")
    ses = all(c["ok"] for c in sel if c["name"] == "lambda_1se")
    sel_cell = f"{'yes' if mins else '**no**'}/{'yes' if ses else '**no**'}"
    return f"{_cell_rel(cvm)} / {_cell_rel(cvsd)}", sel_cell


def format_report(records, tol=TOL, title="Validation against R HDtweedie"):
    """Render result records as a Markdown report (tables and failure list)."""
    n_fail = sum(not r["passed"] for r in records)
    lines = [f"# {title}", ""]
    lines.append(
        f"{len(records)} cases, {len(records) - n_fail} passed, {n_fail} failed.  "
        f"Differences are max |ours - R| / max(1, |R|) over all entries; tolerance {tol:g}; "
        "passes, status and the number of lambdas must be equal."
    )
    lines.append("")
    paths = [r for r in records if r["kind"] == "path"]
    errors = [r for r in records if r["kind"] == "error"]
    if paths:
        lines += [
            "## Paths",
            "",
            "| case | n lambdas ours/R | lambda | intercept | coef | coef_s | passes ours/R "
            "| status ours/R | CV cvm / cvsd | lambda_min/1se match | seconds | result |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in paths:
            checks = r["checks"]
            fit_failed = _check(checks, "fit") is not None
            n_ok = (_check(checks, "n_lambdas") or {"ok": False})["ok"]
            p_ok = (_check(checks, "passes") or {"ok": False})["ok"]
            s_ok = (_check(checks, "status") or {"ok": False})["ok"]
            coef_s = _max_check(checks, {"coef_s", "link_s", "response_s"})
            cv_cells = _cv_summary(r)
            if fit_failed:
                cells = ["**fit raised**"] * 4
            else:
                cells = [_cell_rel(_check(checks, n)) for n in ("lambda", "intercept", "coef")]
                cells.append(_cell_rel(coef_s))
            lines.append(
                f"| {r['case']} | {_cell_pair(r['n_lambdas'], n_ok)} | "
                + " | ".join(cells)
                + f" | {_cell_pair(r['passes'], p_ok)} | {_cell_pair(r['status'], s_ok)}"
                f" | {cv_cells[0]} | {cv_cells[1]} | {r['seconds']:.2f}"
                f" | {'ok' if r['passed'] else '**FAIL**'} |"
            )
        lines.append("")
    cv_rows = [(r, res) for r in paths for res in r["cv"]]
    if cv_rows:
        lines += [
            "## Cross-validation",
            "",
            "| case | loss | cvm | cvsd | lambda_min ours / R | lambda_1se ours / R "
            "| coef at lambda_min | coef at lambda_1se | seconds | result |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r, res in cv_rows:
            checks = res["checks"]
            ok = all(c["ok"] for c in checks)
            broken = next((c for c in checks if c["kind"] == "fail"), None)
            if broken is not None:
                lines.append(f"| {r['case']} | {res['loss']} | **{broken['detail']}** "
                             "| | | | | | | **FAIL** |")
                continue
            lm, l1 = _check(checks, "lambda_min"), _check(checks, "lambda_1se")

            def sel(pair, chk):
                text = f"{pair[0]:.10g} / {pair[1]:.10g}"
                return text if chk["ok"] else f"**{text}**"

            lines.append(
                f"| {r['case']} | {res['loss']} | {_cell_rel(_check(checks, 'cvm'))} "
                f"| {_cell_rel(_check(checks, 'cvsd'))} | {sel(res['lambda_min'], lm)} "
                f"| {sel(res['lambda_1se'], l1)} | {_cell_rel(_check(checks, 'coef_min'))} "
                f"| {_cell_rel(_check(checks, 'coef_1se'))} | {res['seconds']:.2f} "
                f"| {'ok' if ok else '**FAIL**'} |"
            )
        lines.append("")
    if errors:
        lines += [
            "## Inputs R rejects",
            "",
            "| case | R error | our exception | result |",
            "|---|---|---|---|",
        ]
        for r in errors:
            ours = r["error"] or "(no exception)"
            lines.append(f"| {r['case']} | {_md(r['r_error'])} | {_md(ours)} "
                         f"| {'ok' if r['passed'] else '**FAIL**'} |")
        lines.append("")
    failing = [r for r in records if not r["passed"]]
    if failing:
        lines += ["## Failures", ""]
        for r in failing:
            for msg in r["failures"]:
                lines.append(f"- {r['case']}: {_md(msg)}")
        lines.append("")
    return "\n".join(lines)


def _md(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------
def build_parser(prog="python -m validation"):
    """Argument parser of the validation runner."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fit every reference case with hdtweedie and compare with R HDtweedie.",
    )
    parser.add_argument("--reference", action="append", metavar="DIR", default=None,
                        help="folder of reference cases (repeatable; default: "
                             "validation/reference)")
    parser.add_argument("--shared", metavar="DIR", default=str(DEFAULT_SHARED),
                        help="folder from which the auto_* cases are added "
                             "(default: ../shared/r-reference next to the repository)")
    parser.add_argument("--no-shared", action="store_true",
                        help="do not add the auto_* cases")
    parser.add_argument("--case", action="append", metavar="NAME", default=None,
                        help="run only this case (repeatable)")
    parser.add_argument("--no-cv", action="store_true",
                        help="skip the cross-validation comparisons")
    parser.add_argument("--out", metavar="FILE", default=str(_HERE / "report.md"),
                        help="Markdown report to write (default: validation/report.md)")
    return parser


def main(argv=None, prog="python -m validation"):
    """Run the validation suite; return 0 if every case is within tolerance, else 1."""
    args = build_parser(prog).parse_args(argv)
    shared = None if args.no_shared else args.shared

    def progress(rec):
        status = "ok" if rec["passed"] else "FAIL"
        print(f"{rec['case']:<36} {status:>4}  ({rec['seconds']:.2f} s"
              + (f" + CV {sum(r['seconds'] for r in rec['cv'] if not math.isnan(r['seconds'])):.2f} s"
                 if rec["cv"] else "") + ")", file=sys.stderr, flush=True)

    try:
        records = run_all(args.reference, shared, cases=args.case, run_cv=not args.no_cv,
                          progress=progress)
    except (ValueError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = format_report(records)
    print(report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report + "\n")
    print(f"report written to {out}", file=sys.stderr)
    return 0 if all(r["passed"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())

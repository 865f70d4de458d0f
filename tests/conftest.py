"""Shared, seeded test data and the Hypothesis profiles.

Factories are plain functions (usable inside ``@given`` tests, which cannot
take function-scoped fixtures) with a fixture for each.  The same arguments
always give the same arrays.

Hypothesis profiles: ``dev`` (the default) and ``ci`` (derandomised, so a run
is repeatable; failing examples print a reproduction blob).  ``ci`` is loaded
when ``CI=true``; ``HYPOTHESIS_PROFILE=name`` picks any registered profile.
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from typing import NamedTuple

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, settings

# --------------------------------------------------------------------------------------
# Hypothesis profiles
# --------------------------------------------------------------------------------------
# Both start from Hypothesis's own defaults (not from whatever profile is loaded:
# Hypothesis loads its own "ci" profile when it detects a CI environment).
_COMMON = dict(parent=settings.get_profile("default"), deadline=None,
               suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, **_COMMON)
settings.register_profile("ci", max_examples=50, derandomize=True, database=None, print_blob=True,
                          **_COMMON)


def _profile_name() -> str:
    chosen = os.environ.get("HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    return "ci" if os.environ.get("CI", "").lower() in ("true", "1", "yes") else "dev"


settings.load_profile(_profile_name())


# --------------------------------------------------------------------------------------
# Tweedie regression data
# --------------------------------------------------------------------------------------
def tweedie_response(rng: np.random.Generator, mu: np.ndarray, power: float) -> np.ndarray:
    """Draw a Tweedie-like response with mean ``mu``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    mu : ndarray
        Means, positive.
    power : float
        Poisson counts for 1, Gamma amounts for 2, else compound Poisson-Gamma.

    Returns
    -------
    ndarray
        One response per mean, non-negative.
    """
    if power == 1:
        return rng.poisson(mu).astype(float)
    if power == 2:
        return rng.gamma(2.0, mu / 2.0)
    counts = rng.poisson(mu ** (2 - power) / (2 - power))
    shape = (2 - power) / (power - 1)
    amounts = rng.gamma(np.maximum(counts, 1) * shape, (power - 1) * mu ** (power - 1))
    return np.where(counts > 0, amounts, 0.0)


def make_problem(seed: int, n: int = 40, p: int = 5, power: float = 1.5):
    """A sparse-truth log-linear problem: normal X, half the columns active.

    Parameters
    ----------
    seed : int
        Seed of the generator.
    n, p : int
        Rows and columns.
    power : float
        Tweedie power of the response.

    Returns
    -------
    X : ndarray of shape (n, p)
    y : ndarray of shape (n,)
        Non-negative, with ``y[0] > 0``.
    rng : numpy.random.Generator
        The generator after drawing, for further seeded draws.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    beta = np.zeros(p)
    beta[: max(1, p // 2)] = rng.normal(0, 0.5, size=max(1, p // 2))
    mu = np.exp(0.1 + np.clip(X @ beta, -3, 3))
    y = tweedie_response(rng, mu, power)
    y[0] = max(y[0], 0.5)  # a positive response
    return X, y, rng


def small_data(seed: int = 0, n: int = 12, p: int = 3):
    """A tiny problem for input-checking tests: normal X, ~30% zero Gamma y, ``y[0] = 1``.

    Parameters
    ----------
    seed : int
        The same seed gives the same arrays.
    n : int
        Number of rows.
    p : int
        Number of columns.

    Returns
    -------
    X : ndarray of shape (n, p)
    y : ndarray of shape (n,)
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = rng.gamma(1.0, 1.0, size=n) * (rng.random(n) < 0.7)
    y[0] = 1.0
    return X, y


class TweedieData(NamedTuple):
    """Arguments of ``fit``: ``model.fit(d.X, d.y, sample_weight=d.sample_weight, offset=d.offset)``."""

    X: np.ndarray | sp.spmatrix
    y: np.ndarray
    sample_weight: np.ndarray | None
    offset: np.ndarray | None

    @property
    def fit_kwargs(self) -> dict:
        """Keyword arguments of ``fit`` besides ``X``.

        Returns
        -------
        dict
            ``y``, ``sample_weight`` and ``offset``.
        """
        return {"y": self.y, "sample_weight": self.sample_weight, "offset": self.offset}


def tweedie_data(n: int = 40, p: int = 5, power: float = 1.5, seed: int = 0, *,
                 sparse: str | None = None, density: float = 1.0, offset: bool = False,
                 weights: bool = False) -> TweedieData:
    """Seeded Tweedie regression data (:func:`make_problem`) with optional extras.

    Parameters
    ----------
    n, p : int
        Rows and columns.
    power : float
        Tweedie power of the response.
    seed : int
        Seed; the same arguments give the same data.
    sparse : {None, "csc", "csr", "coo"}
        Return X as a scipy sparse matrix of this format.
    density : float
        Fraction of X kept non-zero (the first row is kept whole so no column is all zero).
    offset : bool
        Add a random non-constant offset (``normal(0, 0.3)``).
    weights : bool
        Add random observation weights in ``[0.2, 2]``.

    Returns
    -------
    TweedieData
        ``X, y, sample_weight, offset``.
    """
    X, y, rng = make_problem(seed, n=n, p=p, power=power)
    if density < 1.0:
        X[1:][rng.random((n - 1, p)) >= density] = 0.0
    w = rng.uniform(0.2, 2.0, size=n) if weights else None
    off = rng.normal(0, 0.3, size=n) if offset else None
    if sparse is not None:
        X = {"csc": sp.csc_matrix, "csr": sp.csr_matrix, "coo": sp.coo_matrix}[sparse](X)
    return TweedieData(X, y, w, off)


def grouped_data(n: int = 60, group_sizes=(2, 3, 1, 4), power: float = 1.5, seed: int = 0):
    """Seeded data with consecutive column groups, the first two groups active.

    Parameters
    ----------
    n : int
        Rows.
    group_sizes : sequence of int
        Columns per group, in column order.
    power : float
        Tweedie power of the response.
    seed : int
        Seed of the generator.

    Returns
    -------
    X : ndarray of shape (n, sum(group_sizes))
    y : ndarray of shape (n,)
    groups : list of int
        Group label of each column.
    """
    rng = np.random.default_rng(seed)
    groups = [g for g, size in enumerate(group_sizes) for _ in range(size)]
    X = rng.normal(size=(n, len(groups)))
    beta = np.where(np.asarray(groups) < 2, rng.normal(0, 0.4, size=len(groups)), 0.0)
    y = tweedie_response(rng, np.exp(0.2 + np.clip(X @ beta, -3, 3)), power)
    y[0] = max(y[0], 0.5)
    return X, y, groups


class Portfolio(NamedTuple):
    """A small motor portfolio, one-hot encoded for fitting."""

    frame: object  # the pandas.DataFrame of make_motor_portfolio
    X: np.ndarray
    y: np.ndarray
    offset: np.ndarray
    groups: list
    feature_names: list


def portfolio(n: int = 400, seed: int = 0) -> Portfolio:
    """Rating-factor portfolio from :func:`hdtweedie.datasets.make_motor_portfolio`.

    Parameters
    ----------
    n : int
        Policies.
    seed : int
        Seed of the portfolio.

    Returns
    -------
    Portfolio
        The frame, the encoded design ``X`` (rating and noise factors), ``y``
        (incurred), ``offset`` (log exposure), ``groups`` (one per factor) and
        the feature names.
    """
    pytest.importorskip("pandas")
    from hdtweedie import FactorEncoder
    from hdtweedie.datasets import NOISE_FACTORS, RATING_FACTORS, make_motor_portfolio

    frame = make_motor_portfolio(n=n, random_state=seed)
    factors = list(RATING_FACTORS + NOISE_FACTORS)
    enc = FactorEncoder(factors=factors).fit(frame[factors])
    X = np.asarray(enc.transform(frame[factors]), dtype=float)
    return Portfolio(frame, X, frame["incurred"].to_numpy(float),
                     np.log(frame["exposure"].to_numpy(float)), list(enc.groups_),
                     list(enc.get_feature_names_out()))


# Fixtures for tests that are not Hypothesis tests.
@pytest.fixture
def grouped() -> tuple:
    """Default :func:`grouped_data`."""
    return grouped_data()


@pytest.fixture(scope="session")
def motor_portfolio() -> Portfolio:
    """A 400-policy :func:`portfolio` (built once per session; do not modify it)."""
    return portfolio()


# --------------------------------------------------------------------------------------
# Error checks
# --------------------------------------------------------------------------------------
def names_argument(message: str, name: str) -> bool:
    """Whether ``message`` contains ``name`` as a word (not inside a longer identifier).

    Parameters
    ----------
    message : str
        An error message.
    name : str
        The argument's name.

    Returns
    -------
    bool
    """
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message) is not None


def expect_error(fn, name: str, exc=(ValueError, TypeError)):
    """Call ``fn()`` and check it raises ``exc`` whose message names ``name``.

    Warnings on the way are ignored; any other exception fails the test.

    Parameters
    ----------
    fn : callable
        Called without arguments.
    name : str
        The argument the message must name.
    exc : exception type or tuple of types
        The accepted exception types.

    Returns
    -------
    pytest.ExceptionInfo
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc) as exc_info:
            fn()
    msg = str(exc_info.value)
    assert names_argument(msg, name), f"message does not name {name!r}: {msg!r}"
    return exc_info


# --------------------------------------------------------------------------------------
# Cases that may crash or hang the interpreter run in a child process
# --------------------------------------------------------------------------------------
_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def _describe(result) -> dict:
    """What a child reports about a case's return value (JSON-ready)."""
    if hasattr(result, "lambdas_"):
        return {"outcome": "fit", "lambdas": result.lambdas_.tolist(),
                "coef_path": result.coef_path_.tolist(),
                "intercept_path": result.intercept_path_.tolist(),
                "status": int(result.status_), "n_passes": int(result.n_passes_)}
    arr = np.asarray(result, dtype=float)
    return {"outcome": "fit", "finite": bool(np.all(np.isfinite(arr)))}


def isolated_child_main(module: str, group: str, start: int) -> None:
    """Child side of :func:`run_isolated`: print the case names, then one JSON line per case.

    Parameters
    ----------
    module : str
        Test module whose ``isolated_cases(group)`` returns ``{name: callable}``.
    group : str
        The group to run.
    start : int
        Index of the first case to run (cases before it are done or crashed).
    """
    import importlib
    import json
    import time

    cases = importlib.import_module(module).isolated_cases(group)
    print(json.dumps({"cases": list(cases)}), flush=True)
    for name, fn in list(cases.items())[start:]:
        begin = time.perf_counter()
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            try:
                out = _describe(fn())
            except BaseException as exc:  # reported to the parent, which judges it
                out = {"outcome": "error", "type": type(exc).__name__, "message": str(exc)}
        out.update(case=name, seconds=time.perf_counter() - begin,
                   warnings=sorted({r.category.__name__ for r in rec}))
        print(json.dumps(out), flush=True)


def _spawn(module: str, group: str, start: int, errfile):
    import queue
    import subprocess
    import sys
    import threading

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([_TESTS_DIR] + [p for p in sys.path if p]))
    code = f"import conftest; conftest.isolated_child_main({module!r}, {group!r}, {start})"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=errfile,
                            text=True, env=env)
    lines = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


@functools.cache
def run_isolated(module: str, group: str, timeout: float) -> tuple:
    """Run a group of cases in child interpreters, once per session.

    A case that aborts or hangs its child cannot take the test run with it: it is
    recorded as missing with the reason (exit status or timeout), and a new child
    carries on with the next case.

    Parameters
    ----------
    module : str
        Test module defining ``isolated_cases(group)``.
    group : str
        The group of cases.
    timeout : float
        Seconds allowed for the child to start or for one case to end.

    Returns
    -------
    results : dict
        Case name to its report (``outcome``, ``type``, ``message``, ``warnings``, ...).
    failures : dict
        Case name to how its child ended, for cases without a report.
    """
    import json
    import queue
    import tempfile

    results, failures, names, start = {}, {}, None, 0
    while names is None or start < len(names):
        with tempfile.TemporaryFile("w+") as errfile:
            proc, lines = _spawn(module, group, start, errfile)
            while True:
                try:
                    line = lines.get(timeout=timeout)
                except queue.Empty:
                    proc.kill()
                    why = f"killed: no result within {timeout:g} s"
                    break
                if line is None:
                    why = f"exit code {proc.wait()}"
                    break
                rec = json.loads(line)
                if "cases" in rec:
                    names = rec["cases"]
                else:
                    results[rec["case"]] = rec
                    start += 1
            proc.wait()
            errfile.seek(0)
            why += f"; stderr: {errfile.read()[-600:]!r}"
        if names is None:  # the child died before listing its cases
            return results, {"*": why}
        if start < len(names):
            failures[names[start]] = why
            start += 1
    return results, failures


def isolated_result(module: str, group: str, case: str, timeout: float) -> dict:
    """The child's report of one case; fails the test when its child crashed or hung.

    Parameters
    ----------
    module, group : str
        As for :func:`run_isolated`.
    case : str
        The case name.
    timeout : float
        Seconds allowed for a child to start or a case to end.

    Returns
    -------
    dict
        The case's report.
    """
    results, failures = run_isolated(module, group, timeout)
    if case not in results:
        why = failures.get(case, failures.get("*", "not run"))
        pytest.fail(f"{case}: no result from the child process ({why})")
    return results[case]

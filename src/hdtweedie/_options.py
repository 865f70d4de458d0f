"""Checked inputs and path options: what ``fit`` hands to the path solver, validated once."""

from __future__ import annotations

import dataclasses
import numbers
import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._checks import check_scalar
from ._groups import GroupStructure
from ._path import DEFAULT_MAX_ITER, STOPPING_RULES

# Longest default grid; beyond it the kernel's (n_lambdas, n_features) buffers stop being sane.
MAX_N_LAMBDAS = 100_000
# The kernel counts groups in C ints.
MAX_INT32 = 2**31 - 1
# The kernel raises lambda_min_ratio to this floor (R's HDtweedie does the same).
MIN_LAMBDA_RATIO = 1e-6
# Rows of X gathered at a time when scoring held-out rows: small beside any X worth blocking.
ROW_BLOCK_BYTES = 4 << 20
# Predictions (rows x lambdas) computed at a time by a CV fold.
HELD_OUT_BLOCK_BYTES = 4 << 20


@dataclass(frozen=True)
class FitData:
    """The checked training data of one solve.

    Attributes
    ----------
    X : ndarray (Fortran float64) or scipy.sparse.csc_matrix (float64, int32 indices)
    y, w, offset : ndarray of shape (n_samples,)
        Response, raw (unnormalised) weights and offset, contiguous float64.
    groups : GroupStructure
    penalty_factor : ndarray of shape (n_groups,)
    feature_names : ndarray of str or None
    offset_given : bool
        Whether the caller passed an offset (else ``offset`` is zeros).
    fit_rows : ndarray of bool or None
        The rows a CV fold learns from (None: every row).  The others carry
        weight 0 in ``w``, which removes them from the objective; only
        standardisation needs to know them apart (``solve``).
    """

    X: np.ndarray | sp.csc_matrix
    y: np.ndarray
    w: np.ndarray
    offset: np.ndarray
    groups: GroupStructure
    penalty_factor: np.ndarray
    feature_names: np.ndarray | None = None
    offset_given: bool = False
    fit_rows: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        """Number of rows."""
        return self.X.shape[0]

    def rows(self, idx: np.ndarray) -> FitData:
        """The same problem restricted to rows ``idx`` (a copy, in the kernel's layouts).

        Parameters
        ----------
        idx : ndarray of int

        Returns
        -------
        FitData
        """
        return dataclasses.replace(self, X=take_rows(self.X, idx), y=self.y[idx],
                                   w=self.w[idx], offset=self.offset[idx])

    def fold(self, train: np.ndarray) -> FitData:
        """The same problem fitted on rows ``train`` only, without copying X.

        The other rows get weight 0, which is the same objective as removing
        them (its loss is a ``w / sum(w)`` mean), and ``fit_rows`` keeps the
        standardisation on the training rows, as a copy would.

        Parameters
        ----------
        train : ndarray of int
            Row positions.

        Returns
        -------
        FitData

        Raises
        ------
        ValueError
            When ``train`` is empty or out of range.
        """
        n = self.n_samples
        train = np.asarray(train)
        if train.size == 0 or train.min() < -n or train.max() >= n:
            raise ValueError(f"train: expected row positions in [0, {n}), got {train!r}")
        mask = np.zeros(n, dtype=bool)
        mask[train] = True
        return dataclasses.replace(self, w=np.where(mask, self.w, 0.0), fit_rows=mask)

    def linear_predictor(self, idx: np.ndarray, intercepts: np.ndarray, coefs: np.ndarray,
                         out: np.ndarray | None = None) -> np.ndarray:
        """``offset + intercepts + X coefs`` on rows ``idx``, X read in row blocks (never copied).

        Parameters
        ----------
        idx : ndarray of int
            Row positions.
        intercepts : ndarray of shape (m,)
        coefs : ndarray of shape (n_features, m)
        out : ndarray of shape (idx.size, m), optional
            Written in place.

        Returns
        -------
        ndarray of shape (idx.size, m)
        """
        m = coefs.shape[1]
        if out is None:
            out = np.empty((idx.size, m))
        step = max(1, ROW_BLOCK_BYTES // (8 * max(self.X.shape[1], m)))
        for start in range(0, idx.size, step):
            rows = idx[start:start + step]
            block = out[start:start + rows.size]
            block[...] = np.asarray(self.X[rows] @ coefs)
            block += intercepts
            block += self.offset[rows, None]
        return out


def take_rows(X, idx: np.ndarray):
    """Rows ``idx`` of X, as Fortran float64 or CSC with int32 indices.

    Parameters
    ----------
    X : ndarray or sparse matrix
    idx : ndarray of int

    Returns
    -------
    ndarray or scipy.sparse.csc_matrix
    """
    if sp.issparse(X):
        sub = X[idx].tocsc()
        sub.indices = sub.indices.astype(np.int32, copy=False)
        sub.indptr = sub.indptr.astype(np.int32, copy=False)
        return sub
    return np.asfortranarray(X[idx])


@dataclass(frozen=True)
class PathOptions:
    """Checked path options, every default resolved (see ``HDTweedie`` for their meaning).

    ``lambdas`` is None for the default grid, else the user lambdas sorted
    decreasing (then ``n_lambdas`` is their number).
    """

    power: float
    alpha: float
    lambdas: np.ndarray | None
    n_lambdas: int
    lambda_min_ratio: float
    dfmax: int
    pmax: int
    standardize: bool
    tol: float
    max_iter: int
    stopping: str = "r"
    n_threads: int = 1

    def with_lambdas(self, lambdas: np.ndarray) -> PathOptions:
        """The same options on the user lambdas ``lambdas`` (checked as ``lambdas`` is).

        Parameters
        ----------
        lambdas : array-like

        Returns
        -------
        PathOptions
        """
        ulam = check_lambdas(lambdas)
        return dataclasses.replace(self, lambdas=ulam, n_lambdas=ulam.size)

    def with_n_lambdas(self, n_lambdas: int) -> PathOptions:
        """The same options on a default grid of ``n_lambdas`` points.

        Parameters
        ----------
        n_lambdas : int

        Returns
        -------
        PathOptions
        """
        return dataclasses.replace(self, lambdas=None, n_lambdas=n_lambdas)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity).

    Returns
    -------
    int
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - no affinity API
        return max(1, os.cpu_count() or 1)


def check_n_threads(n_threads) -> int:
    """Threads for the kernel's row loops: a positive integer, or None / -1 for all cores.

    More threads than available cores are capped at their number.

    Parameters
    ----------
    n_threads : object

    Returns
    -------
    int

    Raises
    ------
    TypeError, ValueError
        Naming n_threads and echoing its value.
    """
    cores = available_cores()
    if n_threads is None:
        return cores
    if isinstance(n_threads, (bool, np.bool_)) or not isinstance(n_threads, numbers.Real):
        raise TypeError(f"n_threads must be None or an integer, got {n_threads!r}")
    if not isinstance(n_threads, numbers.Integral):
        raise ValueError(f"n_threads must be a whole number of threads, got {n_threads!r}")
    if n_threads == -1:
        return cores
    if n_threads < 1:
        raise ValueError(f"n_threads must be a positive integer, or None or -1 for all cores, "
                         f"got {n_threads!r}")
    return int(min(n_threads, cores))


def threads_per_fit(n_threads: int, n_jobs: int) -> int:
    """Threads for each of ``n_jobs`` fits run at once: at most ``max(1, cores // n_jobs)``.

    Parameters
    ----------
    n_threads : int
        The threads asked for (checked by :func:`check_n_threads`).
    n_jobs : int
        Fits running in parallel (positive).

    Returns
    -------
    int
    """
    return min(n_threads, max(1, available_cores() // max(1, n_jobs)))


def check_power(power) -> float:
    """The Tweedie power, a float in [1, 2].

    Parameters
    ----------
    power : object

    Returns
    -------
    float

    Raises
    ------
    TypeError, ValueError
        Naming power.
    """
    return check_scalar(power, "power", float, low=1, high=2)


def check_lambdas(lambdas) -> np.ndarray:
    """User lambdas: finite, non-negative, non-empty; returned sorted decreasing.

    Parameters
    ----------
    lambdas : array-like

    Returns
    -------
    ndarray

    Raises
    ------
    TypeError, ValueError
        Naming lambdas.
    """
    if isinstance(lambdas, (str, bytes)):
        raise TypeError(f"lambdas must be numbers, got {lambdas!r}")
    try:
        ulam = np.asarray(lambdas, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise TypeError(f"lambdas must be numbers, got {lambdas!r}") from None
    if ulam.size == 0:
        raise ValueError("lambdas is empty")
    if ulam.size > MAX_N_LAMBDAS:
        raise ValueError(f"lambdas has {ulam.size} values; at most {MAX_N_LAMBDAS} are supported")
    if not np.all(np.isfinite(ulam)):
        raise ValueError(f"lambdas must be finite, got {ulam[~np.isfinite(ulam)][:3]}")
    if np.any(ulam < 0):
        raise ValueError(f"lambdas must be non-negative, got {ulam[ulam < 0][:3]}")
    return np.ascontiguousarray(np.sort(ulam)[::-1])


def check_path_options(params: dict, n_samples: int, n_features: int, n_groups: int) -> PathOptions:
    """Check the estimator's path parameters once and resolve their defaults.

    Parameters
    ----------
    params : dict
        The estimator's ``get_params()`` (or any mapping with the same keys).
    n_samples, n_features, n_groups : int
        Shape of the training problem (for the defaults of
        ``lambda_min_ratio``, ``dfmax`` and ``pmax``).

    Returns
    -------
    PathOptions

    Raises
    ------
    TypeError, ValueError
        Naming the parameter and echoing its value.
    """
    power = check_power(params["power"])
    alpha = check_scalar(params["alpha"], "alpha", float, low=0, high=1, low_open=True)
    if alpha < 1e-6:
        # lambda_max = max ||grad|| / (pf alpha) overflows for tiny alpha.
        raise ValueError(f"alpha must be at least 1e-6, got {alpha!r}")
    standardize = params["standardize"]
    if not isinstance(standardize, (bool, np.bool_)):
        raise TypeError(f"standardize must be True or False, got {standardize!r}")
    lambdas = None if params["lambdas"] is None else check_lambdas(params["lambdas"])
    n_lambdas = check_scalar(params["n_lambdas"], "n_lambdas", int, low=1, high=MAX_N_LAMBDAS)
    ratio = params["lambda_min_ratio"]
    if ratio is None:
        ratio = 0.001 if n_samples >= n_features else 0.05
    ratio = check_scalar(ratio, "lambda_min_ratio", float, low=0, high=1, low_open=True,
                         high_open=True)
    dfmax = params["dfmax"]
    dfmax = n_groups + 1 if dfmax is None else check_scalar(dfmax, "dfmax", int, low=0,
                                                            high=MAX_INT32)
    pmax = params["pmax"]
    pmax = (int(min(dfmax * 1.2, n_groups)) if pmax is None
            else check_scalar(pmax, "pmax", int, low=0, high=MAX_INT32))
    max_iter = params["max_iter"]
    max_iter = DEFAULT_MAX_ITER if max_iter is None else check_scalar(
        max_iter, "max_iter", int, low=1, high=2**62)
    tol = check_scalar(params["tol"], "tol", float, low=0, low_open=True)
    stopping = params.get("stopping", "r")
    if not isinstance(stopping, str) or stopping not in STOPPING_RULES:
        raise ValueError(f"stopping must be one of {STOPPING_RULES}, got {stopping!r}")
    n_threads = check_n_threads(params.get("n_threads", 1))
    return PathOptions(power=power, alpha=alpha, lambdas=lambdas,
                       n_lambdas=n_lambdas if lambdas is None else lambdas.size,
                       lambda_min_ratio=max(ratio, MIN_LAMBDA_RATIO), dfmax=dfmax, pmax=pmax,
                       standardize=bool(standardize), tol=tol, max_iter=max_iter,
                       stopping=stopping, n_threads=n_threads)

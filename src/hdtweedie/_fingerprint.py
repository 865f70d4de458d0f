"""What a model records about its training data: sizes, sums and a content fingerprint."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from ._options import FitData


def _update(h, arr: np.ndarray, dtype) -> None:
    """Hash ``arr`` as little-endian ``dtype`` in C order, without a copy when it is one already."""
    a = np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("<"))
    h.update(str(a.shape).encode())
    h.update(memoryview(a).cast("B"))


def fingerprint(X, y: np.ndarray, w: np.ndarray, offset: np.ndarray) -> str:
    """``"sha256:<hex>"`` of the canonical bytes of the checked training data.

    Canonical form: dense X as float64 column by column; sparse X as its
    canonical CSC arrays (data float64, indices and indptr int64); then y,
    weights (ones when none were given) and offset (zeros when none) as float64.
    The layout is part of the hash, so a dense and a sparse copy of the same
    matrix differ.

    Parameters
    ----------
    X : ndarray (Fortran-ordered) or scipy.sparse.csc_matrix (canonical)
        As returned by ``check_X``.
    y, w, offset : ndarray of shape (n_samples,)

    Returns
    -------
    str
    """
    h = hashlib.sha256()
    if sp.issparse(X):
        h.update(b"csc")
        h.update(str(X.shape).encode())
        _update(h, X.data, np.float64)
        _update(h, X.indices, np.int64)
        _update(h, X.indptr, np.int64)
    else:
        h.update(b"dense")
        # The transpose of a Fortran array is C-contiguous: column order, no copy.
        _update(h, np.asarray(X).T, np.float64)
    for arr in (y, w, offset):
        _update(h, arr, np.float64)
    return "sha256:" + h.hexdigest()


def training_summary(data: FitData) -> dict:
    """The ``training_data_`` record of a fitted model.

    Parameters
    ----------
    data : FitData
        Checked training data; ``exposure_sum`` is None unless
        ``data.offset_given``.

    Returns
    -------
    dict
        ``n_rows`` (int), ``weight_sum`` (float), ``exposure_sum`` (float
        ``sum(exp(offset))`` or None) and ``fingerprint`` (``"sha256:<hex>"``).
    """
    return {
        "n_rows": int(data.n_samples),
        "weight_sum": float(np.sum(data.w)),
        "exposure_sum": float(np.sum(np.exp(data.offset))) if data.offset_given else None,
        "fingerprint": fingerprint(data.X, data.y, data.w, data.offset),
    }


def start_training_summary(data: FitData, background: bool) -> Callable[[], dict]:
    """Begin :func:`training_summary` of ``data``; the returned function gives the record.

    With ``background`` the record (its SHA-256 above all, serial by nature) is made
    in a thread while the caller goes on, e.g. to fit: hashlib releases the GIL on
    large buffers and the compiled solver runs without it.  The record is the same
    either way.  ``data`` must not change until the record is taken.

    Parameters
    ----------
    data : FitData
    background : bool
        Make the record in a thread now (True) or when it is asked for (False).

    Returns
    -------
    callable
        Without arguments, returns the ``training_data_`` dict (waiting for the
        thread if needed) and re-raises whatever making it raised.
    """
    if not background:
        return lambda: training_summary(data)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hdtweedie-fingerprint")
    try:
        return pool.submit(training_summary, data).result
    finally:
        pool.shutdown(wait=False)

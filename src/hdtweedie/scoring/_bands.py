"""Numeric bands and the raw-value-to-level map of a factor: shared by the encoder and the scorer.

A banded factor has edges ``e0 < e1 < ... < ek`` and the ``k`` levels
``[e0, e1)``, ``[e1, e2)``, ..., ``[e(k-1), ek]``: every band is closed on the
left and open on the right, except the last, which is closed on both sides.
Values below ``e0`` fall in the first band and values above ``ek`` in the
last, so every finite number has a band.
"""

from __future__ import annotations

import math

import numpy as np

from ._levels import as_numeric, level_codes, level_key

__all__ = ["band_codes", "band_labels", "check_edges", "factor_codes"]


def check_edges(edges: object, label: str) -> list[float]:
    """Band edges as floats, refusing what cannot band: fewer than two, non-numbers, unsorted.

    Parameters
    ----------
    edges : sequence of numbers
    label : str
        Where the edges come from, for messages (e.g. ``"bands['driver_age']"``).

    Returns
    -------
    list of float

    Raises
    ------
    TypeError
        For edges that are not a sequence of real numbers.
    ValueError
        For fewer than two edges, non-finite edges, or edges not strictly increasing.
    """
    if isinstance(edges, (str, bytes, dict)) or not hasattr(edges, "__iter__"):
        raise TypeError(f"{label}: edges must be a sequence of numbers, got {type(edges).__name__} {edges!r}")
    values = list(edges)
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"{label}: edges must be numbers, got {v!r} in {values!r}")
    out = [float(v) for v in values]
    if len(out) < 2:
        raise ValueError(f"{label}: at least two edges are needed to make a band, got {values!r}")
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{label}: edges must be finite, got {values!r}")
    if any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f"{label}: edges must be strictly increasing, got {values!r}")
    return out


def band_labels(edges: list[float]) -> list[str]:
    """Labels of the bands: ``"[17, 25)"``, ..., with the last band ``"[60, 100]"``.

    Parameters
    ----------
    edges : list of float
        Strictly increasing edges.

    Returns
    -------
    list of str
    """
    text = [level_key(e) for e in edges]
    last = len(edges) - 2
    return [f"[{a}, {b}{']' if i == last else ')'}" for i, (a, b) in enumerate(zip(text, text[1:]))]


def band_codes(x: np.ndarray, edges) -> np.ndarray:
    """Band of each value (``-2`` for NaN); values beyond the end edges go to the end bands.

    Parameters
    ----------
    x : numpy.ndarray of float64
    edges : sequence of float
        Strictly increasing edges.

    Returns
    -------
    numpy.ndarray of intp
    """
    inner = np.asarray(edges[1:-1], dtype=np.float64)
    codes = np.searchsorted(inner, x, side="right").astype(np.intp)  # left-closed bands
    codes[np.isnan(x)] = -2
    return codes


def factor_codes(values, index: dict, name: str, *, edges=None, missing: str | None = None) -> np.ndarray:
    """Level codes of raw values: banded when ``edges`` are given, missing values to ``missing``.

    Parameters
    ----------
    values : array-like or pandas Series
        Raw values of one factor.
    index : dict
        Level text to code (merged levels map to the code of their group).
    name : str
        Name of the factor, for messages.
    edges : sequence of float, optional
        Band edges of a banded factor; the codes are then band positions.
    missing : str, optional
        The level of missing values; when it is not in ``index`` they are unseen (``-1``).

    Returns
    -------
    numpy.ndarray of intp
        ``-1`` for unseen levels, ``-2`` for missing values without a missing level.

    Raises
    ------
    TypeError
        For values that cannot be levels (or, banded, are not numbers).
    """
    if edges is None:
        codes = level_codes(values, index, name)
    else:
        x = as_numeric(values, name)
        codes = band_codes(x, edges)  # infinities are beyond the end edges: end bands
    if missing is not None:
        codes[codes == -2] = index.get(missing, -1)
    return codes

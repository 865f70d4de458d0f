"""Group structure: user labels to the kernel's pointer/index pair."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np

# Feature names "factor=level" (FactorEncoder's) belong to the group "factor".
FACTOR_SEPARATOR = "="


@dataclass(frozen=True)
class GroupStructure:
    """Groups of columns, in the order of first appearance of their labels.

    Attributes
    ----------
    labels : list
        One label per group.
    index : ndarray of int, shape (n_features,)
        Position in ``labels`` of each column's group.
    cols : ndarray of int32
        Column indices sorted by group, then by column.
    ptr : ndarray of int32, shape (n_groups + 1,)
        Group ``g`` holds ``cols[ptr[g]:ptr[g + 1]]``.
    """

    labels: list
    index: np.ndarray
    cols: np.ndarray
    ptr: np.ndarray

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return len(self.labels)

    @property
    def sizes(self) -> np.ndarray:
        """Number of columns of each group."""
        return np.diff(self.ptr)


def _name_positions(feature_names) -> dict:
    """Each feature name's first column position (one pass: a lookup per member after it)."""
    positions: dict = {}
    for j, name in enumerate(feature_names):
        positions.setdefault(name, j)
    return positions


def _column_position(col, n_features, positions):
    """Resolve a column given by name (``positions``: name to column) or integer index."""
    if positions is not None and not isinstance(col, (int, np.integer)):
        try:
            return positions[col]
        except (KeyError, TypeError):
            raise ValueError(f"groups: unknown column {col!r}; not among the feature names") from None
    if isinstance(col, (bool, np.bool_)) or not isinstance(col, (int, np.integer)):
        raise ValueError(
            f"groups: column {col!r} must be an integer index"
            + (" or a feature name" if positions is not None else " (X has no column names)")
        )
    if not -n_features <= col < n_features:
        raise ValueError(f"groups: column index {col} out of range for {n_features} features")
    return int(col) % n_features


def factor_groups(feature_names) -> list[str]:
    """One group label per column from names ``"factor=level"``: the part before ``=``.

    Names without ``=`` (numeric columns) are their own group.

    Parameters
    ----------
    feature_names : sequence of str

    Returns
    -------
    list of str
    """
    return [str(name).split(FACTOR_SEPARATOR, 1)[0] for name in feature_names]


def _warn_if_one_hot(feature_names) -> None:
    """An ungrouped fit of one-hot factor columns is rarely what was meant."""
    counts = Counter(factor_groups(n for n in feature_names if FACTOR_SEPARATOR in str(n)))
    shared = [f for f, c in counts.items() if c > 1]
    if shared:
        warnings.warn(f"groups=None fits every column on its own, but the feature names look like "
                      f"one-hot encoded factors ({shared[:3]}, named 'factor=level'); pass "
                      f"groups='factor' to penalise each factor as one group", UserWarning,
                      stacklevel=5)  # the caller of fit


def make_groups(groups, n_features: int, feature_names=None) -> GroupStructure:
    """Build the group structure.

    Parameters
    ----------
    groups : None, "factor", sequence of hashable, or mapping
        ``None``: each column its own group (the lasso); warns when the feature
        names look like one-hot factors.  ``"factor"``: groups read from feature
        names ``"factor=level"`` (see :func:`factor_groups`).  A sequence: one
        label per column, any hashable labels, in any column order.  A mapping
        ``{group_name: [columns]}`` with columns given by name or index; every
        column must belong to exactly one group.
    n_features : int
    feature_names : array of str, optional
        Column names, used to resolve names in a mapping and for ``"factor"``.

    Returns
    -------
    GroupStructure

    Raises
    ------
    TypeError, ValueError
        Naming ``groups`` and the bad label or column.
    """
    if isinstance(groups, str) and groups == "factor":
        if feature_names is None:
            raise ValueError(
                "groups='factor' reads the groups from feature names 'factor=level', but X has "
                "no column names (a numpy array or sparse matrix); pass groups=encoder.groups_, "
                "or make the encoder output a DataFrame with "
                "encoder.set_output(transform='pandas')")
        groups = factor_groups(feature_names)
    if groups is None:
        if feature_names is not None:
            _warn_if_one_hot(feature_names)
        # Column j is group j: the structure the general loop below would build.
        index = np.arange(n_features, dtype=np.intp)
        return GroupStructure(labels=list(range(n_features)), index=index,
                              cols=index.astype(np.int32), ptr=np.arange(n_features + 1, dtype=np.int32))
    if isinstance(groups, Mapping):
        owner = [None] * n_features
        positions = None if feature_names is None else _name_positions(feature_names)
        for name, members in groups.items():
            if isinstance(members, (str, bytes)) or not hasattr(members, "__iter__"):
                members = [members]
            members = list(members)
            if len(members) == 0:
                raise ValueError(f"groups: group {name!r} is empty")
            for col in members:
                pos = _column_position(col, n_features, positions)
                if owner[pos] is not None:
                    raise ValueError(
                        f"groups: column {col!r} is in both group {owner[pos]!r} and {name!r}"
                    )
                owner[pos] = name
        missing = [i for i, o in enumerate(owner) if o is None]
        if missing:
            shown = [feature_names[i] if feature_names is not None else i for i in missing[:5]]
            raise ValueError(
                f"groups: {len(missing)} column(s) belong to no group, e.g. {shown}"
            )
        labels_per_col = owner
    else:
        if isinstance(groups, (str, bytes)):
            raise TypeError(f"groups must be 'factor', a sequence of labels or a mapping, got "
                            f"{groups!r}")
        labels_per_col = list(np.asarray(groups, dtype=object).ravel()) if not isinstance(
            groups, (list, tuple)
        ) else list(groups)
        if len(labels_per_col) != n_features:
            raise ValueError(
                f"groups: expected one label per column ({n_features}), got {len(labels_per_col)}"
            )
        for lab in labels_per_col:
            if not isinstance(lab, Hashable):
                raise TypeError(f"groups: labels must be hashable, got {lab!r}")
            if isinstance(lab, float) and np.isnan(lab):
                raise ValueError("groups: labels must not be NaN")
    labels: list = []
    position: dict = {}
    index = np.empty(n_features, dtype=np.intp)
    for j, lab in enumerate(labels_per_col):
        key = lab.item() if isinstance(lab, np.generic) else lab
        if key not in position:
            position[key] = len(labels)
            labels.append(key)
        index[j] = position[key]
    cols = np.argsort(index, kind="stable").astype(np.int32)
    ptr = np.zeros(len(labels) + 1, dtype=np.int32)
    np.cumsum(np.bincount(index, minlength=len(labels)), out=ptr[1:])
    return GroupStructure(labels=labels, index=index, cols=cols, ptr=ptr)


def resolve_penalty_factor(penalty_factor, gs: GroupStructure) -> np.ndarray:
    """Penalty factors per group, default ``sqrt(group size)``.

    Parameters
    ----------
    penalty_factor : None, array-like or mapping
        One factor per group (order of first appearance), or ``{group: factor}``.
    gs : GroupStructure

    Returns
    -------
    ndarray of shape (n_groups,)

    Raises
    ------
    TypeError, ValueError
        Naming ``penalty_factor`` and the bad value.
    """
    if penalty_factor is None:
        return np.sqrt(gs.sizes.astype(np.float64))
    if isinstance(penalty_factor, Mapping):
        position = {}
        for g, label in enumerate(gs.labels):
            position.setdefault(label, g)
        unknown = [k for k in penalty_factor if k not in position]
        if unknown:
            raise ValueError(f"penalty_factor: unknown group name(s) {unknown}")
        pf = np.sqrt(gs.sizes.astype(np.float64))
        for k, val in penalty_factor.items():
            pf[position[k]] = _as_float(val, f"penalty_factor[{k!r}]")
    else:
        try:
            pf = np.asarray(penalty_factor, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise TypeError(f"penalty_factor must be numbers, got {penalty_factor!r}") from None
        if pf.shape[0] != gs.n_groups:
            raise ValueError(
                f"penalty_factor: expected one value per group ({gs.n_groups}), got {pf.shape[0]}"
            )
    if not np.all(np.isfinite(pf)):
        raise ValueError(f"penalty_factor must be finite, got {pf[~np.isfinite(pf)][:3]}")
    if np.any(pf < 0):
        raise ValueError(f"penalty_factor must be >= 0, got {pf[pf < 0][:3]}")
    if np.all(pf <= 0):
        raise ValueError("penalty_factor: all penalty factors are <= 0")
    if np.all(pf <= 1e-16):
        # The reference ignores factors <= 1e-16 when it sets lambda_max.
        raise ValueError(f"penalty_factor: all penalty factors are <= 1e-16 (max "
                         f"{pf.max():g}); at least one group must be penalised")
    return pf


def _as_float(val, name):
    try:
        return float(val)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {val!r}") from None


def disjoint_support(X, gs: GroupStructure) -> np.ndarray:
    """Whether each group's columns are non-zero in disjoint sets of rows (one-hot factors).

    For such a group ``X_g' diag(h) X_g`` is diagonal for every ``h``, so its
    largest eigenvalue (the group's majorisation constant) is the largest
    ``sum_i h_i x_ij^2``, exact, in one pass over the group's entries instead
    of ``k^2 / 2`` products of length n and a k x k eigenvalue problem.

    Parameters
    ----------
    X : ndarray or scipy.sparse.csc_matrix of shape (n, n_features)
        Unstandardised (centring makes the columns overlap).
    gs : GroupStructure

    Returns
    -------
    ndarray of bool, shape (n_groups,)
        True for groups of one column too.
    """
    out = gs.sizes <= 1
    n = X.shape[0]
    for g in np.flatnonzero(~out):
        cols = gs.cols[gs.ptr[g]:gs.ptr[g + 1]]
        rows = np.concatenate([_nonzero_rows(X, j) for j in cols])
        # At most one entry per row: no row is counted twice.
        out[g] = rows.size <= n and np.bincount(rows, minlength=n).max(initial=0) <= 1
    return out


def _nonzero_rows(X, j: int) -> np.ndarray:
    """Rows where column ``j`` of X is non-zero (stored zeros left out)."""
    if hasattr(X, "indptr"):
        lo, hi = X.indptr[j], X.indptr[j + 1]
        return X.indices[lo:hi][X.data[lo:hi] != 0]
    return np.flatnonzero(X[:, j])

"""One-hot encoding of rating factors with explicit base levels, one group per factor."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._banding import (
    Layout,
    band_layout,
    base_of,
    check_bands,
    check_factor_options,
    is_ordered,
    merge_sparse,
)
from ._frames import frame_columns, is_frame
from ._interactions import check_interactions, interaction_columns, interaction_features, interaction_specs
from .scoring._bands import factor_codes
from .scoring._levels import as_numeric, level_key, sort_levels

__all__ = ["FactorEncoder", "UnseenLevelWarning"]


class UnseenLevelWarning(UserWarning):
    """Levels not seen at fit time were encoded as the base level."""


def _input_columns(X):
    """Return (names, {name: 1-D array}, n_rows, has_names, dtype kinds) for tabular input."""
    if is_frame(X):  # polars or Arrow: categoricals read as their values, nulls as NaN/None
        cols, n = frame_columns(X)
        return list(cols), cols, n, True, {name: _kind(c) for name, c in cols.items()}
    if hasattr(X, "columns") and hasattr(X, "iloc"):  # pandas DataFrame
        names = [str(c) for c in X.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"X: column names must be unique, got {names}")
        cols, kinds = {}, {}
        for c, name in zip(X.columns, names):
            col = X[c]
            cols[name] = np.asarray(col).reshape(-1)
            kinds[name] = getattr(col.dtype, "kind", "O")
        return names, cols, len(X), True, kinds
    if isinstance(X, dict):
        names = [str(k) for k in X]
        cols = {}
        for k, name in zip(X, names):
            v = X[k]
            cols[name] = v.reshape(-1) if isinstance(v, np.ndarray) else np.array(list(v), dtype=object)
        lengths = {c.shape[0] for c in cols.values()}
        if len(lengths) > 1:
            raise ValueError(f"X: columns have different lengths {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        return names, cols, n, True, {name: _kind(c) for name, c in cols.items()}
    if isinstance(X, np.ndarray) and X.dtype.names:
        names = list(X.dtype.names)
        cols = {name: X[name].reshape(-1) for name in names}
        return names, cols, X.reshape(-1).shape[0], True, {name: _kind(c) for name, c in cols.items()}
    if hasattr(X, "toarray"):
        X = X.toarray()
    arr = np.asarray(X) if isinstance(X, np.ndarray) else np.array(X, dtype=object)
    if arr.ndim != 2:
        raise ValueError(
            "X must be a DataFrame, a dict of columns, a structured array or a 2-D array; "
            f"got {type(X).__name__} with {arr.ndim} dimension(s)"
        )
    names = [f"x{i}" for i in range(arr.shape[1])]
    cols = {name: arr[:, i] for i, name in enumerate(names)}
    return names, cols, arr.shape[0], False, {name: _kind(c) for name, c in cols.items()}


def _kind(arr):
    """dtype kind, looking inside object arrays: 'f' if every value is a real number."""
    if arr.dtype.kind != "O":
        return arr.dtype.kind
    for v in arr.tolist():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            return "O"
    return "f"


def _discover_levels(values, name, missing: str | None) -> list:
    """Levels of a column in natural order, then ``missing`` when the column has missing values."""
    arr = values
    if arr.dtype.kind in "biufUS":
        uniq = np.unique(arr).tolist()
    else:
        try:
            uniq = set(arr.tolist())
        except TypeError:
            raise TypeError(f"X: factor {name!r} holds unhashable values") from None
    keys = set()
    n_missing = 0
    for u in uniq:
        try:
            key = level_key(u)
        except TypeError as exc:
            raise TypeError(f"X: factor {name!r}: {exc}") from None
        if key is None:
            n_missing += 1
        else:
            keys.add(key)
    if n_missing and missing is None:
        raise ValueError(
            f"X: factor {name!r} has missing values; give them an explicit level such as 'Unknown' "
            f"(missing_level='Unknown')"
        )
    levels = sort_levels(keys)
    return levels + [missing] if n_missing and missing not in keys else levels


class FactorEncoder(TransformerMixin, BaseEstimator):
    """One-hot encode rating factors against explicit base levels.

    Each categorical column (a rating factor) becomes one 0/1 column per
    level except its base level, whose relativity is 1 by construction.
    Numeric columns pass through unchanged.  ``groups_`` gives one label per
    output column -- the factor's name -- so ``HDTweedie(groups=enc.groups_)``
    keeps or drops whole factors.  Output columns are named ``"factor=level"``
    for factors and keep their plain names for numeric inputs, so
    ``make_pipeline(FactorEncoder(), HDTweedieCV(groups="factor"))`` groups
    the columns of each factor from their names.

    Following scikit-learn, ``transform`` returns a numpy array (also for a
    DataFrame input); ``set_output(transform="pandas")`` makes it return a
    DataFrame with the ``get_feature_names_out()`` columns.

    Parameters
    ----------
    factors : list of str, optional
        Columns to treat as rating factors.  Default: every column that is
        not numeric (object, string, categorical and boolean columns), and
        every column named in ``base_levels``.
    base_levels : dict, optional
        ``{factor: level}``.  Factors not listed get the level with the most
        exposure (``sample_weight``), or the most rows without weights; ties
        go to the first level in natural order.
    handle_unknown : {"error", "base"}
        Levels not seen at fit time: raise ``ValueError``, or encode them as
        the base level with an :class:`UnseenLevelWarning`.  The policy is
        exported with the model and used by the scorer.
    sparse_output : bool
        Return a ``scipy.sparse`` CSC matrix instead of a dense array.  A
        sparse matrix carries no column names: use ``get_feature_names_out()``
        for them; ``set_output(transform="pandas")`` cannot be combined with it.
    bands : dict, optional
        Numeric columns to band into ordered levels, each a rating factor:
        ``{column: edges}`` (a strictly increasing list, also as
        ``{"edges": edges}``) or ``{column: {"quantiles": k}}`` for ``k``
        bands of about equal exposure, with edges at observed values (tied
        values may give fewer bands).  Bands are closed on the left and open
        on the right, the last closed on both sides: ``"[17, 25)"``, ...,
        ``"[60, 100]"``.  Values beyond the end edges fall in the end bands.
        A base level may be given as a band label or as a number in the band.
    min_exposure : float or dict, optional
        Minimum exposure (``sample_weight`` sum, row count without weights)
        of a level, for every factor or ``{factor: minimum}``.  Lighter
        levels are merged: into an adjacent level for ordered factors (bands,
        and factors whose levels are all numbers), repeatedly joining the
        lightest level to its lighter neighbour (a merged band spans both;
        other merged levels take the name of the heaviest level of the
        run), and into the level ``other_level`` for unordered factors.  The
        merges are in ``merged_levels_``; the missing-value level is never merged.
    missing_level : str or dict, optional
        Level of missing values (None, NaN, ``pd.NA``), for every factor or
        ``{factor: level}``, e.g. ``"Unknown"``; used in training and by the
        scorer.  Without it, missing values in a factor are an error.  A
        factor without missing values in training gets no such level: the
        scorer then treats missing values as an unseen level.
    other_level : str, default="Other"
        Level that gathers the sparse levels of unordered factors.
    interactions : list of (str, str), optional
        Two-way interactions, each one group named ``"a:b"`` placed after the
        main effects.  Factor x factor: a 0/1 column ``"a:b=i:j"`` per cell
        where neither level is its base level.  Factor x numeric: a column
        ``"a:b=i"`` per non-base level ``i`` holding the numeric value there
        (that level's extra slope).  Numeric x numeric is refused.

    Attributes
    ----------
    columns_ : list of str
        Input columns used, in order.
    factors_ : list of str
        Rating factors.
    numeric_ : list of str
        Numeric inputs passed through.
    levels_ : dict
        Factor to its levels seen at fit time (canonical text, natural order).
    base_levels_ : dict
        Factor to its base level.
    level_weights_ : dict
        Factor to ``{level: exposure (or row count)}``.
    numeric_ranges_ : dict
        Numeric input to its training ``(min, max)``.
    bands_ : dict
        Banded factor to its band edges (after merging sparse bands).
    band_ranges_ : dict
        Banded factor to the training ``(min, max)`` of its values; the
        scorer flags values outside it.
    merged_levels_ : dict
        Factor to ``{level merged away: level it was merged into}``, for the
        factors where ``min_exposure`` merged levels (for bands, the labels
        of the bands before merging).
    missing_levels_ : dict
        Factor to the level of its missing values.
    interactions_ : list of (str, str)
        The interactions encoded.
    groups_ : list of str
        Group label of each output column (the input it comes from, or the
        interaction ``"a:b"``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Set when the input has column names.

    Notes
    -----
    Levels are matched on their canonical text (see
    :func:`hdtweedie.scoring.level_key`): ``3``, ``3.0`` and ``"3"`` are the
    same level, while text is kept as it is, so ``"01"`` and ``"1"`` are two
    levels.  Read such codes as text (e.g. ``pandas.read_csv(...,
    dtype={"district": str})``): a number column has already lost the zero.
    """

    def __init__(self, factors=None, base_levels=None, handle_unknown="error", sparse_output=False,
                 bands=None, min_exposure=None, missing_level=None, other_level="Other",
                 interactions=None):
        self.factors = factors
        self.base_levels = base_levels
        self.handle_unknown = handle_unknown
        self.sparse_output = sparse_output
        self.bands = bands
        self.min_exposure = min_exposure
        self.missing_level = missing_level
        self.other_level = other_level
        self.interactions = interactions

    def fit(self, X, y=None, sample_weight=None):
        """Learn the levels, base levels and numeric ranges.

        Parameters
        ----------
        X : DataFrame, dict of columns, structured array or 2-D array
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Exposure per row, used to choose default base levels, quantile
            band edges and sparse levels.

        Returns
        -------
        self

        Raises
        ------
        ValueError, TypeError
            For bad arguments (naming them), missing values without a
            missing-value level, or a banded column that is not numeric.
        """
        if self.handle_unknown not in ("error", "base"):
            raise ValueError(f"handle_unknown must be 'error' or 'base', got {self.handle_unknown!r}")
        names, cols, n, has_names, kinds = _input_columns(X)
        if n == 0:
            raise ValueError("X: no rows to fit on")
        base_levels = self.base_levels if self.base_levels is not None else {}
        if not isinstance(base_levels, dict):
            raise TypeError(f"base_levels must be a dict {{factor: level}}, got {type(base_levels).__name__}")
        bands = check_bands(self.bands, names)
        factors = self._factor_names(names, kinds, base_levels) | set(bands)
        minimums, missing = check_factor_options(self.min_exposure, self.missing_level, self.other_level,
                                                 [c for c in names if c in factors])
        weights = self._weights(sample_weight, n)
        unknown_bases = [k for k in base_levels if str(k) not in factors]
        if unknown_bases:
            raise ValueError(
                f"base_levels names {unknown_bases}, which are not factors; factors are "
                f"{[c for c in names if c in factors]}"
            )
        base_levels = {str(k): v for k, v in base_levels.items()}

        self.columns_ = names
        self.factors_ = [c for c in names if c in factors]
        self.numeric_ = [c for c in names if c not in factors]
        self.interactions_ = check_interactions(self.interactions, names, self.factors_)
        self.levels_, self.base_levels_, self.level_weights_, self.numeric_ranges_ = {}, {}, {}, {}
        self.bands_, self.band_ranges_, self.merged_levels_ = {}, {}, {}
        self.missing_levels_ = {k: v for k, v in missing.items() if k in factors}
        for name in names:
            if name in factors:
                layout = self._layout(name, cols[name], weights, bands.get(name))
                self._fit_factor(name, layout, weights, base_levels.get(name), minimums.get(name))
            else:
                x = as_numeric(cols[name], name)
                if not np.all(np.isfinite(x)):
                    raise ValueError(f"X: numeric column {name!r} has NaN or infinite values")
                self.numeric_ranges_[name] = (float(x.min()), float(x.max()))

        out_names, groups = [], []
        for name in names:
            if name in factors:
                for lv in self.levels_[name]:
                    if lv != self.base_levels_[name]:
                        out_names.append(f"{name}={lv}")
                        groups.append(name)
            else:
                out_names.append(name)
                groups.append(name)
        extra_names, extra_groups = interaction_features(self)
        out_names += extra_names
        groups += extra_groups
        if len(set(out_names)) != len(out_names):
            dup = sorted({f for f in out_names if out_names.count(f) > 1})
            raise ValueError(f"X: output feature names collide: {dup}; rename the columns")
        self._feature_names_out = np.array(out_names, dtype=object)
        self.groups_ = groups
        self.n_features_in_ = len(names)
        if has_names:
            self.feature_names_in_ = np.array(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def _factor_names(self, names, kinds, base_levels):
        if self.factors is None:
            # a column given a base level is a factor even when its values are numbers
            return {c for c in names if kinds[c] not in "iufc" or c in base_levels}
        requested = [self.factors] if isinstance(self.factors, str) else list(self.factors)
        out = set()
        for f in requested:
            if isinstance(f, (int, np.integer)) and not isinstance(f, bool) and 0 <= f < len(names):
                out.add(names[f])
            elif str(f) in names:
                out.add(str(f))
            else:
                raise ValueError(f"factors names {f!r}, which is not a column of X; columns are {names}")
        return out

    @staticmethod
    def _weights(sample_weight, n):
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if w.shape[0] != n:
            raise ValueError(f"sample_weight: expected {n} values, got {w.shape[0]}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("sample_weight must be finite and non-negative")
        return w

    def _layout(self, name: str, values: np.ndarray, weights, rule) -> Layout:
        """Levels and row codes of one factor, before sparse levels are merged."""
        missing = self.missing_levels_.get(name)
        if rule is not None:
            layout = band_layout(values, rule, weights, name)
            finite = layout.codes >= 0
            x = as_numeric(values, name)[finite]
            self.band_ranges_[name] = (float(x.min()), float(x.max()))
            if missing is not None and not finite.all():
                layout.codes[~finite] = len(layout.levels)
                layout.levels.append(missing)
            elif not finite.all():
                raise ValueError(f"X: banded factor {name!r} has missing values; give them a level "
                                 "with missing_level='Unknown'")
            return layout
        levels = _discover_levels(values, name, missing)
        index = {lv: i for i, lv in enumerate(levels)}
        codes = factor_codes(values, index, name, missing=missing)
        return Layout(levels, codes, ordered=is_ordered([lv for lv in levels if lv != missing]))

    def _fit_factor(self, name: str, layout: Layout, weights, base, minimum: float | None) -> None:
        def totals_of(lay):
            return np.bincount(lay.codes, weights=weights, minlength=len(lay.levels))

        totals = totals_of(layout)
        if minimum is not None:
            layout = merge_sparse(layout, totals, minimum, self.other_level, self.missing_levels_.get(name))
            totals = totals_of(layout)
            if layout.merged:
                self.merged_levels_[name] = dict(layout.merged)
        if base is None:
            base_key = layout.levels[int(np.argmax(totals))]  # first maximum: natural order breaks ties
        else:
            base_key = base_of(layout, base, name)
        if layout.edges is not None:
            self.bands_[name] = list(layout.edges)
        self.levels_[name] = layout.levels
        self.base_levels_[name] = base_key
        self.level_weights_[name] = dict(zip(layout.levels, totals.tolist()))

    def _codes(self, name: str, values) -> np.ndarray:
        """Level codes of raw values of a fitted factor (``-1`` unseen, ``-2`` missing)."""
        index = {lv: i for i, lv in enumerate(self.levels_[name])}
        edges = self.bands_.get(name)
        if edges is None:
            index.update({lv: index[to] for lv, to in self.merged_levels_.get(name, {}).items()})
        return factor_codes(values, index, name, edges=edges, missing=self.missing_levels_.get(name))

    def transform(self, X):
        """Encode ``X``: 0/1 columns per non-base level, numeric columns as given.

        Parameters
        ----------
        X : DataFrame, dict of columns, structured array or 2-D array
            Must hold every column seen at fit; other columns are ignored.

        Returns
        -------
        ndarray or scipy.sparse.csc_matrix of shape (n_samples, n_features_out)
        """
        check_is_fitted(self, "groups_")
        names, cols, n, _, _ = _input_columns(X)
        missing = [c for c in self.columns_ if c not in cols]
        if missing:
            raise ValueError(f"X lacks the column(s) {missing} seen at fit time")
        rows_list, cols_list, vals_list = [], [], []
        dense_parts, codes_of, numeric_of = {}, {}, {}
        pos = 0
        for name in self.columns_:
            if name in self.levels_:
                levels = self.levels_[name]
                base = self.base_levels_[name]
                index = {lv: i for i, lv in enumerate(levels)}
                codes = self._codes(name, cols[name])
                if np.any(codes == -2):
                    rows = np.flatnonzero(codes == -2)[:5].tolist()
                    raise ValueError(f"X: factor {name!r} has missing values at rows {rows}")
                unseen = codes == -1
                if unseen.any():
                    examples = sorted({str(level_key(v)) for v in cols[name][unseen][:1000]})[:5]
                    msg = (f"X: factor {name!r} has {int(unseen.sum())} row(s) with levels not seen at fit "
                           f"time, e.g. {examples}; known levels are {levels}")
                    if self.handle_unknown == "error":
                        raise ValueError(msg + " (set handle_unknown='base' to map them to the base level)")
                    warnings.warn(msg + f"; encoded as the base level {base!r}", UnseenLevelWarning,
                                  stacklevel=2)
                    codes = np.where(unseen, index[base], codes)
                # output column of each level code (-1 for the base level)
                col_of = np.full(len(levels), -1, dtype=np.intp)
                k = 0
                for i, lv in enumerate(levels):
                    if lv != base:
                        col_of[i] = pos + k
                        k += 1
                target = col_of[codes]
                codes_of[name] = codes
                hit = np.flatnonzero(target >= 0)
                rows_list.append(hit)
                cols_list.append(target[hit])
                vals_list.append(np.ones(hit.size))
                pos += k
            else:
                x = as_numeric(cols[name], name)
                if not np.all(np.isfinite(x)):
                    raise ValueError(f"X: numeric column {name!r} has NaN or infinite values")
                dense_parts[pos] = x
                numeric_of[name] = x
                pos += 1
        parts, pos = interaction_columns(self, codes_of, numeric_of, pos)
        for r, c, v in parts:
            rows_list.append(r)
            cols_list.append(c)
            vals_list.append(v)
        if self.sparse_output:
            from scipy import sparse

            for p, x in dense_parts.items():
                nz = np.flatnonzero(x)
                rows_list.append(nz)
                cols_list.append(np.full(nz.size, p, dtype=np.intp))
                vals_list.append(x[nz])
            r = np.concatenate(rows_list) if rows_list else np.zeros(0, dtype=np.intp)
            c = np.concatenate(cols_list) if cols_list else np.zeros(0, dtype=np.intp)
            v = np.concatenate(vals_list) if vals_list else np.zeros(0)
            return sparse.csc_matrix((v, (r, c)), shape=(n, pos))
        out = np.zeros((n, pos), order="F")
        for r, c, v in zip(rows_list, cols_list, vals_list):
            out[r, c] = v
        for p, x in dense_parts.items():
            out[:, p] = x
        return out

    def get_feature_names_out(self, input_features=None):
        """Output column names: ``"factor=level"`` for factors, the name for numeric inputs.

        Parameters
        ----------
        input_features : ignored
            Accepted for scikit-learn compatibility.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self, "groups_")
        return self._feature_names_out.copy()

    def _input_specs(self):
        """Input descriptions for the model file (see schema/model.schema.json)."""
        check_is_fitted(self, "groups_")
        specs = []
        for name in self.columns_:
            if name in self.levels_:
                base = self.base_levels_[name]
                spec = {
                    "kind": "factor",
                    "name": name,
                    "levels": list(self.levels_[name]),
                    "base_level": base,
                    "features": {lv: f"{name}={lv}" for lv in self.levels_[name] if lv != base},
                    "handle_unknown": self.handle_unknown,
                }
                if name in self.bands_:
                    lo, hi = self.band_ranges_[name]
                    spec["bands"] = {"edges": list(self.bands_[name]), "min": lo, "max": hi}
                elif self.merged_levels_.get(name):
                    spec["merged"] = dict(self.merged_levels_[name])
                if name in self.missing_levels_:
                    spec["missing_level"] = self.missing_levels_[name]
                specs.append(spec)
            else:
                lo, hi = self.numeric_ranges_[name]
                specs.append({"kind": "numeric", "name": name, "feature": name, "min": lo, "max": hi})
        return specs + interaction_specs(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags

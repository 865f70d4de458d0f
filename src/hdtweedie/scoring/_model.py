"""The loaded model and its verbs: predict, intervals, explain, compare, design matrix, factor table."""

from __future__ import annotations

import copy
import math
import warnings
from types import MappingProxyType

import numpy as np

from ._compare import build_comparison
from ._design import design_matrix
from ._engine import Engine, Evaluation, Names, ReadOnly
from ._errors import ScoringInputWarning
from ._factors import BASIC_HEADER, SE_HEADER, check_policies, factor_rows, rename_map
from ._files import write_csv
from ._format import validate_document, verify_header
from ._interaction_table import interaction_grid, write_grid
from ._intervals import PredictionInterval, prediction_interval, prob_zero, sample
from ._results import Comparison, Explanation, Prediction

__all__ = ["ScoringModel"]


def _restore(document: dict, source: str, verified: bool) -> ScoringModel:
    verify_header(document, source)
    validate_document(document)
    return ScoringModel._build(document, source, verified)


def _emit(issues: list) -> None:
    text = "; ".join(i.message for i in issues[:3])
    if len(issues) > 3:
        text += f"; and {len(issues) - 3} more"
    warnings.warn(text, ScoringInputWarning, stacklevel=3)


def _frozen_mapping(value: dict | None) -> MappingProxyType | None:
    return None if value is None else MappingProxyType(dict(value))


class ScoringModel(ReadOnly):
    """An exported hdtweedie model, ready to score.

    Create it with :func:`load_model`.  Instances are immutable (assigning or
    deleting an attribute raises ``AttributeError``; mappings are read-only
    views, sequences tuples, arrays not writeable) and safe to share between
    threads.

    Parameters
    ----------
    *args, **kwargs
        Not accepted: the constructor raises ``TypeError``; a model comes only
        from a verified file, through :func:`load_model`.

    Attributes
    ----------
    model_id, version, created_at, package_version, estimator : str
    power : float
        Tweedie power of the fit (for reference; scoring uses the log link).
    dispersion : float or None
        Maximum-likelihood dispersion ``phi`` of the fit, when recorded: a
        risk of prior weight ``w`` has ``Y ~ Tweedie(prediction, phi / w,
        power)``.  Needed by :meth:`predict_interval`, :meth:`prob_zero` and
        :meth:`sample`.
    lambda_ : float
        The penalty the coefficients belong to.
    relaxed : bool or None
        True when the coefficients are the unpenalised refit of the selected
        columns (``HDTweedieCV(relax=True)``); None for files that do not say.
    training_data : mapping or None
        ``n_rows``, ``weight_sum``, ``exposure_sum`` and ``fingerprint`` of
        the training data, when recorded.
    intercept : float
    coefficients : mapping
        Feature name to coefficient (read-only).
    coef : numpy.ndarray
        Coefficients in ``feature_names`` order (read-only).
    feature_names : tuple of str
        Columns of the design matrix, in model order.  These name tuples
        also compare equal to lists of the same names.
    input_names : tuple of str
        Raw inputs of the model (rating factors and numeric inputs).
    required_inputs : tuple of str
        The inputs a record must provide: those with a non-zero coefficient.
        The others (factors the fit dropped) may be left out; their
        relativity is 1 whatever their value.
    sha256 : str
        Content hash of the file.
    signature : mapping or None
        ``algorithm`` and ``key_id`` (when recorded) of the file's signature.
    verified : bool
        True when the signature was checked with a key at load.
    source : str
        The file loaded.
    document : dict
        A copy of the verified file content.
    """

    __slots__ = ("model_id", "version", "created_at", "package_version", "estimator", "power", "lambda_",
                 "relaxed", "training_data", "intercept", "coefficients", "coef", "feature_names",
                 "input_names", "required_inputs", "sha256", "signature", "verified", "source",
                 "dispersion", "_document", "_engine")

    def __init__(self, *args, **kwargs):
        raise TypeError("use hdtweedie.scoring.load_model(path) to create a ScoringModel")

    @classmethod
    def _build(cls, document: dict, source: str, verified: bool) -> ScoringModel:
        """A model from a checked document (see :func:`load_model`)."""
        self = object.__new__(cls)
        document = copy.deepcopy(document)
        names = Names(document["features"])
        coef = np.array([float(document["coefficients"][f]) for f in names])
        coef.flags.writeable = False
        engine = Engine(float(document["intercept"]), names, coef, document["inputs"])
        signature = document.get("signature")
        values = {
            "model_id": document["model_id"], "version": document["version"],
            "created_at": document["created_at"], "package_version": document["package"]["version"],
            "estimator": document["estimator"], "power": float(document["power"]),
            "lambda_": float(document["lambda"]), "relaxed": document.get("relaxed"),
            "dispersion": float(document["dispersion"]) if "dispersion" in document else None,
            "training_data": _frozen_mapping(document.get("training_data")),
            "intercept": engine.intercept, "coef": coef, "feature_names": names,
            "coefficients": MappingProxyType(dict(zip(names, coef.tolist()))),
            "input_names": Names(t.name for t in engine.terms if t.kind != "interaction"),
            "required_inputs": engine.required,
            "sha256": document["sha256"], "verified": bool(verified), "source": source,
            "signature": _frozen_mapping(signature and {k: v for k, v in signature.items() if k != "value"}),
            "_document": document, "_engine": engine,
        }
        self._freeze(values)
        return self

    @property
    def document(self) -> dict:
        """A copy of the verified file content (editing it changes nothing)."""
        return copy.deepcopy(self._document)

    def __reduce__(self):
        return _restore, (self._document, self.source, self.verified)

    def __repr__(self):
        kinds = [t.kind for t in self._engine.terms]
        n_interactions = kinds.count("interaction")
        return (
            f"ScoringModel(model_id={self.model_id!r}, version={self.version!r}, "
            f"{kinds.count('factor')} factor(s), {kinds.count('numeric')} numeric input(s), "
            + (f"{n_interactions} interaction(s), " if n_interactions else "") +
            f"{len(self.feature_names)} feature(s))"
        )

    def _evaluate(self, data, exposure=None, unknown=None, errors="raise", keep=False) -> Evaluation:
        return self._engine.evaluate(data, exposure, unknown, errors, keep)

    def predict(self, X, exposure=None, *, unknown=None, errors="raise", warn=True):
        """Predict ``exposure * exp(b0 + x . b)``.

        Parameters
        ----------
        X : dict, list of dict, DataFrame, dict of columns, or array-like
            Records of raw inputs (rating factors by level, numeric inputs),
            one dict per risk or column-wise; or a numeric design matrix
            with the model's feature columns (``feature_names``) in order.
            Extra record fields are ignored; a missing input is an error
            unless the model gives it no weight (see ``required_inputs``).
        exposure : float, array-like, str or None
            Exposure per row (default 1), or the name of a record field that
            holds it.  Must be finite and non-negative numbers (not booleans).
        unknown : {None, "error", "base"}
            Treatment of levels not seen in training; ``None`` uses the policy
            exported with the encoder.  ``"base"`` scores them at the base
            level with a warning; ``"error"`` makes the row unscorable.
            Levels of inputs without weight are never flagged.
        errors : {"raise", "flag"}
            For rows that cannot be scored (missing, NaN or infinite input,
            unseen level under ``"error"``, invalid exposure, a prediction
            that overflows a double): raise ``ValueError`` naming the rows, or
            give NaN for those rows and list them in ``warnings``.
        warn : bool
            Also emit one :class:`ScoringInputWarning` summarising the caveats.

        Returns
        -------
        Prediction
            Array-like predictions with ``warnings`` and ``flagged`` rows;
            every value is finite or flagged.  Values outside the training
            ranges are scored and flagged.

        Raises
        ------
        ValueError
            Under ``errors="raise"``, for rows that cannot be scored; for
            malformed data of any kind.
        TypeError
            For data or exposure of the wrong type (``exposure=True``).
        """
        one = self._engine.record.score(X, exposure, unknown) if errors in ("raise", "flag") else None
        if one is not None:  # one plain record: the same numbers without the batch machinery
            if warn and one.issues:
                _emit(one.issues)
            return Prediction(np.array([one.value]), np.array([one.link]), np.array([one.exposure]),
                              one.issues)
        ev = self._evaluate(X, exposure, unknown, errors)
        values = ev.values.copy()
        values[ev.bad] = np.nan
        link = ev.link.copy()
        link[ev.bad] = np.nan
        if warn and ev.issues:
            _emit(ev.issues)
        return Prediction(values, link, ev.exposure, ev.issues)

    # -- the distribution of the outcome (see hdtweedie.scoring._intervals) --------------------
    def predict_interval(self, records, exposure=None, level=0.9, *, weight=None,
                         unknown=None) -> PredictionInterval:
        """Equal-tailed prediction interval of each risk's outcome ``Y``.

        ``Y ~ Tweedie(prediction, dispersion / weight, power)``: the exposure
        scales the mean (it is the offset of the fit), the weight is the prior
        weight the row would have had at fit.

        Parameters
        ----------
        records : dict, list of dict, DataFrame, dict of columns, or array-like
            As in :meth:`predict`.
        exposure : float, array-like, str or None
            As in :meth:`predict`.
        level : float
            Coverage in (0, 1): the bounds are the ``(1 - level) / 2`` and
            ``(1 + level) / 2`` quantiles.
        weight : float or array-like, optional
            Prior weight per row, finite and > 0 (default 1).  For a pure
            premium model fitted with ``sample_weight=exposure``, pass the
            exposure here.
        unknown : {None, "error", "base"}
            As in :meth:`predict`.

        Returns
        -------
        PredictionInterval
            ``lower``, ``upper``, ``mean``, ``dispersion`` per row and ``level``.

        Raises
        ------
        ModelFileError
            If the file records no dispersion.
        ValueError, TypeError
            For rows that cannot be scored, or a bad level, weight or exposure.
        """
        return prediction_interval(self, records, exposure, level, weight, unknown)

    def prob_zero(self, records, exposure=None, *, weight=None, unknown=None):
        """Probability of no claim cost, ``P(Y = 0) = exp(-lambda)``, per risk.

        ``lambda = mu^(2-p) / (phi (2-p))`` is the expected claim count of the
        compound Poisson form (``mu`` the prediction, ``phi`` the dispersion
        over the weight).

        Parameters
        ----------
        records, exposure, weight, unknown
            As in :meth:`predict_interval`.

        Returns
        -------
        numpy.ndarray

        Raises
        ------
        ModelFileError, ValueError, TypeError
            As :meth:`predict_interval`.
        """
        return prob_zero(self, records, exposure, weight, unknown)

    def sample(self, records, n, exposure=None, random_state=None, *, weight=None, unknown=None):
        """Simulate ``n`` outcomes of each risk (claim simulation).

        Parameters
        ----------
        records : dict, list of dict, DataFrame, dict of columns, or array-like
            As in :meth:`predict`.
        n : int
            Draws per risk, at least 1.
        exposure : float, array-like, str or None
            As in :meth:`predict`.
        random_state : None, int, numpy SeedSequence or Generator
            Seed of the draws.
        weight, unknown
            As in :meth:`predict_interval`.

        Returns
        -------
        numpy.ndarray of shape (n_rows, n)

        Raises
        ------
        ModelFileError, ValueError, TypeError
            As :meth:`predict_interval`, and for a bad ``n`` or seed.
        """
        return sample(self, records, n, exposure, weight, random_state, unknown)

    def explain(self, record, exposure=None, *, unknown=None):
        """Split one prediction into a base and a relativity per input (and per interaction).

        An interaction ``"a:b"`` is a line of its own after the inputs, with
        kind ``"interaction"``: its level is the cell ``"i:j"`` (two factors)
        or the factor's level (a factor and a numeric input, whose value is
        the numeric value).

        Parameters
        ----------
        record : dict, pandas Series, one-row DataFrame or design row
        exposure : float, str or None
            Exposure (default 1) or the record field holding it.
        unknown : {None, "error", "base"}
            As in :meth:`predict`.

        Returns
        -------
        Explanation
            ``base * prod(relativities) == prediction`` (to rounding).

        Raises
        ------
        ValueError
            For more than one record, or a record that cannot be scored.
        """
        one = self._engine.record.score(record, exposure, unknown)
        if one is not None:  # one plain record: the same numbers without the batch machinery
            return self._explained(one.parts, one.shown, one.codes, one.exposure, one.link, one.value,
                                   one.issues)
        ev = self._evaluate(record, exposure, unknown, "raise", keep=True)
        if ev.n != 1:
            raise ValueError(f"record: explain takes one record, got {ev.n} rows")
        return self._explanation(ev)

    def _explanation(self, ev: Evaluation) -> Explanation:
        terms = self._engine.terms
        shown = [ev.shown[j][0] for j in range(len(terms))]
        shown = [v.item() if isinstance(v, np.generic) else v for v in shown]
        codes = [None if t.kind == "numeric" else ev.levels[j][0] for j, t in enumerate(terms)]
        return self._explained(ev.contrib[0].tolist(), shown, codes, float(ev.exposure[0]),
                               float(ev.link[0]), float(ev.values[0]), ev.issues)

    def _explained(self, links: list, shown: list, codes: list, e: float, link: float, prediction: float,
                   issues: list) -> Explanation:
        """The Explanation of one scored row, from either path (batch or single record)."""
        contributions = []
        for term, part, value, code in zip(self._engine.terms, links, shown, codes):
            contributions.append({"input": term.name, "kind": term.kind, "value": value,
                                  "level": None if code is None else term.levels[code],
                                  "link": part, "relativity": math.exp(part)})
        return Explanation(
            model_id=self.model_id, version=self.version, intercept=self.intercept, exposure=e,
            base=e * math.exp(self.intercept), contributions=contributions, link=link,
            prediction=prediction, warnings=list(issues),
        )

    def compare(self, record_a, record_b=None, *, other=None, exposure_a=None, exposure_b=None,
                unknown=None) -> Comparison:
        """Compare two predictions and attribute their log-ratio exactly.

        Record A is scored on this model.  Record B is scored on ``other``
        when given (a second model version), else on this model.  The
        log-ratio ``log(pred_b / pred_a)`` splits into

        * the *input change*: both records scored on this model, one term per
          input that differs (and the exposure);
        * the *model change*: record B on ``other`` minus record B on this
          model, one term for the intercept and one per input.

        Two different levels unseen in training (both scored at the base
        level under ``unknown="base"``) are reported in ``changed_inputs``
        with a link of 0.

        Parameters
        ----------
        record_a : dict, Series or design row
        record_b : same, optional
            Defaults to ``record_a`` (a pure model comparison with ``other``).
        other : ScoringModel, optional
            The model to score record B on.
        exposure_a, exposure_b : float, str or None
            Exposures (default 1); ``exposure_b`` defaults to ``exposure_a``.
            Must be positive so that the ratio is defined.
        unknown : {None, "error", "base"}
            As in :meth:`predict`.

        Returns
        -------
        Comparison

        Raises
        ------
        TypeError
            If ``other`` is not a ScoringModel.
        ValueError
            For records that cannot be scored or a zero exposure.
        """
        if other is not None and not isinstance(other, ScoringModel):
            raise TypeError(f"other must be a ScoringModel (from load_model), got {type(other).__name__}")
        record_b = record_a if record_b is None else record_b
        exposure_b = exposure_a if exposure_b is None else exposure_b
        model_b = self if other is None else other
        ea = self._evaluate(record_a, exposure_a, unknown, "raise", keep=True)
        eb = self._evaluate(record_b, exposure_b, unknown, "raise", keep=True)
        for label, ev in (("record_a", ea), ("record_b", eb)):
            if ev.n != 1:
                raise ValueError(f"{label}: compare takes one record, got {ev.n} rows")
            if not ev.exposure[0] > 0:
                raise ValueError(f"exposure for {label} must be positive to compare, got {ev.exposure[0]!r}")
        xa, xb = self._explanation(ea), self._explanation(eb)
        issues = ea.issues + eb.issues
        xbb = xb
        if model_b is not self:
            ebb = model_b._evaluate(record_b, exposure_b, unknown, "raise", keep=True)
            xbb = model_b._explanation(ebb)
            issues += ebb.issues
        # interactions have their own lines, after the inputs
        own = [t.name for t in self._engine.terms]
        names = own + [t.name for t in model_b._engine.terms if t.name not in own]
        labels = (self._label(), None if model_b is self else model_b._label())
        return build_comparison((record_a, record_b), names, (xa, xb, xbb), labels,
                                (self.intercept, model_b.intercept), issues)

    def _label(self) -> str:
        return f"{self.model_id} version {self.version}"

    def design_matrix(self, records, *, unknown=None):
        """The design matrix of records: one column per feature, in ``feature_names`` order.

        The encoding is the one :meth:`predict` scores with (one-hot columns
        of the non-base levels, numeric inputs as given), so that
        ``exp(intercept + design_matrix(X) @ coef)`` equals ``predict(X)``.
        Use it to compute statistics of a model file on data, such as
        standard errors of its coefficients.

        Parameters
        ----------
        records : dict, list of dict, DataFrame, dict of columns, or array-like
            As for :meth:`predict`, but every input must be given (even one
            without weight), and every row must be encodable.
        unknown : {None, "error", "base"}
            Levels not seen in training: ``None`` follows the file's policy;
            ``"base"`` encodes them as the base level with a warning.

        Returns
        -------
        numpy.ndarray of shape (n_rows, n_features)
            A new float64 array.

        Raises
        ------
        ValueError
            For a missing input, a missing, NaN or infinite value, or an unseen
            level (unless encoded as the base level), naming the input and rows.
        TypeError
            For records of the wrong type.
        """
        X, based = design_matrix(self._engine, records, unknown)
        if based:
            warnings.warn(f"{based} row(s) with a level not seen in training were encoded as the base level",
                          ScoringInputWarning, stacklevel=2)
        return X

    def factor_table(self, path=None, *, include_base=True, standard_errors=None, confidence_level=0.95,
                     decimals=None, names=None, policies=None):
        """Relativities of every level of every factor, for rating engines.

        Parameters
        ----------
        path : str or os.PathLike, optional
            Also write the table as CSV (columns Factor, Level, Relativity,
            and SE, LowerCI, UpperCI with ``standard_errors``; numbers in
            shortest round-trip form), whole or not at all.
            Text that a spreadsheet would run as a formula (starting with
            ``= + - @``, a tab or a carriage return, other than a plain
            number such as ``-0.5``) is written with a leading ``'``.
        include_base : bool
            Start with a row ``("(intercept)", "", exp(b0))``: the base rate
            per unit exposure that the relativities multiply.
        standard_errors : mapping or pandas Series, optional
            Standard error of every feature's coefficient on the log scale
            (such as ``coef_table["se"]``, whose ``"intercept"`` entry is
            used for the intercept row).  Adds ``SE`` (0 for base levels),
            ``LowerCI`` and ``UpperCI`` (``exp(b -/+ z * SE)``).
        confidence_level : float
            Coverage of the interval, in (0, 1) (default 0.95).
        decimals : int, optional
            Round every number to this many decimals (0 to 15).
        names : mapping, optional
            New names of some inputs, e.g. ``{"area": "PostcodeArea"}`` for
            an engine that matches factor names exactly.
        policies : records or DataFrame, optional
            Policies to be rated with the table: every level of a factor
            column found there (by input name or new name) must be in the
            table, otherwise nothing is written and the missing levels are named.

        Returns
        -------
        list of dict
            Rows ``{"Factor", "Level", "Relativity"}`` (plus ``"SE"``,
            ``"LowerCI"``, ``"UpperCI"``): every level of every
            factor (the base level has relativity 1.0), and one
            ``"per unit"`` row per numeric input (the relativity for a
            one-unit increase).  An interaction ``"a:b"`` of two factors has
            a row per cell ``"i:j"`` (1.0 where either level is a base
            level); of a factor and a numeric input, a row ``"i per unit"``
            per level.  See :meth:`interaction_table` for two-way tables.
            The text is as in the model, unquoted.

        Raises
        ------
        ValueError
            For a standard error missing or negative, an unusable
            ``confidence_level``, ``decimals`` or ``names``, or policies with
            levels the table lacks.
        TypeError
            For arguments of the wrong type.
        OSError
            If ``path`` cannot be written; an existing file is then left as it was.
        """
        renamed = rename_map(self._engine, names)
        rows = factor_rows(self._engine, include_base=include_base, standard_errors=standard_errors,
                           confidence_level=confidence_level, decimals=decimals, names=renamed)
        if policies is not None:
            check_policies(self._engine, policies, renamed)
        if path is not None:
            header = SE_HEADER if standard_errors is not None else BASIC_HEADER
            write_csv(path, header, ([r[h] if isinstance(r[h], str) else repr(r[h]) for h in header]
                                     for r in rows))
        return rows

    def interaction_table(self, name, path=None, *, view="interaction", decimals=None):
        """Relativities of an interaction as a two-way table (rows: the first factor's levels).

        Parameters
        ----------
        name : str
            The interaction, ``"a:b"`` (see ``FactorEncoder(interactions=)``).
        path : str or os.PathLike, optional
            Also write the table, whole or not at all: JSON when the name ends
            in ``.json``, else CSV (first cell ``"a \\ b"``, then the column
            levels; one line per row level).
        view : {"interaction", "combined"}
            The interaction's own relativities (1 on base cells), or combined
            with both main effects (the cell against both base levels).  A
            factor x numeric interaction has one column, per unit of the
            numeric input: ``exp(level slope)``, combined
            ``exp(main slope + level slope)``.
        decimals : int, optional
            Round the relativities to this many decimals (0 to 15).

        Returns
        -------
        dict
            ``interaction``, ``view``, ``rows``, ``columns``, ``row_levels``,
            ``column_levels`` and ``relativities`` (a list per row level).

        Raises
        ------
        ValueError
            For a name that is not an interaction of the model, a bad view or decimals.
        TypeError
            For a name that is not a string.
        OSError
            If ``path`` cannot be written; an existing file is then left as it was.
        """
        grid = interaction_grid(self._engine, name, view, decimals)
        if path is not None:
            write_grid(path, grid)
        return grid

"""Score exported hdtweedie models with numpy and the standard library only.

A model file written by :meth:`HDTweedie.export` (or
:func:`hdtweedie._export.export_model`) holds everything needed to price a
risk: the intercept, the coefficients by feature name, the rating factors with
their levels and base levels, and the training ranges of numeric inputs.  This
module loads such a file and scores, explains and compares risks with it.  It
imports numpy and the standard library only, so a pricing service can depend
on it without scikit-learn or scipy.

The model is a log-link GLM::

    prediction = exposure * exp(b0 + x . b)

so every quantity below is exact arithmetic on that formula: ``explain``
splits the linear predictor into one additive term per input (a multiplicative
relativity on the response scale), and ``compare`` splits the log-ratio of two
predictions into the same terms.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import math
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

__all__ = [
    "FORMAT_NAME",
    "SCHEMA_VERSION",
    "Comparison",
    "Explanation",
    "ModelFileError",
    "Prediction",
    "ScoringInputWarning",
    "ScoringIssue",
    "ScoringModel",
    "canonical_json",
    "content_hash",
    "level_key",
    "load_model",
    "model_schema",
    "validate_document",
]

FORMAT_NAME = "hdtweedie-model"
SCHEMA_VERSION = "1.0"
_SUPPORTED_MAJOR = "1"


class ModelFileError(ValueError):
    """A model file is unreadable, tampered with, or does not match the schema."""


class ScoringInputWarning(UserWarning):
    """Some inputs were scored with a caveat (out of range, unseen level, ...)."""


# ---------------------------------------------------------------------------
# Canonical content, hashing and schema
# ---------------------------------------------------------------------------


def canonical_json(document):
    """Return the canonical text of a model document, without its hash.

    Keys sorted, no whitespace, ASCII only, and NaN/infinity refused.  Floats
    are written with Python's shortest round-trip representation, so parsing
    the text gives back the same doubles and re-serialising gives the same
    text.

    Parameters
    ----------
    document : dict
        Model document; a top-level ``"sha256"`` key is left out.

    Returns
    -------
    str
    """
    content = {k: v for k, v in document.items() if k != "sha256"}
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=True
    )


def content_hash(document):
    """SHA-256 (hex) of :func:`canonical_json` of ``document``."""
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=1)
def _schema_text():
    return (
        resources.files(__package__ or "hdtweedie")
        .joinpath("schema", "model.schema.json")
        .read_text(encoding="utf-8")
    )


def model_schema():
    """Return the JSON Schema of model files shipped with the package (a new dict)."""
    return json.loads(_schema_text())


_JSON_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _schema_errors(value, schema, root, where):
    """Yield messages for the JSON Schema keywords the model schema uses.

    A deliberately small validator (type, const, enum, properties, required,
    additionalProperties, items, minItems, uniqueItems, minLength, pattern,
    minimum, maximum, exclusiveMinimum, oneOf, local $ref) so that loading a
    model needs no third-party package; the tests check it agrees with the
    ``jsonschema`` package on the shipped schema.
    """
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ModelFileError(f"unsupported schema reference {ref!r}")
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        yield from _schema_errors(value, target, root, where)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_JSON_TYPES[t](value) for t in types):
            yield f"{where}: expected {' or '.join(types)}, got {type(value).__name__} {_short(value)}"
            return
    if "const" in schema and not _json_equal(value, schema["const"]):
        yield f"{where}: expected {schema['const']!r}, got {_short(value)}"
    if "enum" in schema and not any(_json_equal(value, e) for e in schema["enum"]):
        yield f"{where}: expected one of {schema['enum']!r}, got {_short(value)}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            yield f"{where}: string shorter than {schema['minLength']}"
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            yield f"{where}: {value!r} does not match {schema['pattern']!r}"
    if _JSON_TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            yield f"{where}: {value!r} is below the minimum {schema['minimum']!r}"
        if "maximum" in schema and value > schema["maximum"]:
            yield f"{where}: {value!r} is above the maximum {schema['maximum']!r}"
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            yield f"{where}: {value!r} must be greater than {schema['exclusiveMinimum']!r}"
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                yield f"{where}: missing required key {key!r}"
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                yield from _schema_errors(item, props[key], root, f"{where}.{key}")
            elif extra is False:
                yield f"{where}: unexpected key {key!r}"
            elif isinstance(extra, dict):
                yield from _schema_errors(item, extra, root, f"{where}.{key}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            yield f"{where}: fewer than {schema['minItems']} items"
        if schema.get("uniqueItems"):
            seen = [json.dumps(v, sort_keys=True) for v in value]
            if len(set(seen)) != len(seen):
                yield f"{where}: items are not unique"
        if "items" in schema:
            for i, item in enumerate(value):
                yield from _schema_errors(item, schema["items"], root, f"{where}[{i}]")
    if "oneOf" in schema:
        results = [list(_schema_errors(value, s, root, where)) for s in schema["oneOf"]]
        n_ok = sum(1 for r in results if not r)
        if n_ok != 1:
            detail = "; ".join(min(results, key=len)) if n_ok == 0 else "several alternatives match"
            yield f"{where}: does not match exactly one allowed form ({detail})"


def _json_equal(a, b):
    # JSON equality: booleans are not numbers.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_document(document):
    """Check a parsed model document against the schema and its own consistency.

    Parameters
    ----------
    document : dict
        Parsed model file.

    Raises
    ------
    ModelFileError
        Naming the first problems found.
    """
    if not isinstance(document, dict):
        raise ModelFileError(f"a model file must hold a JSON object, got {type(document).__name__}")
    schema = model_schema()
    errors = list(_schema_errors(document, schema, schema, "$"))
    if errors:
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ModelFileError("model file does not match the schema: " + "; ".join(errors[:3]) + more)
    _check_consistency(document)


def _check_consistency(doc):
    problems = []
    features = doc["features"]
    if set(doc["coefficients"]) != set(features):
        missing = sorted(set(features) - set(doc["coefficients"]))
        extra = sorted(set(doc["coefficients"]) - set(features))
        problems.append(f"coefficients do not match features (missing {missing}, extra {extra})")
    numbers = [("intercept", doc["intercept"]), ("power", doc["power"]), ("lambda", doc["lambda"])]
    numbers += [(f"coefficients[{k!r}]", v) for k, v in doc["coefficients"].items()]
    used = []
    names = []
    for spec in doc["inputs"]:
        names.append(spec["name"])
        if spec["kind"] == "factor":
            levels = spec["levels"]
            if spec["base_level"] not in levels:
                problems.append(
                    f"factor {spec['name']!r}: base level {spec['base_level']!r} is not among its levels")
            expected = [lv for lv in levels if lv != spec["base_level"]]
            if sorted(spec["features"]) != sorted(expected):
                problems.append(f"factor {spec['name']!r}: features must map every non-base level")
            used.extend(spec["features"].values())
        else:
            used.append(spec["feature"])
            for bound in ("min", "max"):
                if spec[bound] is not None:
                    numbers.append((f"input {spec['name']!r} {bound}", spec[bound]))
            if spec["min"] is not None and spec["max"] is not None and spec["min"] > spec["max"]:
                problems.append(f"input {spec['name']!r}: min {spec['min']!r} > max {spec['max']!r}")
    if len(set(names)) != len(names):
        problems.append("input names are not unique")
    if sorted(used) != sorted(features):
        problems.append("inputs must use every feature exactly once")
    for label, value in numbers:
        if not math.isfinite(value):
            problems.append(f"{label} is not finite ({value!r})")
    if problems:
        raise ModelFileError("model file is inconsistent: " + "; ".join(problems[:3]))


def _reject_constant(name):
    raise ValueError(f"non-standard JSON number {name}")


def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def load_model(path):
    """Load and verify an exported model file.

    The file must be valid JSON in the ``hdtweedie-model`` format, carry a
    supported schema version, have an intact SHA-256 of its canonical content,
    match the shipped JSON Schema and be internally consistent.

    Parameters
    ----------
    path : str or os.PathLike
        Model file written by ``export``.

    Returns
    -------
    ScoringModel

    Raises
    ------
    ModelFileError
        If the file is truncated, corrupted, tampered with, or of another
        format or schema version, with a message saying which.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path!r}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"model file {path!r} is not UTF-8 text (corrupted?)") from exc
    try:
        document = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except ValueError as exc:
        raise ModelFileError(
            f"model file {path!r} is not valid JSON (truncated or corrupted?): {exc}") from exc
    return ScoringModel._from_document(document, source=path)


def _verify_header(document, source):
    if not isinstance(document, dict):
        raise ModelFileError(f"model file {source!r} must hold a JSON object, got {type(document).__name__}")
    if document.get("format") != FORMAT_NAME:
        raise ModelFileError(
            f"{source!r} is not an hdtweedie model file (format {document.get('format')!r}, "
            f"expected {FORMAT_NAME!r})"
        )
    version = document.get("schema_version")
    if not isinstance(version, str) or version.split(".")[0] != _SUPPORTED_MAJOR:
        raise ModelFileError(
            f"model file {source!r} has schema version {version!r}; this scorer reads "
            f"version {_SUPPORTED_MAJOR}.x (export it again or upgrade hdtweedie)"
        )
    stored = document.get("sha256")
    if not isinstance(stored, str):
        raise ModelFileError(f"model file {source!r} has no 'sha256' content hash")
    try:
        actual = content_hash(document)
    except ValueError as exc:  # infinities from out-of-range literals
        raise ModelFileError(f"model file {source!r} holds a non-finite number: {exc}") from exc
    if actual != stored:
        raise ModelFileError(
            f"model file {source!r} failed its integrity check: the content hash is {actual}, "
            f"the file says {stored}; it was changed after export"
        )


# ---------------------------------------------------------------------------
# Factor levels
# ---------------------------------------------------------------------------


def _is_missing(value):
    if value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def level_key(value):
    """Canonical text of a factor level, or ``None`` for a missing value.

    Strings are kept as they are; integers and integral floats become their
    integer text (``3``, ``3.0`` and ``np.int64(3)`` are all ``"3"``), other
    floats their shortest round-trip text, booleans ``"True"``/``"False"``.
    The encoder and the scorer both match levels through this function.

    Parameters
    ----------
    value : object
        A raw value of a rating factor.

    Returns
    -------
    str or None
    """
    if isinstance(value, str):
        return str(value)
    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, (list, tuple, dict, set, np.ndarray)):
        raise TypeError(f"a factor level must be a scalar, got {type(value).__name__} {_short(value)}")
    return str(value)


def _as_array(values):
    """1-D numpy view of a column: ndarray, pandas Series (without importing pandas) or list."""
    if isinstance(values, np.ndarray):
        return values.reshape(-1)
    if hasattr(values, "to_numpy"):
        return np.asarray(values.to_numpy()).reshape(-1)
    return np.asarray(values, dtype=object).reshape(-1)


def _codes(values, index, name):
    """Map raw values to positions in ``index`` (-1 unseen, -2 missing), vectorised."""

    def code(v):
        try:
            key = level_key(v)
        except TypeError as exc:
            raise TypeError(f"input {name!r}: {exc}") from None
        return -2 if key is None else index.get(key, -1)

    if not isinstance(values, np.ndarray) and hasattr(values, "factorize"):
        # pandas columns: hash-based factorisation in C, then one lookup per distinct value
        found, uniques = values.factorize()
        table = np.array([code(u) for u in list(uniques)] + [-2], dtype=np.intp)
        return table[np.asarray(found, dtype=np.intp)]  # NA gets -1, i.e. the last entry: missing
    arr = _as_array(values)
    if arr.dtype.kind in "biufUS":
        uniq, inverse = np.unique(arr, return_inverse=True)
        table = np.array([code(u) for u in uniq.tolist()], dtype=np.intp)
        return table[inverse.reshape(-1)]
    flat = arr.tolist()
    try:
        table = {u: code(u) for u in set(flat)}
    except TypeError as exc:
        if "input" in str(exc):
            raise
        raise TypeError(f"input {name!r} holds unhashable values such as {_short(flat[0])}") from None
    return np.fromiter(map(table.__getitem__, flat), dtype=np.intp, count=len(flat))


def _numeric(values, name):
    arr = _as_array(values)
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64)
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        out = np.empty(arr.shape[0])
        for i, v in enumerate(arr.tolist()):
            if _is_missing(v):
                out[i] = np.nan
                continue
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                raise TypeError(f"input {name!r} must be numeric, got {_short(v)} at row {i}") from None
        return out


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoringIssue:
    """A caveat about some rows of a scoring call.

    Attributes
    ----------
    kind : str
        ``"out_of_range"``, ``"unseen_level"``, ``"missing_value"``,
        ``"invalid_exposure"`` or ``"invalid_encoding"``.
    input : str
        The input (rating factor, numeric input or ``"exposure"``) concerned.
    rows : numpy.ndarray
        Row positions affected.
    message : str
        What happened, in words.
    scored : bool
        False when the rows could not be scored (their prediction is NaN).
    """

    kind: str
    input: str
    rows: np.ndarray = field(repr=False)
    message: str
    scored: bool = True

    def __str__(self):
        return self.message


class Prediction:
    """Predictions with the caveats found while scoring.

    Behaves as a 1-D float array (``np.asarray(pred)``, ``pred[i]``,
    ``len(pred)``); ``warnings`` lists every :class:`ScoringIssue` and
    ``flagged`` marks the rows they concern, so no caveat is silent.

    Attributes
    ----------
    values : numpy.ndarray
        ``exposure * exp(b0 + x . b)``; NaN only for rows that could not be
        scored when ``errors="flag"``.
    link : numpy.ndarray
        ``b0 + x . b`` (without the exposure).
    exposure : numpy.ndarray
    warnings : list of ScoringIssue
    flagged : numpy.ndarray of bool
    """

    def __init__(self, values, link, exposure, issues):
        self.values = values
        self.link = link
        self.exposure = exposure
        self.warnings = list(issues)
        self.flagged = np.zeros(values.shape[0], dtype=bool)
        for issue in self.warnings:
            self.flagged[issue.rows] = True

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)

    def __len__(self):
        return self.values.shape[0]

    def __getitem__(self, item):
        return self.values[item]

    def __iter__(self):
        return iter(self.values)

    def __float__(self):
        if self.values.shape[0] != 1:
            raise TypeError(f"only a single prediction converts to float, got {self.values.shape[0]}")
        return float(self.values[0])

    def __repr__(self):
        shown = np.array2string(self.values, threshold=6, precision=6)
        return f"Prediction({shown}, {len(self.warnings)} warning(s))"


@dataclass
class Explanation:
    """One prediction split into a base and one relativity per input.

    ``base * prod(relativity) == prediction``, where ``base = exposure *
    exp(intercept)`` and each input's ``relativity = exp(link)``.

    Attributes
    ----------
    model_id, version : str
    intercept, exposure, base, link, prediction : float
    contributions : list of dict
        One per input, in model order: ``input``, ``kind`` (factor/numeric),
        ``value`` (as given), ``level`` (the level scored, factors only),
        ``link`` (contribution to the linear predictor) and ``relativity``.
    warnings : list of ScoringIssue
    """

    model_id: str
    version: str
    intercept: float
    exposure: float
    base: float
    contributions: list
    link: float
    prediction: float
    warnings: list

    @property
    def relativities(self):
        """Dict of input name to multiplicative relativity."""
        return {c["input"]: c["relativity"] for c in self.contributions}

    def to_dict(self):
        """Plain dict (JSON-serialisable) of the explanation."""
        return {
            "model_id": self.model_id,
            "version": self.version,
            "base": {"intercept": self.intercept, "exposure": self.exposure, "value": self.base},
            "contributions": [_jsonable(c) for c in self.contributions],
            "link": self.link,
            "prediction": self.prediction,
            "warnings": [w.message for w in self.warnings],
        }

    def __str__(self):
        lines = [
            f"Model {self.model_id} version {self.version}",
            f"  base: exposure {_fmt(self.exposure)} x exp(intercept {_fmt(self.intercept)})"
            f" = {_fmt(self.base)}",
        ]
        width = max([len(c["input"]) for c in self.contributions] + [5])
        for c in self.contributions:
            shown = c["level"] if c["kind"] == "factor" else _fmt(c["value"])
            lines.append(
                f"  {c['input']:<{width}}  {str(shown):<12} link {c['link']:+.6f}  x{c['relativity']:.6f}"
            )
        lines.append(f"  prediction = {_fmt(self.prediction)}")
        lines += [f"  warning: {w.message}" for w in self.warnings]
        return "\n".join(lines)


@dataclass
class Comparison:
    """Exact attribution of the log-ratio of two predictions.

    ``log(prediction_b / prediction_a) == input_part + model_part``, where
    ``input_part`` is the sum of ``input_attribution`` links (both records on
    model A) and ``model_part`` the sum of ``model_attribution`` links (record
    B on model B minus record B on model A).

    Attributes
    ----------
    prediction_a, prediction_b : float
    ratio, log_ratio : float
    changed_inputs : list of dict
        ``input``, ``a``, ``b`` for each input (and exposure) that differs.
    input_attribution : list of dict
        ``input``, ``link``, ``relativity`` per differing input (and the
        exposure), scored on model A; an input model A does not use has link 0.
    model_attribution : list of dict
        ``input`` (or ``"intercept"``), ``link``, ``relativity`` of the model
        change on record B; empty when both sides use the same model.
    input_part, model_part : float
        Log-scale totals of the two attributions.
    summary : str
        The comparison in words.
    warnings : list of ScoringIssue
    """

    prediction_a: float
    prediction_b: float
    ratio: float
    log_ratio: float
    changed_inputs: list
    input_attribution: list
    model_attribution: list
    input_part: float
    model_part: float
    summary: str
    warnings: list

    def to_dict(self):
        """Plain dict (JSON-serialisable) of the comparison."""
        return {
            "prediction_a": self.prediction_a,
            "prediction_b": self.prediction_b,
            "ratio": self.ratio,
            "log_ratio": self.log_ratio,
            "changed_inputs": [_jsonable(c) for c in self.changed_inputs],
            "input_attribution": [_jsonable(c) for c in self.input_attribution],
            "model_attribution": [_jsonable(c) for c in self.model_attribution],
            "input_part": self.input_part,
            "model_part": self.model_part,
            "summary": self.summary,
            "warnings": [w.message for w in self.warnings],
        }

    def __str__(self):
        return self.summary


def _jsonable(d):
    out = {}
    for k, v in d.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif not isinstance(v, (str, int, float, bool, type(None))):
            v = str(v)
        out[k] = v
    return out


def _fmt(x):
    return f"{x:.6g}" if isinstance(x, float) else str(x)


# ---------------------------------------------------------------------------
# The scorer
# ---------------------------------------------------------------------------


class _Factor:
    kind = "factor"

    def __init__(self, spec, feature_pos, coef):
        self.name = spec["name"]
        self.levels = list(spec["levels"])
        self.base = spec["base_level"]
        self.handle_unknown = spec["handle_unknown"]
        self.index = {lv: i for i, lv in enumerate(self.levels)}
        self.base_code = self.index[self.base]
        self.level_features = dict(spec["features"])
        # link contribution of each level; the base level contributes 0
        self.table = np.zeros(len(self.levels))
        self.block = []
        self.block_codes = []
        for lv, feat in self.level_features.items():
            pos = feature_pos[feat]
            self.table[self.index[lv]] = coef[pos]
            self.block.append(pos)
            self.block_codes.append(self.index[lv])
        self.block = np.array(self.block, dtype=np.intp)
        self.block_codes = np.array(self.block_codes, dtype=np.intp)


class _Numeric:
    kind = "numeric"

    def __init__(self, spec, feature_pos, coef):
        self.name = spec["name"]
        self.feature = spec["feature"]
        self.pos = feature_pos[self.feature]
        self.coef = float(coef[self.pos])
        self.min = spec["min"]
        self.max = spec["max"]


class _Evaluation:
    """Internal result of scoring one batch."""

    __slots__ = ("n", "link", "exposure", "contrib", "shown", "levels", "issues", "bad")


class ScoringModel:
    """An exported hdtweedie model, ready to score.

    Create it with :func:`load_model`.  Instances are immutable and safe to
    share between threads.

    Attributes
    ----------
    model_id, version, created_at, package_version, estimator : str
    power : float
        Tweedie power of the fit (for reference; scoring uses the log link).
    lambda_ : float
        The penalty the coefficients belong to.
    intercept : float
    coefficients : dict
        Feature name to coefficient.
    feature_names : list of str
        Columns of the design matrix, in model order.
    input_names : list of str
        Raw inputs a record must provide (rating factors and numeric inputs).
    sha256 : str
        Content hash of the file.
    document : dict
        The verified file content.
    """

    def __init__(self, *args, **kwargs):
        raise TypeError("use hdtweedie.scoring.load_model(path) to create a ScoringModel")

    @classmethod
    def _from_document(cls, document, source="<document>"):
        _verify_header(document, source)
        try:
            validate_document(document)
        except ModelFileError as exc:
            raise ModelFileError(f"{source!r}: {exc}") from None
        self = object.__new__(cls)
        self.document = document
        self.source = source
        self.model_id = document["model_id"]
        self.version = document["version"]
        self.created_at = document["created_at"]
        self.package_version = document["package"]["version"]
        self.estimator = document["estimator"]
        self.power = float(document["power"])
        self.lambda_ = float(document["lambda"])
        self.intercept = float(document["intercept"])
        self.sha256 = document["sha256"]
        self.feature_names = list(document["features"])
        self._coef = np.array([float(document["coefficients"][f]) for f in self.feature_names])
        self.coefficients = dict(zip(self.feature_names, self._coef.tolist()))
        pos = {f: i for i, f in enumerate(self.feature_names)}
        self._inputs = [
            (_Factor if spec["kind"] == "factor" else _Numeric)(spec, pos, self._coef)
            for spec in document["inputs"]
        ]
        self.input_names = [inp.name for inp in self._inputs]
        self._by_name = {inp.name: inp for inp in self._inputs}
        return self

    def __repr__(self):
        n_factors = sum(1 for i in self._inputs if i.kind == "factor")
        return (
            f"ScoringModel(model_id={self.model_id!r}, version={self.version!r}, "
            f"{n_factors} factor(s), {len(self._inputs) - n_factors} numeric input(s), "
            f"{len(self.feature_names)} feature(s))"
        )

    # -- input handling -----------------------------------------------------

    def _table(self, data):
        """Return ("columns", {name: 1-D array}, n) or ("design", 2-D array, n)."""
        if isinstance(data, Mapping):
            values = list(data.values())
            if any(_is_column(v) for v in values):
                cols = {str(k): _column(v) for k, v in data.items()}
                lengths = {c.shape[0] for c in cols.values()}
                if len(lengths) != 1:
                    raise ValueError(f"X: columns have different lengths {sorted(lengths)}")
                return "columns", cols, lengths.pop()
            return "columns", {str(k): np.array([v], dtype=object) for k, v in data.items()}, 1
        if hasattr(data, "columns") and hasattr(data, "iloc"):  # DataFrame, without importing pandas
            cols = {str(c): data[c] for c in data.columns}
            return "columns", cols, len(data)
        if hasattr(data, "to_dict") and hasattr(data, "iloc"):  # a Series is one record
            return self._table(dict(data.to_dict()))
        if isinstance(data, np.ndarray) and data.dtype.names:
            return "columns", {n: data[n].reshape(-1) for n in data.dtype.names}, data.reshape(-1).shape[0]
        if isinstance(data, (list, tuple)) and data and all(isinstance(r, Mapping) for r in data):
            names = []
            for r in data:
                names.extend(k for k in r if k not in names)
            cols = {str(k): np.array([r.get(k) for r in data], dtype=object) for k in names}
            return "columns", cols, len(data)
        if hasattr(data, "toarray"):  # sparse design matrix
            data = data.toarray()
        try:
            X = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                "X must be records (a dict, a list of dicts, a DataFrame or a dict of columns) "
                f"or a numeric design matrix; got {type(data).__name__} ({exc})"
            ) from None
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(
                f"X: a design matrix must have {len(self.feature_names)} columns "
                f"({', '.join(self.feature_names[:5])}{', ...' if len(self.feature_names) > 5 else ''}), "
                f"got shape {X.shape}"
            )
        return "design", X, X.shape[0]

    def _exposure(self, exposure, columns, n):
        if exposure is None:
            return np.ones(n)
        if isinstance(exposure, str):
            if columns is None or exposure not in columns:
                raise ValueError(f"exposure: no column {exposure!r} in the records")
            exposure = columns[exposure]
        e = _numeric(exposure if hasattr(exposure, "__len__") else [exposure], "exposure")
        if e.shape[0] == 1 and n != 1:
            e = np.full(n, e[0])
        if e.shape[0] != n:
            raise ValueError(f"exposure: expected {n} values (one per row), got {e.shape[0]}")
        return e

    def _evaluate(self, data, exposure=None, unknown=None, errors="raise", keep=False):
        if errors not in ("raise", "flag"):
            raise ValueError(f"errors must be 'raise' or 'flag', got {errors!r}")
        if unknown not in (None, "error", "base"):
            raise ValueError(f"unknown must be None, 'error' or 'base', got {unknown!r}")
        layout, table, n = self._table(data)
        given = table
        ev = _Evaluation()
        ev.n = n
        ev.issues = []
        ev.bad = np.zeros(n, dtype=bool)
        ev.contrib = np.zeros((n, len(self._inputs))) if keep else None
        ev.shown = [None] * len(self._inputs)
        ev.levels = [None] * len(self._inputs)
        if layout == "columns" and any(name not in table for name in self.input_names) \
                and all(f in table for f in self.feature_names):
            # already-encoded columns by feature name (e.g. a transformer's pandas output)
            table = np.column_stack([_numeric(table[f], f) for f in self.feature_names])
            layout = "design"
        if layout == "columns":
            missing = [name for name in self.input_names if name not in table]
            if missing:
                raise ValueError(
                    f"X: records lack the input(s) {missing}; model {self.model_id!r} needs "
                    f"{self.input_names}"
                )
            link = np.full(n, self.intercept)
            for j, inp in enumerate(self._inputs):
                part = self._column_part(inp, table[inp.name], unknown, ev, j)
                link += part
                if keep:
                    ev.contrib[:, j] = part
        else:
            link = self._design_part(table, ev, keep)
        e = self._exposure(exposure, given if isinstance(given, dict) else None, n)
        bad_e = ~np.isfinite(e) | (e < 0)
        if bad_e.any():
            self._issue(ev, "invalid_exposure", "exposure", bad_e, e,
                        "negative, NaN or infinite exposure", False)
        ev.exposure = e
        ev.link = link
        if errors == "raise":
            for issue in ev.issues:
                if not issue.scored:
                    raise ValueError(f"{issue.message} (pass errors='flag' to score the other rows)")
        return ev

    def _issue(self, ev, kind, name, mask, values, what, scored, suffix=""):
        rows = np.flatnonzero(mask)
        first = int(rows[0])
        shown = values[first]
        shown = shown.item() if isinstance(shown, np.generic) else shown
        plural = "row" if rows.size == 1 else "rows"
        message = f"{name}: {rows.size} {plural} with {what} (first at row {first}: {_short(shown)}){suffix}"
        if not scored:
            message += "; not scored"
            ev.bad[rows] = True
        ev.issues.append(ScoringIssue(kind, name, rows, message, scored))

    def _column_part(self, inp, values, unknown, ev, j):
        if inp.kind == "numeric":
            x = _numeric(values, inp.name)
            ev.shown[j] = x
            nan = np.isnan(x)
            if nan.any():
                self._issue(ev, "missing_value", inp.name, nan, x, "a missing or NaN value", False)
            self._range_check(inp, x, ev)
            part = x * inp.coef
            part[nan] = 0.0
            return part
        codes = _codes(values, inp.index, inp.name)
        raw = None
        missing = codes == -2
        unseen = codes == -1
        if missing.any() or unseen.any():
            raw = _as_array(values)
            if missing.any():
                self._issue(ev, "missing_value", inp.name, missing, raw, "a missing value", False)
            if unseen.any():
                policy = unknown or inp.handle_unknown
                examples = sorted({str(level_key(v)) for v in raw[unseen][:1000].tolist()})[:5]
                what = f"a level not seen in training ({', '.join(map(repr, examples))})"
                if policy == "base":
                    self._issue(ev, "unseen_level", inp.name, unseen, raw, what, True,
                                f"; scored at the base level {inp.base!r}")
                else:
                    self._issue(ev, "unseen_level", inp.name, unseen, raw, what, False)
            codes = np.where(codes < 0, inp.base_code, codes)
        if ev.contrib is not None:  # explain/compare keep what was given and the level used
            ev.shown[j] = raw if raw is not None else _as_array(values)
            ev.levels[j] = codes
        return inp.table[codes]

    def _range_check(self, inp, x, ev):
        if inp.min is None or inp.max is None:
            return
        out = (x < inp.min) | (x > inp.max)  # NaN compares False: flagged as missing instead
        if out.any():
            self._issue(ev, "out_of_range", inp.name, out, x,
                        f"a value outside the training range [{inp.min!r}, {inp.max!r}]", True,
                        "; the prediction extrapolates")

    def _design_part(self, X, ev, keep):
        n = X.shape[0]
        link = X @ self._coef + self.intercept
        bad = ~np.isfinite(link)
        if bad.any():
            # NaN/inf anywhere in a row reaches its linear predictor (0 * inf is NaN too)
            rows = bad & ~np.all(np.isfinite(X), axis=1)
            if rows.any():
                cols = np.flatnonzero(~np.all(np.isfinite(X[rows]), axis=0))
                names = ", ".join(self.feature_names[c] for c in cols[:5])
                self._issue(ev, "missing_value", names, rows, np.full(n, np.nan),
                            "a NaN or infinite entry in the design matrix", False)
                X = np.where(np.isfinite(X), X, 0.0)
                link = X @ self._coef + self.intercept
        factors = [(j, inp) for j, inp in enumerate(self._inputs) if inp.kind == "factor" and inp.block.size]
        if factors:
            # one pass over all factor columns: entries must be 0/1, at most one 1 per factor
            cols = np.concatenate([inp.block for _, inp in factors])
            owner = np.repeat(np.arange(len(factors)), [inp.block.size for _, inp in factors])
            F = X[:, cols]
            binary = (F == 0) | (F == 1)
            sums = F @ (owner[:, None] == np.arange(len(factors))[None, :])
            ok = binary.all(axis=1) & (sums <= 1).all(axis=1)
            if not ok.all():
                rows = np.flatnonzero(~ok)
                for k, (_j, inp) in enumerate(factors):
                    wrong = ~binary[rows][:, owner == k].all(axis=1) | (sums[rows, k] > 1)
                    if wrong.any():
                        mask = np.zeros(n, dtype=bool)
                        mask[rows[wrong]] = True
                        self._issue(ev, "invalid_encoding", inp.name, mask, np.full(n, "row"),
                                    "a design row that is not a one-hot level of this factor", True,
                                    "; its columns are scored as given")
        for j, inp in enumerate(self._inputs):
            if inp.kind == "numeric":
                x = X[:, inp.pos]
                self._range_check(inp, x, ev)
                if keep:
                    ev.shown[j] = x
                    ev.contrib[:, j] = x * inp.coef
            elif keep:
                block = X[:, inp.block]
                codes = np.full(n, inp.base_code, dtype=np.intp)
                if inp.block.size:
                    has = block.sum(axis=1) > 0
                    codes[has] = inp.block_codes[np.argmax(block[has], axis=1)]
                    ev.contrib[:, j] = block @ self._coef[inp.block]
                ev.levels[j] = codes
                ev.shown[j] = np.array([inp.levels[c] for c in codes], dtype=object)
        return link

    # -- public API -----------------------------------------------------------

    def predict(self, X, exposure=None, *, unknown=None, errors="raise", warn=True):
        """Predict ``exposure * exp(b0 + x . b)``.

        Parameters
        ----------
        X : dict, list of dict, DataFrame, dict of columns, or array-like
            Records of raw inputs (rating factors by level, numeric inputs),
            one dict per risk or column-wise; or a numeric design matrix
            with the model's feature columns (``feature_names``) in order.
            Extra record fields are ignored; a missing input is an error.
        exposure : float, array-like, str or None
            Exposure per row (default 1), or the name of a record field that
            holds it.  Must be finite and non-negative.
        unknown : {None, "error", "base"}
            Treatment of levels not seen in training; ``None`` uses the policy
            exported with the encoder.  ``"base"`` scores them at the base
            level with a warning; ``"error"`` makes the row unscorable.
        errors : {"raise", "flag"}
            For rows that cannot be scored (missing or NaN input, unseen level
            under ``"error"``, invalid exposure): raise ``ValueError``, or give
            NaN for those rows and list them in ``warnings``.
        warn : bool
            Also emit one :class:`ScoringInputWarning` summarising the caveats.

        Returns
        -------
        Prediction
            Array-like predictions with ``warnings`` and ``flagged`` rows.
            Values outside the training ranges are scored and flagged.
        """
        ev = self._evaluate(X, exposure, unknown, errors)
        with np.errstate(over="ignore"):
            values = ev.exposure * np.exp(ev.link)
        values[ev.bad] = np.nan
        link = ev.link.copy()
        link[ev.bad] = np.nan
        if warn and ev.issues:
            _emit(ev.issues)
        return Prediction(values, link, ev.exposure, ev.issues)

    def explain(self, record, exposure=None, *, unknown=None):
        """Split one prediction into a base and a relativity per input.

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
        """
        ev = self._evaluate(record, exposure, unknown, "raise", keep=True)
        if ev.n != 1:
            raise ValueError(f"record: explain takes one record, got {ev.n} rows")
        return self._explanation(ev)

    def _explanation(self, ev):
        e = float(ev.exposure[0])
        contributions = []
        for j, inp in enumerate(self._inputs):
            link = float(ev.contrib[0, j])
            item = {"input": inp.name, "kind": inp.kind, "value": _scalar(ev.shown[j][0])}
            item["level"] = inp.levels[ev.levels[j][0]] if inp.kind == "factor" else None
            item["link"] = link
            item["relativity"] = math.exp(link)
            contributions.append(item)
        with np.errstate(over="ignore"):
            prediction = float(e * np.exp(ev.link[0]))
        return Explanation(
            model_id=self.model_id,
            version=self.version,
            intercept=self.intercept,
            exposure=e,
            base=e * math.exp(self.intercept),
            contributions=contributions,
            link=float(ev.link[0]),
            prediction=prediction,
            warnings=list(ev.issues),
        )

    def compare(self, record_a, record_b=None, *, other=None, exposure_a=None, exposure_b=None,
                unknown=None):
        """Compare two predictions and attribute their log-ratio exactly.

        Record A is scored on this model.  Record B is scored on ``other``
        when given (a second model version), else on this model.  The
        log-ratio ``log(pred_b / pred_a)`` splits into

        * the *input change*: both records scored on this model, one term per
          input that differs (and the exposure);
        * the *model change*: record B on ``other`` minus record B on this
          model, one term for the intercept and one per input.

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
        """
        if other is not None and not isinstance(other, ScoringModel):
            raise TypeError(f"other must be a ScoringModel (from load_model), got {type(other).__name__}")
        if record_b is None:
            record_b = record_a
        if exposure_b is None:
            exposure_b = exposure_a
        model_b = other if other is not None else self
        ea = self._evaluate(record_a, exposure_a, unknown, "raise", keep=True)
        eb = self._evaluate(record_b, exposure_b, unknown, "raise", keep=True)
        for label, ev in (("record_a", ea), ("record_b", eb)):
            if ev.n != 1:
                raise ValueError(f"{label}: compare takes one record, got {ev.n} rows")
            if not ev.exposure[0] > 0:
                raise ValueError(f"exposure for {label} must be positive to compare, got {ev.exposure[0]!r}")
        xa, xb = self._explanation(ea), self._explanation(eb)
        issues = ea.issues + eb.issues
        if model_b is not self:
            ebb = model_b._evaluate(record_b, exposure_b, unknown, "raise", keep=True)
            xbb = model_b._explanation(ebb)
            issues += ebb.issues
        else:
            xbb = xb

        changed, input_attr = [], []
        names = list(self.input_names) + [n for n in model_b.input_names if n not in self._by_name]
        ca = {c["input"]: c for c in xa.contributions}
        cb = {c["input"]: c for c in xb.contributions}
        for name in names:
            va, vb = _record_value(record_a, name), _record_value(record_b, name)
            if name in ca:
                va, vb = ca[name]["value"], cb[name]["value"]
                same = ca[name]["level"] == cb[name]["level"] if ca[name]["kind"] == "factor" \
                    else _same_number(va, vb)
            else:
                same = _same_raw(va, vb)
            if same:
                continue
            changed.append({"input": name, "a": va, "b": vb})
            # an input this model does not use changes nothing on it
            link = cb[name]["link"] - ca[name]["link"] if name in ca else 0.0
            input_attr.append({"input": name, "link": link, "relativity": math.exp(link)})
        if xa.exposure != xb.exposure:
            changed.append({"input": "exposure", "a": xa.exposure, "b": xb.exposure})
            link = math.log(xb.exposure) - math.log(xa.exposure)
            input_attr.append({"input": "exposure", "link": link, "relativity": math.exp(link)})

        model_attr = []
        if model_b is not self:
            cbb = {c["input"]: c for c in xbb.contributions}
            link = model_b.intercept - self.intercept
            model_attr.append({"input": "intercept", "link": link, "relativity": math.exp(link)})
            for name in names:
                link = (cbb[name]["link"] if name in cbb else 0.0) - (cb[name]["link"] if name in cb else 0.0)
                model_attr.append({"input": name, "link": link, "relativity": math.exp(link)})

        input_part = math.fsum(a["link"] for a in input_attr)
        model_part = math.fsum(a["link"] for a in model_attr)
        pa, pb = xa.prediction, xbb.prediction
        log_ratio = math.log(pb) - math.log(pa)
        summary = self._summary(model_b, xa, xb, xbb, changed, input_attr, model_attr,
                                input_part, model_part)
        seen = set()
        issues = [i for i in issues if not (i.message in seen or seen.add(i.message))]
        if issues:
            summary += "\n" + "\n".join(f"Warning: {i.message}" for i in issues)
        return Comparison(
            prediction_a=pa,
            prediction_b=pb,
            ratio=pb / pa,
            log_ratio=log_ratio,
            changed_inputs=changed,
            input_attribution=input_attr,
            model_attribution=model_attr,
            input_part=input_part,
            model_part=model_part,
            summary=summary,
            warnings=issues,
        )

    def _label(self):
        return f"{self.model_id} version {self.version}"

    def _summary(self, model_b, xa, xb, xbb, changed, input_attr, model_attr, input_part, model_part):
        pa, pb = xa.prediction, xbb.prediction
        lines = [f"Prediction A {_fmt(pa)}, prediction B {_fmt(pb)}: ratio {pb / pa:.6f} ({_pct(pb / pa)})."]
        if model_b is self:
            lines[0] += f" Both scored on model {self._label()}."
        if changed:
            lines.append("Inputs that differ: " + "; ".join(
                f"{c['input']} {_short(c['a'], 30)} -> {_short(c['b'], 30)}" for c in changed) + ".")
        else:
            lines.append("The inputs are the same.")
        if input_attr:
            parts = ", ".join(
                f"{a['input']} x{a['relativity']:.6f}"
                + ("" if a["input"] in self._by_name or a["input"] == "exposure"
                   else " (not an input of this model)")
                for a in input_attr)
            lines.append(f"Due to the input changes (scored on model {self._label()}): "
                         f"x{math.exp(input_part):.6f} ({parts}).")
        if model_b is not self:
            moved = [a for a in model_attr if a["link"] != 0.0]
            parts = ", ".join(f"{a['input']} x{a['relativity']:.6f}" for a in moved) or "no change"
            lines.append(f"Due to the model change from {self._label()} to {model_b._label()} "
                         f"(same inputs as B): x{math.exp(model_part):.6f} ({parts}).")
            lines.append(f"Total x{pb / pa:.6f} = input changes x{math.exp(input_part):.6f} "
                         f"times model change x{math.exp(model_part):.6f}.")
        return "\n".join(lines)

    def factor_table(self, path=None, *, include_base=True):
        """Relativities of every level of every factor, for rating engines.

        Parameters
        ----------
        path : str or os.PathLike, optional
            Also write the table as CSV (columns Factor, Level, Relativity;
            relativities in shortest round-trip form).
        include_base : bool
            Start with a row ``("(intercept)", "", exp(b0))``: the base rate
            per unit exposure that the relativities multiply.

        Returns
        -------
        list of dict
            Rows ``{"Factor", "Level", "Relativity"}``: every level of every
            factor (the base level has relativity 1.0), and one
            ``"per unit"`` row per numeric input (the relativity for a
            one-unit increase).
        """
        rows = []
        if include_base:
            rows.append({"Factor": "(intercept)", "Level": "", "Relativity": math.exp(self.intercept)})
        for inp in self._inputs:
            if inp.kind == "factor":
                for i, lv in enumerate(inp.levels):
                    rows.append({"Factor": inp.name, "Level": lv,
                                 "Relativity": math.exp(float(inp.table[i]))})
            else:
                rows.append({"Factor": inp.name, "Level": "per unit", "Relativity": math.exp(inp.coef)})
        if path is not None:
            with open(os.fspath(path), "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(["Factor", "Level", "Relativity"])
                for r in rows:
                    writer.writerow([r["Factor"], r["Level"], repr(r["Relativity"])])
        return rows


def _emit(issues):
    text = "; ".join(i.message for i in issues[:3])
    if len(issues) > 3:
        text += f"; and {len(issues) - 3} more"
    warnings.warn(text, ScoringInputWarning, stacklevel=3)


def _pct(ratio):
    return f"{(ratio - 1) * 100:+.2f}%"


def _scalar(v):
    return v.item() if isinstance(v, np.generic) else v


def _same_number(a, b):
    a, b = float(a), float(b)
    return a == b or (math.isnan(a) and math.isnan(b))


def _same_raw(a, b):
    try:
        return level_key(a) == level_key(b)
    except TypeError:
        return a == b


def _record_value(record, name):
    if isinstance(record, Mapping) or hasattr(record, "to_dict"):
        try:
            value = record[name]
        except (KeyError, IndexError, TypeError):
            return None
        if hasattr(value, "iloc"):  # one-row DataFrame column
            value = value.iloc[0]
        return _scalar(value)
    return None


def _is_column(v):
    return isinstance(v, (list, tuple, np.ndarray)) or (hasattr(v, "__array__") and hasattr(v, "__len__")
                                                          and not isinstance(v, str))


def _column(v):
    if isinstance(v, np.ndarray):
        return v.reshape(-1)
    if isinstance(v, (list, tuple)):
        return np.array(v, dtype=object)
    if _is_column(v):
        return np.asarray(v).reshape(-1)
    return np.array([v], dtype=object)

"""The model-file contract shared by the writer and the reader.

Canonical content, the content hash, signatures, parsing with limits, and
validation against the shipped JSON Schema plus the checks a schema cannot
express.  ``hdtweedie._export`` writes documents through these functions and
``load_model`` reads them through the same ones.

What protects what
------------------
``sha256`` is the SHA-256 of the canonical content.  Anyone can recompute it,
so it detects accidents (truncation, a bad copy, a hand edit that forgot the
hash) but not a deliberate edit.  A ``signature`` (HMAC-SHA256 with a shared
secret, or Ed25519) covers the canonical content *including* the hash and
the signature's own algorithm and key id; without the key it cannot be
recomputed, so a file verified with ``load_model(path, key=...)`` is the file
the key holder signed.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import hmac
import json
import math
from importlib import resources

from ._bands import band_labels
from ._errors import ModelFileError
from ._interaction_terms import interaction_features, interaction_link_bound, interaction_problems
from ._schema import schema_errors

__all__ = [
    "FORMAT_NAME",
    "HMAC_MIN_KEY_BYTES",
    "MAX_DEPTH",
    "MAX_LINK",
    "SCHEMA_VERSION",
    "SIGNATURE_ALGORITHMS",
    "canonical_json",
    "content_hash",
    "document_text",
    "model_schema",
    "parse_document",
    "schema_version_for",
    "sign_document",
    "signed_content",
    "validate_document",
    "verify_header",
    "verify_signature",
]

FORMAT_NAME = "hdtweedie-model"
SCHEMA_VERSION = "1.3"  # the newest version written; see schema_version_for
# Optional fields by the schema version that added them: of the document, and of its factor inputs.
_ADDED_FIELDS = {"1.1": ("relaxed", "training_data", "signature"), "1.2": ("dispersion",)}
_ADDED_FACTOR_FIELDS = {"1.3": ("bands", "merged", "missing_level")}
# Kinds of input by the schema version that added them.
_ADDED_KINDS = {"1.3": ("interaction",)}
_SUPPORTED_MAJOR = "1"
MAX_DEPTH = 16  # a valid model file nests 4 levels deep
MAX_LINK = 700.0  # exp(709.8) is the largest double; keep room for the exposure
_MAX_INT_DIGITS = 18
SIGNATURE_ALGORITHMS = ("hmac-sha256", "ed25519")
HMAC_MIN_KEY_BYTES = 16
_UNHASHED = ("sha256", "signature")


def _dumps(content: dict) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=True)


def canonical_json(document: dict) -> str:
    """Return the canonical text of a model document, without its hash and signature.

    Keys sorted, no whitespace, ASCII only, and NaN/infinity refused.  Floats
    are written with Python's shortest round-trip representation, so parsing
    the text gives back the same doubles and re-serialising gives the same
    text.

    Parameters
    ----------
    document : dict
        Model document; top-level ``"sha256"`` and ``"signature"`` keys are left out.

    Returns
    -------
    str
    """
    return _dumps({k: v for k, v in document.items() if k not in _UNHASHED})


def schema_version_for(document: dict) -> str:
    """The oldest schema version that has every field of ``document``.

    A file without the fields of a newer version stays readable by older scorers,
    which refuse unknown fields.

    Parameters
    ----------
    document : dict

    Returns
    -------
    str
    """
    used = [v for v, fields in _ADDED_FIELDS.items() if any(f in document for f in fields)]
    specs = document.get("inputs") or []
    used += [v for v, fields in _ADDED_FACTOR_FIELDS.items()
             if any(isinstance(s, dict) and f in s for s in specs for f in fields)]
    kinds = {s.get("kind") for s in document.get("inputs", ()) if isinstance(s, dict)}
    used += [v for v, added in _ADDED_KINDS.items() if kinds.intersection(added)]
    return max(used + ["1.1"], key=lambda v: tuple(map(int, v.split("."))))


def document_text(document: dict) -> str:
    """The text of a model file: indented JSON, ASCII only, NaN refused, a final newline.

    Parameters
    ----------
    document : dict

    Returns
    -------
    str
    """
    return json.dumps(document, indent=2, allow_nan=False, ensure_ascii=True) + "\n"


def content_hash(document: dict) -> str:
    """SHA-256 of :func:`canonical_json` of ``document``: what the ``sha256`` field holds.

    Parameters
    ----------
    document : dict
        Model document (its ``sha256`` and ``signature`` are not hashed).

    Returns
    -------
    str
        64 lower-case hex digits.
    """
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    return resources.files("hdtweedie").joinpath("schema", "model.schema.json").read_text(encoding="utf-8")


def model_schema() -> dict:
    """Return the JSON Schema of model files shipped with the package (a new dict).

    Returns
    -------
    dict
    """
    return json.loads(_schema_text())


# -- parsing -------------------------------------------------------------------------------------


class _LiteralError(ValueError):
    """A JSON literal the format refuses (raised from the parser hooks)."""


def _reject_constant(name: str) -> float:
    raise _LiteralError(f"a non-standard JSON number {name}")


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > _MAX_INT_DIGITS:
        raise _LiteralError(f"an integer with {digits} digits (at most {_MAX_INT_DIGITS} are allowed)")
    return int(text)


def _no_duplicates(pairs: list) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _LiteralError(f"a duplicate key {key!r}")
    return out


def _deeper_than(value: object, limit: int) -> bool:
    """Whether parsed JSON nests deeper than ``limit`` (iterative: no recursion to exhaust)."""
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [v for c in level for v in (c.values() if isinstance(c, dict) else c)
                 if isinstance(v, (dict, list))]
    return False


def parse_document(raw: bytes, source: str) -> object:
    """Parse the bytes of a model file, refusing what the format cannot hold.

    Refused: text that is not UTF-8, nesting deeper than :data:`MAX_DEPTH`,
    integers of more than 18 digits, NaN/Infinity literals and duplicate
    keys.  (Numbers beyond the range of a double parse as infinity and are
    refused by :func:`verify_header`.)

    Parameters
    ----------
    raw : bytes
        The file content.
    source : str
        Name of the file, for messages.

    Returns
    -------
    object
        The parsed JSON value.

    Raises
    ------
    ModelFileError
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"model file {source!r} is not UTF-8 text (corrupted?)") from exc
    too_deep = ModelFileError(f"model file {source!r} nests deeper than {MAX_DEPTH} levels, "
                              "which no model file does")
    try:
        # numbers beyond a double parse as infinity, which the content hash refuses
        document = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int,
                              object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise too_deep from None
    except _LiteralError as exc:
        raise ModelFileError(f"model file {source!r} holds {exc}") from None
    except ValueError as exc:
        raise ModelFileError(
            f"model file {source!r} is not valid JSON (truncated or corrupted?): {exc}") from None
    if _deeper_than(document, MAX_DEPTH):  # before anything recursive touches it
        raise too_deep
    return document


def verify_header(document: object, source: str) -> None:
    """Check the format name, the schema version and the content hash.

    Parameters
    ----------
    document : object
        Parsed model file.
    source : str
        Name of the file, for messages.

    Raises
    ------
    ModelFileError
    """
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
    except ValueError:  # a literal such as 1e400 parses as infinity
        raise ModelFileError(f"model file {source!r} holds a non-finite number (a literal beyond the "
                             "range of a double, or NaN)") from None
    if not hmac.compare_digest(actual, stored):
        raise ModelFileError(
            f"model file {source!r} failed its integrity check: the content hash is {actual}, "
            f"the file says {stored}; it was changed after export"
        )


# -- validation ----------------------------------------------------------------------------------


def validate_document(document: object) -> None:
    """Check a parsed model document against the schema and its own consistency.

    Beyond the schema: coefficients match the features, base levels are
    levels, every number is finite, and the linear predictor stays below
    :data:`MAX_LINK` over the training ranges (so no score overflows there).

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
    errors = list(schema_errors(document, schema, schema, "$"))
    if errors:
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ModelFileError("model file does not match the schema: " + "; ".join(errors[:3]) + more)
    _check_consistency(document)


def _check_consistency(doc: dict) -> None:
    problems = []
    features = doc["features"]
    coefs = doc["coefficients"]
    if coefs.keys() != set(features):
        missing = heapq.nsmallest(5, set(features) - coefs.keys())
        extra = heapq.nsmallest(5, coefs.keys() - set(features))
        problems.append(f"coefficients do not match features (missing {missing}, extra {extra})")
    numbers = [("intercept", doc["intercept"]), ("power", doc["power"]), ("lambda", doc["lambda"])]
    numbers += [("dispersion", doc["dispersion"])] if "dispersion" in doc else []
    numbers += [(f"coefficients[{k!r}]", v) for k, v in coefs.items() if not math.isfinite(v)]
    used, names, earlier = [], [], {}
    for spec in doc["inputs"]:
        names.append(spec["name"])
        if spec["kind"] == "factor":
            problems += _factor_problems(spec)
            used.extend(spec["features"].values())
            if "bands" in spec:
                bands = spec["bands"]
                numbers += [(f"input {spec['name']!r} bands {k}", bands[k]) for k in ("min", "max")]
                numbers += [(f"input {spec['name']!r} edge", e) for e in bands["edges"]]
        elif spec["kind"] == "interaction":
            problems += interaction_problems(spec, earlier)
            used.extend(interaction_features(spec))
        else:
            used.append(spec["feature"])
            numbers += [(f"input {spec['name']!r} {b}", spec[b]) for b in ("min", "max")
                        if spec[b] is not None]
            if spec["min"] is not None and spec["max"] is not None and spec["min"] > spec["max"]:
                problems.append(f"input {spec['name']!r}: min {spec['min']!r} > max {spec['max']!r}")
        earlier[spec["name"]] = spec
    if len(set(names)) != len(names):
        problems.append("input names are not unique")
    if sorted(used) != sorted(features):
        problems.append("inputs must use every feature exactly once")
    problems += [f"{label} is not finite ({value!r})" for label, value in numbers if not math.isfinite(value)]
    if not problems:
        top = _largest_link(doc)
        if top > MAX_LINK:
            problems.append(
                f"the linear predictor reaches {top:.6g} within the training ranges (intercept plus the "
                f"largest relativities), beyond {MAX_LINK:g} where exp() overflows a double")
    if problems:
        raise ModelFileError("model file is inconsistent: " + "; ".join(problems[:3]))


def _factor_problems(spec: dict) -> list:
    problems = []
    levels = spec["levels"]
    if spec["base_level"] not in levels:
        problems.append(f"factor {spec['name']!r}: base level {spec['base_level']!r} is not among its levels")
    expected = [lv for lv in levels if lv != spec["base_level"]]
    if sorted(spec["features"]) != sorted(expected):
        problems.append(f"factor {spec['name']!r}: features must map every non-base level")
    merged = spec.get("merged", {})
    if any(lv in levels for lv in merged) or any(to not in levels for to in merged.values()):
        problems.append(f"factor {spec['name']!r}: merged must map levels that are not levels of the factor "
                        "to levels that are")
    if "bands" in spec:
        problems += _band_problems(spec)
    return problems


def _band_problems(spec: dict) -> list:
    name, bands = spec["name"], spec["bands"]
    edges = bands["edges"]
    if not all(math.isfinite(e) for e in edges) or any(b <= a for a, b in zip(edges, edges[1:])):
        return [f"factor {name!r}: band edges must be finite and strictly increasing, got {edges!r}"]
    if "merged" in spec:
        return [f"factor {name!r}: a banded factor merges bands through its edges, not 'merged'"]
    labels = band_labels(edges)
    tail = spec["levels"][len(labels):]
    if spec["levels"][:len(labels)] != labels or tail not in ([], [spec.get("missing_level")]):
        return [f"factor {name!r}: levels must be the bands of the edges {labels} (then the missing_level)"]
    if not bands["min"] <= bands["max"]:
        return [f"factor {name!r}: bands min {bands['min']!r} > max {bands['max']!r}"]
    return []


def _largest_link(doc: dict) -> float:
    """Upper bound of ``b0 + x . b`` over the levels and the known numeric ranges."""
    coefs = doc["coefficients"]
    terms = [float(doc["intercept"])]
    earlier = {}
    for spec in doc["inputs"]:
        earlier[spec["name"]] = spec
        if spec["kind"] == "factor":
            terms.append(max([0.0] + [float(coefs[f]) for f in spec["features"].values()]))
        elif spec["kind"] == "interaction":
            terms.append(interaction_link_bound(spec, earlier, coefs))
        elif spec["min"] is not None and spec["max"] is not None:
            b = float(coefs[spec["feature"]])
            terms.append(max(b * spec["min"], b * spec["max"]))
    return math.fsum(terms)


# -- signatures ----------------------------------------------------------------------------------


def signed_content(document: dict) -> bytes:
    """The bytes a signature covers: the canonical document with its hash and signature header.

    Every key but the signature's ``value`` is included: the content, its
    ``sha256``, and the signature's ``algorithm`` and ``key_id``.

    Parameters
    ----------
    document : dict

    Returns
    -------
    bytes
    """
    content = {k: v for k, v in document.items() if k != "signature"}
    signature = document.get("signature")
    content["signature"] = {k: v for k, v in signature.items() if k != "value"} if signature else {}
    return _dumps(content).encode("utf-8")


def _ed25519():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise ImportError(
            "Ed25519 signatures need the 'cryptography' package: pip install 'hdtweedie[sign]' "
            "(HMAC-SHA256 with a bytes key needs no extra package)"
        ) from None
    return ed25519, InvalidSignature


def _is_bytes(key: object) -> bool:
    return isinstance(key, (bytes, bytearray, memoryview))


def _algorithm_of(key: object, algorithm: str | None, label: str) -> str:
    if algorithm is not None:
        if algorithm not in SIGNATURE_ALGORITHMS:
            raise ValueError(f"algorithm must be one of {SIGNATURE_ALGORITHMS}, got {algorithm!r}")
        return algorithm
    if _is_bytes(key):
        return "hmac-sha256"
    if isinstance(key, str):
        raise TypeError(f"{label}: an HMAC key must be bytes (e.g. secret.encode()), got a str")
    return "ed25519"


def _hmac_key(key: object, label: str) -> bytes:
    if not _is_bytes(key):
        raise TypeError(f"{label}: an HMAC-SHA256 key must be bytes, got {type(key).__name__}")
    key = bytes(key)
    if len(key) < HMAC_MIN_KEY_BYTES:
        raise ValueError(f"{label}: an HMAC-SHA256 key needs at least {HMAC_MIN_KEY_BYTES} bytes, "
                         f"got {len(key)}")
    return key


def sign_document(document: dict, key: object, key_id: str | None = None,
                  algorithm: str | None = None) -> dict:
    """Return a copy of ``document`` with a ``signature`` made with ``key``.

    Parameters
    ----------
    document : dict
        A model document with its ``sha256`` (any signature is replaced).
    key : bytes or cryptography Ed25519PrivateKey
        Bytes sign with HMAC-SHA256 (a shared secret of at least 16 bytes); an
        Ed25519 private key signs with Ed25519.
    key_id : str, optional
        Recorded in the signature (and covered by it) to say which key signed.
    algorithm : {"hmac-sha256", "ed25519"}, optional
        Needed only for a raw 32-byte Ed25519 private key given as bytes.

    Returns
    -------
    dict

    Raises
    ------
    TypeError, ValueError
        For a key of the wrong type or length, or a bad ``key_id``.
    ImportError
        For Ed25519 without the ``cryptography`` package.
    """
    if key_id is not None and (not isinstance(key_id, str) or not key_id.strip()):
        raise ValueError(f"key_id must be a non-empty string or None, got {key_id!r}")
    algorithm = _algorithm_of(key, algorithm, "sign_key")
    signed = {k: v for k, v in document.items() if k != "signature"}
    signed["signature"] = {"algorithm": algorithm, **({"key_id": key_id} if key_id else {})}
    message = signed_content(signed)
    if algorithm == "hmac-sha256":
        value = hmac.new(_hmac_key(key, "sign_key"), message, hashlib.sha256).hexdigest()
    else:
        ed25519, _ = _ed25519()
        if _is_bytes(key) and len(bytes(key)) == 32:
            key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(key))
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise TypeError("sign_key: Ed25519 signing needs an Ed25519PrivateKey (or its raw 32 bytes "
                            f"with algorithm='ed25519'), got {type(key).__name__}")
        value = key.sign(message).hex()
    signed["signature"]["value"] = value
    return signed


def verify_signature(document: dict, key: object, algorithm: str | None, source: str) -> None:
    """Check the signature of ``document`` with ``key``; the key, not the file, fixes the algorithm.

    Parameters
    ----------
    document : dict
        A model document whose hash was checked.
    key : bytes, Ed25519PublicKey or Ed25519PrivateKey
        Bytes verify HMAC-SHA256; an Ed25519 key (or raw 32-byte public key
        with ``algorithm="ed25519"``) verifies Ed25519.
    algorithm : {"hmac-sha256", "ed25519"} or None
    source : str
        Name of the file, for messages.

    Raises
    ------
    ModelFileError
        The file is unsigned, signed with another algorithm, or the signature does not match.
    TypeError, ValueError, ImportError
        For an unusable key.
    """
    expected, check = _verifier(key, algorithm)  # the key is checked before the file
    signature = document.get("signature")
    if signature is None:
        raise ModelFileError(f"model file {source!r} is not signed, but a key was given to verify it")
    if signature["algorithm"] != expected:
        raise ModelFileError(f"model file {source!r} is signed with {signature['algorithm']}, "
                             f"but the key given is for {expected}")
    if not check(signed_content(document), signature["value"]):
        who = f" (key id {signature['key_id']!r})" if "key_id" in signature else ""
        raise ModelFileError(f"model file {source!r} has a wrong signature{who}: it was signed with "
                             "another key or changed after signing")


def _verifier(key: object, algorithm: str | None) -> tuple:
    """``(algorithm, check(message, hex_value) -> bool)`` for a verifying key."""
    expected = _algorithm_of(key, algorithm, "key")
    if expected == "hmac-sha256":
        secret = _hmac_key(key, "key")
        return expected, lambda message, value: hmac.compare_digest(
            hmac.new(secret, message, hashlib.sha256).hexdigest(), value)
    public, invalid = _ed25519_public(key)

    def check(message: bytes, value: str) -> bool:
        try:
            public.verify(bytes.fromhex(value), message)
        except (invalid, ValueError):
            return False
        return True

    return expected, check


def _ed25519_public(key: object) -> tuple:
    ed25519, invalid = _ed25519()
    if _is_bytes(key):
        if len(bytes(key)) != 32:
            raise ValueError(f"key: a raw Ed25519 public key has 32 bytes, got {len(bytes(key))}")
        key = ed25519.Ed25519PublicKey.from_public_bytes(bytes(key))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        key = key.public_key()
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise TypeError("key: give bytes (HMAC-SHA256) or an Ed25519 public key, "
                        f"got {type(key).__name__}")
    return key, invalid

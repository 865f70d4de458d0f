"""The composite model file: building its document and checking one read from disk.

A composite file multiplies whole model files: ``{"kind": "composite",
"parts": [{"role": "frequency", "model": <model document>}, {"role":
"severity", ...}, ...]}``.  Each embedded model keeps its own ``sha256``
(and signature); the composite's ``sha256`` and signature cover everything,
the parts included.
"""

from __future__ import annotations

import datetime
import functools
import json
from importlib import resources

from ._errors import ModelFileError
from ._format import FORMAT_NAME, content_hash, sign_document, validate_document, verify_header
from ._schema import schema_errors

__all__ = ["COMPOSITE_KIND", "COMPOSITE_SCHEMA_VERSION", "FREQUENCY", "build_composite", "composite_schema",
           "input_conflicts", "is_composite", "part_source", "validate_composite"]

COMPOSITE_KIND = "composite"
COMPOSITE_SCHEMA_VERSION = "1.0"
FREQUENCY = "frequency"  # the one part the exposure applies to


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    schema = resources.files("hdtweedie").joinpath("schema", "composite.schema.json")
    return schema.read_text(encoding="utf-8")


def composite_schema() -> dict:
    """Return the JSON Schema of composite model files shipped with the package (a new dict).

    Returns
    -------
    dict
    """
    return json.loads(_schema_text())


def is_composite(document: object) -> bool:
    """Whether a parsed model file is a composite (its ``kind`` says so).

    Parameters
    ----------
    document : object

    Returns
    -------
    bool
    """
    return isinstance(document, dict) and document.get("kind") == COMPOSITE_KIND


def part_source(source: str, role: str) -> str:
    """How messages name a part of a composite file: ``file.json part 'severity'``.

    Parameters
    ----------
    source : str
        Name of the composite file.
    role : str

    Returns
    -------
    str
    """
    return f"{source} part {role!r}"


def validate_composite(document: dict, source: str) -> None:
    """Check a composite document whose own header and hash were verified.

    The schema, then every part as a model file of its own (format, schema
    version, its own hash, schema and consistency), unique roles with exactly
    one ``frequency`` part, and inputs the parts agree on: an input is a
    factor in every part that has it or numeric in every one, and a factor's
    parts share at least one level.

    Parameters
    ----------
    document : dict
    source : str
        Name of the file, for messages.

    Raises
    ------
    ModelFileError
        Naming the first problems found.
    """
    schema = composite_schema()
    errors = list(schema_errors(document, schema, schema, "$"))
    if errors:
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ModelFileError(f"{source!r}: composite model file does not match the schema: "
                             + "; ".join(errors[:3]) + more)
    roles = [p["role"] for p in document["parts"]]
    if len(set(roles)) != len(roles) or roles.count(FREQUENCY) != 1:
        raise ModelFileError(f"{source!r}: a composite needs unique part roles with exactly one "
                             f"{FREQUENCY!r} part, got {roles}")
    for part in document["parts"]:
        name = part_source(source, part["role"])
        verify_header(part["model"], name)
        if is_composite(part["model"]):
            raise ModelFileError(f"{name!r} is itself a composite; compose single models only")
        try:
            validate_document(part["model"])
        except ModelFileError as exc:
            raise ModelFileError(f"{name!r}: {exc}") from None
    problems = input_conflicts([(p["role"], p["model"]["inputs"]) for p in document["parts"]])
    if problems:
        raise ModelFileError(f"{source!r}: the parts cannot be scored together: " + "; ".join(problems[:3]))


def input_conflicts(parts: list) -> list:
    """Inputs two parts disagree about so that no record scores on both.

    Parameters
    ----------
    parts : list of (str, list of dict)
        Role and the ``inputs`` of each part's document.

    Returns
    -------
    list of str
        One message per conflict: an input numeric in one part and a factor in
        another, or a factor whose parts have no level in common.
    """
    seen: dict = {}
    problems = []
    for role, inputs in parts:
        for spec in inputs:
            name = spec["name"]
            if name not in seen:
                seen[name] = (role, spec)
                continue
            first, other = seen[name]
            if other["kind"] != spec["kind"]:
                problems.append(f"input {name!r} is {other['kind']} in part {first!r} but {spec['kind']} in "
                                f"part {role!r}")
            elif spec["kind"] == "factor" and not set(other["levels"]) & set(spec["levels"]):
                problems.append(f"factor {name!r} has no level in common between part {first!r} "
                                f"{other['levels'][:5]} and part {role!r} {spec['levels'][:5]}")
    return problems


def _package_version() -> str:
    from .. import __version__

    return __version__


def build_composite(parts: list, model_id: str, version: str, *, created_at: datetime.datetime | None = None,
                    sign_key=None, key_id: str | None = None) -> dict:
    """The document of a composite model file, hashed (and signed when a key is given).

    Parameters
    ----------
    parts : list of (str, dict)
        Role and verified single-model document of each part, the
        ``"frequency"`` part among them.
    model_id, version : str
        Identify the composite (non-empty).
    created_at : datetime.datetime, optional
        Time of composition (default: now).
    sign_key : bytes or Ed25519PrivateKey, optional
        Sign the composite as :func:`hdtweedie.scoring.sign_model_file` does.
    key_id : str, optional
        Name of the signing key, recorded and signed.

    Returns
    -------
    dict

    Raises
    ------
    TypeError, ValueError
        For an empty or non-text id or version, or an unusable key.
    ModelFileError
        If the parts do not make a valid composite (see :func:`validate_composite`).
    """
    for label, value in (("model_id", model_id), ("version", version)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{label} must be a non-empty string, got {value!r}")
    stamp = created_at or datetime.datetime.now(datetime.timezone.utc)
    document = {
        "format": FORMAT_NAME, "schema_version": COMPOSITE_SCHEMA_VERSION, "kind": COMPOSITE_KIND,
        "model_id": model_id, "version": version,
        "created_at": stamp.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "package": {"name": "hdtweedie", "version": _package_version()}, "link": "log",
        "parts": [{"role": role, "model": doc} for role, doc in parts],
    }
    document["sha256"] = content_hash(document)
    validate_composite(document, model_id)
    if sign_key is not None:
        document = sign_document(document, sign_key, key_id=key_id)
    return document

"""A small JSON Schema validator: the keywords the model schema uses, no third-party package."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from ._errors import ModelFileError
from ._text import short

__all__ = ["schema_errors"]

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


def schema_errors(value: object, schema: dict, root: dict, where: str = "$") -> Iterator[str]:
    """Yield one message per violation of ``schema`` by ``value``.

    Supports type, const, enum, properties, required, additionalProperties,
    items, minItems, maxItems, uniqueItems, minLength, pattern, minimum, maximum,
    exclusiveMinimum, oneOf and local ``$ref``; the tests check it agrees
    with the ``jsonschema`` package on the shipped schema.

    Parameters
    ----------
    value : object
        Parsed JSON value.
    schema : dict
        The (sub)schema to check against.
    root : dict
        The whole schema, for ``$ref``.
    where : str
        JSON path of ``value``, used in the messages.

    Yields
    ------
    str
    """
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ModelFileError(f"unsupported schema reference {ref!r}")
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        yield from schema_errors(value, target, root, where)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_JSON_TYPES[t](value) for t in types):
            yield f"{where}: expected {' or '.join(types)}, got {type(value).__name__} {short(value)}"
            return
    if "const" in schema and not _json_equal(value, schema["const"]):
        yield f"{where}: expected {schema['const']!r}, got {short(value)}"
    if "enum" in schema and not any(_json_equal(value, e) for e in schema["enum"]):
        yield f"{where}: expected one of {schema['enum']!r}, got {short(value)}"
    if isinstance(value, str):
        yield from _string_errors(value, schema, where)
    if _JSON_TYPES["number"](value):
        yield from _number_errors(value, schema, where)
    if isinstance(value, dict):
        yield from _object_errors(value, schema, root, where)
    if isinstance(value, list):
        yield from _array_errors(value, schema, root, where)
    if "oneOf" in schema:
        results = [list(schema_errors(value, s, root, where)) for s in schema["oneOf"]]
        n_ok = sum(1 for r in results if not r)
        if n_ok != 1:
            detail = "; ".join(min(results, key=len)) if n_ok == 0 else "several alternatives match"
            yield f"{where}: does not match exactly one allowed form ({detail})"


def _string_errors(value: str, schema: dict, where: str) -> Iterator[str]:
    if len(value) < schema.get("minLength", 0):
        yield f"{where}: string shorter than {schema['minLength']}"
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        yield f"{where}: {short(value)} does not match {schema['pattern']!r}"


def _number_errors(value: float, schema: dict, where: str) -> Iterator[str]:
    if "minimum" in schema and value < schema["minimum"]:
        yield f"{where}: {value!r} is below the minimum {schema['minimum']!r}"
    if "maximum" in schema and value > schema["maximum"]:
        yield f"{where}: {value!r} is above the maximum {schema['maximum']!r}"
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        yield f"{where}: {value!r} must be greater than {schema['exclusiveMinimum']!r}"


def _type_only(schema: dict) -> bool:
    return isinstance(schema.get("type"), str) and set(schema) <= {"type", "description"}


def _wrong_types(items, schema: dict) -> list:
    """Keys or positions of the items that fail a type-only schema: one loop, no recursion."""
    check = _JSON_TYPES[schema["type"]]
    return [k for k, v in items if not check(v)]


def _object_errors(value: dict, schema: dict, root: dict, where: str) -> Iterator[str]:
    for key in schema.get("required", ()):
        if key not in value:
            yield f"{where}: missing required key {key!r}"
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    if not props and isinstance(extra, dict) and _type_only(extra):
        # fast path for large maps such as the coefficients
        for key in _wrong_types(value.items(), extra)[:3]:
            yield from schema_errors(value[key], extra, root, f"{where}.{key}")
        return
    for key, item in value.items():
        if key in props:
            yield from schema_errors(item, props[key], root, f"{where}.{key}")
        elif extra is False:
            yield f"{where}: unexpected key {short(key)}"
        elif isinstance(extra, dict):
            yield from schema_errors(item, extra, root, f"{where}.{key}")


def _array_errors(value: list, schema: dict, root: dict, where: str) -> Iterator[str]:
    if len(value) < schema.get("minItems", 0):
        yield f"{where}: fewer than {schema['minItems']} items"
    if len(value) > schema.get("maxItems", len(value)):
        yield f"{where}: more than {schema['maxItems']} items"
    if schema.get("uniqueItems"):
        seen = [json.dumps(v, sort_keys=True) for v in value]
        if len(set(seen)) != len(seen):
            yield f"{where}: items are not unique"
    if "items" in schema and _type_only(schema["items"]):
        for i in _wrong_types(enumerate(value), schema["items"])[:3]:
            yield from schema_errors(value[i], schema["items"], root, f"{where}[{i}]")
    elif "items" in schema:
        for i, item in enumerate(value):
            yield from schema_errors(item, schema["items"], root, f"{where}[{i}]")


def _json_equal(a: object, b: object) -> bool:
    # JSON equality: booleans are not numbers.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b

"""Whether a JSON Schema is certainly valid Draft 2020-12, told without ``jsonschema``.

Loading the declaration checks every tool's ``input_schema``, and the daemon loads it at start and on every apply;
``jsonschema`` with ``referencing``, ``rpds`` and ``attrs`` is ~2 MB of an idle daemon that may never see a tool
call. Most schemas people write use a handful of keywords with plain values, and for those the metaschema's verdict
is easy to give in Python: :func:`plainly_valid` answers True only when Draft 2020-12's metaschema would accept the
schema. Everything else (``$ref``, ``pattern``, ``anyOf``, an unusual value, an error) answers False, and the caller
asks ``jsonschema``, so a bad schema is still reported in ``jsonschema``'s words.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["plainly_valid"]

_TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})


def _schema(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    return isinstance(value, dict) and all(_KEYWORDS.get(key, _never)(item) for key, item in value.items())


def _never(value: Any) -> bool:
    return False


def _anything(value: Any) -> bool:
    return True


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _flag(value: Any) -> bool:
    return isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(value: Any) -> bool:  # the metaschema's nonNegativeInteger; 1.0 would do too, but is left to jsonschema
    return type(value) is int and value >= 0


def _type(value: Any) -> bool:
    if isinstance(value, str):
        return value in _TYPES
    return (isinstance(value, list) and bool(value) and all(isinstance(t, str) and t in _TYPES for t in value)
            and len(set(value)) == len(value))


def _names(value: Any) -> bool:  # required: unique strings
    return isinstance(value, list) and all(isinstance(n, str) for n in value) and len(set(value)) == len(value)


def _properties(value: Any) -> bool:
    return isinstance(value, dict) and all(_schema(sub) for sub in value.values())


_KEYWORDS: dict[str, Callable[[Any], bool]] = {
    "type": _type, "properties": _properties, "additionalProperties": _schema, "items": _schema,
    "required": _names, "enum": lambda v: isinstance(v, list), "const": _anything, "default": _anything,
    "examples": lambda v: isinstance(v, list), "title": _text, "description": _text, "format": _text,
    "$comment": _text, "deprecated": _flag, "readOnly": _flag, "writeOnly": _flag, "uniqueItems": _flag,
    "minimum": _number, "maximum": _number, "exclusiveMinimum": _number, "exclusiveMaximum": _number,
    "multipleOf": lambda v: _number(v) and v > 0,
    **dict.fromkeys(("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"), _count),
}


def plainly_valid(schema: Any) -> bool:
    """True when ``schema`` uses only keywords checked here, each with a value Draft 2020-12 accepts (so
    ``jsonschema``'s ``check_schema`` would pass it); False means "ask jsonschema", not "invalid"."""
    try:
        return _schema(schema)
    except RecursionError:  # nested deeper than Python recurses: jsonschema's to judge
        return False

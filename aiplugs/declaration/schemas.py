"""JSON Schemas in manifests (a tool's ``input_schema``, the ``settings_schema``): checking a schema, validating a
value against one with errors by field path (``items[2].name``), filling defaults and finding secret properties.

Draft 2020-12 throughout. ``jsonschema`` is imported only when a schema is actually used, or checked and not
plainly valid (``_plain_schema``), so loading a manifest whose schemas use the common keywords (the daemon does, at
start and on every apply) and ``aiplugs --help`` do not pay for it.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Callable, Iterable, Mapping, Sequence, TypedDict

from ..errors import did_you_mean
from ._plain_schema import plainly_valid

__all__ = ["FieldError", "KeyPath", "compiled", "default_filled", "field_errors", "json_path", "schema_problem", "secret_paths",
           "settings_schema_problem", "stray_write_only", "tool_validator"]

KeyPath = tuple[str, ...]  # object keys from the root of a settings value; secrets live only under properties


class FieldError(TypedDict):
    """One reason a value fails its schema: ``{"path": "items[2].name", "message": "must be of type string (got
    1)"}``; ``path`` is ``""`` for the value itself."""

    path: str
    message: str


def _validator_class() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator


def compiled(schema: Mapping[str, Any]) -> Any:
    """A validator for a schema already checked (``schema_problem``), with ``format`` checked too; it is what
    :func:`field_errors` takes."""
    cls = _validator_class()
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def schema_problem(schema: Mapping[str, Any]) -> str | None:
    """Why ``schema`` is not a valid Draft 2020-12 JSON Schema, or None when it is."""
    if plainly_valid(schema):
        return None
    from jsonschema.exceptions import SchemaError

    try:
        _validator_class().check_schema(schema)
    except SchemaError as e:
        where = f" at {json_path(e.path)}" if e.path else ""
        return f"not a valid JSON Schema (Draft 2020-12){where}: {e.message}"
    return None


def json_path(parts: Iterable[str | int]) -> str:
    """``("items", 2, "name")`` -> ``items[2].name``: how people write a path into a JSON value."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def tool_validator(schema: Mapping[str, Any] | None) -> Callable[[Any], list[FieldError]]:
    """A function that returns every reason a tool's input fails ``schema`` ([] when it fits). Build it once per
    tool: compiling the schema is the expensive part. No schema accepts everything."""
    if schema is None:
        return lambda payload: []
    validator = compiled(schema)
    return lambda payload: [FieldError(path=json_path(p), message=m) for p, m in field_errors(validator, payload)]


def field_errors(validator: Any, value: Any, *, hidden: Callable[[Sequence[str | int]], bool] = lambda p: False,
                 noun: str = "property") -> list[tuple[tuple[str | int, ...], str]]:
    """(path, message) for every reason ``value`` fails, sorted by path. A missing property and an unexpected one
    are reported at their own path rather than at the object holding them (``noun`` names them: "setting"). Where
    ``hidden(path)`` is true the message leaves the value out (a secret must not end up in an error)."""
    found: dict[tuple[tuple[str | int, ...], str], None] = {}
    for error in validator.iter_errors(value):
        base = tuple(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name not in error.instance:
                    found[((*base, name), f"required {noun} is missing")] = None
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = list(error.schema.get("properties", {}))
            for name in _unexpected(error.instance, error.schema):
                found[((*base, name), f"unknown {noun}" + did_you_mean(name, known))] = None
        else:
            found[(base, _describe(error, hide=hidden(base)))] = None
    return sorted(found, key=lambda item: (json_path(item[0]), item[1]))


def _unexpected(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [k for k in instance if k not in schema.get("properties", {}) and not any(p.search(k) for p in patterns)]


_COMPARISONS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


def _describe(error: Any, *, hide: bool) -> str:
    """The error in the words the rest of aiplugs uses (``must be >= 0 (got -1)``), the value left out if ``hide``."""
    kind, expected, value = error.validator, error.validator_value, error.instance
    got = "" if hide else f" (got {_short(value)})"
    if kind == "type":
        types = expected if isinstance(expected, list) else [expected]
        return f"must be of type {' or '.join(types)}{got}"
    if kind == "enum":
        return f"must be one of {', '.join(map(repr, expected))}{got}"
    if kind == "const":
        return f"must be {expected!r}{got}"
    if kind in _COMPARISONS:
        return f"must be {_COMPARISONS[kind]} {expected}{got}"
    if kind in ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"):
        bound = "at least" if kind.startswith("min") else "at most"
        unit = {"L": "characters", "I": "items", "P": "properties"}[kind[3]]
        return f"must have {bound} {expected} {unit}{got}"
    if kind == "pattern":
        return f"must match {expected}{got}"
    if kind == "format":
        return f"must be a valid {expected}{got}"
    return f"does not satisfy {kind!r}" if hide else error.message


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def default_filled(schema: Mapping[str, Any], value: Any) -> Any:
    """A copy of ``value`` with every missing object property that has a ``default`` set to it, recursively into
    objects that are present (or just defaulted). Only ``properties`` are followed: a default inside ``anyOf`` or
    ``items`` depends on which branch applies, which is validation's business, not filling's."""
    if not isinstance(value, dict):
        return copy.deepcopy(value)
    filled = {key: copy.deepcopy(item) for key, item in value.items()}
    for name, sub in _properties(schema).items():
        if name not in filled and "default" in sub:
            filled[name] = copy.deepcopy(sub["default"])
        if name in filled:
            filled[name] = default_filled(sub, filled[name])
    return filled


def settings_schema_problem(schema: Mapping[str, Any]) -> str | None:
    """Why ``schema`` cannot describe a ``[plugins.<id>.settings]`` table, or None: it must be a valid schema of an
    object, and every secret (``writeOnly``) must be a property an environment variable can name."""
    problem = schema_problem(schema)
    if problem:
        return problem
    if schema.get("type") != "object":
        return f'must be the schema of an object, with "type": "object" (got "type": {schema.get("type")!r})'
    stray = stray_write_only(schema)
    if stray:
        return (f"writeOnly (a secret) is only supported on properties of objects, reached through properties "
                f"alone (found at {', '.join(stray)})")
    for path in secret_paths(schema):
        bad = [name for name in path if not _ENV_KEY.fullmatch(name)]
        if bad:
            return (f"secret setting {'.'.join(path)!r}: names on the way to a secret must be lower-case letters, "
                    f"digits and '_', since an environment variable carries its value (got {bad[0]!r})")
    return None


_ENV_KEY = re.compile(r"[a-z][a-z0-9_]*")


def secret_paths(schema: Mapping[str, Any] | None) -> tuple[KeyPath, ...]:
    """Paths of the properties marked ``"writeOnly": true``, following ``properties`` from the root."""
    found: list[KeyPath] = []

    def walk(node: Mapping[str, Any], prefix: KeyPath) -> None:
        for name, sub in _properties(node).items():
            if sub.get("writeOnly") is True:
                found.append((*prefix, name))
            else:
                walk(sub, (*prefix, name))

    if schema is not None:
        walk(schema, ())
    return tuple(found)


def stray_write_only(schema: Mapping[str, Any]) -> list[str]:
    """JSON paths (inside the schema) of ``writeOnly`` marks that are not on a property reachable through
    ``properties`` alone: such a value could not be told apart from a plain one, so it cannot be kept secret."""
    stray: list[str] = []

    def walk(node: Any, path: tuple[str | int, ...], reachable: bool) -> None:
        if isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, (*path, i), False)
        if not isinstance(node, dict):
            return
        if node.get("writeOnly") is True and not (reachable and path):  # the root is the settings table, no value
            stray.append(json_path((*path, "writeOnly")))
        for key, sub in node.items():
            if key == "properties" and isinstance(sub, dict):
                for name, prop in sub.items():
                    walk(prop, (*path, key, name), reachable)
            elif key not in _VALUES:
                walk(sub, (*path, key), False)

    walk(schema, (), True)
    return stray


_VALUES = frozenset({"writeOnly", "default", "examples", "const", "enum"})  # keywords whose values are not schemas


def _properties(schema: Any) -> dict[str, Mapping[str, Any]]:
    props = schema.get("properties") if isinstance(schema, Mapping) else None
    return {k: v for k, v in props.items() if isinstance(v, Mapping)} if isinstance(props, Mapping) else {}

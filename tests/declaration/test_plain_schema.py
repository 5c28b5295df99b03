"""``plainly_valid`` never vouches for a schema jsonschema's metaschema refuses, and does vouch for the schemas
people write (the shipped plugins' tools among them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from aiplugs.declaration._plain_schema import plainly_valid
from aiplugs.declaration.schemas import schema_problem

REPO = Path(__file__).resolve().parents[2]


def metaschema_accepts(schema: Any) -> bool:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return False
    return True


def shipped_tool_schemas() -> list[Any]:
    found = []
    for manifest in sorted((REPO / "plugins").glob("*/manifest.json")):
        found += [t["input_schema"] for t in json.loads(manifest.read_text()).get("tools", []) if "input_schema" in t]
    return found


@pytest.mark.parametrize("schema", [
    True, False, {}, {"type": "object"}, {"type": ["string", "null"]}, {"enum": []}, {"const": None},
    {"type": "object", "properties": {"text": {"type": "string", "description": "x"}, "n": {"type": "integer",
     "minimum": 1, "maximum": 50, "default": 10}}, "required": ["text"], "additionalProperties": False},
    {"type": "array", "items": {"type": "number", "multipleOf": 0.5}, "minItems": 0, "uniqueItems": True},
    {"properties": {"k": {"writeOnly": True, "type": "string", "format": "uri", "examples": ["https://x"]}}},
    *shipped_tool_schemas(),
])
def test_the_usual_schemas_are_plainly_valid(schema: Any) -> None:
    assert plainly_valid(schema) and metaschema_accepts(schema)


@pytest.mark.parametrize("schema", [
    {"type": []}, {"type": ["string", "string"]}, {"type": "str"}, {"minItems": True}, {"minItems": -1},
    {"items": [{}]}, {"required": ["a", "a"]}, {"multipleOf": 0}, {"properties": {"a": 3}}, {"examples": 3},
    {"title": 3}, {"readOnly": 1}, {"enum": "a"}, {"additionalProperties": None}, {"pattern": "("},
])
def test_bad_schemas_are_left_to_jsonschema(schema: Any) -> None:
    assert not plainly_valid(schema)
    assert not metaschema_accepts(schema)
    assert schema_problem(schema) is not None  # reported in jsonschema's words


def test_what_it_does_not_know_goes_to_jsonschema() -> None:
    for schema in ({"$ref": "#/$defs/x", "$defs": {"x": {}}}, {"anyOf": [{}]}, {"pattern": "^a"}, {"minItems": 1.0},
                   {"x-custom": 1}):
        assert not plainly_valid(schema)
        assert schema_problem(schema) is None  # valid all the same
    deep: Any = {}
    for _ in range(5000):
        deep = {"items": deep}
    assert not plainly_valid(deep)


VALUES = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=True) | st.text(max_size=3)
                      | st.sampled_from(["string", "object", "array", "integer", "null", "number", "boolean"]),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                   max_size=3), max_leaves=8)
TYPES = st.sampled_from(["string", "object", "array", "integer", "null", "number", "boolean", "str"])
NUMBERS = st.integers(-3, 3) | st.floats(-3, 3) | st.sampled_from([0, 0.0, 1.0, float("nan"), float("inf"), True])


def keyword_values(schema: st.SearchStrategy[Any]) -> dict[str, st.SearchStrategy[Any]]:
    """Per keyword, values near the line between accepted and refused (and any value now and then)."""
    names = st.lists(st.sampled_from(["a", "b", "c"]), max_size=3)
    near = {
        "type": TYPES | st.lists(TYPES, max_size=3), "properties": st.dictionaries(st.text(max_size=2), schema,
                                                                                   max_size=3),
        "additionalProperties": schema, "items": schema | st.lists(schema, max_size=2), "required": names,
        "enum": st.lists(VALUES, max_size=2), "examples": st.lists(VALUES, max_size=2), "const": VALUES,
        "default": VALUES, "title": st.text(max_size=2), "description": st.text(max_size=2),
        "format": st.text(max_size=2), "$comment": st.text(max_size=2), "pattern": st.sampled_from(["^a", "("]),
        **dict.fromkeys(("deprecated", "readOnly", "writeOnly", "uniqueItems"), st.booleans() | st.integers(0, 1)),
        **dict.fromkeys(("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength",
                         "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"), NUMBERS),
        "anyOf": st.lists(schema, max_size=2),
    }
    return {key: value | VALUES if key != "additionalProperties" else value for key, value in near.items()}


def schema_of(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    values = keyword_values(inner)
    return st.lists(st.sampled_from(sorted(values)), max_size=4, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({key: values[key] for key in keys}))


SCHEMAS = st.recursive(st.booleans() | st.just({}), schema_of, max_leaves=10)


@settings(max_examples=1000, deadline=None)
@given(SCHEMAS)
def test_it_never_vouches_for_what_the_metaschema_refuses(schema: Any) -> None:
    if plainly_valid(schema):
        assert metaschema_accepts(schema), schema

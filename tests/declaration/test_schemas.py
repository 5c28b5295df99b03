"""JSON Schema helpers: tool input errors by field path, schema checks, defaults, secrets."""

from __future__ import annotations

from typing import Any

from aiplugs.declaration.schemas import (
    default_filled,
    json_path,
    schema_problem,
    secret_paths,
    stray_write_only,
    tool_validator,
)

ORDER = {
    "type": "object",
    "properties": {
        "customer": {"type": "string", "minLength": 2},
        "items": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["name", "qty"], "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}}},
        "mode": {"enum": ["fast", "exact"]},
        "email": {"type": "string", "format": "email"},
    },
    "required": ["items"],
}


def test_tool_input_errors_name_the_field_path() -> None:
    check = tool_validator(ORDER)
    payload = {"customer": "x", "mode": "slow", "email": "nobody", "items": [
        {"name": "a", "qty": 1}, {"name": "b", "qty": 0}, {"name": 3, "qty": 1, "colour": "red"}, {"qty": 2}]}
    assert check(payload) == [
        {"path": "customer", "message": "must have at least 2 characters (got 'x')"},
        {"path": "email", "message": "must be a valid email (got 'nobody')"},
        {"path": "items[1].qty", "message": "must be >= 1 (got 0)"},
        {"path": "items[2].colour", "message": "unknown property"},
        {"path": "items[2].name", "message": "must be of type string (got 3)"},
        {"path": "items[3].name", "message": "required property is missing"},
        {"path": "mode", "message": "must be one of 'fast', 'exact' (got 'slow')"},
    ]


def test_valid_input_and_no_schema_give_no_errors() -> None:
    assert tool_validator(ORDER)({"items": [{"name": "a", "qty": 2}]}) == []
    assert tool_validator(None)("anything") == []


def test_errors_on_the_payload_itself_have_an_empty_path() -> None:
    check = tool_validator(ORDER)
    assert check([1, 2]) == [{"path": "", "message": "must be of type object (got [1, 2])"}]
    assert check({}) == [{"path": "items", "message": "required property is missing"}]


def test_unknown_property_suggests_the_close_name() -> None:
    check = tool_validator({"type": "object", "properties": {"query": {}}, "additionalProperties": False})
    assert check({"qeury": 1}) == [{"path": "qeury", "message": "unknown property (did you mean 'query'?)"}]


def test_json_path() -> None:
    assert json_path(["items", 2, "name"]) == "items[2].name"
    assert json_path([0, "a"]) == "[0].a"
    assert json_path([]) == ""


def test_schema_problem() -> None:
    assert schema_problem({"type": "object"}) is None
    assert schema_problem({"required": "name"}) == ("not a valid JSON Schema (Draft 2020-12) at required: 'name' is "
                                                    "not of type 'array'")


def test_defaults_fill_missing_properties_recursively() -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {
        "lang": {"type": "string", "default": "en"},
        "limits": {"type": "object", "default": {}, "properties": {"words": {"default": 100}, "chars": {}}},
        "extra": {"type": "object", "properties": {"depth": {"default": 2}}},
        "tags": {"default": ["a"]}}}
    given = {"lang": "de", "extra": {}}
    filled = default_filled(schema, given)
    assert filled == {"lang": "de", "limits": {"words": 100}, "extra": {"depth": 2}, "tags": ["a"]}
    assert given == {"lang": "de", "extra": {}}  # a copy: the caller's value and the schema stay as they were
    filled["tags"].append("b")
    assert schema["properties"]["tags"]["default"] == ["a"]
    assert default_filled(schema, {"limits": {"words": 5}})["limits"] == {"words": 5}


def test_secret_paths_and_stray_write_only_marks() -> None:
    schema = {"type": "object", "properties": {
        "api_key": {"type": "string", "writeOnly": True},
        "auth": {"type": "object", "properties": {"token": {"writeOnly": True}, "user": {}}},
        "list": {"type": "array", "items": {"writeOnly": True}}},
        "$defs": {"k": {"type": "object", "properties": {"s": {"writeOnly": True}}}}}
    assert secret_paths(schema) == (("api_key",), ("auth", "token"))
    assert stray_write_only(schema) == ["properties.list.items.writeOnly", "$defs.k.properties.s.writeOnly"]
    assert stray_write_only({"type": "object", "writeOnly": True}) == ["writeOnly"]
    assert stray_write_only({"type": "object", "properties": {"d": {"default": {"writeOnly": True}}}}) == []

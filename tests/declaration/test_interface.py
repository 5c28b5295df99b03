"""Manifest fields of the plugin programming model: tools, versioned dependencies, hooks, subscribes, page_events
and settings_schema — each accepted in its valid forms and refused with the field path and the exact reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from aiplugs.declaration.interface import Dependency
from aiplugs.declaration.manifest import Manifest, Tool, load_manifest
from aiplugs.errors import ConfigError

from ..conftest import manifest_data


def loaded(tmp_path: Path, write_plugin: Callable[..., Path], **fields: Any) -> Manifest:
    return load_manifest(write_plugin(tmp_path, "p", **fields)).manifest


def refused(tmp_path: Path, write_plugin: Callable[..., Path], **fields: Any) -> list[tuple[str, str]]:
    folder = write_plugin(tmp_path, "p", **fields)
    with pytest.raises(ConfigError) as info:
        load_manifest(folder)
    assert all(p.source == str(folder / "manifest.json") for p in info.value.problems)
    return [(p.path, p.message) for p in info.value.problems]


# --- tools ---------------------------------------------------------------------------------------------------------


def test_tools_load_and_run_is_always_a_tool(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    manifest = loaded(tmp_path, write_plugin, tools=[{"name": "search", "description": "Find", "input_schema": schema}])
    assert manifest.tools == (Tool(name="search", description="Find", input_schema=schema),)
    assert [t.name for t in manifest.all_tools] == ["run", "search"]
    described = loaded(tmp_path, write_plugin, tools=[{"name": "run", "description": "Default"}])
    assert [(t.name, t.description) for t in described.all_tools] == [("run", "Default")]
    assert loaded(tmp_path, write_plugin).all_tools == (Tool(name="run"),)


@pytest.mark.parametrize(("name", "message"), [
    ("init", "'init' is reserved for a hook aiplugs calls itself; choose another name"),
    ("on_message", "'on_message' is reserved for a hook aiplugs calls itself; choose another name"),
    ("_helper", "must not start with '_': such functions stay private to the backend (got '_helper')"),
    ("two words", "must be a Python function name (got 'two words')"),
    ("class", "must be a Python function name (got 'class')"),
    ("9lives", "must be a Python function name (got '9lives')"),
])
def test_bad_tool_names_are_refused(tmp_path: Path, write_plugin: Callable[..., Path], name: str, message: str) -> None:
    found = refused(tmp_path, write_plugin, tools=[{"name": "ok"}, {"name": name}])
    assert found == [("tools.1.name", message)]


def test_tool_names_are_unique(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    found = refused(tmp_path, write_plugin, tools=[{"name": "a"}, {"name": "b"}, {"name": "a"}])
    assert found == [("tools", "tool 'a' is declared twice (tools.0 and tools.2)")]


def test_input_schema_must_be_a_valid_json_schema(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    bad = {"type": "object", "properties": {"q": {"type": "text"}}}
    found = refused(tmp_path, write_plugin, tools=[{"name": "search", "input_schema": bad}])
    assert found == [("tools.0.input_schema", "not a valid JSON Schema (Draft 2020-12) at properties.q.type: 'text' "
                                              "is not valid under any of the given schemas")]
    found = refused(tmp_path, write_plugin, tools=[{"name": "search", "input_schema": {"minLength": -1}}])
    assert found == [("tools.0.input_schema",
                      "not a valid JSON Schema (Draft 2020-12) at minLength: -1 is less than the minimum of 0")]


# --- dependencies --------------------------------------------------------------------------------------------------


def test_dependencies_accept_ids_and_versioned_objects(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    manifest = loaded(tmp_path, write_plugin, dependencies=["summarize", {"id": "sentiment", "version": ">=1.2,<2"}])
    assert manifest.dependencies == ("summarize", "sentiment")  # what ordering and older callers read
    assert manifest.dependency_specs == (Dependency(id="summarize"), Dependency(id="sentiment", version=">=1.2,<2"))
    # a dump reads back unchanged, under the key the file uses
    dumped = json.loads(manifest.model_dump_json())
    assert dumped["dependencies"] == ["summarize", {"id": "sentiment", "version": ">=1.2,<2"}]
    assert "dependency_specs" not in dumped and Manifest.model_validate(dumped) == manifest


def test_dependency_allows_checks_the_specifiers() -> None:
    need = Dependency(id="x", version=">=1.2,<2")
    assert [need.allows(v) for v in ("1.1", "1.2", "1.9.9", "2.0", "1.5rc1")] == [False, True, True, False, True]
    assert Dependency(id="x").allows("0.0.1")


def test_bad_dependencies_are_refused_at_their_index(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    found = refused(tmp_path, write_plugin, dependencies=[
        "ok", {"id": "a", "version": ">>1"}, {"id": "b", "version": "1.2"}, 7, {"id": "c", "versoin": ">1"}])
    assert found == [
        ("dependencies.1.version", "must be version specifiers like '>=1.2' or '>=1.2,<2' (PEP 440), got '>>1'"),
        ("dependencies.2.version", "must be version specifiers like '>=1.2' or '>=1.2,<2' (PEP 440), got '1.2'"),
        ("dependencies.3", 'must be a plugin id or {"id": ..., "version": ...} (got 7)'),
        ("dependencies.4.versoin", "unknown key (did you mean 'version'?)"),
    ]


def test_misspelt_dependencies_key_suggests_the_file_key(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    data = manifest_data("p")
    data["dependencys"] = data.pop("dependencies")
    assert refused(tmp_path, write_plugin, manifest=data) == [
        ("dependencys", "unknown key (did you mean 'dependencies'?)")]


# --- hooks ---------------------------------------------------------------------------------------------------------


def test_hooks_timeout_defaults_to_60_and_is_bounded(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    assert loaded(tmp_path, write_plugin).hooks.timeout_s == 60
    assert loaded(tmp_path, write_plugin, hooks={"timeout_s": 2.5}).hooks.timeout_s == 2.5
    assert loaded(tmp_path, write_plugin, hooks={"timeout_s": 3600}).hooks.timeout_s == 3600
    assert refused(tmp_path, write_plugin, hooks={"timeout_s": 0}) == [("hooks.timeout_s", "must be > 0.0 (got 0)")]
    assert refused(tmp_path, write_plugin, hooks={"timeout_s": 3601}) == [
        ("hooks.timeout_s", "must be <= 3600.0 (got 3601)")]
    assert refused(tmp_path, write_plugin, hooks={"timeout_s": "5"}) == [
        ("hooks.timeout_s", "input should be a valid number (got '5')")]
    assert refused(tmp_path, write_plugin, hooks={"timeout": 5}) == [
        ("hooks.timeout", "unknown key (did you mean 'timeout_s'?)")]


# --- subscribes and page events ------------------------------------------------------------------------------------


def test_subscribes_are_normalized_to_full_topics(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    manifest = loaded(tmp_path, write_plugin, subscribes=["done", "word-count/*", "aiplugs/plugin.ready", "*",
                                                          "p/done"], page_events=True)
    assert manifest.subscribes == ("p/done", "word-count/*", "aiplugs/plugin.ready", "*")
    assert manifest.page_events is True
    assert loaded(tmp_path, write_plugin).page_events is False


def test_bad_subscriptions_are_refused_at_their_index(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    found = refused(tmp_path, write_plugin, subscribes=["ok", "a*", "x/*/y", "Other/done", "bad name", "x/"])
    assert found == [
        ("subscribes.1", "'*' may only be the whole pattern or follow the last '/' (got 'a*')"),
        ("subscribes.2", "'*' may only be the whole pattern or follow the last '/' (got 'x/*/y')"),
        ("subscribes.3", "'Other' is not a plugin id (a topic is <plugin-id>/<name>) (got 'Other/done')"),
        ("subscribes.4", "'bad name' is not a topic name: letters, digits and _ . : - , starting with a letter or "
                         "digit (got 'bad name')"),
        ("subscribes.5", "'' is not a topic name: letters, digits and _ . : - , starting with a letter or digit "
                         "(got 'x/')"),
    ]


def test_the_system_namespace_is_not_a_plugin_id() -> None:
    with pytest.raises(ValueError, match="'aiplugs' is reserved: its topics are the system's events"):
        Manifest.model_validate(manifest_data("aiplugs"))


# --- settings_schema -----------------------------------------------------------------------------------------------


def test_settings_schema_names_its_secrets(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    schema = {"type": "object", "properties": {
        "api_key": {"type": "string", "writeOnly": True},
        "auth": {"type": "object", "properties": {"token": {"type": "string", "writeOnly": True}}},
        "lang": {"type": "string"}}}
    assert loaded(tmp_path, write_plugin, settings_schema=schema).secret_settings == (("api_key",), ("auth", "token"))
    assert loaded(tmp_path, write_plugin).secret_settings == ()


@pytest.mark.parametrize(("schema", "message"), [
    ({"type": "array"}, 'must be the schema of an object, with "type": "object" (got "type": \'array\')'),
    ({"properties": {}}, 'must be the schema of an object, with "type": "object" (got "type": None)'),
    ({"type": "object", "properties": {"n": {"type": "integr"}}},
     "not a valid JSON Schema (Draft 2020-12) at properties.n.type: 'integr' is not valid under any of the given "
     "schemas"),
    ({"type": "object", "properties": {"apiKey": {"type": "string", "writeOnly": True}}},
     "secret setting 'apiKey': names on the way to a secret must be lower-case letters, digits and '_', since an "
     "environment variable carries its value (got 'apiKey')"),
    ({"type": "object", "properties": {"keys": {"type": "array", "items": {"type": "string", "writeOnly": True}}}},
     "writeOnly (a secret) is only supported on properties of objects, reached through properties alone (found at "
     "properties.keys.items.writeOnly)"),
])
def test_bad_settings_schemas_are_refused(
    tmp_path: Path, write_plugin: Callable[..., Path], schema: dict[str, Any], message: str
) -> None:
    assert refused(tmp_path, write_plugin, settings_schema=schema) == [("settings_schema", message)]


def test_problems_of_all_new_fields_come_together(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    found = refused(tmp_path, write_plugin, tools=[{"name": "init"}], dependencies=[{"id": "x", "version": "?"}],
                    subscribes=["a*"], hooks={"timeout_s": -1}, settings_schema={"type": "string"})
    assert [path for path, _ in found] == ["dependencies.0.version", "tools.0.name", "subscribes.0",
                                           "hooks.timeout_s", "settings_schema"]

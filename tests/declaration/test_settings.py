"""Plugin settings against the manifest's settings_schema: defaults, positions of violations, secrets only from the
environment, and secrets never shown."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

from aiplugs.declaration.config import Config, load_config
from aiplugs.declaration.manifest import LoadedPlugin, Manifest, load_plugins
from aiplugs.declaration.settings import (
    ResolvedSettings,
    redacted_settings,
    resolve_plugin_settings,
    resolve_settings,
    secret_env_name,
    secret_setting_paths,
)
from aiplugs.errors import ConfigError
from aiplugs.util.redact import MASK

from ..conftest import manifest_data

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "api_key": {"type": "string", "minLength": 8, "writeOnly": True},
        "lang": {"type": "string", "default": "en"},
        "limit": {"type": "integer", "minimum": 1, "default": 5},
        "limits": {"type": "object", "default": {}, "properties": {"words": {"type": "integer", "default": 100}}},
    },
    "required": ["api_key"],
    "additionalProperties": False,
}
KEY_VAR = "AIPLUGS_PLUGINS__WORD_COUNT__SETTINGS__API_KEY"


@pytest.fixture
def project(bare_project: Path, write_plugin: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    write_plugin(bare_project / "plugins", "word-count", settings_schema=SCHEMA)
    monkeypatch.chdir(bare_project)  # messages show aiplugs.toml:L:C
    return bare_project


def load(root: Path, toml: str, env: dict[str, str]) -> tuple[Config, dict[str, LoadedPlugin]]:
    (root / "aiplugs.toml").write_text('plugins_dir = "plugins"\n' + toml, encoding="utf-8")
    config = load_config(root / "aiplugs.toml", env=env)
    return config, load_plugins(config.plugins_dir)


def resolved(root: Path, toml: str, env: dict[str, str]) -> dict[str, ResolvedSettings]:
    config, plugins = load(root, toml, env)
    found, problems = resolve_plugin_settings(config, plugins, env=env)
    assert problems == []
    return found


def problems(root: Path, toml: str, env: dict[str, str]) -> list[str]:
    config, plugins = load(root, toml, env)
    found, listed = resolve_plugin_settings(config, plugins, env=env)
    assert listed, found
    return [str(p) for p in listed]


def test_defaults_are_filled_and_the_secret_comes_from_env(project: Path) -> None:
    found = resolved(project, "[plugins.word-count.settings]\nlang = \"de\"\n", {KEY_VAR: "sk-0123456789"})
    assert found["word-count"] == ResolvedSettings(
        {"lang": "de", "api_key": "sk-0123456789", "limit": 5, "limits": {"words": 100}}, frozenset({"api_key"}))
    assert json.loads(found["word-count"].to_json())["limits"] == {"words": 100}


def test_a_string_setting_from_env_keeps_its_text(project: Path) -> None:
    # the environment source parses settings as JSON: 0123456789 would become a number
    found = resolved(project, "", {KEY_VAR: "0123456789", "AIPLUGS_PLUGINS__WORD_COUNT__SETTINGS__LANG": "42",
                                   "AIPLUGS_PLUGINS__WORD_COUNT__SETTINGS__LIMIT": "7"})
    assert found["word-count"].values["api_key"] == "0123456789"
    assert (found["word-count"].values["lang"], found["word-count"].values["limit"]) == ("42", 7)


def test_violations_point_at_the_value_in_the_file(project: Path) -> None:
    toml = "\n[plugins.word-count.settings]\nlang = 3\nlimit = 0\nlimt = 2\nlimits = {words = \"many\"}\n"
    assert problems(project, toml, {KEY_VAR: "sk-0123456789"}) == [
        "aiplugs.toml:4:8: plugins.word-count.settings.lang: must be of type string (got 3)",
        "aiplugs.toml:5:9: plugins.word-count.settings.limit: must be >= 1 (got 0)",
        "aiplugs.toml:7:19: plugins.word-count.settings.limits.words: must be of type integer (got 'many')",
        "aiplugs.toml:6:8: plugins.word-count.settings.limt: unknown setting (did you mean 'limit'?)",
    ]


def test_missing_required_points_at_the_table(project: Path) -> None:
    toml = "\n[plugins.word-count]\nworkers = 1\n\n[plugins.word-count.settings]\nlang = \"de\"\n"
    assert problems(project, toml, {}) == [
        "aiplugs.toml:6:1: plugins.word-count.settings.api_key: required secret is missing; set env " + KEY_VAR]
    assert problems(project, "\n[plugins.word-count]\nworkers = 1\n", {}) == [
        "aiplugs.toml:3:1: plugins.word-count.settings.api_key: required secret is missing; set env " + KEY_VAR]
    assert problems(project, "", {}) == [
        "aiplugs.toml: plugins.word-count.settings.api_key: required secret is missing; set env " + KEY_VAR]


def test_a_secret_in_the_file_is_refused_even_when_env_overrides_it(project: Path) -> None:
    toml = "[plugins.word-count.settings]\napi_key = \"sk-in-the-file\"\n"
    expected = ["aiplugs.toml:3:11: plugins.word-count.settings.api_key: keep secrets out of the file; set env "
                f"{KEY_VAR} instead"]
    assert problems(project, toml, {}) == expected  # and no "required" problem on top
    assert problems(project, toml, {KEY_VAR: "sk-0123456789"}) == expected
    assert "sk-in-the-file" not in "\n".join(expected)


def test_env_values_point_at_the_variable_and_secrets_stay_out_of_messages(project: Path) -> None:
    env = {KEY_VAR: "short", "AIPLUGS_PLUGINS__WORD_COUNT__SETTINGS__LIMIT": "-3"}
    assert problems(project, "", env) == [
        f"env {KEY_VAR}: plugins.word-count.settings.api_key: must have at least 8 characters",
        "env AIPLUGS_PLUGINS__WORD_COUNT__SETTINGS__LIMIT: plugins.word-count.settings.limit: must be >= 1 (got -3)",
    ]


def test_an_object_holding_a_secret_is_described_without_its_value() -> None:
    schema = {"type": "object", "minProperties": 3, "properties": {
        "auth": {"type": "object", "maxProperties": 1, "properties": {"token": {"type": "string", "writeOnly": True}}},
        "lang": {"type": "string"}}}
    manifest = Manifest.model_validate(manifest_data("p", settings_schema=schema))
    with pytest.raises(ConfigError) as info:
        resolve_settings(manifest, {"auth": {"token": "sk-secret", "user": "me"}}, env={})
    assert [str(p) for p in info.value.problems] == [
        "aiplugs.toml: plugins.p.settings: must have at least 3 properties",
        "aiplugs.toml: plugins.p.settings.auth: must have at most 1 properties"]


def test_problems_of_every_plugin_come_together(project: Path, write_plugin: Callable[..., Path]) -> None:
    write_plugin(project / "plugins", "sentiment", settings_schema={"type": "object", "properties": {
        "threshold": {"type": "number", "maximum": 1}}})
    write_plugin(project / "plugins", "plain")  # no schema: its settings pass as they are
    toml = ("[plugins.sentiment.settings]\nthreshold = 2\n[plugins.plain.settings]\nanything = [1]\n"
            "[plugins.word-count.settings]\nlimit = \"x\"\n")
    config, plugins = load(project, toml, {})
    found, listed = resolve_plugin_settings(config, plugins, env={})
    assert [str(p) for p in listed] == [
        "aiplugs.toml:3:13: plugins.sentiment.settings.threshold: must be <= 1 (got 2)",
        "aiplugs.toml:6:1: plugins.word-count.settings.api_key: required secret is missing; set env " + KEY_VAR,
        "aiplugs.toml:7:9: plugins.word-count.settings.limit: must be of type integer (got 'x')",
    ]
    assert found == {"plain": ResolvedSettings({"anything": [1]})}


def test_resolve_settings_on_plain_values() -> None:
    manifest = Manifest.model_validate(manifest_data("word-count", settings_schema=SCHEMA))
    result = resolve_settings(manifest, {"api_key": "sk-0123456789"}, env={})
    assert result.values == {"api_key": "sk-0123456789", "lang": "en", "limit": 5, "limits": {"words": 100}}
    with pytest.raises(ConfigError) as info:
        resolve_settings(manifest, {"limit": True}, plugin_id="other-id", env={})
    assert [str(p) for p in info.value.problems] == [
        "aiplugs.toml: plugins.other-id.settings.api_key: required secret is missing; set env "
        "AIPLUGS_PLUGINS__OTHER_ID__SETTINGS__API_KEY",
        "aiplugs.toml: plugins.other-id.settings.limit: must be of type integer (got True)"]
    plain = Manifest.model_validate(manifest_data("p"))
    assert resolve_settings(plain, {"x": {"y": 1}}, env={}) == ResolvedSettings({"x": {"y": 1}})


def test_secret_env_name() -> None:
    assert secret_env_name("word-count", ["api_key"]) == KEY_VAR
    assert secret_env_name("p", ["auth", "token"]) == "AIPLUGS_PLUGINS__P__SETTINGS__AUTH__TOKEN"


def test_redaction_masks_set_secrets_only() -> None:
    resolved = ResolvedSettings({"api_key": "sk-1", "auth": {"token": "t", "user": "u"}, "lang": "en"},
                                frozenset({"api_key", "auth.token", "auth.missing", "absent"}))
    assert redacted_settings(resolved) == {"api_key": MASK, "auth": {"token": MASK, "user": "u"}, "lang": "en"}
    assert resolved.values["api_key"] == "sk-1"  # the resolved values themselves are untouched


def test_config_effective_masks_write_only_settings(project: Path) -> None:
    config, _ = load(project, "[plugins.word-count.settings]\nlang = \"de\"\n", {KEY_VAR: "sk-0123456789"})
    hidden = secret_setting_paths(config)
    assert hidden == frozenset({"plugins.word-count.settings.api_key"})
    rows = {path: (value, origin) for path, value, origin in config.effective(hidden=hidden)}
    assert rows["plugins.word-count.settings.api_key"] == (MASK, f"env {KEY_VAR}")
    assert rows["plugins.word-count.settings.lang"] == ("de", "aiplugs.toml:3:8")
    unmasked = {path: value for path, value, _ in config.effective()}
    assert unmasked["plugins.word-count.settings.api_key"] == "sk-0123456789"  # what hidden= prevents


def test_aiplugs_config_never_prints_a_write_only_value(
    project: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    (project / "aiplugs.toml").write_text('plugins_dir = "plugins"\n', encoding="utf-8")
    for args in (["config"], ["config", "--json"]):
        result = run_cli(*args, cwd=project, env={KEY_VAR: "sk-do-not-show-me"})
        assert result.returncode == 0, result.stderr
        assert "sk-do-not-show-me" not in result.stdout + result.stderr
        assert "plugins.word-count.settings.api_key" in result.stdout and MASK in result.stdout

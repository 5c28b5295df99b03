"""Sources: each a pydantic-settings source with the origin of every value; origins merged like the values."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import InitSettingsSource

from aiplugs.declaration import positions
from aiplugs.declaration.config import PluginConfig, ProxyConfig, Settings, load_config
from aiplugs.declaration.sources import (
    EnvSource,
    LegacyEnvSource,
    TomlSource,
    env_source,
    legacy_env_source,
    merge_origins,
    split_origin,
    toml_source,
)
from aiplugs.errors import ConfigError


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_toml_source_records_value_positions(tmp_path: Path) -> None:
    path = tmp_path / "aiplugs.toml"
    path.write_text("[proxy]\nport = 8081\n[plugins.word-count]\nworkers = 2\n", encoding="utf-8")
    source = toml_source(Settings, path)
    assert isinstance(source, TomlSource) and source.exists
    assert source() == {"proxy": {"port": 8081}, "plugins": {"word-count": {"workers": 2}}}
    assert source.origins == {"proxy.port": "aiplugs.toml:2:8", "plugins.word-count.workers": "aiplugs.toml:4:11"}


def test_missing_file_is_an_empty_source_only_when_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        toml_source(Settings, tmp_path / "nope.toml")
    source = toml_source(Settings, tmp_path / "nope.toml", require_file=False)
    assert (source.exists, source(), source.origins) == (False, {}, {})


def test_env_source_maps_names_to_keys_and_leaves_legacy_names_alone() -> None:
    env = {
        "AIPLUGS_PROXY__PORT": "8099",
        "AIPLUGS_PLUGINS__WORD_COUNT__ENV__HF_Home": "/cache",
        "AIPLUGS_PLUGINS__MY_TOOL__SETTINGS__N": "3",
        "AIPLUGS_CONFIG": "other.toml",
        "SYSTEM_API_KEY": "key",
    }
    source = env_source(Settings, env, plugin_ids={"my_tool"})
    assert isinstance(source, EnvSource)
    assert source() == {
        "proxy": {"port": "8099"},
        "plugins": {"word-count": {"env": {"HF_Home": "/cache"}}, "my_tool": {"settings": {"n": 3}}},
    }
    assert source.origins["plugins.word-count.env.HF_Home"] == "env AIPLUGS_PLUGINS__WORD_COUNT__ENV__HF_Home"


def test_legacy_env_source_reads_only_the_two_old_names_and_skips_empty_ones() -> None:
    source = legacy_env_source(Settings, {"SYSTEM_API_KEY": "", "CLOUD_BASE_URL": "https://x.example", "X": "1"})
    assert isinstance(source, LegacyEnvSource)
    assert source() == {"cloud": {"base_url": "https://x.example"}}
    assert source.origins == {"cloud.base_url": "env CLOUD_BASE_URL"}


def test_sources_handed_to_settings_merge_tables_by_priority(tmp_path: Path) -> None:
    path = tmp_path / "aiplugs.toml"
    path.write_text("[proxy]\nport = 8081\ncsp = \"strip\"\n", encoding="utf-8")
    env = {"AIPLUGS_PROXY__PORT": "8099", "CLOUD_BASE_URL": "https://legacy.example"}
    sources = (
        InitSettingsSource(Settings, init_kwargs={"proxy": {"intercept": "all"}}),
        env_source(Settings, env, set()),
        legacy_env_source(Settings, env),
        toml_source(Settings, path),
    )
    settings = Settings(_build_sources=(sources, {}))
    assert (settings.proxy.port, settings.proxy.csp, settings.proxy.intercept) == (8099, "strip", "all")
    assert settings.cloud.base_url == "https://legacy.example"


def test_merge_origins_higher_source_wins_and_arguments_hide_what_is_below_them(tmp_path: Path) -> None:
    path = tmp_path / "aiplugs.toml"
    path.write_text('[cloud]\nbase_url = "https://f.example"\n[proxy.hosts]\n"a.example" = "127.0.0.1"\n')
    env = {"AIPLUGS_CLOUD__BASE_URL": "https://e.example", "CLOUD_BASE_URL": "https://l.example"}
    recorded = (env_source(Settings, env, set()), legacy_env_source(Settings, env), toml_source(Settings, path))
    assert merge_origins(recorded, {}) == {
        "cloud.base_url": "env AIPLUGS_CLOUD__BASE_URL",
        "proxy.hosts.a.example": "aiplugs.toml:4:15",
    }
    assert merge_origins(recorded, {"cloud": {"base_url": "https://a.example"}, "proxy": ProxyConfig()}) == {
        "cloud.base_url": "argument",
        "proxy": "argument",
    }


def test_positions_are_worked_out_when_an_origin_in_the_file_is_first_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    locate = positions.locate
    monkeypatch.setattr(positions, "locate", lambda text: parsed.append(text) or locate(text))
    path = tmp_path / "aiplugs.toml"
    path.write_text("[proxy]\nport = 8081\n[plugins.word-count]\nworkers = 2\n", encoding="utf-8")
    config = load_config(path, env={"AIPLUGS_PROXY__PORT": "8099"})
    origins = config.origins
    assert dict(origins.recorded()) == {"proxy.port": "env AIPLUGS_PROXY__PORT", "plugins.word-count.workers": None}
    assert list(origins) == ["proxy.port", "plugins.word-count.workers"] and "plugins.word-count.workers" in origins
    assert origins["proxy.port"] == config.origin("proxy.port") == "env AIPLUGS_PROXY__PORT"
    assert dict(origins.within("plugins.word-count").recorded()) == {"workers": None}
    assert parsed == []  # nothing asked where a value of the file stands yet
    assert origins.within("plugins.word-count")["workers"] == "aiplugs.toml:4:11"
    assert config.origin("plugins.word-count.workers") == "aiplugs.toml:4:11"
    assert origins == {"proxy.port": "env AIPLUGS_PROXY__PORT", "plugins.word-count.workers": "aiplugs.toml:4:11"}
    assert len(parsed) == 1  # once per load


def test_origins_within_a_table_keep_the_table_itself(tmp_path: Path) -> None:
    path = tmp_path / "aiplugs.toml"
    path.write_text("[plugins.a]\nsettings = { n = 1 }\n[plugins.ab]\nworkers = 2\n", encoding="utf-8")
    config = load_config(path, env={"AIPLUGS_PLUGINS__A__SETTINGS__M": "2"})
    within = config.origins.within("plugins.a")
    assert dict(within) == {"settings.n": "aiplugs.toml:2:18", "settings.m": "env AIPLUGS_PLUGINS__A__SETTINGS__M"}
    config = load_config(path, env={}, plugins={"a": PluginConfig(settings={"m": 2})})
    assert dict(config.origins.within("plugins.a")) == {"": "argument"}
    assert dict(config.origins.within("plugins.ab")) == {"workers": "aiplugs.toml:4:11"}


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        ("aiplugs.toml:3:8", ("aiplugs.toml", 3, 8)),
        ("C:\\proj\\aiplugs.toml:12:1", ("C:\\proj\\aiplugs.toml", 12, 1)),
        ("env AIPLUGS_PROXY__PORT", ("env AIPLUGS_PROXY__PORT", None, None)),
        ("argument", ("argument", None, None)),
    ],
)
def test_split_origin(origin: str, expected: tuple[str, int | None, int | None]) -> None:
    assert split_origin(origin) == expected

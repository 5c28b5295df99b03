"""Config: precedence (arguments > env > legacy env > aiplugs.toml > defaults), origins, errors, paths."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from aiplugs.declaration.config import Config, Settings, load_config, resolve_config_path
from aiplugs.declaration.sources import EnvSource
from aiplugs.errors import ConfigError


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages show paths relative to the current directory; run from tmp_path so they read aiplugs.toml:L:C."""
    monkeypatch.chdir(tmp_path)


def write_toml(folder: Path, text: str, name: str = "aiplugs.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    assert str(info.value) == "\n".join(str(p) for p in info.value.problems)
    return [str(p) for p in info.value.problems]


# --- defaults and precedence -------------------------------------------------------------------------------------


def test_empty_file_gives_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write_toml(tmp_path, ""), env={})
    s = config.settings
    assert (s.api.host, s.api.port, s.api.port_range) == ("127.0.0.1", None, (5000, 5100))
    assert (s.proxy.host, s.proxy.port, s.proxy.port_range) == ("127.0.0.1", None, (8080, 8180))
    assert (s.proxy.csp, s.proxy.intercept, s.proxy.passthrough) == ("amend", "matched", ())
    assert (s.cloud.base_url, s.cloud.api_key, s.cloud.timeout_s) == (None, None, 60.0)
    assert s.plugins == {}
    assert config.state_dir == tmp_path / ".aiplugs"
    assert config.origin("proxy.port") == "default"


def test_env_beats_file_and_file_beats_default(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[proxy]\nport = 8081\ncsp = \"strip\"\n")
    config = load_config(path, env={"AIPLUGS_PROXY__PORT": "8099"})
    assert config.settings.proxy.port == 8099
    assert config.settings.proxy.csp == "strip"  # the env source merges into the table, it does not replace it
    assert config.settings.proxy.intercept == "matched"
    assert config.origin("proxy.port") == "env AIPLUGS_PROXY__PORT"
    assert config.origin("proxy.csp") == "aiplugs.toml:3:7"
    assert config.origin("proxy.intercept") == "default"


def test_arguments_beat_env_and_their_origin_is_argument(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[proxy]\nport = 8081\ncsp = \"strip\"\n")
    config = load_config(path, env={"AIPLUGS_PROXY__PORT": "8099"}, proxy={"port": 9000})
    assert config.settings.proxy.port == 9000
    assert config.settings.proxy.csp == "strip"
    assert config.origin("proxy.port") == "argument"
    assert config.origin("proxy.csp") == "aiplugs.toml:3:7"


def test_legacy_env_vars_override_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[cloud]\nbase_url = "https://file.example"\n')
    env = {"SYSTEM_API_KEY": "legacy-key", "CLOUD_BASE_URL": "https://legacy.example/"}
    config = load_config(path, env=env)
    assert config.settings.cloud.api_key is not None
    assert config.settings.cloud.api_key.get_secret_value() == "legacy-key"
    assert config.settings.cloud.base_url == "https://legacy.example"  # trailing slash trimmed
    assert config.origin("cloud.api_key") == "env SYSTEM_API_KEY"
    assert config.origin("cloud.base_url") == "env CLOUD_BASE_URL"


def test_aiplugs_env_vars_win_over_legacy_ones(tmp_path: Path) -> None:
    env = {"SYSTEM_API_KEY": "legacy-key", "AIPLUGS_CLOUD__API_KEY": "new-key",
           "CLOUD_BASE_URL": "https://legacy.example", "AIPLUGS_CLOUD__BASE_URL": "https://new.example"}
    config = load_config(write_toml(tmp_path, ""), env=env)
    assert config.settings.cloud.api_key.get_secret_value() == "new-key"
    assert config.settings.cloud.base_url == "https://new.example"
    assert config.origin("cloud.api_key") == "env AIPLUGS_CLOUD__API_KEY"
    assert config.origin("cloud.base_url") == "env AIPLUGS_CLOUD__BASE_URL"


@pytest.mark.parametrize(
    ("removed", "url", "origin"),
    [
        (0, "https://argument.example", "argument"),
        (1, "https://aiplugs-env.example", "env AIPLUGS_CLOUD__BASE_URL"),
        (2, "https://legacy-env.example", "env CLOUD_BASE_URL"),
        (3, "https://file.example", "aiplugs.toml:2:12"),
        (4, None, "default"),
    ],
)
def test_value_set_in_all_four_places_follows_the_priority(
    tmp_path: Path, removed: int, url: str | None, origin: str
) -> None:
    """cloud.base_url given as argument, AIPLUGS_ env, legacy env and in the file; the `removed` highest taken away."""
    text = '[cloud]\nbase_url = "https://file.example"\n' if removed < 4 else ""
    env = {"CLOUD_BASE_URL": "https://legacy-env.example"} if removed < 3 else {}
    if removed < 2:
        env["AIPLUGS_CLOUD__BASE_URL"] = "https://aiplugs-env.example"
    overrides: dict[str, Any] = {"cloud": {"base_url": "https://argument.example"}} if removed < 1 else {}
    config = load_config(write_toml(tmp_path, text), env=env, **overrides)
    assert config.settings.cloud.base_url == url
    assert config.origin("cloud.base_url") == origin
    assert {p: (v, o) for p, v, o in config.effective()}["cloud.base_url"] == (url, origin)


def test_all_four_places_merge_into_one_table_each_value_keeping_its_origin(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[cloud]\nbase_url = "https://file.example"\ntimeout_s = 5\n')
    env = {"SYSTEM_API_KEY": "legacy-key", "AIPLUGS_CLOUD__TIMEOUT_S": "7"}
    config = load_config(path, env=env, cloud={"base_url": "https://argument.example"})
    cloud = config.settings.cloud
    assert (cloud.base_url, cloud.timeout_s) == ("https://argument.example", 7.0)
    assert cloud.api_key is not None and cloud.api_key.get_secret_value() == "legacy-key"
    assert [config.origin(f"cloud.{key}") for key in ("base_url", "timeout_s", "api_key")] == [
        "argument", "env AIPLUGS_CLOUD__TIMEOUT_S", "env SYSTEM_API_KEY"
    ]


def test_concurrent_loads_with_different_environments_do_not_mix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both loads are inside pydantic-settings' merge at the same moment (they meet at a barrier in the env source):
    a shared slot for the sources, as a module-level global would be, would hand one the other's values."""
    barrier = threading.Barrier(2, timeout=10)
    read = EnvSource.__call__

    def meet_then_read(self: EnvSource) -> dict[str, Any]:
        barrier.wait()
        return read(self)

    monkeypatch.setattr(EnvSource, "__call__", meet_then_read)
    file_a = write_toml(tmp_path / "a", '[proxy]\ncsp = "strip"\n')
    file_b = write_toml(tmp_path / "b", '[api]\nhost = "0.0.0.0"\n')
    calls = [
        (file_a, {"AIPLUGS_PROXY__PORT": "8001", "SYSTEM_API_KEY": "a"}),
        (file_b, {"AIPLUGS_API__PORT": "5002", "SYSTEM_API_KEY": "b"}),
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        a, b = pool.map(lambda call: load_config(call[0], env=call[1]), calls)
    assert (a.settings.proxy.port, a.settings.proxy.csp, a.settings.api.port, a.settings.api.host) == (
        8001, "strip", None, "127.0.0.1"
    )
    assert (b.settings.proxy.port, b.settings.proxy.csp, b.settings.api.port, b.settings.api.host) == (
        None, "amend", 5002, "0.0.0.0"
    )
    assert [c.settings.cloud.api_key.get_secret_value() for c in (a, b) if c.settings.cloud.api_key] == ["a", "b"]
    assert (a.origin("proxy.port"), a.origin("api.port")) == ("env AIPLUGS_PROXY__PORT", "default")
    assert (b.origin("proxy.port"), b.origin("api.port")) == ("default", "env AIPLUGS_API__PORT")


def test_settings_on_its_own_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only load_config reads the environment; pydantic-settings' own env source is not consulted."""
    monkeypatch.setenv("AIPLUGS_PROXY__PORT", "8001")
    monkeypatch.setenv("PROXY", '{"port": 8002}')
    monkeypatch.setenv("SYSTEM_API_KEY", "key")
    settings = Settings(api={"port": 5001})
    assert (settings.api.port, settings.proxy.port, settings.cloud.api_key) == (5001, None, None)


def test_empty_legacy_variable_is_ignored(tmp_path: Path) -> None:
    config = load_config(write_toml(tmp_path, ""), env={"SYSTEM_API_KEY": ""})
    assert config.settings.cloud.api_key is None


def test_plugin_id_with_dash_maps_from_underscores(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[plugins.word-count]\nworkers = 1\n")
    config = load_config(path, env={"AIPLUGS_PLUGINS__WORD_COUNT__WORKERS": "3"})
    assert set(config.settings.plugins) == {"word-count"}
    assert config.settings.plugins["word-count"].workers == 3
    assert config.origin("plugins.word-count.workers") == "env AIPLUGS_PLUGINS__WORD_COUNT__WORKERS"


def test_plugin_ids_known_from_folders_keep_their_underscores(tmp_path: Path) -> None:
    (tmp_path / "plugins" / "my_tool").mkdir(parents=True)
    (tmp_path / "plugins" / "spell-check").mkdir(parents=True)
    env = {"AIPLUGS_PLUGINS__MY_TOOL__WORKERS": "2", "AIPLUGS_PLUGINS__SPELL_CHECK__ENABLED": "false"}
    config = load_config(write_toml(tmp_path, ""), env=env)
    assert config.settings.plugins["my_tool"].workers == 2
    assert config.settings.plugins["spell-check"].enabled is False
    assert set(config.settings.plugins) == {"my_tool", "spell-check"}


def test_plugin_folders_map_ids_back_whatever_the_case_of_the_section(tmp_path: Path) -> None:
    (tmp_path / "plugins" / "my_tool").mkdir(parents=True)
    config = load_config(write_toml(tmp_path, ""), env={"AIPLUGS_Plugins__MY_TOOL__WORKERS": "3"})
    assert set(config.settings.plugins) == {"my_tool"} and config.settings.plugins["my_tool"].workers == 3


def test_env_keys_keep_case_and_settings_parse_json(tmp_path: Path) -> None:
    env = {
        "AIPLUGS_PLUGINS__WORD_COUNT__ENV__HF_HOME": "/cache",
        "AIPLUGS_PLUGINS__WORD_COUNT__ENV__MixedCase": "yes",
        "AIPLUGS_PLUGINS__WORD_COUNT__SETTINGS__THRESHOLD": "0.5",
        "AIPLUGS_PLUGINS__WORD_COUNT__SETTINGS__LABEL": "plain text",
        "AIPLUGS_PROXY__PASSTHROUGH": '["*.Bank.example", "pay.example"]',
        "AIPLUGS_API__PORT_RANGE": "[6000, 6010]",
    }
    config = load_config(write_toml(tmp_path, ""), env=env)
    plugin = config.settings.plugins["word-count"]
    assert plugin.env == {"HF_HOME": "/cache", "MixedCase": "yes"}
    assert plugin.settings == {"threshold": 0.5, "label": "plain text"}
    assert config.settings.proxy.passthrough == ("*.bank.example", "pay.example")
    assert config.settings.api.port_range == (6000, 6010)


def test_unrelated_and_non_aiplugs_variables_are_ignored(tmp_path: Path) -> None:
    env = {"AIPLUGS_CONFIG": "elsewhere.toml", "AIPLUGSX": "1", "PROXY__PORT": "1", "HOME": "/root"}
    config = load_config(write_toml(tmp_path, ""), env=env)
    assert config.settings.proxy.port is None


# --- origins -------------------------------------------------------------------------------------------------------


def test_origins_point_at_the_value_in_the_file(tmp_path: Path) -> None:
    text = (
        "# comment\n"
        'models_dir = "store"\n'
        "\n"
        "[api]\n"
        "port = 5005\n"
        "[plugins.word-count]\n"
        "workers   =   2\n"
        "[plugins.word-count.settings]\n"
        'mode = "fast"\n'
    )
    config = load_config(write_toml(tmp_path, text), env={})
    assert config.origin("models_dir") == "aiplugs.toml:2:14"
    assert config.origin("api.port") == "aiplugs.toml:5:8"
    assert config.origin("plugins.word-count.workers") == "aiplugs.toml:7:15"
    assert config.origin("plugins.word-count.settings.mode") == "aiplugs.toml:9:8"
    assert config.origin("plugins.word-count.enabled") == "default"
    assert config.origin("plugins_dir") == "default"


def test_effective_lists_every_leaf_with_origin_and_masks_secrets(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[proxy]\nport = 8081\n")
    config = load_config(path, env={"SYSTEM_API_KEY": "s3cr3t-value"})
    rows = {p: (v, o) for p, v, o in config.effective()}
    assert rows["proxy.port"] == (8081, "aiplugs.toml:2:8")
    assert rows["api.port"] == (None, "default")
    assert rows["cloud.api_key"] == ("**********", "env SYSTEM_API_KEY")
    assert "s3cr3t-value" not in repr(config) + str(config.effective())


# --- errors --------------------------------------------------------------------------------------------------------


def test_schema_error_names_file_line_col_field_and_value(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[plugins.word-count]\n\n\n\n\n\n\n\n\n\n\n\n\nworkers = -1\n")
    found = problems(path)
    assert found == ["aiplugs.toml:14:11: plugins.word-count.workers: must be >= 0 (got -1)"]


def test_unknown_keys_suggest_the_close_name(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[proxy]\nprot = 5\n[api]\nhots = \"x\"\n")
    found = problems(path)
    assert "aiplugs.toml:2:8: proxy.prot: unknown key (did you mean 'port'?)" in found
    assert "aiplugs.toml:4:8: api.hots: unknown key (did you mean 'host'?)" in found


def test_unknown_key_far_from_anything_has_no_suggestion(tmp_path: Path) -> None:
    found = problems(write_toml(tmp_path, "[proxy]\nzzzzzz = 1\n"))
    assert found == ["aiplugs.toml:2:10: proxy.zzzzzz: unknown key"]


def test_unknown_plugin_key_suggests_from_plugin_fields(tmp_path: Path) -> None:
    found = problems(write_toml(tmp_path, "[plugins.word-count]\nworker = 2\n"))
    assert found == ["aiplugs.toml:2:10: plugins.word-count.worker: unknown key (did you mean 'workers'?)"]


def test_unknown_top_level_table_points_at_the_file_position(tmp_path: Path) -> None:
    found = problems(write_toml(tmp_path, "[apii]\nport = 1\n"))
    assert len(found) == 1
    assert found[0].startswith("aiplugs.toml:") and "apii: unknown key (did you mean 'api'?)" in found[0]
    assert found[0].split(":")[1] in ("1", "2")


def test_unknown_env_key_names_the_variable(tmp_path: Path) -> None:
    found = problems(write_toml(tmp_path, ""), env={"AIPLUGS_PROXY__PROT": "1"})
    assert found == ["env AIPLUGS_PROXY__PROT: proxy.prot: unknown key (did you mean 'port'?)"]


def test_bad_env_value_names_the_variable_and_value(tmp_path: Path) -> None:
    found = problems(write_toml(tmp_path, ""), env={"AIPLUGS_PROXY__PORT": "abc"})
    assert len(found) == 1
    assert found[0].startswith("env AIPLUGS_PROXY__PORT: proxy.port: ") and "'abc'" in found[0]


def test_several_errors_are_reported_together(tmp_path: Path) -> None:
    text = "[proxy]\ncsp = \"nope\"\nintercept = \"some\"\n[api]\nport = 70000\n[plugins.a]\nworkers = -2\n"
    found = problems(write_toml(tmp_path, text), env={"AIPLUGS_CLOUD__TIMEOUT_S": "0"})
    assert len(found) == 5
    assert "aiplugs.toml:2:7: proxy.csp: must be one of 'amend', 'strip' or 'keep' (got 'nope')" in found
    assert "aiplugs.toml:3:13: proxy.intercept: must be one of 'matched' or 'all' (got 'some')" in found
    assert "aiplugs.toml:5:8: api.port: must be <= 65535 (got 70000)" in found
    assert "aiplugs.toml:7:11: plugins.a.workers: must be >= 0 (got -2)" in found
    assert "env AIPLUGS_CLOUD__TIMEOUT_S: cloud.timeout_s: must be > 0.0 (got '0')" in found


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        ("[proxy]\nport = \n", 2, 8),
        ('a = "unterminated\n', 1, 18),
        ("[api]\nport = 1\nport = 2\n", 3, 9),
        ("[api\n", 1, 5),
    ],
)
def test_toml_syntax_errors_have_line_and_column(tmp_path: Path, text: str, line: int, col: int) -> None:
    found = problems(write_toml(tmp_path, text))
    assert len(found) == 1
    assert found[0].startswith(f"aiplugs.toml:{line}:{col}: TOML syntax error: ")
    assert "(at line" not in found[0]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[api]\nport_range = [5100, 5000]\n", "api.port_range: must be [low, high] with 1 <= low <= high <= 65535"),
        ('[cloud]\nbase_url = "ftp://x"\n', "cloud.base_url: must be an http(s) URL (got 'ftp://x')"),
        ('[proxy]\npassthrough = ["bad host/"]\n', "proxy.passthrough: must be a host pattern"),
        ('[plugins.x.env]\n"1BAD" = "v"\n', "plugins.x.env: env names must be valid variable names (got '1BAD')"),
        ('[plugins.x]\nmode = "remote"\n', "plugins.x.mode: must be one of 'local' or 'cloud' (got 'remote')"),
        ('[plugins.x]\nprovision = "never"\n', "plugins.x.provision: must be one of 'eager' or 'lazy'"),
        ("[api]\nport = 7000\n[proxy]\nport = 7000\n", "api.port and proxy.port must differ (both 7000)"),
    ],
)
def test_validators_name_field_and_value(tmp_path: Path, text: str, fragment: str) -> None:
    found = problems(write_toml(tmp_path, text))
    assert len(found) == 1 and fragment in found[0], found


def test_missing_file_is_an_error_unless_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml", env={})
    config = load_config(tmp_path / "nope.toml", env={}, require_file=False)
    assert config.file_exists is False and config.settings.api.port is None


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "aiplugs.toml"
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(path, env={})


# --- paths ---------------------------------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_folder_not_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_toml(tmp_path / "proj", 'plugins_dir = "my-plugins"\nmodels_dir = "../shared/models"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path, env={"AIPLUGS_STATE_DIR": "run/state"})
    assert config.plugins_dir == tmp_path / "proj" / "my-plugins"
    assert config.models_dir == tmp_path / "shared" / "models"
    assert config.state_dir == tmp_path / "proj" / "run" / "state"


def test_relative_config_path_resolves_against_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml(tmp_path, 'models_dir = "m"\n')
    monkeypatch.chdir(tmp_path)
    config = load_config("aiplugs.toml", env={})
    assert config.path == tmp_path / "aiplugs.toml"
    assert config.models_dir == tmp_path / "m"


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "abs-models"
    config = load_config(write_toml(tmp_path / "p", f'models_dir = "{target}"\n'), env={})
    assert config.models_dir == target


def test_aiplugs_config_env_chooses_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[api]\nport = 5999\n", name="other.toml")
    assert resolve_config_path(None, {"AIPLUGS_CONFIG": str(path)}) == path
    config = load_config(env={"AIPLUGS_CONFIG": str(path)})
    assert isinstance(config, Config) and config.settings.api.port == 5999
    assert resolve_config_path(tmp_path / "x.toml", {"AIPLUGS_CONFIG": str(path)}) == tmp_path / "x.toml"


def test_shipped_config_is_valid_and_has_origins(clean_env: dict[str, str]) -> None:
    repo = Path(__file__).resolve().parents[2]
    config = load_config(repo / "aiplugs.toml", env=clean_env)
    assert config.settings.plugins["summarize"].enabled is False
    assert config.origin("plugins.word-count.workers").startswith(f"{repo / 'aiplugs.toml'}:")


def test_effective_masks_plugin_env_values_that_look_secret(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[plugins.p.env]\nHF_TOKEN = "hf-secret"\nMODE = "fast"\n')
    env = {"AIPLUGS_PLUGINS__P__ENV__OPENAI_API_KEY": "sk-secret", "AIPLUGS_PLUGINS__P__ENV__DB_PASSWORD": "pw"}
    config = load_config(path, env=env)
    rows = {p: v for p, v, _ in config.effective()}
    assert rows["plugins.p.env.HF_TOKEN"] == "**********"
    assert rows["plugins.p.env.OPENAI_API_KEY"] == "**********"
    assert rows["plugins.p.env.DB_PASSWORD"] == "**********"
    assert rows["plugins.p.env.MODE"] == "fast"
    assert config.settings.plugins["p"].env["HF_TOKEN"] == "hf-secret"  # masked for display only


def test_effective_masks_with_the_shared_secret_name_rule(tmp_path: Path) -> None:
    """aiplugs.util.redact decides what looks secret, here as everywhere else."""
    path = write_toml(tmp_path, '[plugins.p.env]\nHF_KEY = "k"\nKEYBOARD = "de"\nAUTH = "a"\nAUTHOR = "me"\n')
    rows = {p: v for p, v, _ in load_config(path, env={}).effective()}
    assert [rows[f"plugins.p.env.{name}"] for name in ("HF_KEY", "KEYBOARD", "AUTH", "AUTHOR")] == [
        "**********", "de", "**********", "me"
    ]

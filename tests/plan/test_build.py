"""DesiredState from config + manifests: shared models, dependency order, modes, and when config hashes change."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import pytest

from aiplugs.plan import DesiredState, WorkerSpec, load_desired_state

SHA_A, SHA_B = "aa" * 32, "bb" * 32


def model(key: str, filename: str = "shared.bin", sha256: str = SHA_A, **extra: Any) -> dict[str, Any]:
    return {"key": key, "filename": filename, "source_url": "data/model.bin", "sha256": sha256, **extra}


def local(*models: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"default_mode": "local", "local_entry": "backend.py", "models": list(models), **fields}


def build(root: Path, toml: str = "", env: dict[str, str] | None = None) -> DesiredState:
    path = root / "aiplugs.toml"
    path.write_text('plugins_dir = "plugins"\n' + toml, encoding="utf-8")
    return load_desired_state(path, env=env or {})[1]


def worker(desired: DesiredState, plugin_id: str) -> WorkerSpec:
    return next(w for w in desired.workers if w.plugin_id == plugin_id)


def test_shipped_declaration(project: Path, clean_env: dict[str, str]) -> None:
    config, desired = load_desired_state(project / "aiplugs.toml", env=clean_env)
    assert [p.id for p in desired.plugins] == ["sentiment", "word-count"]
    assert desired.disabled == ("page-topic", "summarize")  # page-topic: a disabled package, not fetched
    assert desired.packages == ()
    assert desired.relays == ()
    (lexicon,) = desired.models
    assert lexicon.path == project / "models" / lexicon.filename
    assert lexicon.url == str(project / "plugins" / "sentiment" / "data" / "lexicon-v1.tsv")
    assert lexicon.used_by == ("sentiment",) and not lexicon.lazy
    sentiment = worker(desired, "sentiment")
    env = sentiment.env_dict
    assert env[lexicon.keys[0]] == str(lexicon.path)
    assert json.loads(env["AIPLUGS_SETTINGS"]) == {"threshold": 0.15}
    assert env["AIPLUGS_PLUGIN_ID"] == "sentiment"
    assert sentiment.entry == project / "plugins" / "sentiment" / "backend.py"
    assert sentiment.models == (lexicon.filename,)
    assert sentiment.unit(1) == "worker sentiment#1"
    assert desired.proxy.rule_set().intercept_hosts == ("*.wikipedia.org", "127.0.0.1", "localhost",
                                                        "news.ycombinator.com")
    assert [(r.plugin_id, r.assets, r.relay) for r in desired.routes] == [
        ("sentiment", ("content.js",), None), ("word-count", ("content.js", "content.css"), None)]
    assert desired.state_dir == project / ".aiplugs" and desired.config_path == project / "aiplugs.toml"
    assert desired.api.port is None and desired.api.accepts("127.0.0.1", 5003)
    assert not desired.api.accepts("127.0.0.1", 6000) and not desired.api.accepts("0.0.0.0", 5003)


def test_enabling_the_cloud_plugin_makes_a_relay(project: Path, clean_env: dict[str, str]) -> None:
    env = {**clean_env, "AIPLUGS_PLUGINS__SUMMARIZE__ENABLED": "true", "SYSTEM_API_KEY": "k-123"}
    _, desired = load_desired_state(project / "aiplugs.toml", env=env)
    (relay,) = desired.relays
    assert relay.plugin_id == "summarize" and relay.path == "/v1/chat/completions"
    assert "summarize" not in {w.plugin_id for w in desired.workers}
    data = desired.to_dict()
    assert data["cloud"]["api_key"] == "**********"
    assert "k-123" not in json.dumps(data) + repr(desired)


def test_shared_model_is_one_entry_with_merged_keys(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "alpha", inference=local(model("ALPHA_MODEL", size=10)))
    write_plugin(plugins, "beta", inference=local(model("BETA_MODEL"), model("BETA_OTHER", "other.bin", SHA_B)))
    desired = build(tmp_path)
    by_name = {m.filename: m for m in desired.models}
    assert set(by_name) == {"shared.bin", "other.bin"}
    shared = by_name["shared.bin"]
    assert shared.keys == ("ALPHA_MODEL", "BETA_MODEL")
    assert shared.used_by == ("alpha", "beta")
    assert shared.size == 10 and shared.path == tmp_path / "models" / "shared.bin"
    assert shared.url == str(plugins / "alpha" / "data" / "model.bin")
    assert worker(desired, "alpha").env_dict["ALPHA_MODEL"] == str(shared.path)
    assert "BETA_MODEL" not in worker(desired, "alpha").env_dict
    assert worker(desired, "beta").env_dict["BETA_MODEL"] == str(shared.path)
    assert worker(desired, "beta").models == ("shared.bin", "other.bin")
    assert worker(desired, "beta").env_dict["BETA_OTHER"] == str(tmp_path / "models" / "other.bin")


def test_model_urls(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    refs = [
        {**model("A", "a.bin"), "source_url": "s3://bucket/a.bin"},
        {**model("B", "b.bin"), "source_url": "https://example.org/b.bin"},
        {**model("C", "c.bin"), "source_url": "/abs/c.bin"},
        {**model("D", "d.bin"), "source_url": "../shared/d.bin"},
    ]
    write_plugin(tmp_path / "plugins", "p", inference=local(*refs))
    urls = {m.filename: m.url for m in build(tmp_path).models}
    assert urls == {"a.bin": "s3://bucket/a.bin", "b.bin": "https://example.org/b.bin", "c.bin": "/abs/c.bin",
                    "d.bin": str(tmp_path / "plugins" / "shared" / "d.bin")}


def test_lazy_only_when_every_user_is_lazy(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    write_plugin(tmp_path / "plugins", "a", inference=local(model("A")))
    write_plugin(tmp_path / "plugins", "b", inference=local(model("B")))
    both = build(tmp_path, '[plugins.a]\nprovision = "lazy"\n[plugins.b]\nprovision = "lazy"\n')
    assert both.models[0].lazy
    one = build(tmp_path, '[plugins.a]\nprovision = "lazy"\n')
    assert not one.models[0].lazy


def test_dependency_order_puts_dependencies_first(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "app", dependencies=["zeta", "base"])
    write_plugin(plugins, "zeta", dependencies=["base"])
    write_plugin(plugins, "base")
    write_plugin(plugins, "aaa")
    desired = build(tmp_path)
    order = [p.id for p in desired.plugins]
    assert order == ["aaa", "base", "zeta", "app"]
    assert [w.plugin_id for w in desired.workers] == order
    assert [s.plugin_id for s in desired.proxy.scripts] == order
    assert desired.plugin("app").dependencies == ("zeta", "base")
    assert desired.plugin("nope") is None


def test_disabled_plugins_and_mode_override(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    write_plugin(tmp_path / "plugins", "off", inference=local(model("OFF", "off.bin")))
    write_plugin(tmp_path / "plugins", "remote", inference=local(model("REMOTE", "remote.bin")))
    desired = build(tmp_path, '[plugins.off]\nenabled = false\n[plugins.remote]\nmode = "cloud"\n')
    assert desired.disabled == ("off",)
    assert [p.id for p in desired.plugins] == ["remote"] and desired.plugins[0].mode == "cloud"
    assert desired.models == () and desired.workers == ()
    assert [r.plugin_id for r in desired.relays] == ["remote"]
    assert desired.route("remote").relay == desired.relays[0] and not desired.route("remote").lazy
    assert desired.proxy.rule_set().intercept_hosts == ("remote.example",)


def test_workers_count_and_intercept_all(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    write_plugin(tmp_path / "plugins", "p")
    desired = build(tmp_path, '[proxy]\nintercept = "all"\npassthrough = ["*.bank.example"]\n[plugins.p]\nworkers = 3\n')
    assert worker(desired, "p").count == 3
    assert desired.proxy.intercept == "all"
    assert desired.proxy.passthrough == ("*.bank.example",)
    assert desired.proxy.rule_set().plugins_for("https://p.example/x") == ("p",)


# --- config hashes -------------------------------------------------------------------------------------------------

BASE_TOML = '[plugins.p]\nworkers = 1\n[plugins.p.settings]\nlevel = 1\n[plugins.q.settings]\nlevel = 1\n'


@pytest.fixture
def hashed(tmp_path: Path, write_plugin: Callable[..., Path]) -> Callable[..., tuple[str, str, str]]:
    """Builds the declaration after ``change`` and returns (worker hash of p, worker hash of q, rules hash)."""

    def run(change: Callable[[Path], str | None] = lambda root: None, env: dict[str, str] | None = None,
            toml: str = BASE_TOML) -> tuple[str, str, str]:
        plugins = tmp_path / "plugins"
        if not (plugins / "p").exists():
            write_plugin(plugins, "p", inference=local(model("P_MODEL", "p.bin")))
            write_plugin(plugins, "q")
        replaced = change(tmp_path)
        desired = build(tmp_path, replaced if replaced is not None else toml, env)
        return worker(desired, "p").config_hash, worker(desired, "q").config_hash, desired.proxy.rules_hash

    return run


def edit_manifest(root: Path, plugin_id: str, edit: Callable[[dict[str, Any]], None]) -> None:
    path = root / "plugins" / plugin_id / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_hash_is_stable(hashed: Callable[..., tuple[str, str, str]]) -> None:
    assert hashed() == hashed()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda root: BASE_TOML.replace("level = 1", "level = 2", 1), id="settings"),
        pytest.param(lambda root: BASE_TOML + '[plugins.p.env]\nMODE = "x"\n', id="env"),
        pytest.param(lambda root: BASE_TOML.replace("workers = 1", "workers = 1\ntimeout_s = 5"), id="timeout"),
        pytest.param(lambda root: (root / "plugins/p/backend.py").write_text("def run(p):\n    return 1\n") and None,
                     id="entry-source"),
        pytest.param(lambda root: edit_manifest(root, "p", lambda d: d["inference"]["models"][0].update(
            sha256="cc" * 32)), id="model-sha"),
        pytest.param(lambda root: edit_manifest(root, "p", lambda d: d["inference"].update(pass_env=["HOME"])),
                     id="pass-env"),
    ],
)
def test_restart_worthy_changes_change_only_that_worker_hash(
    hashed: Callable[..., tuple[str, str, str]], change: Callable[[Path], str | None]
) -> None:
    p0, q0, rules0 = hashed()
    p1, q1, rules1 = hashed(change)
    assert p1 != p0
    assert q1 == q0 and rules1 == rules0


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda root: BASE_TOML.replace("workers = 1", "workers = 4"), id="scale"),
        pytest.param(lambda root: BASE_TOML.replace("[plugins.q.settings]\nlevel = 1", "[plugins.q.settings]\nlevel = 9"),
                     id="other-plugin"),
        pytest.param(lambda root: '[proxy]\ncsp = "strip"\n[api]\nport = 5999\n' + BASE_TOML, id="proxy-and-api"),
        pytest.param(lambda root: edit_manifest(root, "p", lambda d: d.update(description="new words")),
                     id="description"),
        pytest.param(lambda root: edit_manifest(root, "p", lambda d: d["inference"]["models"][0].update(
            source_url="https://mirror.example/p.bin")), id="model-mirror"),
        pytest.param(lambda root: (root / "plugins/p/content.js").write_text("// new script\n") and None,
                     id="script-content"),
    ],
)
def test_changes_that_need_no_restart_keep_the_worker_hash(
    hashed: Callable[..., tuple[str, str, str]], change: Callable[[Path], str | None]
) -> None:
    p0, _, _ = hashed()
    p1, _, _ = hashed(change)
    assert p1 == p0


def test_a_new_version_restarts_the_workers(hashed: Callable[..., tuple[str, str, str]]) -> None:
    # the backend sees its version (ctx.version, AIPLUGS_PLUGIN_VERSION) and install hooks run per version
    p0, q0, _ = hashed()
    p1, q1, _ = hashed(lambda root: edit_manifest(root, "p", lambda d: d.update(version="2.0")))
    assert p1 != p0 and q1 == q0


def test_rules_hash_follows_scripts_and_proxy_mode(hashed: Callable[..., tuple[str, str, str]]) -> None:
    p0, q0, rules0 = hashed()

    def new_match(root: Path) -> None:
        edit_manifest(root, "q", lambda d: d["content_scripts"][0].update(matches=["*://other.example/*"]))

    p1, q1, rules1 = hashed(new_match)
    assert rules1 != rules0 and (p1, q1) == (p0, q0)
    _, _, rules2 = hashed(lambda root: '[proxy]\ncsp = "strip"\n' + BASE_TOML)
    assert rules2 != rules1


def test_secret_change_is_not_in_any_hash_but_env_value_is(hashed: Callable[..., tuple[str, str, str]]) -> None:
    assert hashed(env={"SYSTEM_API_KEY": "one"}) == hashed(env={"SYSTEM_API_KEY": "two"})
    p0, q0, _ = hashed(env={"AIPLUGS_PLUGINS__Q__ENV__TOKEN": "one"})
    p1, q1, _ = hashed(env={"AIPLUGS_PLUGINS__Q__ENV__TOKEN": "two"})
    assert p0 == p1 and q0 != q1


def test_building_writes_nothing(project: Path, clean_env: dict[str, str]) -> None:
    before = sorted((p, p.stat().st_mtime_ns) for p in project.rglob("*"))
    load_desired_state(project / "aiplugs.toml", env=clean_env)
    assert sorted((p, p.stat().st_mtime_ns) for p in project.rglob("*")) == before
    assert not (project / ".aiplugs").exists() and os.listdir(project / "models") == []


def test_relay_hash_follows_cloud_endpoint_and_key(project: Path, clean_env: dict[str, str]) -> None:
    def relay_hash(**env: str) -> str:
        full = {**clean_env, "AIPLUGS_PLUGINS__SUMMARIZE__ENABLED": "true", **env}
        return load_desired_state(project / "aiplugs.toml", env=full)[1].relays[0].config_hash

    base = relay_hash(CLOUD_BASE_URL="https://one.example")
    assert relay_hash(CLOUD_BASE_URL="https://two.example") != base
    assert relay_hash(CLOUD_BASE_URL="https://one.example", AIPLUGS_CLOUD__TIMEOUT_S="5") != base
    assert relay_hash(CLOUD_BASE_URL="https://one.example", AIPLUGS_PLUGINS__SUMMARIZE__TIMEOUT_S="5") != base
    # a new key must reach the relay (through a route update), so it changes the hash — by its own hash only
    with_key = relay_hash(CLOUD_BASE_URL="https://one.example", SYSTEM_API_KEY="k1")
    assert with_key != base and with_key == relay_hash(CLOUD_BASE_URL="https://one.example", SYSTEM_API_KEY="k1")
    full = {**clean_env, "AIPLUGS_PLUGINS__SUMMARIZE__ENABLED": "true", "SYSTEM_API_KEY": "sk-secret-123"}
    desired = load_desired_state(project / "aiplugs.toml", env=full)[1]
    assert "sk-secret-123" not in repr(desired) and "sk-secret-123" not in str(desired.to_dict())


def test_problems_of_every_stage_are_reported_together(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    from aiplugs.errors import ConfigError

    write_plugin(tmp_path / "plugins", "good", dependencies=["broken"])
    write_plugin(tmp_path / "plugins", "broken", manifest='{"manifest_version": 3, "id": ')
    (tmp_path / "aiplugs.toml").write_text('[api]\nport = "x"\n\n[plugins.good]\nworkers = -1\n')
    with pytest.raises(ConfigError) as caught:
        load_desired_state(tmp_path / "aiplugs.toml", env={})
    shown = [str(p) for p in caught.value.problems]
    assert any("api.port" in s and "aiplugs.toml:2:8" in s for s in shown), shown
    assert any("plugins.good.workers: must be >= 0 (got -1)" in s for s in shown), shown
    assert any("broken/manifest.json:1:" in s and "invalid JSON" in s for s in shown), shown


def test_a_broken_manifest_is_not_also_called_missing(tmp_path: Path, write_plugin: Callable[..., Path]) -> None:
    from aiplugs.errors import ConfigError

    write_plugin(tmp_path / "plugins", "good", dependencies=["broken"])
    write_plugin(tmp_path / "plugins", "broken", manifest='{"manifest_version": 3, "id": ')
    (tmp_path / "aiplugs.toml").write_text("[plugins.broken]\nworkers = 2\n\n[plugins.nope]\nworkers = 1\n")
    with pytest.raises(ConfigError) as caught:
        load_desired_state(tmp_path / "aiplugs.toml", env={})
    shown = [str(p) for p in caught.value.problems]
    assert len([s for s in shown if "invalid JSON" in s]) == 1, shown
    assert any("plugins.nope" in s and "no plugin folder" in s for s in shown), shown
    assert not any("missing plugin 'broken'" in s or "plugins.broken:" in s for s in shown), shown

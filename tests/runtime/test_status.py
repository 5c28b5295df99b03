"""The status report, built purely from plain observed values: plugin states, health, the JSON shape, the text."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from aiplugs.plan import DesiredState, ModelState, ObservedPlugin, ObservedWorker, PluginState
from aiplugs.plan.desired import CloudSpec
from aiplugs.runtime.status import (EXIT_DEGRADED, EXIT_HEALTHY, EXIT_NO_DAEMON, Condition, Observed, build_status,
                                    exit_code, format_status, pac_url, plugin_state)

NOW = 10_000.0
MODEL = "sentiment-lexicon-v1.tsv"


def scaled(desired: DesiredState, plugin_id: str, count: int) -> DesiredState:
    return dataclasses.replace(desired, workers=tuple(
        dataclasses.replace(w, count=count) if w.plugin_id == plugin_id else w for w in desired.workers))


def live(desired: DesiredState, plugin_id: str, index: int = 0, alive: bool = True) -> ObservedWorker:
    spec = desired.worker(plugin_id)
    return ObservedWorker(plugin_id, index, 500 + index if alive else None, alive, spec.config_hash)


def state(desired: DesiredState, plugin_id: str, workers=(), history: ObservedPlugin | None = None,
          now: float = NOW) -> PluginState:
    return plugin_state(desired, desired.plugin(plugin_id), list(workers), history or ObservedPlugin(plugin_id), now)


def test_plugin_states_of_local_plugins(desired: DesiredState) -> None:
    assert state(desired, "word-count", [live(desired, "word-count")]) is PluginState.READY
    assert state(desired, "word-count", []) is PluginState.STARTING  # eager, nothing answers yet
    assert state(desired, "word-count", [live(desired, "word-count", alive=False)]) is PluginState.STARTING
    two = scaled(desired, "word-count", 2)
    half = [live(two, "word-count", 0), live(two, "word-count", 1, alive=False)]
    assert state(two, "word-count", half) is PluginState.DEGRADED
    assert state(two, "word-count", [live(two, "word-count", 0), live(two, "word-count", 1)]) is PluginState.READY
    assert state(scaled(desired, "word-count", 0), "word-count", []) is PluginState.STOPPED


def test_a_lazy_plugin_never_started_is_idle(desired: DesiredState) -> None:
    lazy = dataclasses.replace(desired, plugins=tuple(
        dataclasses.replace(p, provision="lazy") if p.id == "word-count" else p for p in desired.plugins))
    assert state(lazy, "word-count", []) is PluginState.IDLE
    assert state(lazy, "word-count", [live(lazy, "word-count", alive=False)]) is PluginState.STARTING
    assert state(lazy, "word-count", [live(lazy, "word-count")]) is PluginState.READY


def test_a_crash_loop_is_failed_until_its_failures_age_out(desired: DesiredState) -> None:
    dead = [live(desired, "word-count", alive=False)]
    six = ObservedPlugin("word-count", tuple(NOW - 50 + i for i in range(6)), restarts=5, last_error="boom")
    five = dataclasses.replace(six, failures=six.failures[1:])
    assert state(desired, "word-count", dead, six) is PluginState.FAILED
    assert state(desired, "word-count", dead, five) is PluginState.STARTING  # backing off, not given up
    assert state(desired, "word-count", dead, six, now=NOW + 120) is PluginState.STARTING  # the window passed
    assert state(desired, "word-count", [live(desired, "word-count")], six) is PluginState.READY


def test_cloud_plugins_are_ready_only_with_a_base_url(desired: DesiredState) -> None:
    cloud = dataclasses.replace(desired, plugins=tuple(
        dataclasses.replace(p, mode="cloud") if p.id == "word-count" else p for p in desired.plugins))
    assert state(cloud, "word-count") is PluginState.DEGRADED
    with_url = dataclasses.replace(cloud, cloud=CloudSpec("https://ai.example", None, 60.0))
    assert state(with_url, "word-count") is PluginState.READY


def test_healthy_states() -> None:
    assert {s for s in PluginState if s.healthy} == {PluginState.READY, PluginState.IDLE, PluginState.DISABLED,
                                                     PluginState.STOPPED}


def observed(desired: DesiredState, *, workers=None, plugins=(), models=None, conditions=None,
             api=("127.0.0.1", 5000), proxy=("127.0.0.1", 8080), stats=None, envs=None, hooks=None,
             events=None) -> Observed:
    return Observed(
        daemon={"pid": 42, "started_at": time.time() - 30, "uptime_s": 30.0}, api=api, proxy=proxy,
        ca_cert="/state/ca/mitmproxy-ca-cert.pem",
        workers=tuple(workers if workers is not None else [live(desired, w.plugin_id) for w in desired.workers]),
        plugins=tuple(plugins), stats=stats or {},
        models=models if models is not None else {m.filename: ModelState.READY for m in desired.models},
        model_sizes={m.filename: 910 for m in desired.models},
        conditions=conditions if conditions is not None else (Condition("RouterAnswering", True, "ok", NOW),),
        now=NOW, envs=envs or {}, hooks=hooks or {}, events=events or {})


def test_a_converged_system_is_healthy_and_the_json_has_its_shape(desired: DesiredState) -> None:
    stats = {"word-count": {"requests": 7, "errors": 1, "p50_ms": 2.5}}
    status = build_status(desired, observed(desired, stats=stats))
    assert json.loads(json.dumps(status)) == status
    assert status["format_version"] == "2" and status["healthy"] is True and exit_code(status) == EXIT_HEALTHY
    assert set(status) == {"format_version", "healthy", "daemon", "api", "proxy", "ca_cert", "pac_url", "config",
                           "plugins", "models", "conditions"}
    assert status["api"] == {"host": "127.0.0.1", "port": 5000} and status["proxy"]["port"] == 8080
    assert status["pac_url"] == "http://127.0.0.1:5000/proxy.pac"
    assert status["config"] == str(desired.config_path) and status["daemon"]["pid"] == 42
    rows = {p["id"]: p for p in status["plugins"]}
    assert list(rows) == ["sentiment", "word-count", "page-topic", "summarize"]
    assert rows["word-count"] == {
        "id": "word-count", "name": "Word count", "version": "1.0.0", "mode": "local", "provision": "eager",
        "state": "ready", "workers_desired": 1, "workers_ready": 1, "worker_pids": [500], "restarts": 0,
        "last_error": None, "stderr_tail": [], "python_env": None, "needs": [], "requests": 7, "errors": 1, "p50_ms": 2.5,
        "events": None, "autoscale": None, "runs_on": "process", "replicas": None}
    assert rows["summarize"] == {"id": "summarize", "mode": None, "state": "disabled", "workers_desired": 0,
                                 "workers_ready": 0, "worker_pids": [], "restarts": 0, "last_error": None,
                                 "stderr_tail": [], "python_env": None, "needs": []}
    (model,) = status["models"]
    assert model == {"key": "SENTIMENT_LEXICON", "keys": ["SENTIMENT_LEXICON"], "filename": MODEL,
                     "path": str(desired.models[0].path), "size": 910, "state": "ready", "used_by": ["sentiment"],
                     "lazy": False}
    assert status["conditions"] == [{"type": "RouterAnswering", "ok": True, "reason": "ok", "since": NOW}]


def test_the_stderr_tail_shows_only_when_a_plugin_is_not_ready(desired: DesiredState) -> None:
    history = ObservedPlugin("word-count", (NOW - 1,), restarts=1, last_error="worker word-count#0 exited with code 1",
                             stderr_tail=("Traceback (most recent call last):", "ImportError: nope"))
    ready = build_status(desired, observed(desired, plugins=[history]))
    assert next(p for p in ready["plugins"] if p["id"] == "word-count")["stderr_tail"] == []
    down = [live(desired, "sentiment"), live(desired, "word-count", alive=False)]
    status = build_status(desired, observed(desired, workers=down, plugins=[history]))
    row = next(p for p in status["plugins"] if p["id"] == "word-count")
    assert row["state"] == "starting" and row["worker_pids"] == [] and row["restarts"] == 1
    assert row["stderr_tail"] == ["Traceback (most recent call last):", "ImportError: nope"]
    assert status["healthy"] is False and exit_code(status) == EXIT_DEGRADED


def test_a_plugin_whose_environment_failed_shows_pips_lines(desired: DesiredState) -> None:
    from aiplugs.plan import ObservedEnv

    spec = desired.worker("word-count")
    wanted = dataclasses.replace(desired, workers=tuple(
        dataclasses.replace(w, python_env="abc123def456") if w is spec else w for w in desired.workers))
    down = [live(desired, "sentiment")]
    building = build_status(wanted, observed(wanted, workers=down, envs={"abc123def456": ObservedEnv("abc123def456",
                                                                                                     False)}))
    row = next(p for p in building["plugins"] if p["id"] == "word-count")
    assert row["state"] == "starting" and row["python_env"] == "abc123def456" and row["last_error"] is None
    failed = ObservedEnv("abc123def456", False, "pip install failed (exit 1): ERROR: No matching distribution",
                         ("ERROR: Could not find a version", "ERROR: No matching distribution"))
    status = build_status(wanted, observed(wanted, workers=down, envs={"abc123def456": failed}))
    row = next(p for p in status["plugins"] if p["id"] == "word-count")
    assert row["state"] == "failed"
    assert row["last_error"] == ("Python environment abc123def456: pip install failed (exit 1): ERROR: No matching "
                                 "distribution")
    assert row["stderr_tail"] == ["ERROR: Could not find a version", "ERROR: No matching distribution"]
    assert status["healthy"] is False


@pytest.mark.parametrize("change", ["condition", "model", "failed"])
def test_what_makes_a_system_unhealthy(desired: DesiredState, change: str) -> None:
    seen = {
        "condition": observed(desired, conditions=(Condition("ProxyListening", False, "nothing", NOW),)),
        "model": observed(desired, models={MODEL: ModelState.CORRUPT}),
        "failed": observed(desired, workers=[live(desired, "sentiment"), live(desired, "word-count", alive=False)],
                           plugins=[ObservedPlugin("word-count", tuple(NOW - i for i in range(6)))]),
    }[change]
    assert build_status(desired, seen)["healthy"] is False


def test_lazy_models_and_idle_plugins_are_healthy(desired: DesiredState) -> None:
    lazy = dataclasses.replace(
        desired, plugins=tuple(dataclasses.replace(p, provision="lazy") for p in desired.plugins),
        models=tuple(dataclasses.replace(m, lazy=True) for m in desired.models))
    status = build_status(lazy, observed(lazy, workers=[], models={}))
    assert [p["state"] for p in status["plugins"]] == ["idle", "idle", "disabled", "disabled"]
    assert status["models"][0]["state"] == "missing" and status["healthy"] is True


def test_addresses_and_the_pac_url(desired: DesiredState) -> None:
    assert build_status(desired, observed(desired, proxy=None))["pac_url"] is None
    nothing = build_status(desired, observed(desired, api=None, proxy=None))
    assert nothing["api"] is None and nothing["proxy"] is None and nothing["pac_url"] is None
    assert pac_url(("::1", 5001)) == "http://[::1]:5001/proxy.pac"


def test_a_cloud_plugin_without_base_url_says_what_is_missing(desired: DesiredState) -> None:
    cloud = dataclasses.replace(desired, plugins=tuple(
        dataclasses.replace(p, mode="cloud") if p.id == "word-count" else p for p in desired.plugins))
    row = next(p for p in build_status(cloud, observed(cloud))["plugins"] if p["id"] == "word-count")
    assert row["state"] == "degraded" and "cloud.base_url is not set" in row["last_error"]


def test_format_status_text(desired: DesiredState) -> None:
    tail = tuple(f"line {i}" for i in range(8))
    history = ObservedPlugin("word-count", (NOW - 1,), restarts=2, last_error="exited with code 1\nmore", stderr_tail=tail)
    seen = observed(desired, workers=[live(desired, "sentiment"), live(desired, "word-count", alive=False)],
                    plugins=[history], conditions=(Condition("RouterAnswering", True, "ok", time.time()),
                                                   Condition("ProxyListening", False, "nothing listens",
                                                             time.time() - 5)))
    lines = format_status(build_status(desired, seen)).splitlines()
    assert lines[0].startswith("daemon   pid 42, up ") and lines[0].endswith(", NOT healthy")
    assert lines[1:5] == ["api      127.0.0.1:5000", "proxy    127.0.0.1:8080",
                          "pac      http://127.0.0.1:5000/proxy.pac", "ca cert  /state/ca/mitmproxy-ca-cert.pem"]
    row = next(i for i, line in enumerate(lines) if line.startswith("word-count "))
    assert lines[row].split() == ["word-count", "local", "starting", "0/1", "2", "exited", "with", "code", "1"]
    assert lines[row + 1:row + 6] == [f"    | line {i}" for i in range(3, 8)]  # the last five, under its row
    assert lines[row + 6].startswith("page-topic ") and lines[row + 6].split()[1:3] == ["-", "disabled"]
    assert lines[row + 7].startswith("summarize ") and lines[row + 7].split()[1:3] == ["-", "disabled"]
    assert any(line.split()[:2] == [MODEL, "ready"] for line in lines)
    assert lines[-2:] == ["conditions:", "  ProxyListening: nothing listens (since 5s ago)"]
    assert "RouterAnswering" not in "\n".join(lines)


def test_format_status_of_a_healthy_system_has_no_conditions_section(desired: DesiredState) -> None:
    text = format_status(build_status(desired, observed(desired)))
    assert "healthy" in text.splitlines()[0] and "NOT healthy" not in text
    assert "conditions:" not in text and "    |" not in text


def test_exit_codes() -> None:
    assert exit_code(None) == EXIT_NO_DAEMON == 4
    assert exit_code({"healthy": True}) == EXIT_HEALTHY == 0
    assert exit_code({"healthy": False}) == EXIT_DEGRADED == 3


def test_a_plugin_whose_dependency_is_down_is_blocked_and_says_by_whom(desired: DesiredState) -> None:
    needy = dataclasses.replace(desired, plugins=tuple(
        dataclasses.replace(p, dependencies=("sentiment",)) if p.id == "word-count" else p for p in desired.plugins))
    crashed = ObservedPlugin("sentiment", tuple(NOW - i for i in range(6)), last_error="sentiment#0 exited with code 1")
    status = build_status(needy, observed(needy, workers=[], plugins=[crashed]))
    rows = {p["id"]: p for p in status["plugins"]}
    assert rows["sentiment"]["state"] == "failed"
    assert rows["word-count"]["state"] == "blocked" and rows["word-count"]["needs"] == ["sentiment"]
    assert rows["word-count"]["last_error"] == "blocked: needs sentiment"
    # a dependency that is only starting does not block: both are starting
    starting = build_status(needy, observed(needy, workers=[], plugins=[]))
    assert {p["id"]: p["state"] for p in starting["plugins"]}["word-count"] == "starting"
    # running workers of the dependent keep it ready whatever its dependency does
    running = build_status(needy, observed(needy, workers=[live(needy, "word-count")], plugins=[crashed]))
    assert {p["id"]: p["state"] for p in running["plugins"]}["word-count"] == "ready"


def test_hook_failures_make_a_plugin_failed_with_the_hooks_words(desired: DesiredState) -> None:
    from aiplugs.plan import ObservedHooks

    init = ObservedPlugin("word-count", (NOW - 1,), last_error="worker word-count#0 init hook failed: ValueError: x",
                          failed_hook="init")
    rows = {p["id"]: p for p in build_status(desired, observed(desired, workers=[live(desired, "sentiment")],
                                                               plugins=[init]))["plugins"]}
    assert rows["word-count"]["state"] == "failed"
    assert rows["word-count"]["last_error"] == "worker word-count#0 init hook failed: ValueError: x"
    install = ObservedHooks("word-count", failed_hook="install", error="word-count install hook failed: boom",
                            tail=("Traceback (most recent call last):", "RuntimeError: boom"))
    status = build_status(desired, observed(desired, workers=[live(desired, "sentiment")],
                                            hooks={"word-count": install}))
    row = next(p for p in status["plugins"] if p["id"] == "word-count")
    assert row["state"] == "failed" and row["last_error"] == "word-count install hook failed: boom"
    assert row["stderr_tail"] == ["Traceback (most recent call last):", "RuntimeError: boom"]


def test_a_subscribers_event_counts_show_in_its_row(desired: DesiredState) -> None:
    counts = {"queued": 3, "delivered": 40, "dropped": 7, "failed": 1}
    status = build_status(desired, observed(desired, events={"sentiment": counts}))
    rows = {p["id"]: p for p in status["plugins"]}
    assert rows["sentiment"]["events"] == counts and rows["word-count"]["events"] is None

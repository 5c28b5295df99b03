"""WorkerManager against real worker subprocesses running the backends in ``backends/``: it starts, restarts and
stops single workers when told to, reports how they ended, and dispatches calls — it never restarts by itself."""

from __future__ import annotations

import asyncio
import os

import pytest

from aiplugs.adapters.workers import (BackendError, NoSuchPool, WorkerError, WorkerGone, WorkerManager, WorkerTimeout,
                                      WorkerUnavailable)
from aiplugs.util.procs import pid_alive

from ...support import wait_for_async
from .conftest import start_all


def types(sub) -> list[str]:
    seen = []
    while sub._queue:
        seen.append(sub._queue.popleft().type)
    return seen


async def test_sync_backend_runs_in_a_thread(manager, make_spec):
    spec = make_spec("echo_sync")
    assert not manager.serving("echo-sync")
    await manager.start(spec, 0)
    assert manager.serving("echo-sync")
    result = await manager.call("echo-sync", {"text": "héllo"})
    assert result["echo"] == {"text": "héllo"}
    assert result["thread"] != "MainThread"
    stats = manager.stats("echo-sync")
    assert stats["ready"] == 1 and stats["pids"] == [result["pid"]]
    assert stats["requests"] == 1 and stats["errors"] == 0 and stats["p50_ms"] is not None
    workers, history = manager.observe()
    assert [(w.plugin_id, w.index, w.pid, w.alive, w.config_hash) for w in workers] == [
        ("echo-sync", 0, result["pid"], True, spec.config_hash)]
    assert history[0].failures == () and history[0].restarts == 0


async def test_async_backend(manager, make_spec):
    await manager.start(make_spec("echo_async"), 0)
    assert (await manager.call("echo-async", {"x": [1, 2]}))["echo"] == {"x": [1, 2]}


@pytest.mark.parametrize("name", ["count_gen", "count_agen"])
async def test_generator_backends_stream(manager, make_spec, name):
    spec = make_spec(name)
    await manager.start(spec, 0)
    reply = await manager.request(spec.plugin_id, {"n": 4})
    assert reply.streaming
    assert [item["i"] async for item in reply] == [0, 1, 2, 3]
    assert [item["i"] async for item in manager.stream(spec.plugin_id, {"n": 2})] == [0, 1]
    assert [item["i"] for item in await manager.call(spec.plugin_id, {"n": 3})] == [0, 1, 2]


async def test_plain_result_through_stream_is_one_item(manager, make_spec):
    await manager.start(make_spec("echo_async"), 0)
    items = [item async for item in manager.stream("echo-async", {"a": 1})]
    assert len(items) == 1 and items[0]["echo"] == {"a": 1}


async def test_backend_raising_reports_type_and_message_and_worker_stays_up(manager, make_spec, tmp_path):
    await manager.start(make_spec("raises"), 0)
    pid = manager.stats("raises")["pids"][0]
    with pytest.raises(BackendError) as info:
        await manager.call("raises", {"text": "oops"})
    assert info.value.status == 500
    assert info.value.type_name == "ValueError" and "bad input: 'oops'" in info.value.detail
    assert (await manager.call("raises", {"ok": True}))["pid"] == pid
    stats = manager.stats("raises")
    assert stats["errors"] == 1 and stats["restarts"] == 0 and stats["last_error"] is None
    await asyncio.sleep(0.2)
    assert "ValueError" in (tmp_path / "state" / "logs" / "raises-0.log").read_text()


async def test_timeout_raises_and_worker_keeps_serving(manager, make_spec):
    await manager.start(make_spec("sleeps", timeout_s=0.5), 0)
    with pytest.raises(WorkerTimeout) as info:
        await manager.call("sleeps", {"sleep": 30})
    assert info.value.status == 504 and "0.5 s" in str(info.value)
    assert (await manager.call("sleeps", {"sleep": 0}))["slept"] is True


async def test_crash_on_import_raises_with_stderr_and_is_recorded(manager, make_spec, bus):
    sub = bus.subscribe()
    spec = make_spec("crash_on_import")
    with pytest.raises(WorkerError) as info:
        await manager.start(spec, 0)
    text = str(info.value)
    assert "RuntimeError: backend cannot start: model missing" in text
    assert "loading the model failed" in text
    workers, history = manager.observe()
    assert [(w.index, w.alive, w.pid, w.exit_code) for w in workers] == [(0, False, None, 1)]
    assert len(history[0].failures) == 1 and "exited during start" in history[0].last_error
    assert any("model missing" in line for line in history[0].stderr_tail) and len(history[0].stderr_tail) <= 50
    assert types(sub) == ["worker.starting", "worker.failed"]
    with pytest.raises(WorkerUnavailable) as unavailable:
        await manager.call("crash-on-import", {})
    assert unavailable.value.status == 503 and "model missing" in str(unavailable.value)
    with pytest.raises(WorkerError):  # every attempt is counted as a restart, failed or not
        await manager.restart(spec, 0)
    _, history = manager.observe()
    assert history[0].restarts == 1 and len(history[0].failures) == 2


async def test_least_outstanding_spreads_concurrent_calls(manager, make_spec):
    await start_all(manager, make_spec("echo_sync", count=3))
    results = await asyncio.gather(*(manager.call("echo-sync", {"sleep": 0.3}) for _ in range(3)))
    assert len({r["pid"] for r in results}) == 3


async def test_start_stop_and_restart_single_workers(manager, make_spec):
    spec = make_spec("echo_sync", count=3)
    await start_all(manager, spec)
    grown = manager.stats("echo-sync")["pids"]
    assert len(grown) == 3
    await manager.stop("echo-sync", 2)
    assert manager.stats("echo-sync")["pids"] == grown[:2] and not pid_alive(grown[2])
    changed = make_spec("echo_sync", count=2, salt="new config")
    await manager.restart(changed, 0)
    pids = manager.stats("echo-sync")["pids"]
    assert pids[1] == grown[1] and pids[0] not in grown and not pid_alive(grown[0])
    workers, history = manager.observe()
    assert [w.config_hash for w in workers] == [changed.config_hash, changed.config_hash]
    assert history[0].restarts == 1 and history[0].failures == ()


async def test_an_exit_is_reported_not_restarted(manager, make_spec, bus, changes):
    sub = bus.subscribe()
    spec = make_spec("exits")
    await manager.start(spec, 0)
    old = manager.stats("exits")["pids"][0]
    with pytest.raises(WorkerGone) as info:
        await manager.call("exits", {"exit": True})
    assert info.value.status == 502
    await wait_for_async(lambda: manager.observe()[1][0].failures)
    workers, history = manager.observe()
    assert [(w.alive, w.pid, w.exit_code, w.exit_signal) for w in workers] == [(False, None, 7, None)]
    assert "exited with code 7" in history[0].last_error and changes.count >= 1
    await asyncio.sleep(0.5)
    assert not manager.serving("exits")  # nobody restarted it: that is the plan's decision
    await manager.restart(spec, 0)
    new = manager.stats("exits")
    assert new["pids"][0] != old and new["restarts"] == 1
    seen = types(sub)
    assert seen[:2] == ["worker.starting", "worker.started"] and "worker.exited" in seen


async def test_exit_codes_and_signals_are_the_real_ones(manager, make_spec):
    await manager.start(make_spec("sys_exits"), 0)
    with pytest.raises(WorkerGone):
        await manager.call("sys-exits", {"exit": True})
    await wait_for_async(lambda: not manager.observe()[0][0].alive and manager.observe()[0][0].exit_code == 3)
    spec = make_spec("echo_sync")
    await manager.start(spec, 0)
    os.kill(manager.stats("echo-sync")["pids"][0], 9)
    await wait_for_async(lambda: manager.observe()[0][1].exit_signal == "SIGKILL")


async def test_stop_of_the_last_worker_removes_the_pool(manager, make_spec):
    await manager.start(make_spec("echo_sync"), 0)
    pid = manager.stats("echo-sync")["pids"][0]
    await manager.stop("echo-sync", 0)
    assert not manager.has("echo-sync") and manager.stats("echo-sync") is None and not pid_alive(pid)
    with pytest.raises(NoSuchPool):
        await manager.call("echo-sync", {})
    await manager.stop("echo-sync", 0)  # idempotent


async def test_environment_has_spec_vars_and_no_parent_secrets(manager, make_spec, monkeypatch):
    monkeypatch.setenv("SYSTEM_API_KEY", "sk-parent-secret")
    monkeypatch.setenv("AIPLUGS_CLOUD__API_KEY", "sk-other-secret")
    monkeypatch.setenv("DECLARED_VAR", "declared-value")
    monkeypatch.setenv("UNDECLARED_VAR", "nope")
    await manager.start(make_spec("env_dump", env={"WORDS": "12"}, pass_env=("DECLARED_VAR", "MISSING_VAR")), 0)
    env = (await manager.call("env-dump", {}))["env"]
    assert env["WORDS"] == "12" and env["AIPLUGS_PLUGIN_ID"] == "env-dump"
    assert env["DECLARED_VAR"] == "declared-value"
    for name in ("SYSTEM_API_KEY", "AIPLUGS_CLOUD__API_KEY", "UNDECLARED_VAR", "MISSING_VAR"):
        assert name not in env
    assert "sk-parent-secret" not in repr(env)


async def test_pass_env_comes_from_the_environment_the_manager_is_given(tmp_path, make_spec):
    mgr = WorkerManager(tmp_path / "s", grace_s=2.0, parent_env={"PATH": os.environ["PATH"], "TOKEN_X": "given"})
    try:
        await mgr.start(make_spec("env_dump", pass_env=("TOKEN_X",)), 0)
        assert (await mgr.call("env-dump", {}))["env"]["TOKEN_X"] == "given"
    finally:
        await mgr.close()


async def test_model_path_from_env(manager, make_spec, tmp_path):
    model = tmp_path / "models" / "tiny.model"
    model.parent.mkdir()
    model.write_text("weights-v1\n")
    spec = make_spec("model_reader", env={"TEST_MODEL_PATH": str(model), "AIPLUGS_SETTINGS": '{"k": 2}'})
    await manager.start(spec, 0)
    assert await manager.call("model-reader", {}) == {"model": "weights-v1", "path": str(model),
                                                      "settings": {"k": 2}}


async def test_logs_go_to_per_worker_files(manager, make_spec, tmp_path):
    await start_all(manager, make_spec("raises", count=2))
    with pytest.raises(BackendError):
        await manager.call("raises", {"text": "to the log"})
    await asyncio.sleep(0.2)
    logs = tmp_path / "state" / "logs"
    text = "".join(p.read_text() for p in logs.glob("raises-*.log"))
    assert {p.name for p in logs.iterdir()} == {"raises-0.log", "raises-1.log"}
    assert "bad input: 'to the log'" in text


async def test_stop_kills_the_process_group(manager, make_spec):
    await manager.start(make_spec("spawns_child"), 0)
    child = (await manager.call("spawns-child", {}))["child"]
    assert pid_alive(child)
    await manager.stop("spawns-child", 0)
    await wait_for_async(lambda: not pid_alive(child))


async def test_close_leaves_no_worker(tmp_path, make_spec):
    mgr = WorkerManager(tmp_path / "s", grace_s=2.0)
    await start_all(mgr, make_spec("echo_sync", count=2))
    await mgr.start(make_spec("echo_async"), 0)
    pids = mgr.stats("echo-sync")["pids"] + mgr.stats("echo-async")["pids"]
    assert len(pids) == 3 and all(pid_alive(p) for p in pids)
    await mgr.close()
    assert not any(pid_alive(p) for p in pids) and mgr.observe() == ((), ())
    assert os.getpid() not in pids


async def test_sigterm_ignored_means_sigkill_after_grace(tmp_path, make_spec):
    import time

    mgr = WorkerManager(tmp_path / "s", grace_s=1.0)
    try:
        await mgr.start(make_spec("ignores_sigterm"), 0)
        pid = mgr.stats("ignores-sigterm")["pids"][0]
        start = time.monotonic()
        await mgr.stop("ignores-sigterm", 0)
        elapsed = time.monotonic() - start
        assert not pid_alive(pid)
        assert elapsed >= 0.9  # it really waited out the grace period before SIGKILL
    finally:
        await mgr.close()


async def test_stopping_a_worker_lets_its_calls_finish(manager, make_spec):
    spec = make_spec("echo_sync", count=2)
    await start_all(manager, spec)
    calls = [asyncio.create_task(manager.call("echo-sync", {"sleep": 0.5})) for _ in range(4)]
    await asyncio.sleep(0.1)  # both workers are busy
    await manager.stop("echo-sync", 1)  # scale 2 → 1 while calls run
    results = await asyncio.gather(*calls)
    assert len(results) == 4 and all(r["echo"] == {"sleep": 0.5} for r in results)
    assert len(manager.stats("echo-sync")["pids"]) == 1


async def test_a_backend_imports_its_own_module_named_like_a_harness_module(manager, make_spec):
    await manager.start(make_spec("imports_sibling"), 0)
    assert await manager.call("imports-sibling", {}) == "the backend's own protocol module"

"""WorkerManager against real worker subprocesses running the backends in ``backends/``."""

from __future__ import annotations

import asyncio
import os

import pytest

from aiplugs.store.state import pid_alive
from aiplugs.adapters.workers import (BackendError, NoSuchPool, WorkerError, WorkerManager, WorkerTimeout,
                             WorkerUnavailable)


async def test_sync_backend_runs_in_a_thread(manager, make_spec):
    spec = make_spec("echo_sync")
    assert not manager.serving("echo-sync", spec.config_hash)
    await manager.ensure(spec)
    assert manager.serving("echo-sync", spec.config_hash) and not manager.serving("echo-sync", "another-hash")
    result = await manager.call("echo-sync", {"text": "héllo"})
    assert result["echo"] == {"text": "héllo"}
    assert result["thread"] != "MainThread"
    status = manager.snapshot()["echo-sync"]
    assert status.state == "ready" and status.ready == 1 and status.pids == (result["pid"],)
    assert status.requests == 1 and status.errors == 0 and status.latency_p50_ms is not None


async def test_async_backend(manager, make_spec):
    await manager.ensure(make_spec("echo_async"))
    assert (await manager.call("echo-async", {"x": [1, 2]}))["echo"] == {"x": [1, 2]}


@pytest.mark.parametrize("name", ["count_gen", "count_agen"])
async def test_generator_backends_stream(manager, make_spec, name):
    spec = make_spec(name)
    await manager.ensure(spec)
    reply = await manager.request(spec.plugin_id, {"n": 4})
    assert reply.streaming
    assert [item["i"] async for item in reply] == [0, 1, 2, 3]
    assert [item["i"] async for item in manager.stream(spec.plugin_id, {"n": 2})] == [0, 1]
    assert [item["i"] for item in await manager.call(spec.plugin_id, {"n": 3})] == [0, 1, 2]


async def test_plain_result_through_stream_is_one_item(manager, make_spec):
    await manager.ensure(make_spec("echo_async"))
    items = [item async for item in manager.stream("echo-async", {"a": 1})]
    assert len(items) == 1 and items[0]["echo"] == {"a": 1}


async def test_backend_raising_reports_type_and_message_and_worker_stays_up(manager, make_spec):
    await manager.ensure(make_spec("raises"))
    pid = manager.snapshot()["raises"].pids[0]
    with pytest.raises(BackendError) as info:
        await manager.call("raises", {"text": "oops"})
    assert info.value.status == 500
    assert info.value.type_name == "ValueError" and "bad input: 'oops'" in info.value.detail
    assert (await manager.call("raises", {"ok": True}))["pid"] == pid
    status = manager.snapshot()["raises"]
    assert status.errors == 1 and status.restarts == 0 and "ValueError" in "\n".join(status.stderr_tail)


async def test_timeout_raises_and_worker_keeps_serving(manager, make_spec):
    await manager.ensure(make_spec("sleeps", timeout_s=0.5))
    with pytest.raises(WorkerTimeout) as info:
        await manager.call("sleeps", {"sleep": 30})
    assert info.value.status == 504 and "0.5 s" in str(info.value)
    assert (await manager.call("sleeps", {"sleep": 0}))["slept"] is True


async def test_crash_on_import_raises_with_stderr_then_fails(manager, make_spec):
    spec = make_spec("crash_on_import")
    with pytest.raises(WorkerError) as info:
        await manager.ensure(spec)
    text = str(info.value)
    assert "RuntimeError: backend cannot start: model missing" in text
    assert "loading the model failed" in text
    for _ in range(200):  # backoff (0.05 s doubling, capped at 0.5 s) runs out of its 5 failures
        if manager.snapshot()["crash-on-import"].state == "failed":
            break
        await asyncio.sleep(0.05)
    status = manager.snapshot()["crash-on-import"]
    assert status.state == "failed"
    assert any("model missing" in line for line in status.stderr_tail)
    assert len(status.stderr_tail) <= 50
    with pytest.raises(WorkerUnavailable) as info2:
        await manager.call("crash-on-import", {})
    assert info2.value.status == 503


async def test_least_outstanding_spreads_concurrent_calls(manager, make_spec):
    await manager.ensure(make_spec("echo_sync", count=3))
    results = await asyncio.gather(*(manager.call("echo-sync", {"sleep": 0.3}) for _ in range(3)))
    assert len({r["pid"] for r in results}) == 3


async def test_scale_up_down_and_config_change(manager, make_spec):
    await manager.ensure(make_spec("echo_sync", count=1))
    first = manager.snapshot()["echo-sync"].pids
    await manager.ensure(make_spec("echo_sync", count=3))
    grown = manager.snapshot()["echo-sync"].pids
    assert len(grown) == 3 and grown[0] == first[0]
    await manager.ensure(make_spec("echo_sync", count=2))
    shrunk = manager.snapshot()["echo-sync"].pids
    assert shrunk == grown[:2]
    await asyncio.sleep(0.2)
    assert not pid_alive(grown[2])
    await manager.ensure(make_spec("echo_sync", count=2))  # converged: nothing restarts
    assert manager.snapshot()["echo-sync"].pids == shrunk
    await manager.ensure(make_spec("echo_sync", count=2, salt="new config"))
    changed = manager.snapshot()["echo-sync"]
    assert set(changed.pids).isdisjoint(shrunk) and len(changed.pids) == 2
    assert not any(pid_alive(p) for p in shrunk)


async def test_exit_is_restarted_by_the_supervisor(manager, make_spec, bus):
    sub = bus.subscribe(replay=True)
    await manager.ensure(make_spec("exits"))
    old = manager.snapshot()["exits"].pids[0]
    with pytest.raises(WorkerError) as info:
        await manager.call("exits", {"exit": True})
    assert info.value.status == 502
    for _ in range(100):
        status = manager.snapshot()["exits"]
        if status.state == "ready" and status.pids[0] != old:
            break
        await asyncio.sleep(0.05)
    assert status.state == "ready" and status.restarts == 1 and status.pids[0] != old
    assert (await manager.call("exits", {}))["pid"] == status.pids[0]
    types = []
    while sub._queue:
        types.append((await sub.__anext__()).type)
    assert types[:2] == ["worker.starting", "worker.started"]
    assert "worker.exited" in types and "worker.restarted" in types


async def test_restart_and_remove(manager, make_spec):
    await manager.ensure(make_spec("echo_sync"))
    old = manager.snapshot()["echo-sync"].pids[0]
    await manager.restart("echo-sync")
    new = manager.snapshot()["echo-sync"].pids[0]
    assert new != old and not pid_alive(old)
    await manager.remove("echo-sync")
    assert "echo-sync" not in manager.snapshot() and not pid_alive(new)
    with pytest.raises(NoSuchPool):
        await manager.call("echo-sync", {})


async def test_zero_workers_is_disabled(manager, make_spec):
    await manager.ensure(make_spec("echo_sync", count=0))
    assert manager.snapshot()["echo-sync"].state == "disabled"
    with pytest.raises(WorkerUnavailable):
        await manager.call("echo-sync", {})


async def test_environment_has_spec_vars_and_no_parent_secrets(manager, make_spec, monkeypatch):
    monkeypatch.setenv("SYSTEM_API_KEY", "sk-parent-secret")
    monkeypatch.setenv("AIPLUGS_CLOUD__API_KEY", "sk-other-secret")
    monkeypatch.setenv("DECLARED_VAR", "declared-value")
    monkeypatch.setenv("UNDECLARED_VAR", "nope")
    await manager.ensure(make_spec("env_dump", env={"WORDS": "12"}, pass_env=("DECLARED_VAR", "MISSING_VAR")))
    env = (await manager.call("env-dump", {}))["env"]
    assert env["WORDS"] == "12" and env["AIPLUGS_PLUGIN_ID"] == "env-dump"
    assert env["DECLARED_VAR"] == "declared-value"
    for name in ("SYSTEM_API_KEY", "AIPLUGS_CLOUD__API_KEY", "UNDECLARED_VAR", "MISSING_VAR"):
        assert name not in env
    assert "sk-parent-secret" not in repr(env)


async def test_model_path_from_env(manager, make_spec, tmp_path):
    model = tmp_path / "models" / "tiny.model"
    model.parent.mkdir()
    model.write_text("weights-v1\n")
    spec = make_spec("model_reader", env={"TEST_MODEL_PATH": str(model), "AIPLUGS_SETTINGS": '{"k": 2}'})
    await manager.ensure(spec)
    assert await manager.call("model-reader", {}) == {"model": "weights-v1", "path": str(model),
                                                      "settings": {"k": 2}}


async def test_logs_go_to_per_worker_files(manager, make_spec, tmp_path):
    await manager.ensure(make_spec("raises", count=2))
    with pytest.raises(BackendError):
        await manager.call("raises", {"text": "to the log"})
    await asyncio.sleep(0.2)
    logs = tmp_path / "state" / "logs"
    text = "".join(p.read_text() for p in logs.glob("raises-*.log"))
    assert {p.name for p in logs.iterdir()} == {"raises-0.log", "raises-1.log"}
    assert "bad input: 'to the log'" in text


async def test_stop_kills_the_process_group(manager, make_spec):
    await manager.ensure(make_spec("spawns_child"))
    child = (await manager.call("spawns-child", {}))["child"]
    assert pid_alive(child)
    await manager.remove("spawns-child")
    for _ in range(50):
        if not pid_alive(child):
            break
        await asyncio.sleep(0.05)
    assert not pid_alive(child)


async def test_close_leaves_no_worker(tmp_path, make_spec):
    mgr = WorkerManager(tmp_path / "s", grace_s=2.0)
    await mgr.ensure(make_spec("echo_sync", count=2))
    await mgr.ensure(make_spec("echo_async"))
    pids = [p for s in mgr.snapshot().values() for p in s.pids]
    assert len(pids) == 3 and all(pid_alive(p) for p in pids)
    await mgr.close()
    assert not any(pid_alive(p) for p in pids) and mgr.snapshot() == {}
    assert os.getpid() not in pids


async def test_sigterm_ignored_means_sigkill_after_grace(tmp_path, make_spec):
    import time

    mgr = WorkerManager(tmp_path / "s", grace_s=1.0)
    try:
        await mgr.ensure(make_spec("ignores_sigterm"))
        pid = mgr.snapshot()["ignores-sigterm"].pids[0]
        start = time.monotonic()
        await mgr.remove("ignores-sigterm")
        elapsed = time.monotonic() - start
        assert not pid_alive(pid)
        assert elapsed >= 0.9  # it really waited out the grace period before SIGKILL
    finally:
        await mgr.close()

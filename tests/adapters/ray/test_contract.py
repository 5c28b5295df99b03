"""The worker backend seam's contract, run against both backends: worker processes and Ray Serve replicas (on the
session's local Ray instance). The same plugin, the same calls, the same answers and errors."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from aiplugs.adapters.backend import Answer, WorkerBackend
from aiplugs.adapters.workers import BackendError, HookFailed, NoSuchPool, WorkerTimeout

from ...support import pid_alive, wait_for_async
from .conftest import MODEL_TEXT, Project


async def call(backend, tool: str | None, payload, **kw):
    answer = await backend.request("contract", payload, tool=tool, **kw)
    assert isinstance(answer, Answer)
    return [item async for item in answer] if answer.streaming else answer.value


async def test_both_backends_are_worker_backends(backend, project: Project) -> None:
    _, made = backend
    assert isinstance(made, WorkerBackend)


async def test_sync_run_async_tool_and_ctx(backend, project: Project) -> None:
    name, made = backend
    await made.start(project.spec(name), 0)
    assert made.has("contract") and made.serving("contract")
    assert (await call(made, None, {"x": 1}))["echo"] == {"x": 1}
    assert await call(made, "async_echo", [1, 2]) == {"async": [1, 2]}
    me = await call(made, "whoami", None)
    assert me["plugin"] == "contract" and me["version"] == "1.2" and me["settings"] == {"level": 3}
    assert me["init"] == 1  # the init hook ran before the first call
    assert me["cwd"] == str(project.state / "data" / "contract") == me["data_dir"]
    assert me["passed"] == "yes" and me["secret"] is None  # pass_env passes; nothing else of the parent does


async def test_streaming_sync_and_async_generators(backend, project: Project) -> None:
    name, made = backend
    await made.start(project.spec(name), 0)
    answer = await made.request("contract", {"n": 3}, tool="count")
    assert answer.streaming and [i async for i in answer] == [0, 1, 2]
    assert await call(made, "acount", {"n": 2}) == [{"i": 0}, {"i": 1}]


async def test_errors_keep_the_worker_serving(backend, project: Project) -> None:
    name, made = backend
    await made.start(project.spec(name), 0)
    with pytest.raises(BackendError) as raised:
        await call(made, "fail", "x")
    assert raised.value.status == 500 and raised.value.to_dict() == {"type": "ValueError", "message": "boom: x"}
    with pytest.raises(BackendError) as raised:
        await call(made, "nope", None)
    assert raised.value.status == 404 and raised.value.type_name == "NoSuchTool"
    with pytest.raises(BackendError, match="result is not JSON serializable"):
        await call(made, "not_json", None)
    with pytest.raises(NoSuchPool):
        await made.request("no-such-plugin", None)
    assert (await call(made, None, 1))["echo"] == 1
    stats = made.stats("contract")
    assert stats["requests"] >= 4 and stats["errors"] >= 3 and stats["ready"] == 1


async def test_timeout_is_504_and_the_next_call_is_served(backend, project: Project) -> None:
    name, made = backend
    await made.start(project.spec(name, timeout_s=1.0), 0)
    with pytest.raises(WorkerTimeout) as raised:
        await call(made, "slow", {"s": 4})
    assert raised.value.status == 504
    assert (await call(made, None, "after"))["echo"] == "after"


async def test_model_path_by_env_key(backend, project: Project) -> None:
    name, made = backend
    await made.start(project.spec(name), 0)
    seen = await call(made, "model", None)
    assert seen["text"] == MODEL_TEXT
    assert seen["path"] == seen["env"] == str(project.models / "model.txt")


async def test_publish_and_events(backend, project: Project) -> None:
    name, made = backend
    published = []
    made.on_publish = lambda plugin_id, topic, data: published.append((plugin_id, topic, data))
    await made.start(project.spec(name), 0)
    assert await call(made, "announce", 7) == "announced"
    assert published == [("contract", "contract/done", {"n": 7})]
    await made.deliver("contract", {"type": "other/thing", "source": "other", "data": 1, "time": 0.0})
    assert await call(made, "events", None) == ["other/thing"]


async def test_scale_one_two_one(backend, project: Project) -> None:
    name, made = backend
    spec = project.spec(name, count=2)
    await made.start(spec, 0)
    (first,) = made.observe()[0]
    await asyncio.gather(made.start(spec, 1))
    workers = made.observe()[0]
    assert [w.index for w in workers] == [0, 1] and all(w.alive for w in workers)
    pids = {w.pid for w in workers}
    assert len(pids) == 2 and first.pid in pids  # scaling up left the running worker alone
    assert made.stats("contract")["ready"] == 2
    await made.stop("contract", 1)
    (left,) = made.observe()[0]
    assert left.index == 0 and left.alive and left.pid in pids
    (gone,) = pids - {left.pid}
    await wait_for_async(lambda: not pid_alive(gone), timeout=20)
    shutdown = project.state / "data" / "contract" / f"shutdown-{gone}"
    assert shutdown.is_file()  # the shutdown hook of the one that went ran
    assert (await call(made, None, 1))["pid"] == left.pid


async def test_worker_death_and_replacement(backend, project: Project) -> None:
    name, made = backend
    changes = []
    made.on_change = lambda: changes.append(1)
    spec = project.spec(name)
    await made.start(spec, 0)
    (worker,) = made.observe()[0]
    os.kill(worker.pid, signal.SIGKILL)
    await wait_for_async(lambda: made.observe()[1][0].failures, timeout=30)
    assert changes  # the owner was told to look again
    (seen,) = made.observe()[0]
    if not seen.alive:  # what the plan does: restart a slot that is not running (Ray may have replaced it already)
        await made.restart(spec, 0)
    (after,) = made.observe()[0]
    assert after.alive and after.pid not in (None, worker.pid)
    assert (await call(made, None, 1))["pid"] == after.pid
    history = made.observe()[1][0]
    assert history.restarts >= 1 and history.last_error


async def test_failing_init_hook_fails_the_start(backend, project: Project) -> None:
    name, made = backend
    spec = project.spec(name, "init_fails")
    with pytest.raises(HookFailed) as raised:
        await made.start(spec, 0)
    assert "init hook failed: RuntimeError: nope, no model here" in raised.value.message
    assert raised.value.hook == "init"
    assert any("nope, no model here" in line for line in raised.value.stderr_tail)
    (history,) = made.observe()[1]
    assert history.failed_hook == "init" and len(history.failures) == 1
    assert not made.serving("init-fails")


async def test_config_change_restarts_and_stop_ends(backend, project: Project) -> None:
    name, made = backend
    await made.start(project.spec(name), 0)
    (before,) = made.observe()[0]
    changed = project.spec(name, salt="v2")
    await made.restart(changed, 0)
    (after,) = made.observe()[0]
    assert after.alive and after.config_hash == changed.config_hash and after.pid != before.pid
    await made.stop("contract", 0)
    assert made.observe()[0] == () and not made.has("contract")
    await wait_for_async(lambda: not pid_alive(after.pid), timeout=20)
    assert (project.state / "data" / "contract" / f"shutdown-{after.pid}").is_file()


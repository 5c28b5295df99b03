"""The dispatcher in front of both backends: each plugin goes where its spec says, the rest cannot tell."""

from __future__ import annotations

import os

import psutil
import pytest

from aiplugs.adapters.dispatch import WorkerDispatcher
from aiplugs.adapters.ray import RayBackend
from aiplugs.adapters.workers import WorkerManager

from ...support import pid_alive, wait_for_async
from .conftest import PARENT_ENV, Project


@pytest.fixture
async def dispatcher(project: Project, ray_instance):
    made = WorkerDispatcher(
        WorkerManager(project.state, grace_s=3.0, ready_timeout_s=30.0),
        ray_factory=lambda: RayBackend(project.state, models_dir=project.models, instance=ray_instance, poll_s=0.2))
    made.parent_env = PARENT_ENV
    yield made
    await made.close()


def _ours(pid: int) -> bool:
    """A worker process of this test process (a Ray replica is Ray's)."""
    return psutil.Process(pid).ppid() == os.getpid()


async def test_each_plugin_runs_where_its_spec_says(dispatcher: WorkerDispatcher, project: Project) -> None:
    here = project.spec("process", plugin_id="here")
    there = project.spec("ray", plugin_id="there")
    await dispatcher.start(here, 0)
    await dispatcher.start(there, 0)
    assert (dispatcher.backend_of("here"), dispatcher.backend_of("there")) == ("process", "ray")
    workers = {w.plugin_id: w for w in dispatcher.observe()[0]}
    assert set(workers) == {"here", "there"} and all(w.alive for w in workers.values())
    assert _ours(workers["here"].pid) and not _ours(workers["there"].pid)
    assert (await dispatcher.call("here", 1))["pid"] == workers["here"].pid
    assert (await dispatcher.call("there", 1))["pid"] == workers["there"].pid
    assert [i async for i in dispatcher.stream("there", {"n": 2}, tool="count")] == [0, 1]
    assert dispatcher.stats("there")["backend"] == "ray: local" and "backend" not in dispatcher.stats("here")
    assert dispatcher.parent_env == PARENT_ENV and dispatcher.ray.parent_env == PARENT_ENV
    assert await dispatcher.wait_serving("there", 1.0) and not await dispatcher.wait_serving("nobody", 0.3)


async def test_moving_a_plugin_stops_it_where_it_ran(dispatcher: WorkerDispatcher, project: Project) -> None:
    spec = project.spec("process", plugin_id="mover")
    await dispatcher.start(spec, 0)
    (before,) = dispatcher.observe()[0]
    await dispatcher.restart(project.spec("ray", plugin_id="mover"), 0)  # the plan replaces it: its hash changed
    (after,) = dispatcher.observe()[0]
    assert dispatcher.backend_of("mover") == "ray" and after.alive and not _ours(after.pid)
    await wait_for_async(lambda: not pid_alive(before.pid), timeout=10)
    assert not dispatcher.process.has("mover")
    await dispatcher.stop("mover", 0)
    assert dispatcher.observe()[0] == () and dispatcher.backend_of("mover") == "process"


async def test_only_a_plugin_on_ray_builds_the_ray_backend(project: Project) -> None:
    made = WorkerDispatcher(WorkerManager(project.state, grace_s=3.0),
                            ray_factory=lambda: pytest.fail("no plugin on Ray: no Ray backend"))
    try:
        await made.start(project.spec("process", plugin_id="alone"), 0)
        assert made.ray is None and made.serving("alone")
        assert made.grace_s == 3.0  # what only the process backend has is asked of it
    finally:
        await made.close()

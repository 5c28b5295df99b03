"""Telemetry of real worker processes: CPU and memory of a worker's process tree (psutil), and the calls, errors,
waits and in-flight counts the pool keeps while it serves."""

from __future__ import annotations

import asyncio
import os

import pytest

from aiplugs.adapters.workers import BackendError, WorkerGone, WorkerManager, WorkerTimeout
from aiplugs.adapters.workers.callstats import CallCounts
from aiplugs.adapters.workers.usage import cpu_percent

from ...support import pid_alive, wait_for_async
from .conftest import backend_spec, start_all


async def usage_of(manager: WorkerManager, plugin_id: str, index: int = 0):
    await manager.sample_usage()
    return manager.telemetry()[plugin_id].workers[index].usage


async def test_cpu_and_memory_of_a_real_worker(manager: WorkerManager) -> None:
    await start_all(manager, backend_spec("burns"))
    before = await usage_of(manager, "burns")
    assert before is not None and before.processes == 1 and before.rss_bytes > 5 * 1024 * 1024
    assert before.pid == manager.telemetry()["burns"].workers[0].pid
    await manager.call("burns", {"seconds": 0.4})
    after = await usage_of(manager, "burns")
    assert after.cpu_s - before.cpu_s >= 0.3  # the burn ran in the worker's own process
    assert cpu_percent(before, after) > 0
    assert cpu_percent(None, after) is None


async def test_a_child_process_counts_toward_its_worker(manager: WorkerManager) -> None:
    await start_all(manager, backend_spec("burns"))
    start = await usage_of(manager, "burns")
    child = (await manager.call("burns", {"child": 0.6}))["child"]
    most = 0
    while pid_alive(child):  # read while the child burns: CPU it spends after the last reading is not seen
        most = max(most, (await usage_of(manager, "burns")).processes)
        await asyncio.sleep(0.05)
    end = await usage_of(manager, "burns")
    assert most == 2 and end.processes == 1
    assert end.cpu_s - start.cpu_s >= 0.3  # most of the child's burn, though the worker itself idled
    assert end.cpu_s >= start.cpu_s  # and the total never went down when the child left


async def test_calls_and_errors_by_kind(manager: WorkerManager) -> None:
    for name in ("echo_sync", "raises", "sleeps", "exits"):
        await start_all(manager, backend_spec(name, timeout_s=0.3 if name == "sleeps" else 60.0))
    for _ in range(3):
        await manager.call("echo-sync", {"n": 1})
    for _ in range(2):
        with pytest.raises(BackendError):
            await manager.call("raises", {})
    with pytest.raises(WorkerTimeout):
        await manager.call("sleeps", {"sleep": 5})
    with pytest.raises(WorkerGone):
        await manager.call("exits", {"exit": True})
    seen = manager.telemetry()
    assert (seen["echo-sync"].counts.calls, seen["echo-sync"].counts.errors) == (3, ())
    assert seen["raises"].counts.errors == (("exception:ValueError", 2),)
    assert seen["sleeps"].counts.errors == (("timeout", 1),)
    assert seen["exits"].counts.errors == (("worker_died", 1),)
    echo = seen["echo-sync"]
    assert sum(echo.counts.latency) == 3 and echo.counts.latency_sum > 0
    assert echo.workers[0].calls == 3 and echo.ready == 1 and echo.to_dict()["calls"] == 3
    assert echo.counts.starts == 1 and echo.workers[0].startup_s == echo.counts.startup_s_max > 0


async def test_calls_in_flight_and_contention_on_one_worker(manager: WorkerManager) -> None:
    await start_all(manager, backend_spec("echo_sync"))
    calls = [asyncio.create_task(manager.call("echo-sync", {"sleep": 0.5})) for _ in range(3)]
    await wait_for_async(lambda: manager.telemetry()["echo-sync"].counts.inflight == 3)
    assert manager.telemetry()["echo-sync"].workers[0].inflight == 3
    # contended counts with calls, as they end: a reading while they run shows neither (a share over 100 % before)
    assert (manager.telemetry()["echo-sync"].counts.calls, manager.telemetry()["echo-sync"].counts.contended) == (0, 0)
    await asyncio.gather(*calls)
    counts = manager.telemetry(reset_peak=True)["echo-sync"].counts
    assert (counts.calls, counts.inflight, counts.inflight_peak, counts.contended) == (3, 0, 3, 2)
    assert counts.inflight_s >= counts.busy_s > 0  # three calls overlapped on one busy worker
    assert manager.telemetry()["echo-sync"].counts.inflight_peak == 0


async def test_a_call_waits_for_a_worker_that_is_starting(manager: WorkerManager) -> None:
    spec = backend_spec("slow_init", env={"INIT_SLEEP": "0.6"})
    starting = asyncio.create_task(manager.start(spec, 0))
    await wait_for_async(lambda: manager.has("slow-init") and manager._pools["slow-init"].coming())
    await manager.call("slow-init", {})
    await starting
    counts = manager.telemetry()["slow-init"].counts
    assert sum(counts.wait) == 1 and counts.wait_sum > 0
    assert counts.starts == 1 and counts.startup_s_max >= 0.6  # spawn → ready includes init (model loading)


async def test_with_collection_off_the_pools_count_nothing(manager: WorkerManager) -> None:
    manager.set_collecting(False)
    await start_all(manager, backend_spec("echo_sync"))
    await manager.call("echo-sync", {})
    assert manager.telemetry()["echo-sync"].counts == CallCounts()
    manager.set_collecting(True)
    await manager.call("echo-sync", {})
    assert manager.telemetry()["echo-sync"].counts.calls == 1
    assert (await usage_of(manager, "echo-sync")).pid != os.getpid()

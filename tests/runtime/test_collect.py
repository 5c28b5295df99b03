"""The daemon's metrics collector: what one sample holds (plain values), and sampling real workers into the sqlite
history, which a new collector — a restarted daemon — carries on."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest

from aiplugs.adapters.workers import WorkerManager
from aiplugs.adapters.workers.callstats import CallCounts
from aiplugs.adapters.workers.telemetry import PoolTelemetry, WorkerTelemetry
from aiplugs.plan import MetricsSpec
from aiplugs.runtime.collect import MetricsCollector, sample_rollup
from aiplugs.store.metrics_history import MetricsHistory, history_path

from tests.adapters.workers.conftest import backend_spec


def pool(calls: int, *, errors: tuple[tuple[str, int], ...] = (), restarts: int = 0, pids: tuple[int, ...] = (11,),
         startup: float = 0.2, peak: int = 0) -> PoolTelemetry:
    counts = CallCounts(calls=calls, errors=errors, latency=(calls,) + (0,) * 18, latency_sum=calls * 0.0002,
                        inflight_peak=peak, busy_s=calls * 0.1, starts=len(pids))
    workers = tuple(WorkerTelemetry(i, pid, True, 0, calls, startup, None) for i, pid in enumerate(pids))
    return PoolTelemetry("echo", counts, restarts, workers)


def test_a_sample_holds_what_happened_since_the_previous_one() -> None:
    before = pool(10, errors=(("timeout", 1),))
    after = pool(25, errors=(("timeout", 3), ("exception:KeyError", 1)), peak=4)
    rollup = sample_rollup("echo", before, after, cpu_s=0.5, span_s=5.0, when=1_700_000_000.5)
    assert (rollup.minute, rollup.samples, rollup.span_s, rollup.calls) == (1_700_000_000, 1, 5.0, 15)
    assert dict(rollup.errors) == {"timeout": 2, "exception:KeyError": 1}
    assert rollup.latency[0] == 15 and rollup.busy_s == pytest.approx(1.5)
    assert rollup.cpu_pct_sum == pytest.approx(10.0) and rollup.workers_max == 1 and rollup.inflight_max == 4
    assert (rollup.starts, rollup.startup_s_max) == (0, 0.0)  # the same worker as before


def test_counters_that_went_down_started_again() -> None:
    rollup = sample_rollup("echo", pool(50, restarts=2), pool(4, pids=(12,), startup=1.5), cpu_s=0.0, span_s=5.0,
                           when=0)
    assert rollup.calls == 4 and rollup.restarts == 0
    assert rollup.startup_s_max == 1.5  # a new worker (pid 12) became ready in this span
    first = sample_rollup("echo", None, pool(3), cpu_s=0.1, span_s=0.0, when=0)
    assert first.calls == 3 and first.cpu_pct_sum == 0.0


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[WorkerManager]:
    mgr = WorkerManager(tmp_path / "state", grace_s=3.0, ready_timeout_s=30.0)
    try:
        yield mgr
    finally:
        await mgr.close()


async def test_samples_of_real_workers_land_in_the_history(manager: WorkerManager, tmp_path: Path) -> None:
    state = tmp_path / "state"
    collector = MetricsCollector(manager, state, MetricsSpec(sample_s=60))
    await collector.start()
    await manager.start(backend_spec("burns"), 0)
    await manager.call("burns", {"seconds": 0.3})
    (first,) = await collector.sample()
    assert first.plugin == "burns" and first.calls == 1 and first.cpu_pct_sum > 0  # the burn shows as CPU
    assert first.rss_max > 1024 * 1024 and first.starts == 1 and first.startup_s_max > 0
    await manager.call("burns", {"seconds": 0.01})
    await manager.call("burns", {"seconds": 0.01})
    (second,) = await collector.sample()
    assert second.calls == 2 and second.starts == 0
    await collector.close(final_sample=False)
    summary = MetricsHistory(history_path(state)).window("burns", 600)
    assert summary["calls"] == 3 and summary["samples"] == 2 and summary["workers"] == 1.0


async def test_a_restarted_collector_carries_the_history_on(manager: WorkerManager, tmp_path: Path) -> None:
    state = tmp_path / "state"
    await manager.start(backend_spec("echo_sync"), 0)
    collector = MetricsCollector(manager, state, MetricsSpec(sample_s=60))
    await collector.start()
    await manager.call("echo-sync", {})
    await collector.close()  # the daemon stops: one last sample
    await manager.close()
    again = WorkerManager(state, grace_s=3.0)  # a new daemon: new pools, counters from zero
    try:
        collector = MetricsCollector(again, state, MetricsSpec(sample_s=60))
        await collector.start()
        await again.start(backend_spec("echo_sync"), 0)
        for _ in range(2):
            await again.call("echo-sync", {})
        await collector.close()
    finally:
        await again.close()
    assert MetricsHistory(history_path(state)).window("echo-sync", 600)["calls"] == 3


async def test_the_loop_samples_every_sample_s_and_stops_when_disabled(manager: WorkerManager,
                                                                       tmp_path: Path) -> None:
    from tests.support import wait_for_async

    state = tmp_path / "state"
    await manager.start(backend_spec("echo_sync"), 0)
    collector = MetricsCollector(manager, state, MetricsSpec(sample_s=0.1))
    await collector.start()
    history = MetricsHistory(history_path(state))
    await wait_for_async(lambda: history.window("echo-sync", 600)["samples"] >= 3)
    await collector.configure(MetricsSpec(enabled=False))
    assert not collector.running and not manager.collecting
    await manager.call("echo-sync", {})
    assert manager.telemetry()["echo-sync"].counts.calls == 0
    await collector.configure(MetricsSpec(sample_s=0.1))
    assert collector.running and manager.collecting
    await collector.close()

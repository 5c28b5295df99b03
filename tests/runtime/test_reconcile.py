"""The Reconciler: observe → diff → converge passes for apply, self-healing, lazy demand, restart and pull, and the
loop that runs them — against the fake system of fakes.py (whose observation reflects what was done to it)."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import signal
from pathlib import Path

import pytest

from aiplugs.events import EventBus
from aiplugs.plan import DesiredState, ModelState, diff, load_desired_state
from aiplugs.runtime.reconcile import Reconciler

from ..support import free_port, pid_alive, wait_for_async
from .fakes import FakeSystem

MODEL = "sentiment-lexicon-v1.tsv"


def planned(events: EventBus) -> list[list[str]]:
    return [list(e.data["changes"]) for e in events.history() if e.type == "apply.planned"]


async def applied(desired: DesiredState, **fake) -> tuple[Reconciler, FakeSystem, EventBus]:
    system, events = FakeSystem(**fake), EventBus()
    reconciler = Reconciler(system, desired, events, interval=60)
    result = await reconciler.apply(desired)
    assert result.ok, result.failures
    return reconciler, system, events


async def test_apply_runs_passes_until_nothing_is_left(desired: DesiredState) -> None:
    system, events = FakeSystem(corrupt={MODEL}), EventBus()
    system.models[MODEL] = ModelState.UNVERIFIED  # a file is there; it holds other bytes
    reconciler = Reconciler(system, desired, events, interval=60)
    result = await reconciler.apply(desired)
    assert system.keys.index(f"verify_model {MODEL}") < system.keys.index(f"download_model {MODEL}")
    assert system.keys.count("start_worker sentiment#0") == 1
    assert system.keys.index("start_worker sentiment#0") > system.keys.index(f"download_model {MODEL}")
    assert result.ok and result.failures == ()  # the last pass succeeded
    assert f"~ model {MODEL}  (file present, verify sha256)" in result.plan.to_text()  # the first pass's plan
    passes = planned(events)
    assert len(passes) == 2
    assert passes[1][0].startswith(f"-/+ model {MODEL}  (sha256 differs")
    assert not diff(desired, system.observe(desired)).changes_present
    assert system.workers.forgotten == [None]  # an apply forgives every plugin's failures


@pytest.mark.parametrize("second_pass", ["route only", "verify then download"])
async def test_apply_reports_a_failure_that_later_passes_did_not_cure(desired: DesiredState,
                                                                      second_pass: str) -> None:
    system = FakeSystem(fail={"start_worker word-count#0": "ImportError: nope"})
    if second_pass == "verify then download":
        system.corrupt.add(MODEL)
        system.models[MODEL] = ModelState.UNVERIFIED
    result = await Reconciler(system, desired, EventBus(), interval=60).apply(desired)
    assert not system.workers.serving("word-count")  # it never started: its restart waits for the backoff
    assert not result.ok
    assert ("worker word-count#0", "ImportError: nope") in [(f.unit, f.error) for f in result.failures]


async def test_apply_that_has_nothing_to_do_reports_the_empty_plan(desired: DesiredState) -> None:
    reconciler, system, events = await applied(desired)
    calls, seen = len(system.calls), len(events.history())
    result = await reconciler.apply(desired)
    assert result.ok and not result.plan.changes_present and len(system.calls) == calls
    assert events.history()[seen:] == []


async def test_a_pass_without_changes_publishes_only_plugin_state_changes(desired: DesiredState) -> None:
    reconciler, system, events = await applied(desired)
    states = {e.data["plugin_id"]: e.data["state"] for e in events.history() if e.type == "plugin.state"}
    assert states == {"sentiment": "ready", "word-count": "ready"}
    seen, recorded = len(events.history()), system.recorded
    assert await reconciler.pass_once() is None
    assert events.history()[seen:] == [] and system.recorded > recorded  # it recorded the state
    system.kill("word-count", 0)  # just now: its restart waits for the backoff, so the plan has no changes
    assert await reconciler.pass_once() is None
    new = [(e.type, dict(e.data)) for e in events.history()[seen:]]
    assert new == [("plugin.state", {"plugin_id": "word-count", "state": "starting",
                                     "reason": "worker word-count#0 killed by SIGKILL"})]
    assert "restart_worker word-count#0" not in system.keys


def lazy_word_count(project: Path) -> Path:
    config = project / "aiplugs.toml"
    config.write_text(config.read_text().replace("[plugins.word-count]\n",
                                                 "[plugins.word-count]\nprovision = \"lazy\"\n"))
    return config


async def test_demand_starts_a_lazy_plugin(project: Path, clean_env: dict[str, str]) -> None:
    desired = load_desired_state(lazy_word_count(project), env=clean_env)[1]
    reconciler, system, events = await applied(desired)
    assert not any(k.startswith("start_worker word-count") for k in system.keys)
    assert "set_route word-count" in system.keys  # the route is there: a call through it demands the plugin
    before = len(system.keys)
    await reconciler.demand("word-count")
    assert system.keys[before:] == ["start_worker word-count#0"]
    assert planned(events)[-1] == ["+ worker word-count#0  (start)"]
    assert system.workers.serving("word-count")
    observations = system.observations
    await reconciler.demand("word-count")  # served already: no pass
    assert system.observations == observations and len(system.keys) == before + 1


async def test_restart_replaces_workers_and_clears_the_request(desired: DesiredState) -> None:
    reconciler, system, events = await applied(desired)
    old = system.slots["word-count", 0].pid
    result = await reconciler.restart("word-count")
    assert result is not None and result.ok
    assert [str(a) for a in result.plan.changes] == ["-/+ worker word-count#0  (restart requested)"]
    assert system.keys[-1] == "restart_worker word-count#0" and system.slots["word-count", 0].pid != old
    assert reconciler.restarts == set()
    assert system.workers.forgotten[-1] == "word-count"
    assert await reconciler.pass_once() is None  # done: the next pass has nothing to do


async def test_a_restart_request_with_nothing_running_is_not_kept_for_later(project: Path,
                                                                          clean_env: dict[str, str]) -> None:
    desired = load_desired_state(lazy_word_count(project), env=clean_env)[1]
    reconciler, system, _ = await applied(desired)
    assert await reconciler.restart("word-count") is None  # idle: nothing to restart
    await reconciler.demand("word-count")
    assert system.keys[-1] == "start_worker word-count#0"
    pid = system.slots["word-count", 0].pid
    assert await reconciler.pass_once() is None  # the fresh worker is not restarted by the old request
    assert "restart_worker word-count#0" not in system.keys and system.slots["word-count", 0].pid == pid


async def test_pull_downloads_a_lazy_model_and_clears_the_request(desired: DesiredState) -> None:
    lazy = dataclasses.replace(desired, models=tuple(dataclasses.replace(m, lazy=True) for m in desired.models),
                               plugins=tuple(dataclasses.replace(p, provision="lazy") for p in desired.plugins))
    reconciler, system, _ = await applied(lazy)
    assert f"download_model {MODEL}" not in system.keys
    result = await reconciler.pull({MODEL})
    assert result is not None and result.ok and system.keys[-1] == f"download_model {MODEL}"
    assert reconciler.pulls == set()


async def test_the_loop_wakes_without_waiting_for_the_interval(desired: DesiredState) -> None:
    reconciler, system, _ = await applied(desired)
    looked = system.observations
    task = asyncio.create_task(reconciler.run())
    try:
        await asyncio.sleep(0.2)
        assert system.observations == looked  # the interval is a minute: nothing looked yet
        system.kill("word-count", 0, at=system.now - 10)  # its backoff is long over
        reconciler.wake()
        await wait_for_async(lambda: "restart_worker word-count#0" in system.keys, timeout=5)
        assert system.slots["word-count", 0].alive
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_the_loop_honours_the_backoff_of_the_plan(desired: DesiredState) -> None:
    reconciler, system, _ = await applied(desired)
    system.kill("word-count", 0)  # one failure, now: the restart waits 0.5 s of the fake clock
    assert await reconciler.pass_once() is None
    task = asyncio.create_task(reconciler.run())
    try:
        looked = system.observations
        await wait_for_async(lambda: system.observations >= looked + 2, timeout=5)  # rechecks, well within 60 s
        assert "restart_worker word-count#0" not in system.keys  # the fake clock stands: not due yet
        system.now += 0.6
        await wait_for_async(lambda: "restart_worker word-count#0" in system.keys, timeout=5)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_failing_pass_does_not_end_the_loop(desired: DesiredState) -> None:
    reconciler, system, _ = await applied(desired)
    broken = system.observe

    def observe(*args, **kwargs):
        if system.observations == looked:
            system.observations += 1
            raise RuntimeError("observation failed")
        return broken(*args, **kwargs)

    looked = system.observations
    system.observe = observe  # type: ignore[method-assign]
    task = asyncio.create_task(reconciler.run())
    try:
        reconciler.wake()
        await wait_for_async(lambda: system.observations > looked, timeout=5)  # that pass raised
        system.kill("word-count", 0, at=system.now - 10)
        reconciler.wake()
        await wait_for_async(lambda: "restart_worker word-count#0" in system.keys, timeout=5)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# ---- with real parts: a daemon heals a killed worker through a plan ------------------------------------------------


def with_free_ports(config: Path) -> Path:
    text = config.read_text()
    text = text.replace("[api]\n", f"[api]\nport = {free_port()}\n", 1)
    config.write_text(text.replace("[proxy]\n", f"[proxy]\nport = {free_port()}\n", 1))
    return config


async def test_a_killed_worker_is_replaced_through_a_plan(project: Path, clean_env: dict[str, str]) -> None:
    from aiplugs.runtime.daemon import Daemon

    _, desired = load_desired_state(with_free_ports(project / "aiplugs.toml"), env=clean_env)
    daemon = Daemon(desired, env=clean_env)
    frozen = gc.get_freeze_count()
    ready = asyncio.Event()
    task = asyncio.create_task(daemon.run(on_ready=lambda d: ready.set()))
    pids: set[int] = set()
    try:
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiter}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        assert ready.is_set(), task.exception() if task.done() else "the daemon did not start within 60 s"
        result = await daemon.apply_desired(desired)
        assert result.ok, result.failures
        assert gc.get_freeze_count() == frozen  # a daemon in a host's process leaves the host's heap alone

        def row(status: dict) -> dict:
            return next(p for p in status["plugins"] if p["id"] == "word-count")

        before = row(await daemon.status())
        (victim,) = before["worker_pids"]
        pids.update(p for r in (await daemon.status())["plugins"] for p in r["worker_pids"])
        assert before["restarts"] == 0
        os.kill(victim, signal.SIGKILL)

        def replaced() -> list[int]:
            now = daemon.system.workers.stats("word-count")["pids"]
            return now if now and victim not in now else []

        (new,) = await wait_for_async(replaced, timeout=30)
        pids.add(new)
        assert pid_alive(new) and not pid_alive(victim)
        assert (await daemon.system.workers.call("word-count", {"text": "one two three"}))["words"] == 3
        after = row(await daemon.status())
        assert after["restarts"] == 1 and after["worker_pids"] == [new] and after["state"] == "ready"
        assert any("-/+ worker word-count#0  (not running (killed by SIGKILL))" in changes
                   for changes in planned(daemon.events))
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 60)
    assert pids and not any(pid_alive(p) for p in pids)

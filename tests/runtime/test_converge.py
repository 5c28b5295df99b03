"""converge: each action is exactly one System call, in the plan's order; a unit runs only when what it needs
succeeded; a converged plan calls nothing; every outcome is an event. Driven against a fake System (fakes.py)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import pytest

from aiplugs.events import EventBus
from aiplugs.plan import Action, ActionKind, ActualState, DesiredState, ObservedRoute, ObservedWorker, Plan, diff
from aiplugs.runtime.converge import ConvergeResult, Failure, converge

from ..support import converged
from .fakes import FakeSystem

C, U, R, D = ActionKind.CREATE, ActionKind.UPDATE, ActionKind.REPLACE, ActionKind.DELETE
MODEL = "sentiment-lexicon-v1.tsv"


async def carry_out(desired: DesiredState, actual: ActualState, system: FakeSystem,
                    events: EventBus | None = None) -> ConvergeResult:
    return await converge(diff(desired, actual), desired, system, events or EventBus())


@pytest.mark.parametrize(("kind", "type_", "name", "expected"), [
    (C, "api", "", lambda d: ("start_api", d.api, d.max_body_bytes)),
    (R, "api", "", lambda d: ("restart_api", d.api, d.max_body_bytes)),
    (U, "api", "", lambda d: ("configure_api", d.max_body_bytes)),
    (C, "proxy", "", lambda d: ("start_proxy", d.proxy)),
    (R, "proxy", "", lambda d: ("restart_proxy", d.proxy)),
    (U, "rules", "", lambda d: ("swap_rules", d.proxy)),
    (C, "model", MODEL, lambda d: ("download_model", d.model(MODEL))),
    (R, "model", MODEL, lambda d: ("download_model", d.model(MODEL))),
    (U, "model", MODEL, lambda d: ("verify_model", d.model(MODEL))),
    (C, "worker", "word-count#2", lambda d: ("start_worker", d.worker("word-count"), 2)),
    (R, "worker", "sentiment#0", lambda d: ("restart_worker", d.worker("sentiment"), 0)),
    (D, "worker", "gone#3", lambda d: ("stop_worker", "gone", 3)),
    (C, "route", "word-count", lambda d: ("set_route", d.route("word-count"))),
    (U, "route", "sentiment", lambda d: ("set_route", d.route("sentiment"))),
    (D, "route", "gone", lambda d: ("remove_route", "gone")),
])
async def test_each_type_and_kind_is_exactly_one_system_call(
        desired: DesiredState, kind: ActionKind, type_: Any, name: str,
        expected: Callable[[DesiredState], tuple]) -> None:
    system = FakeSystem()
    result = await converge(Plan((Action(kind, type_, name, "why"),)), desired, system)
    assert system.calls == [expected(desired)]
    assert result.ok and result.failures == ()


@pytest.mark.parametrize(("action", "error"), [
    (Action(C, "rules", "", "x"), "no way to carry out + rules  (x)"),
    (Action(D, "api", "", "x"), "no way to carry out - api  (x)"),
    (Action(C, "model", "other.bin", "x"), "model other.bin is not in the desired state"),
    (Action(C, "worker", "gone#0", "x"), "worker gone#0 is not in the desired state"),
    (Action(C, "route", "summarize", "x"), "route summarize is not in the desired state"),
])
async def test_an_action_no_call_can_carry_out_fails_its_unit(desired: DesiredState, action: Action,
                                                              error: str) -> None:
    system = FakeSystem()
    result = await converge(Plan((action,)), desired, system)
    assert system.calls == []
    assert result.failures == (Failure(action.unit, error),) and not result.ok


async def test_noop_actions_call_nothing(desired: DesiredState) -> None:
    system = FakeSystem()
    plan = Plan((Action(ActionKind.NOOP, "worker", "word-count#0", "running"),
                 Action(ActionKind.NOOP, "api", "", "listening")))
    assert (await converge(plan, desired, system)).ok
    assert system.calls == []


async def test_order_router_proxy_models_then_plugins_then_removals(desired: DesiredState) -> None:
    leftovers = ActualState(workers=(ObservedWorker("gone", 0, 7, True, "h"),), routes=(ObservedRoute("gone", "h"),))
    system = FakeSystem()
    result = await carry_out(desired, leftovers, system)
    assert result.ok
    assert system.keys == [
        "start_api", "start_proxy", f"download_model {MODEL}",
        "start_worker sentiment#0", "set_route sentiment",
        "start_worker word-count#0", "set_route word-count",
        "remove_route gone", "stop_worker gone#0",  # traffic stops before the workers go
    ]


async def test_order_of_changes_in_place(desired: DesiredState) -> None:
    base = converged(desired)
    stale = dataclasses.replace(
        base, api_hash="old", rules_hash="old",
        routes=(ObservedRoute("sentiment", "old"), *(r for r in base.routes if r.plugin_id != "sentiment")),
        workers=tuple(dataclasses.replace(w, config_hash="old") if w.plugin_id == "word-count" else w
                      for w in base.workers))
    system = FakeSystem()
    assert (await carry_out(desired, stale, system)).ok
    assert system.keys == ["configure_api", "swap_rules", "set_route sentiment", "restart_worker word-count#0"]


def with_second_model(desired: DesiredState) -> DesiredState:
    """word-count needs a model of its own too."""
    other = dataclasses.replace(desired.models[0], filename="other.bin", keys=("OTHER",), used_by=("word-count",))
    workers = tuple(dataclasses.replace(w, models=("other.bin",)) if w.plugin_id == "word-count" else w
                    for w in desired.workers)
    return dataclasses.replace(desired, models=(*desired.models, other), workers=workers)


async def test_models_download_concurrently_before_any_worker(desired: DesiredState) -> None:
    two = with_second_model(desired)
    system = FakeSystem(delay=0.05)
    assert (await carry_out(two, dataclasses.replace(converged(desired), models=()), system)).ok
    begins = system.trace.index(f"begin download_model {MODEL}"), system.trace.index("begin download_model other.bin")
    ends = system.trace.index(f"end download_model {MODEL}"), system.trace.index("end download_model other.bin")
    assert max(begins) < min(ends)  # both were running at once
    assert system.keys[:2] == [f"download_model {MODEL}", "download_model other.bin"]
    assert system.keys[2:] == []  # converged workers stay untouched
    fresh = FakeSystem(delay=0.01)
    assert (await carry_out(two, ActualState(), fresh)).ok
    first_worker = min(i for i, t in enumerate(fresh.trace) if "worker" in t)
    assert max(ends_of(fresh, "download_model")) < first_worker


def ends_of(system: FakeSystem, method: str) -> list[int]:
    return [i for i, t in enumerate(system.trace) if t.startswith(f"end {method}")]


async def test_a_plugins_workers_start_together_and_its_route_follows(desired: DesiredState) -> None:
    two = dataclasses.replace(desired, workers=tuple(dataclasses.replace(w, count=2) if w.plugin_id == "word-count"
                                                     else w for w in desired.workers))
    system = FakeSystem(delay=0.03)
    assert (await carry_out(two, converged(desired), system)).ok
    assert system.trace == ["begin start_worker word-count#1", "end start_worker word-count#1"]
    system = FakeSystem(delay=0.03)
    assert (await carry_out(two, ActualState(), system)).ok
    trace = system.trace
    starts = [trace.index(f"begin start_worker word-count#{i}") for i in (0, 1)]
    ends = [trace.index(f"end start_worker word-count#{i}") for i in (0, 1)]
    assert max(starts) < min(ends)
    assert trace.index("begin set_route word-count") > max(ends)
    assert trace.index("begin start_worker word-count#0") > trace.index("end set_route sentiment")


async def test_a_failed_api_stops_everything_after_it(desired: DesiredState) -> None:
    system = FakeSystem(fail={"start_api": "port 5000 in use"})
    events = EventBus()
    result = await carry_out(desired, ActualState(), system, events)
    assert system.keys == ["start_api"]
    assert result.failures == (Failure("api", "port 5000 in use"),) and not result.ok
    last = events.history()[-1]
    assert last.type == "apply.failed" and last.data["failures"] == ["api"] and last.data["ok"] is False


async def test_a_failed_proxy_does_not_stop_the_rest(desired: DesiredState) -> None:
    system = FakeSystem(fail={"start_proxy": "no CA"})
    result = await carry_out(desired, ActualState(), system)
    assert result.failures == (Failure("proxy", "no CA"),)
    assert system.keys[2:] == [f"download_model {MODEL}", "start_worker sentiment#0", "set_route sentiment",
                               "start_worker word-count#0", "set_route word-count"]


async def test_a_failed_model_holds_back_only_the_plugins_that_need_it(desired: DesiredState) -> None:
    system = FakeSystem(fail={f"download_model {MODEL}": "404 Not Found"})
    result = await carry_out(desired, ActualState(), system)
    assert system.keys == ["start_api", "start_proxy", f"download_model {MODEL}",
                           "start_worker word-count#0", "set_route word-count"]
    assert result.failures == (
        Failure(f"model {MODEL}", "404 Not Found"),
        Failure("worker sentiment#0", f"not started: its model {MODEL} is not available"),
        Failure("route sentiment", "not switched: its workers did not start"),
    )


async def test_a_failed_worker_start_keeps_its_route_unswitched(desired: DesiredState) -> None:
    two = dataclasses.replace(desired, workers=tuple(dataclasses.replace(w, count=2) if w.plugin_id == "word-count"
                                                     else w for w in desired.workers))
    system = FakeSystem(fail={"start_worker word-count#1": "ImportError: no module named nope"})
    result = await carry_out(two, ActualState(), system)
    assert "set_route word-count" not in system.keys
    assert {"start_worker word-count#0", "start_worker word-count#1", "set_route sentiment"} <= set(system.keys)
    assert result.failures == (Failure("worker word-count#1", "ImportError: no module named nope"),
                               Failure("route word-count", "not switched: its workers did not start"))


async def test_a_converged_plan_calls_nothing(desired: DesiredState) -> None:
    system = FakeSystem()
    events = EventBus()
    result = await carry_out(desired, converged(desired), system, events)
    assert system.calls == [] and result.ok and not result.plan.changes_present
    assert [e.type for e in events.history()] == ["apply.finished"]


async def test_converging_twice_leaves_nothing_for_the_second_plan(desired: DesiredState) -> None:
    system = FakeSystem()
    first = diff(desired, system.observe(desired))
    assert first.changes_present
    assert (await converge(first, desired, system)).ok
    calls = len(system.calls)
    second = diff(desired, system.observe(desired))
    assert not second.changes_present, second.to_text()
    assert (await converge(second, desired, system)).ok
    assert len(system.calls) == calls
    # and a unit that failed the first time is all the second plan holds
    flaky = FakeSystem(fail={"start_worker word-count#0": "boom"})
    await converge(diff(desired, flaky.observe(desired)), desired, flaky)
    flaky.fail.clear()
    flaky.now += 10  # past the backoff of its one failure
    again = diff(desired, flaky.observe(desired))
    assert [str(a) for a in again.changes] == ["-/+ worker word-count#0  (not running (exited with code 1))",
                                               "+ route word-count  (local workers)"]


async def test_events_follow_each_action_with_the_catalogue_fields(desired: DesiredState) -> None:
    events = EventBus()
    await carry_out(desired, ActualState(), FakeSystem(), events)
    history = [(e.type, dict(e.data)) for e in events.history()]
    units = [a.unit for a in diff(desired, ActualState()).changes]
    expected = [item for unit in units for item in (("apply.action_started", {"unit": unit}),
                                                    ("apply.action_finished", {"unit": unit, "ok": True,
                                                                               "error": None}))]
    assert history[:-1] == expected
    kind, data = history[-1]
    assert kind == "apply.finished" and set(data) == {"ok", "failures", "seconds"}
    assert data["ok"] is True and data["failures"] == [] and data["seconds"] >= 0


async def test_events_of_a_failed_converge(desired: DesiredState) -> None:
    events = EventBus()
    await carry_out(desired, ActualState(), FakeSystem(fail={f"download_model {MODEL}": "gone"}), events)
    finished = {e.data["unit"]: e.data for e in events.history() if e.type == "apply.action_finished"}
    assert finished[f"model {MODEL}"] == {"unit": f"model {MODEL}", "ok": False, "error": "gone"}
    assert finished["worker sentiment#0"]["ok"] is False and "not available" in finished["worker sentiment#0"]["error"]
    started = [e.data["unit"] for e in events.history() if e.type == "apply.action_started"]
    assert "worker sentiment#0" not in started and "worker word-count#0" in started  # never attempted
    last = events.history()[-1]
    assert last.type == "apply.failed"
    assert last.data["failures"] == [f"model {MODEL}", "worker sentiment#0", "route sentiment"]
    assert last.data["ok"] is False


async def test_an_environment_is_built_before_its_workers_and_its_failure_holds_them(desired: DesiredState) -> None:
    from aiplugs.plan.envs import envs_for

    env = envs_for({"word-count": ("aiplugs-probe==1.0",)}, desired.state_dir)["word-count"]
    workers = tuple(dataclasses.replace(w, python_env=env.id, python=env.python) if w.plugin_id == "word-count"
                    else w for w in desired.workers)
    wanted = dataclasses.replace(desired, envs=(env,), workers=workers)
    system = FakeSystem()
    result = await carry_out(wanted, ActualState(), system)
    assert result.ok
    assert system.keys.index(f"create_env {env.id}") < system.keys.index("start_worker word-count#0")
    assert ("create_env", env) in system.calls

    failing = FakeSystem(fail={f"create_env {env.id}": "pip install failed (exit 1): ERROR: no such wheel"})
    result = await carry_out(wanted, ActualState(), failing)
    errors = {f.unit: f.error for f in result.failures}
    assert errors[f"env {env.id}"] == "pip install failed (exit 1): ERROR: no such wheel"
    assert errors["worker word-count#0"] == f"not started: its Python environment {env.id} could not be built"
    assert errors["route word-count"] == "not switched: its workers did not start"
    assert not any(k.startswith("start_worker word-count") for k in failing.keys)
    assert "start_worker sentiment#0" in failing.keys  # other plugins go on


async def test_install_hook_first_and_its_failure_holds_the_workers(desired: DesiredState) -> None:
    wanted = dataclasses.replace(desired, workers=tuple(
        dataclasses.replace(w, hooks=("install",)) if w.plugin_id == "word-count" else w for w in desired.workers))
    system = FakeSystem()
    assert (await carry_out(wanted, ActualState(), system)).ok
    assert system.keys.index("install_hook word-count") < system.keys.index("start_worker word-count#0")
    assert system.keys.count("install_hook word-count") == 1
    failing = FakeSystem(fail={"install_hook word-count": "word-count install hook failed: boom"})
    errors = {f.unit: f.error for f in (await carry_out(wanted, ActualState(), failing)).failures}
    assert errors == {"hook word-count install": "word-count install hook failed: boom",
                      "worker word-count#0": "not started: its install hook failed",
                      "route word-count": "not switched: its workers did not start"}


async def test_a_dependency_that_does_not_start_holds_its_dependents_in_that_pass(desired: DesiredState) -> None:
    needy = dataclasses.replace(desired, plugins=tuple(
        dataclasses.replace(p, dependencies=("sentiment",)) if p.id == "word-count" else p for p in desired.plugins))
    system = FakeSystem(fail={"start_worker sentiment#0": "boom"})
    errors = {f.unit: f.error for f in (await carry_out(needy, ActualState(), system)).failures}
    assert errors["worker word-count#0"] == "not started: needs sentiment, which did not start"
    assert not any(k.startswith("start_worker word-count") for k in system.keys)


async def test_uninstall_runs_before_the_package_goes_and_a_failure_keeps_the_package(desired: DesiredState) -> None:
    from aiplugs.plan import ObservedHooks, ObservedPackage

    leftovers = dataclasses.replace(converged(desired), hooks=(ObservedHooks("gone", installed="1.0.0",
                                                                             uninstall=True),),
                                    packages=(ObservedPackage("gone", "1.0.0", "a" * 64),))
    system = FakeSystem()
    assert (await carry_out(desired, leftovers, system)).ok
    assert system.keys == ["uninstall_hook gone", "remove_package gone"]
    failing = FakeSystem(fail={"uninstall_hook gone": "gone uninstall hook failed: no"})
    errors = {f.unit: f.error for f in (await carry_out(desired, leftovers, failing)).failures}
    assert errors["package gone"] == "not removed: its uninstall hook failed (its files stay for the next try)"
    assert "remove_package gone" not in failing.keys

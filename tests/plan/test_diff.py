"""Plan: the pure diff of desired vs observed; terraform-style text, versioned JSON, and a converged plan is empty.
Self-healing, lazy start and restarts are plans too: a dead worker, a demanded lazy plugin, a restart request."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiplugs.plan import (
    Action,
    ActionKind,
    ActualState,
    DesiredState,
    EnvSpec,
    ModelState,
    ObservedEndpoint,
    ObservedEnv,
    ObservedModel,
    ObservedPlugin,
    ObservedRoute,
    ObservedWorker,
    Plan,
    UnusedEnv,
    diff,
    load_desired_state,
)
from aiplugs.plan.envs import envs_for

from ..conftest import clean_environ, manifest_data
from ..support import converged


def lines(plan: Plan) -> list[str]:
    return plan.to_text().splitlines()


def with_workers(actual: ActualState, *workers: ObservedWorker) -> ActualState:
    return dataclasses.replace(actual, workers=workers)


def test_fresh_plan_creates_everything(desired: DesiredState) -> None:
    plan = diff(desired, ActualState())
    model = desired.models[0]
    assert lines(plan) == [
        "+ api  (listen on 127.0.0.1:auto 5000-5100)",
        "+ proxy  (listen on 127.0.0.1:auto 8080-8180)",
        f"+ model {model.filename}  (download from {model.url}, 910 bytes)",
        "+ worker sentiment#0  (start)",
        "+ route sentiment  (local workers)",
        "+ worker word-count#0  (start)",
        "+ route word-count  (local workers)",
        "",
        "Plan: 7 to add, 0 to change, 0 to destroy.",
    ]
    assert plan.changes_present and plan.counts() == {"add": 7, "change": 0, "destroy": 0}
    assert str(plan) == plan.to_text()


def test_converged_plan_has_no_changes(desired: DesiredState) -> None:
    plan = diff(desired, converged(desired))
    assert plan.to_text() == "No changes."
    assert not plan.changes_present and plan.changes == ()
    assert all(a.kind is ActionKind.NOOP for a in plan.actions) and plan.actions
    assert plan.summary() == "No changes."


def test_json_shape(desired: DesiredState) -> None:
    data = json.loads(diff(desired, ActualState()).to_json())
    assert data["format_version"] == "2"
    assert data["changes_present"] is True
    assert data["summary"] == {"add": 7, "change": 0, "destroy": 0}
    first = data["actions"][0]
    assert first == {"kind": "create", "type": "api", "name": "", "unit": "api",
                     "reason": "listen on 127.0.0.1:auto 5000-5100"}
    assert {a["type"] for a in data["actions"]} == {"api", "proxy", "model", "worker", "route"}
    assert {"kind": "create", "type": "worker", "name": "word-count#0", "unit": "worker word-count#0",
            "reason": "start"} in data["actions"]
    quiet = diff(desired, converged(desired)).to_dict()
    assert quiet["changes_present"] is False and all(a["kind"] == "noop" for a in quiet["actions"])
    assert quiet["format_version"] == "2"


def test_scale_up_and_down(desired: DesiredState) -> None:
    base = converged(desired)
    wc = next(w for w in desired.workers if w.plugin_id == "word-count")
    up = dataclasses.replace(desired, workers=tuple(dataclasses.replace(w, count=2) if w is wc else w
                                                    for w in desired.workers))
    plan = diff(up, base)
    assert lines(plan) == ["+ worker word-count#1  (scale 1→2)", "", "Plan: 1 to add, 0 to change, 0 to destroy."]
    two = converged(up)
    plan = diff(desired, two)
    assert lines(plan) == ["- worker word-count#1  (scale 2→1)", "", "Plan: 0 to add, 0 to change, 1 to destroy."]
    zero = dataclasses.replace(desired, workers=tuple(dataclasses.replace(w, count=0) if w is wc else w
                                                      for w in desired.workers))
    assert [str(a) for a in diff(zero, two).changes] == ["- worker word-count#0  (scale 2→0)",
                                                         "- worker word-count#1  (scale 2→0)"]


def test_disabled_removed_and_now_cloud_plugins_lose_their_workers(desired: DesiredState) -> None:
    actual = converged(desired)
    extra = (ObservedWorker("summarize", 0, 11, True, "h"), ObservedWorker("gone", 0, 12, True, "h"))
    routed = dataclasses.replace(actual, routes=(*actual.routes, ObservedRoute("gone", "h")))
    plan = diff(desired, with_workers(routed, *actual.workers, *extra))
    assert [str(a) for a in plan.changes] == ["- route gone  (plugin removed)",  # traffic stops first
                                             "- worker gone#0  (plugin removed)",
                                             "- worker summarize#0  (plugin disabled)"]
    cloud_plugin = dataclasses.replace(desired.plugins[0], mode="cloud")
    as_cloud = dataclasses.replace(desired, plugins=(cloud_plugin, *desired.plugins[1:]),
                                   workers=tuple(w for w in desired.workers if w.plugin_id != cloud_plugin.id))
    plan = diff(as_cloud, actual)
    assert f"- worker {cloud_plugin.id}#0  (plugin now in cloud mode)" in [str(a) for a in plan.changes]


def test_dead_worker_and_changed_config_are_replaced(desired: DesiredState) -> None:
    actual = converged(desired)
    first = actual.workers[0]
    dead = dataclasses.replace(first, pid=None, alive=False, exit_code=3)
    plan = diff(desired, with_workers(actual, dead, *actual.workers[1:]))
    assert lines(plan) == [f"-/+ worker {first.plugin_id}#0  (not running (exited with code 3))", "",
                           "Plan: 1 to add, 0 to change, 1 to destroy."]
    killed = dataclasses.replace(dead, exit_code=None, exit_signal="SIGKILL")
    assert [a.reason for a in diff(desired, with_workers(actual, killed, *actual.workers[1:])).changes] == [
        "not running (killed by SIGKILL)"]
    stale = dataclasses.replace(first, config_hash="old")
    plan = diff(desired, with_workers(actual, stale, *actual.workers[1:]))
    assert [str(a) for a in plan.changes] == [f"-/+ worker {first.plugin_id}#0  (config changed)"]


def test_a_crashing_worker_backs_off_then_gives_up(desired: DesiredState) -> None:
    actual = converged(desired, now=1000.0)
    first = actual.workers[0]
    dead = with_workers(actual, dataclasses.replace(first, pid=None, alive=False, exit_code=1), *actual.workers[1:])

    def plan_at(failures: tuple[float, ...], now: float) -> Plan:
        history = (ObservedPlugin(first.plugin_id, failures, last_error="boom\nline 2"),)
        return diff(desired, dataclasses.replace(dead, plugins=history, now=now))

    now_due = plan_at((999.0,), 1000.0)  # one failure: 0.5 s backoff, passed
    assert [a.kind for a in now_due.changes] == [ActionKind.REPLACE] and now_due.recheck_after is None
    waiting = plan_at((995.0, 996.0, 999.9), 1000.0)  # three failures: 2 s after the last
    assert not waiting.changes_present and waiting.recheck_after == pytest.approx(1.9)
    assert [a.reason for a in waiting.actions if a.unit == f"worker {first.plugin_id}#0"] == [
        "restart in 1.9s (backoff)"]
    looping = plan_at(tuple(990.0 + i for i in range(6)), 1000.0)
    reason = next(a.reason for a in looping.actions if a.unit == f"worker {first.plugin_id}#0")
    assert not looping.changes_present and reason.startswith("failed: 6 failures within 60s; last: boom")
    assert plan_at(tuple(900.0 + i for i in range(6)), 1000.0).changes_present  # old failures are forgotten


def test_restart_requests_and_lazy_demand_are_plans(desired: DesiredState) -> None:
    actual = converged(desired)
    plugin_id = desired.workers[0].plugin_id
    asked = dataclasses.replace(actual, plugins=(ObservedPlugin(plugin_id, restart_requested=True),))
    assert [str(a) for a in diff(desired, asked).changes] == [f"-/+ worker {plugin_id}#0  (restart requested)"]
    lazy_plugins = tuple(dataclasses.replace(p, provision="lazy") for p in desired.plugins)
    lazy = dataclasses.replace(desired, plugins=lazy_plugins,
                               models=tuple(dataclasses.replace(m, lazy=True) for m in desired.models))
    idle = dataclasses.replace(actual, workers=(), models=())
    assert [a.reason for a in diff(lazy, idle).actions if a.type in ("worker", "model")] == [
        "lazy: pulled on first call", "lazy: started on first call", "lazy: started on first call"]
    demanded = dataclasses.replace(idle, plugins=(ObservedPlugin("sentiment", demanded=True),))
    assert [str(a) for a in diff(lazy, demanded).changes if a.type != "route"] == [
        f"+ model {desired.models[0].filename}  (download from {desired.models[0].url}, 910 bytes)",
        "+ worker sentiment#0  (start)"]


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        (ModelState.MISSING, "+ model {f}  (download from {u}, 910 bytes)"),
        (ModelState.UNVERIFIED, "~ model {f}  (file present, verify sha256)"),
        (ModelState.CORRUPT, "-/+ model {f}  (sha256 differs from the manifest's (holds 000000000000…))"),
        (ModelState.DOWNLOADING, None),
        (ModelState.READY, None),
        (None, "+ model {f}  (download from {u}, 910 bytes)"),
    ],
)
def test_model_states(desired: DesiredState, observed: ModelState | None, expected: str | None) -> None:
    model = desired.models[0]
    models = () if observed is None else (ObservedModel(model.filename, observed, "00" * 32),)
    plan = diff(desired, dataclasses.replace(converged(desired), models=models))
    assert [str(a) for a in plan.changes] == ([expected.format(f=model.filename, u=model.url)] if expected else [])


def test_lazy_model_is_never_pulled_by_plan_unless_asked(desired: DesiredState) -> None:
    lazy = dataclasses.replace(desired, models=tuple(dataclasses.replace(m, lazy=True) for m in desired.models))
    actions = [a for a in diff(lazy, ActualState()).actions if a.type == "model"]
    assert [(a.kind, a.reason) for a in actions] == [(ActionKind.NOOP, "lazy: pulled on first call")]
    pull = ActualState(pulls=frozenset({desired.models[0].filename}))
    assert [a.kind for a in diff(lazy, pull).actions if a.type == "model"] == [ActionKind.CREATE]


def test_port_change_replaces_endpoint_and_rules_swap_in_place(desired: DesiredState) -> None:
    actual = converged(desired)
    fixed = dataclasses.replace(desired, api=dataclasses.replace(desired.api, port=5999))
    assert [str(a) for a in diff(fixed, actual).changes] == ["-/+ api  (127.0.0.1:5000 → 127.0.0.1:5999)"]
    moved = dataclasses.replace(actual, proxy=ObservedEndpoint("127.0.0.1", 9999))
    assert [str(a) for a in diff(desired, moved).changes] == [
        "-/+ proxy  (127.0.0.1:9999 → 127.0.0.1:auto 8080-8180)"]
    in_range = dataclasses.replace(actual, api=ObservedEndpoint("127.0.0.1", 5077))
    assert not diff(desired, in_range).changes_present
    swapped = dataclasses.replace(actual, rules_hash="old")
    assert [str(a) for a in diff(desired, swapped).changes] == ["~ rules  (hot-swap rules of 2 plugin(s))"]
    assert diff(desired, swapped).counts() == {"add": 0, "change": 1, "destroy": 0}
    bigger = dataclasses.replace(desired, max_body_bytes=desired.max_body_bytes * 2)
    changed = ["~ api  (daemon settings changed (max_body_bytes, [metrics] or [autotune]))"]
    assert [str(a) for a in diff(bigger, actual).changes] == changed
    # settings no other unit carries still reach the daemon: an apply that changes only them has work to do
    sampled = dataclasses.replace(desired, metrics=dataclasses.replace(desired.metrics, sample_s=1.0))
    assert [str(a) for a in diff(sampled, actual).changes] == changed
    tuned = dataclasses.replace(desired, autotune=desired.autotune.model_copy(update={"cooldown_s": 5}))
    assert [str(a) for a in diff(tuned, actual).changes] == changed


def test_routes_follow_their_plugins(desired: DesiredState) -> None:
    actual = converged(desired)
    route = desired.routes[0]
    changed = dataclasses.replace(actual, routes=(ObservedRoute(route.plugin_id, "old"), *actual.routes[1:]))
    assert [str(a) for a in diff(desired, changed).changes] == [f"~ route {route.plugin_id}  (now local workers)"]
    stale = dataclasses.replace(actual, routes=(*actual.routes, ObservedRoute("summarize", "h")))
    assert [str(a) for a in diff(desired, stale).changes] == ["- route summarize  (plugin disabled)"]
    # the route comes after the plugin's workers: the router switches once they are in place
    fresh = [a.unit for a in diff(desired, ActualState()).changes]
    assert fresh.index(f"route {route.plugin_id}") == fresh.index(f"worker {route.plugin_id}#0") + 1


def test_a_route_waits_for_workers_that_are_backing_off(desired: DesiredState) -> None:
    actual = converged(desired, now=1000.0)
    route = next(r for r in desired.routes if r.relay is None and not r.lazy)
    workers = tuple(dataclasses.replace(w, pid=None, alive=False, exit_code=1) if w.plugin_id == route.plugin_id
                    else w for w in actual.workers)
    history = (ObservedPlugin(route.plugin_id, (995.0, 996.0, 999.9), last_error="boom"),)
    backing_off = dataclasses.replace(actual, workers=workers, plugins=history,
                                      routes=tuple(ObservedRoute(r.plugin_id, "old") if r is not None
                                                   and r.plugin_id == route.plugin_id else r for r in actual.routes))
    plan = diff(desired, backing_off)
    assert not plan.changes_present
    assert [a.reason for a in plan.actions if a.unit == f"route {route.plugin_id}"] == [
        "switches to local workers once its workers run"]
    due = dataclasses.replace(backing_off, now=1003.0)  # backoff over: the worker restarts, then the route
    assert [a.unit for a in diff(desired, due).changes] == [f"worker {route.plugin_id}#0", f"route {route.plugin_id}"]


def with_env(desired: DesiredState, plugin_id: str, *requirements: str) -> tuple[DesiredState, EnvSpec]:
    env = envs_for({plugin_id: requirements}, desired.state_dir)[plugin_id]
    workers = tuple(dataclasses.replace(w, python_env=env.id, python=env.python, config_hash=w.config_hash + "-env")
                    if w.plugin_id == plugin_id else w for w in desired.workers)
    return dataclasses.replace(desired, envs=(env,), workers=workers), env


def test_an_environment_is_built_before_its_plugins_workers(desired: DesiredState) -> None:
    wanted, env = with_env(desired, "word-count", "numpy>=1.26", "NumPy >= 1.26")
    actual = converged(desired)  # running workers predate the environment: they are replaced
    plan = diff(wanted, actual)
    assert lines(plan)[0].strip() == f"+ env {env.id}  (install 1 requirement for word-count: numpy>=1.26)"
    units = [a.unit for a in plan.changes]
    assert units.index(f"env {env.id}") < units.index("worker word-count#0")
    assert "-/+ worker word-count#0  (config changed)" in [line.strip() for line in lines(plan)]
    ready = dataclasses.replace(converged(wanted), envs=(ObservedEnv(env.id, True),))
    assert not diff(wanted, ready).changes_present
    assert [a.reason for a in diff(wanted, ready).actions if a.type == "env"] == ["ready (for word-count)"]


def test_a_failed_environment_holds_its_workers_until_an_apply_retries(desired: DesiredState) -> None:
    wanted, env = with_env(desired, "word-count", "numpy==0.0.0")
    failed = ObservedEnv(env.id, False, "pip install failed (exit 1): ERROR: No matching distribution", ("x",))
    actual = dataclasses.replace(converged(wanted), envs=(failed,),
                                 workers=tuple(w for w in converged(wanted).workers if w.plugin_id != "word-count"))
    plan = diff(wanted, actual)
    assert not plan.changes_present
    reasons = {a.unit: a.reason for a in plan.actions}
    assert reasons[f"env {env.id}"] == ("failed: pip install failed (exit 1): ERROR: No matching distribution "
                                        "(`aiplugs apply` retries)")
    assert reasons["worker word-count#0"] == f"not started: Python environment {env.id} failed"


def test_an_unused_environment_goes_once_the_workers_run_as_declared(desired: DesiredState) -> None:
    old_wanted, old = with_env(desired, "word-count", "numpy==1.26")
    wanted, new = with_env(desired, "word-count", "numpy==2.0")
    # the requirements changed: the new environment is built and the workers replaced, the old one waits
    running = converged(old_wanted)
    running = dataclasses.replace(running, workers=tuple(  # the environment is part of a worker's config hash
        dataclasses.replace(w, config_hash=f"{w.config_hash} {old.id}") if w.plugin_id == "word-count" else w
        for w in running.workers))
    moving = dataclasses.replace(running, envs=(ObservedEnv(old.id, True),), unused_envs=(UnusedEnv(old.id, used_by=100),))
    plan = diff(wanted, moving)
    assert [str(a) for a in plan.changes] == [f"+ env {new.id}  (install 1 requirement for word-count: numpy==2.0)",
                                              "-/+ worker word-count#0  (config changed)"]
    assert [a for a in plan.actions if a.name == old.id] == [
        Action(ActionKind.NOOP, "env", old.id, "unused, kept while pid 100 runs from it")]
    # even unseen by the process scan, the old workers' config says they may still run from it
    waiting = dataclasses.replace(moving, unused_envs=(UnusedEnv(old.id),))
    assert [a.reason for a in diff(wanted, waiting).actions if a.name == old.id] == [
        "unused: removed once the workers run as declared"]
    # every worker runs in the new one: the old one goes, last
    settled = dataclasses.replace(converged(wanted), envs=(ObservedEnv(new.id, True),),
                                  unused_envs=(UnusedEnv(old.id),))
    plan = diff(wanted, settled)
    assert [str(a) for a in plan.changes] == [f"- env {old.id}  (no plugin runs in it any more)"]
    assert plan.actions[-1] == plan.changes[0] and plan.counts() == {"add": 0, "change": 0, "destroy": 1}
    # something foreign still runs from it: kept, and the plan has nothing to do
    used = dataclasses.replace(settled, unused_envs=(UnusedEnv(old.id, used_by=4242),))
    assert not diff(wanted, used).changes_present


def test_a_disabled_plugins_environment_is_kept(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    for pid, requirement in (("on", "numpy==1.26"), ("off", "pandas==2.2"), ("both", "numpy==1.26")):
        (plugins / pid).mkdir(parents=True)
        (plugins / pid / "manifest.json").write_text(json.dumps(manifest_data(pid, python={"requirements": [requirement]})))
        (plugins / pid / "backend.py").write_text("def run(p):\n    return p\n")
        (plugins / pid / "content.js").write_text("")
    (tmp_path / "aiplugs.toml").write_text(f'plugins_dir = "{plugins}"\n[plugins.off]\nenabled = false\n')
    _, wanted = load_desired_state(tmp_path / "aiplugs.toml", env=clean_environ())
    off = envs_for({"off": ("pandas==2.2",)}, wanted.state_dir)["off"]
    assert [e.used_by for e in wanted.envs] == [("both", "on")] and wanted.kept_envs == (off.id,)


def test_text_alignment_and_color(desired: DesiredState) -> None:
    actual = converged(desired)
    first = actual.workers[0]
    plan = diff(desired, dataclasses.replace(
        actual, rules_hash="old", workers=(dataclasses.replace(first, alive=False), *actual.workers[1:],
                                            ObservedWorker("gone", 0, 1, True, "h"))))
    text = plan.to_text().splitlines()
    assert text[:3] == ["  ~ rules  (hot-swap rules of 2 plugin(s))",
                        f"-/+ worker {first.plugin_id}#0  (not running (pid 100 gone))",
                        "  - worker gone#0  (plugin removed)"]
    assert text[-1] == "Plan: 1 to add, 1 to change, 2 to destroy."
    colored = plan.to_text(color=True)
    assert "\x1b[33m" in colored and "\x1b[35m" in colored and "\x1b[31m" in colored and "\x1b[0m" in colored
    assert "\x1b[" not in plan.to_text()


def test_actions_are_immutable_data() -> None:
    action = Action(ActionKind.CREATE, "worker", "word-count#3", "start")
    assert (action.unit, action.plugin_id, action.index) == ("worker word-count#3", "word-count", 3)
    assert Action(ActionKind.CREATE, "api", "", "x").unit == "api"
    assert {Plan((action,)), Plan((action,))} == {Plan((action,))}
    with pytest.raises(dataclasses.FrozenInstanceError):
        action.reason = "other"  # type: ignore[misc]
    assert [k.symbol for k in ActionKind] == ["+", "~", "-/+", "-", " "]
    assert Plan(()).to_text() == "No changes."


# --- property: planning against what converging records is always empty -------------------------------------------

MODEL_POOL = [("a.bin", "a1" * 32), ("b.bin", "b2" * 32), ("c.bin", "c3" * 32)]

plugin_strategy = st.fixed_dictionaries({
    "enabled": st.booleans(),
    "mode": st.sampled_from([None, "local", "cloud"]),
    "default_mode": st.sampled_from(["local", "cloud"]),
    "workers": st.integers(0, 3),
    "provision": st.sampled_from(["eager", "lazy"]),
    "models": st.sets(st.integers(0, len(MODEL_POOL) - 1), max_size=2),
    "deps": st.sets(st.integers(0, 5), max_size=2),
    "settings": st.dictionaries(st.sampled_from(["x", "y"]), st.integers(-2, 2), max_size=2),
    "matches": st.lists(st.sampled_from(["<all_urls>", "*://*.a.example/*", "https://b.example:8443/x*",
                                         "http://localhost/*"]), min_size=1, max_size=2),
})


def write_declaration(root: Path, plugins: list[dict[str, Any]], proxy_port: int | None, intercept: str) -> Path:
    ids = [f"p{i}" for i in range(len(plugins))]
    enabled = {pid for pid, spec in zip(ids, plugins) if spec["enabled"]}
    toml = ['plugins_dir = "plugins"', "[proxy]", f'intercept = "{intercept}"']
    if proxy_port is not None:
        toml.append(f"port = {proxy_port}")
    for pid, spec in zip(ids, plugins):
        index = ids.index(pid)
        # dependencies only on earlier, enabled plugins, and only from enabled ones: valid by construction
        deps = sorted(f"p{d}" for d in spec["deps"] if d < index and f"p{d}" in enabled) if pid in enabled else []
        models = [{"key": f"MODEL_{name.split('.')[0].upper()}", "filename": name, "source_url": f"data/{name}",
                   "sha256": sha} for name, sha in (MODEL_POOL[m] for m in sorted(spec["models"]))]
        data = manifest_data(pid, dependencies=deps, inference={"default_mode": spec["default_mode"],
                                                                "local_entry": "backend.py", "models": models})
        data["content_scripts"] = [{"matches": spec["matches"], "js": ["content.js"]}]
        folder = root / "plugins" / pid
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps(data))
        (folder / "backend.py").write_text(f"def run(payload):\n    return {pid!r}\n")
        (folder / "content.js").write_text("// test\n")
        toml += [f"[plugins.{pid}]", f"enabled = {str(spec['enabled']).lower()}", f"workers = {spec['workers']}",
                 f'provision = "{spec["provision"]}"']
        if spec["mode"]:
            toml.append(f'mode = "{spec["mode"]}"')
        toml.append(f"[plugins.{pid}.settings]")
        toml += [f"{k} = {v}" for k, v in spec["settings"].items()]
    path = root / "aiplugs.toml"
    path.write_text("\n".join(toml) + "\n")
    return path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plugins=st.lists(plugin_strategy, max_size=5), proxy_port=st.sampled_from([None, 8123]),
       intercept=st.sampled_from(["matched", "all"]))
def test_plan_against_converged_state_is_always_empty(
    plugins: list[dict[str, Any]], proxy_port: int | None, intercept: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_declaration(Path(tmp), plugins, proxy_port, intercept)
        _, desired = load_desired_state(path, env=clean_environ())
    plan = diff(desired, converged(desired))
    assert not plan.changes_present, plan.to_text()
    assert plan.to_text() == "No changes."
    fresh = diff(desired, ActualState())
    assert fresh.changes_present  # api and proxy at least
    assert diff(desired, ActualState()) == fresh  # deterministic


def test_diff_is_pure(desired: DesiredState) -> None:
    def snapshot() -> str:
        return json.dumps(desired.to_dict(), sort_keys=True)

    before = snapshot()
    actual = ActualState()
    diff(desired, actual)
    assert snapshot() == before and actual == ActualState()


def test_benchmark_projects_are_valid_declarations(tmp_path: Path) -> None:
    """benchmarks/bench_plan.py times `aiplugs plan` on generated projects; they must plan cleanly."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.bench_plan import make_project

    path = make_project(tmp_path, 20)
    _, desired = load_desired_state(path, env=clean_environ())
    assert len(desired.plugins) == 20 and len(desired.models) == 4 and len(desired.relays) == 2
    assert diff(desired, ActualState()).counts()["add"] == 2 + 4 + sum(w.count for w in desired.workers) + 20
    assert [p.id for p in desired.plugins].index("plugin-008") < [p.id for p in desired.plugins].index("plugin-009")

"""Per-plugin decisions: install hooks once per version before workers, uninstall hooks of removed plugins,
and plugins blocked while what they depend on will not serve."""

from __future__ import annotations

import dataclasses

from aiplugs.plan import ActionKind, ActualState, DesiredState, ObservedHooks, ObservedPlugin, diff

from ..support import converged

N = ActionKind.NOOP


def with_hooks(desired: DesiredState, plugin_id: str, *hooks: str) -> DesiredState:
    return dataclasses.replace(desired, workers=tuple(
        dataclasses.replace(w, hooks=hooks) if w.plugin_id == plugin_id else w for w in desired.workers))


def needing(desired: DesiredState, plugin_id: str, *deps: str) -> DesiredState:
    return dataclasses.replace(desired, plugins=tuple(
        dataclasses.replace(p, dependencies=deps) if p.id == plugin_id else p for p in desired.plugins))


def units(plan) -> list[str]:
    return [str(a).strip() for a in plan.changes]


def test_the_install_hook_runs_once_per_version_before_the_first_worker(desired: DesiredState) -> None:
    wanted = with_hooks(desired, "word-count", "install", "uninstall")
    fresh = units(diff(wanted, ActualState()))
    assert "+ hook word-count install  (once for version 1.0.0, before its workers start)" in fresh
    assert fresh.index("+ hook word-count install  (once for version 1.0.0, before its workers start)") < \
        fresh.index("+ worker word-count#0  (start)")
    done = dataclasses.replace(converged(wanted), hooks=(ObservedHooks("word-count", installed="1.0.0",
                                                                       uninstall=True),))
    assert not diff(wanted, done).changes_present
    # a new version runs it again when its workers are replaced
    newer = dataclasses.replace(wanted, workers=tuple(
        dataclasses.replace(w, version="1.1.0", config_hash="new") if w.plugin_id == "word-count" else w
        for w in wanted.workers))
    assert units(diff(newer, done))[:2] == [
        "+ hook word-count install  (once for version 1.1.0, after 1.0.0, before its workers start)",
        "-/+ worker word-count#0  (config changed)"]


def test_a_failed_install_hook_holds_the_plugin_until_a_retry(desired: DesiredState) -> None:
    wanted = with_hooks(desired, "word-count", "install")
    failed = ObservedHooks("word-count", failed_hook="install", error="word-count install hook failed: boom")
    actual = dataclasses.replace(converged(wanted), hooks=(failed,),
                                 workers=tuple(w for w in converged(wanted).workers if w.plugin_id != "word-count"))
    plan = diff(wanted, actual)
    assert not plan.changes_present
    reasons = {a.unit: a.reason for a in plan.actions}
    assert reasons["hook word-count install"] == ("failed: word-count install hook failed: boom "
                                                  "(`aiplugs apply` retries)")
    assert reasons["worker word-count#0"] == "not started: its install hook failed"


def test_a_removed_plugin_gets_its_uninstall_hook_a_disabled_one_does_not(desired: DesiredState) -> None:
    actual = dataclasses.replace(converged(desired), hooks=(
        ObservedHooks("gone", installed="1.0.0", uninstall=True),
        ObservedHooks("bare", installed="1.0.0", uninstall=False),
        ObservedHooks("deleted", installed="1.0.0", uninstall=True, files_present=False),
        ObservedHooks("summarize", installed="1.0.0", uninstall=True),  # disabled, not removed
        ObservedHooks("stuck", uninstall=True, failed_hook="uninstall", error="stuck uninstall hook failed: no")))
    plan = diff(desired, actual)
    assert units(plan) == [
        "+ hook bare uninstall  (plugin removed; it defines no uninstall hook: only its record is dropped)",
        "+ hook deleted uninstall  (plugin removed; its files are gone: only its record is dropped)",
        "+ hook gone uninstall  (plugin removed: runs before its files are deleted)"]
    assert next(a.reason for a in plan.actions if a.unit == "hook stuck uninstall").startswith("failed: stuck")


def test_a_plugin_is_blocked_while_its_dependency_will_not_serve(desired: DesiredState) -> None:
    wanted = needing(desired, "word-count", "sentiment")
    base = converged(wanted, now=1000.0)
    down = dataclasses.replace(base, workers=tuple(
        dataclasses.replace(w, pid=None, alive=False, exit_code=1) for w in base.workers),
        plugins=(ObservedPlugin("sentiment", tuple(990.0 + i for i in range(6)), last_error="boom"),
                 ObservedPlugin("word-count", (999.0,))))
    reasons = {a.unit: a.reason for a in diff(wanted, down).actions}
    assert reasons["worker sentiment#0"].startswith("failed: 6 failures")
    assert reasons["worker word-count#0"] == "blocked (needs sentiment)"
    assert "route word-count" not in {a.unit for a in diff(wanted, down).changes}
    # the dependency starting in the same plan does not block: converge starts it first
    fresh = units(diff(wanted, ActualState()))
    assert fresh.index("+ worker sentiment#0  (start)") < fresh.index("+ worker word-count#0  (start)")
    # recovered (its failures are old): both restart, dependency first
    later = dataclasses.replace(down, now=1100.0)
    order = [a.unit for a in diff(wanted, later).changes if a.type == "worker"]
    assert order == ["worker sentiment#0", "worker word-count#0"]


def test_a_lazy_dependency_that_has_not_started_does_not_block(desired: DesiredState) -> None:
    lazy = dataclasses.replace(needing(desired, "word-count", "sentiment"), plugins=tuple(
        dataclasses.replace(p, provision="lazy") if p.id == "sentiment" else p
        for p in needing(desired, "word-count", "sentiment").plugins))
    plan = diff(lazy, ActualState())
    assert "+ worker word-count#0  (start)" in units(plan) and "+ worker sentiment#0  (start)" not in units(plan)

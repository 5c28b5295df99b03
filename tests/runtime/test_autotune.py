"""The daemon's autotuner over a real metrics history (sqlite) written with synthetic rollups, a fake clock and a
stand-in daemon whose apply reads the declaration again: suggestions from the history, apply as an edit of
aiplugs.toml that keeps comments, history, verification, revert, refusals, and the autoscaler's counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiplugs.plan import load_desired_state
from aiplugs.runtime.autotune import Autotuner, SuggestionError
from aiplugs.store.metrics_history import MetricsHistory, history_path
from aiplugs.store.rollup import Rollup

T0 = 1_700_000_040.0  # a minute boundary
FAST = "\n[autotune]\nmin_samples = 3\nscale_up_window_s = 180\nverify_after_s = 120\ncooldown_s = 600\n"


class Reconciler:
    def __init__(self) -> None:
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1


class StandIn:
    """What the autotuner needs of a daemon: the desired state, the environment, and an apply that reads the
    declaration from disk again (as ``Daemon.apply`` does) and reports what it would scale."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.config, self.env = config, env
        self.desired = load_desired_state(config, env=env)[1]
        self.applied = True
        self.reconciler = Reconciler()
        self.applies: list[dict[str, int]] = []

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        assert body["config"] == str(self.config)
        self.desired = load_desired_state(body["config"], env=body["env"])[1]
        counts = {w.plugin_id: w.count for w in self.desired.workers}
        self.applies.append(counts)
        return {"ok": True, "failures": [], "status": {"ignored": True}}


def hot(plugin: str, minute: float, workers: int = 1) -> Rollup:
    """A minute in which every worker was busy and half the calls found them all busy."""
    return Rollup(plugin, int(minute), samples=12, span_s=60.0, workers_sum=12.0 * workers, workers_max=workers,
                  calls=600, busy_s=60.0 * workers, inflight_s=90.0 * workers, contended=300,
                  latency=(0,) * 8 + (600,) + (0,) * 10, latency_sum=60.0)


def calm(plugin: str, minute: float, workers: int = 2) -> Rollup:
    return Rollup(plugin, int(minute), samples=12, span_s=60.0, workers_sum=12.0 * workers, workers_max=workers,
                  calls=600, busy_s=0.5 * 60 * workers, inflight_s=30.0, contended=0,
                  latency=(0,) * 7 + (600,) + (0,) * 11, latency_sum=30.0)


@pytest.fixture
def daemon(project: Path, clean_env: dict[str, str]) -> StandIn:
    config = project / "aiplugs.toml"
    config.write_text(config.read_text() + FAST)
    return StandIn(config, clean_env)


def tuner_at(daemon: StandIn, now: list[float]) -> Autotuner:
    return Autotuner(daemon, clock=lambda: now[0])


def changes(diff: str) -> list[str]:
    return [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def write(daemon: StandIn, *rollups: Rollup) -> None:
    MetricsHistory(history_path(daemon.desired.state_dir)).write(rollups)


async def test_apply_edits_the_file_keeps_comments_records_history_and_revert_restores(daemon: StandIn) -> None:
    now = [T0 + 240]
    write(daemon, *(hot("word-count", T0 + 60 * m) for m in range(4)))
    tuner = tuner_at(daemon, now)
    (up,) = await tuner.evaluate()
    assert up.rule == "scale-up" and up.plugin == "word-count" and (up.change.old, up.change.new) == (1, 2)
    listing = tuner.listing()
    assert changes(listing["suggestions"][0]["diff"]) == ["-workers = 1", "+workers = 2"]
    original = daemon.config.read_text()

    result = await tuner.apply(up.id[:14], listing["config_sha256"])  # a unique start of the id is enough
    text = daemon.config.read_text()
    assert text == original.replace("[plugins.word-count]\nworkers = 1\n", "[plugins.word-count]\nworkers = 2\n")
    assert "# aiplugs.toml — the declaration" in text and "# amend | strip | keep" in text
    assert daemon.applies[-1]["word-count"] == 2  # the daemon's apply ran on the edited file
    entry = result["entry"]
    assert entry["suggestion"]["id"] == up.id and entry["hash_before"] != entry["hash_after"]
    assert entry["metrics_before"]["calls"] == 1800 and entry["verdict"] is None and entry["revertible"]
    assert tuner.current == ()  # applied: no longer standing
    assert [e["id"] for e in tuner.history_listing()["history"]] == [entry["id"]]
    with pytest.raises(SuggestionError) as info:
        await tuner.apply(up.id)
    assert info.value.status == 404

    reverted = await tuner.revert(up.id)
    assert daemon.config.read_text() == original and daemon.applies[-1]["word-count"] == 1
    assert changes(reverted["diff"]) == ["-workers = 2", "+workers = 1"]
    (again,) = tuner.history_listing()["history"]
    assert again["reverted_at"] == now[0] and not again["revertible"]
    with pytest.raises(SuggestionError, match="reverted already"):
        await tuner.revert(str(entry["id"]))


async def test_the_verdict_comes_after_the_verification_window(daemon: StandIn) -> None:
    now = [T0 + 240]
    write(daemon, *(hot("word-count", T0 + 60 * m) for m in range(4)))
    tuner = tuner_at(daemon, now)
    (up,) = await tuner.evaluate()
    await tuner.apply(up.id)
    write(daemon, calm("word-count", T0 + 240), calm("word-count", T0 + 300))
    now[0] = T0 + 300
    await tuner.evaluate()
    assert tuner.history_listing()["history"][0]["verdict"] is None  # 60 s of the 120 s window
    now[0] = T0 + 361
    await tuner.evaluate()
    entry = tuner.history_listing()["history"][0]
    assert entry["verdict"] == "improved" and "contended 50% → 0%" in entry["verdict_reason"]
    assert entry["metrics_after"]["calls"] == 1200
    assert tuner.current == ()  # the setting cools down after the change: no new scale suggestion


async def test_refusals_name_the_reason(daemon: StandIn, clean_env: dict[str, str]) -> None:
    now = [T0 + 240]
    write(daemon, *(hot("word-count", T0 + 60 * m) for m in range(4)))
    tuner = tuner_at(daemon, now)
    (up,) = await tuner.evaluate()
    with pytest.raises(SuggestionError, match="changed since the suggestion's diff was shown"):
        await tuner.apply(up.id, "0" * 64)
    daemon.config.write_text(daemon.config.read_text().replace("[plugins.word-count]\nworkers = 1",
                                                               "[plugins.word-count]\nworkers = 3"))
    with pytest.raises(SuggestionError, match="is 3 in aiplugs.toml now"):
        await tuner.apply(up.id)
    daemon.env = {**clean_env, "AIPLUGS_PLUGINS__WORD_COUNT__WORKERS": "1"}
    with pytest.raises(SuggestionError, match="AIPLUGS_PLUGINS__WORD_COUNT__WORKERS"):
        await tuner.apply(up.id)
    rejected = await tuner.reject(up.id)
    assert rejected["rejected"] == up.id and tuner.current == ()
    assert await tuner.evaluate() == ()  # hidden, and it stays so in a new daemon (the store keeps it)
    assert await tuner_at(daemon, now).evaluate() == ()


async def test_a_declaration_that_does_not_apply_gets_its_text_back(daemon: StandIn) -> None:
    now = [T0 + 240]
    write(daemon, *(hot("word-count", T0 + 60 * m) for m in range(4)))
    tuner = tuner_at(daemon, now)
    (up,) = await tuner.evaluate()
    original = daemon.config.read_text()

    async def refuse(body: dict[str, Any]) -> dict[str, Any]:
        from aiplugs.errors import AiplugsError

        raise AiplugsError("the daemon refused the declaration")

    daemon.apply = refuse  # type: ignore[method-assign]
    with pytest.raises(Exception, match="refused"):
        await tuner.apply(up.id)
    assert daemon.config.read_text() == original and tuner.history_listing()["history"] == []


async def test_a_range_is_autoscaled_through_the_desired_state(daemon: StandIn) -> None:
    daemon.config.write_text(daemon.config.read_text().replace(
        "[plugins.word-count]\nworkers = 1", "[plugins.word-count]\nworkers = { min = 1, max = 4 }"))
    await daemon.apply({"config": str(daemon.config), "env": daemon.env})
    assert daemon.desired.worker("word-count").count == 1 and daemon.desired.worker("word-count").count_range == (1, 4)
    now = [T0 + 240]
    write(daemon, *(hot("word-count", T0 + 60 * m) for m in range(4)))
    tuner = tuner_at(daemon, now)
    assert await tuner.evaluate() == ()  # no suggestion: the autoscaler acts on a range
    assert tuner.counts() == {"word-count": 2} and daemon.reconciler.woken == 1
    sized = tuner.size(daemon.desired)
    assert sized.worker("word-count").count == 2 and sized.worker("sentiment").count == 1
    info = tuner.scaling()["word-count"]
    assert (info["min"], info["max"], info["count"]) == (1, 4, 2) and info["reason"].startswith("1 → 2: load")
    now[0] += 60
    await tuner.evaluate()
    assert tuner.counts() == {"word-count": 2} and "cooling down" in tuner.scaling()["word-count"]["now"]
    assert tuner_at(daemon, now).counts() == {"word-count": 2}  # a new daemon starts from the count it had
    assert daemon.config.read_text().count("workers = { min = 1, max = 4 }") == 1  # the file is never touched


async def test_the_reconciler_plans_the_autoscaled_count_as_scale_actions(desired) -> None:
    """The count reaches the plan through the desired state: the plan says what starts and stops, and why."""
    import dataclasses

    from aiplugs.events import EventBus
    from aiplugs.plan.autotune import with_counts
    from aiplugs.runtime.reconcile import Reconciler as RealReconciler

    from .fakes import FakeSystem

    ranged = dataclasses.replace(desired, workers=tuple(
        dataclasses.replace(w, count_range=(1, 4)) if w.plugin_id == "word-count" else w for w in desired.workers))
    counts: dict[str, int] = {}
    system, events = FakeSystem(), EventBus()
    reconciler = RealReconciler(system, ranged, events, interval=60)
    reconciler.sizer = lambda d: with_counts(d, counts)
    assert (await reconciler.apply(ranged)).ok
    assert "start_worker word-count#1" not in system.keys  # the minimum until the autoscaler chose
    counts["word-count"] = 3
    result = await reconciler.pass_once()
    assert result is not None and [str(a) for a in result.plan.changes] == [
        "+ worker word-count#1  (scale 1→3)", "+ worker word-count#2  (scale 1→3)"]
    counts["word-count"] = 1
    result = await reconciler.pass_once()
    assert [str(a) for a in result.plan.changes] == ["- worker word-count#1  (scale 3→1)",
                                                     "- worker word-count#2  (scale 3→1)"]
    assert reconciler.desired is ranged  # the declaration itself never changed


def test_status_shows_the_autoscaled_count_and_why(desired) -> None:
    from aiplugs.runtime.status import Observed, build_status, format_status

    scaling = {"word-count": {"min": 1, "max": 4, "count": 2, "reason": "1 → 2: load 1.50 per worker",
                              "changed_at": T0, "now": "cooling down (300s left)"}}
    seen = Observed(daemon={"pid": 1, "started_at": T0}, api=None, proxy=None, ca_cert=None, workers=(),
                    plugins=(), stats={}, models={}, model_sizes={}, conditions=(), now=T0, scaling=scaling)
    status = build_status(desired, seen)
    rows = {p["id"]: p for p in status["plugins"]}
    assert rows["word-count"]["autoscale"]["reason"] == "1 → 2: load 1.50 per worker"
    assert rows["sentiment"]["autoscale"] is None
    assert "    autoscaled 1-4: 2 (1 → 2: load 1.50 per worker)" in format_status(status).splitlines()


def test_error_signatures_come_from_the_plugins_own_worker_logs(tmp_path: Path) -> None:
    from aiplugs.runtime.autotune_inputs import read_signatures

    tb = 'Traceback (most recent call last):\n  File "/p/backend.py", line {n}, in run\n{e}\n'
    (tmp_path / "a-0.log").write_text(tb.format(n=7, e="ValueError: bad 'x'") * 3)
    (tmp_path / "a-1.log.1").write_text(tb.format(n=9, e="KeyError: 'k'"))  # the last rotation counts too
    (tmp_path / "a-b-0.log").write_text(tb.format(n=1, e="OSError: another plugin's") * 9)
    assert read_signatures(tmp_path, "a") == [("ValueError: bad '…' (backend.py:7 in run)", 3),
                                              ("KeyError: '…' (backend.py:9 in run)", 1)]
    big = tmp_path / "c-0.log"
    big.write_text("x" * 5000 + "\n" + tb.format(n=2, e="RuntimeError: late"))
    assert read_signatures(tmp_path, "c", tail_bytes=200) == [("RuntimeError: late (backend.py:2 in run)", 1)]
    assert read_signatures(tmp_path / "missing", "a") == []

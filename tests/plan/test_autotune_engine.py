"""The suggestion engine and the autoscaler on synthetic history and a fake clock: no churn under constant load,
one step for a burst, a scale-down only after its stabilisation window, cooldowns, rejections, and never two
suggestions that contradict each other."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aiplugs.plan.autotune import Memory, PluginView, Sample, autoscale, suggest, with_counts

from .autotune_sim import T0, fast, loaded, sample, simulate


def test_constant_load_makes_no_suggestion_for_an_hour() -> None:
    for demand in (0.5, 1.2, 2.0):  # light, comfortable, and a load two workers carry at 0.5 each
        workers = 1 if demand < 1.5 else 4
        seen, changes = simulate(60, lambda m, demand=demand: demand, PluginView("p", workers, workers), fast(),
                                 apply_suggestions=True)
        ids = {s.id for _, found in seen for s in found}
        assert changes == [] or demand == 1.2, (demand, changes)
        if demand == 1.2:  # 1 worker at 1.2 is saturated: one scale-up, then nothing for the rest of the hour
            assert [(m, c) for m, c in changes] == [(4, 2)]
            assert len(ids) == 1
        else:
            assert ids == set()


def test_constant_load_on_a_range_settles_in_one_step() -> None:
    seen, changes = simulate(60, lambda m: 1.5, PluginView("p", (1, 4), 1), fast())
    assert changes == [(4, 2)]  # five hot minutes, then the count that brings the load under the target
    assert all(found == () for _, found in seen)  # the autoscaler acts; nobody is asked


def test_a_burst_gives_one_scale_up_suggestion() -> None:
    burst = lambda m: 3.0 if 20 <= m < 40 else 0.4  # noqa: E731
    seen, _ = simulate(40, burst, PluginView("p", 1, 1), fast())
    ups = {s.id: s for _, found in seen for s in found if s.rule == "scale-up"}
    assert len(ups) == 1
    (up,) = ups.values()
    assert up.change is not None and (up.change.old, up.change.new) == (1, 2)  # at most double per step
    first = next(m for m, found in seen if found)
    assert first == 23  # the fourth hot minute: 4 of the 5 samples in the window (sustained = 0.8)
    first_up = next(s for s in seen[first][1] if s.rule == "scale-up")
    assert first_up.evidence.samples == 5 and first_up.evidence.window_s == 300
    assert {t.metric for t in first_up.evidence.thresholds} >= {"utilization", "contended calls %"}
    assert all(t.over == 4 for t in first_up.evidence.thresholds)
    assert [m for m, found in seen if found] == list(range(23, 40))  # and it stands while the burst lasts
    assert up.confidence in ("medium", "high") and "load per worker" in up.expected


def test_a_burst_is_followed_by_the_autoscaler_and_it_comes_back_down_after_the_window() -> None:
    burst = lambda m: 3.0 if 10 <= m < 30 else 0.1  # noqa: E731
    cfg = fast(cooldown_s=300)
    _, changes = simulate(90, burst, PluginView("p", (1, 8), 1), cfg)
    ups = [c for c in changes if c[0] < 30]
    downs = [c for c in changes if c[0] >= 30]
    assert ups and all(b[1] > a[1] for a, b in zip(ups, ups[1:]))  # only upwards while hot
    assert ups[0] == (13, 2)
    assert downs and downs[0][0] >= 30 + 10 - 1  # idle for the whole 10-minute window first
    assert downs[-1][1] == 1 and all(b[1] < a[1] for a, b in zip(downs, downs[1:]))


def test_idle_scales_down_only_after_the_stabilisation_window() -> None:
    view = PluginView("p", 3, 3)
    history = [sample(m, calls=0, workers=3.0, utilization=0.0) for m in range(20)]
    cfg = fast()
    appeared = [m for m in range(1, 21)
                if suggest([view], {"p": history[:m]}, T0 + 60 * m, cfg)]
    assert appeared[0] == 10  # ten idle minutes of the 600 s window, not before
    (down,) = suggest([view], {"p": history}, T0 + 60 * 20, cfg)
    assert down.rule == "scale-down" and (down.change.old, down.change.new) == (3, 1)
    assert down.evidence.window_s == 600 and down.evidence.thresholds[0].metric == "load per worker"


def test_scale_down_keeps_the_capacity_the_window_needed() -> None:
    view = PluginView("p", 4, 4)
    # peak 0.15 per worker on 4 workers = 0.6 of one worker: 1 would sit exactly at the target, so 1
    history = [loaded(m, 0.6 if m == 5 else 0.2, 4) for m in range(12)]
    (down,) = suggest([view], {"p": history}, T0 + 60 * 12, fast())
    assert down.change.new == 1
    history[5] = loaded(5, 0.7, 4)  # 0.7 / 0.6 → 2 workers
    (down,) = suggest([view], {"p": history}, T0 + 60 * 12, fast())
    assert down.change.new == 2


def test_errors_make_one_suggestion_naming_the_top_signature() -> None:
    view = PluginView("p", 1, 1)
    history = [sample(m, calls=100, errors=(("exception:ValueError", 12), ("timeout", 1)), workers=1.0,
                      utilization=0.3, inflight=0.3) for m in range(7)]
    signatures = [("ValueError: bad input: '…' (backend.py:7 in run)", 60), ("KeyError: '…' (backend.py:3 in run)", 2)]
    found = suggest([view], {"p": history}, T0 + 360, fast(), signatures={"p": signatures})
    assert [s.rule for s in found] == ["errors"]
    (errors,) = found
    assert errors.change is None and "ValueError: bad input" in errors.expected
    assert dict(errors.evidence.numbers)["top_signatures"][0] == list(signatures[0])
    assert "13.0% of 500 calls" in errors.title and errors.confidence == "high"
    again = suggest([view], {"p": history}, T0 + 420, fast(), signatures={"p": signatures})
    assert [s.id for s in again] == [errors.id]  # the same id on the next evaluation
    quiet = [sample(m, calls=100, errors=(("exception:ValueError", 2),), workers=1.0) for m in range(6)]
    assert suggest([view], {"p": quiet}, T0 + 360, fast()) == ()  # 2% is under the threshold


def test_cooldown_holds_a_setting_after_any_change() -> None:
    view = PluginView("p", 1, 1)
    hot = [loaded(m, 2.0, 1) for m in range(40)]
    cfg = fast(cooldown_s=900)
    changed_at = T0 + 60 * 10
    memory = Memory({("p", "workers"): changed_at})
    for minute in range(11, 40):
        found = suggest([view], {"p": hot}, T0 + 60 * minute, cfg, memory)
        if T0 + 60 * minute < changed_at + 900:
            assert found == (), minute
        else:
            assert [s.rule for s in found] == ["scale-up"]
            assert found[0].evidence.since >= changed_at  # nothing from before the change counts
    held = autoscale([PluginView("r", (1, 4), 1)], {"r": hot}, changed_at + 60, cfg,
                     Memory({("r", "workers"): changed_at}))
    assert held["r"].direction == "hold" and "cooling down" in held["r"].reason


def test_a_rejected_suggestion_stays_hidden_for_its_time() -> None:
    view = PluginView("p", 1, 1)
    hot = [loaded(m, 2.0, 1) for m in range(80)]
    (up,) = suggest([view], {"p": hot}, T0 + 600, fast())
    memory = Memory(rejected={up.id: T0 + 600})
    assert suggest([view], {"p": hot}, T0 + 660, fast(reject_for_s=3600), memory) == ()
    assert [s.id for s in suggest([view], {"p": hot}, T0 + 600 + 3600, fast(reject_for_s=3600), memory)] == [up.id]


def test_a_ranged_plugin_is_only_suggested_a_higher_max_when_it_is_already_there() -> None:
    hot = [loaded(m, 6.0, 2) for m in range(10)]
    assert suggest([PluginView("p", (1, 4), 2)], {"p": hot}, T0 + 600, fast()) == ()  # the autoscaler's job
    (up,) = suggest([PluginView("p", (1, 2), 2)], {"p": hot}, T0 + 600, fast())
    assert up.change.old == {"min": 1, "max": 2} and up.change.new == {"min": 1, "max": 4}
    assert autoscale([PluginView("p", (1, 4), 2)], {"p": hot}, T0 + 600, fast())["p"].count == 4


def test_the_autoscaler_clamps_to_a_changed_range_and_sizing_feeds_the_desired_state(desired) -> None:
    decision = autoscale([PluginView("p", (2, 3), 5)], {}, T0, fast())["p"]
    assert (decision.count, decision.direction) == (3, "down") and "2-3" in decision.reason
    import dataclasses

    ranged = dataclasses.replace(desired, workers=tuple(
        dataclasses.replace(w, count_range=(1, 4), count=1) if w.plugin_id == "word-count" else w
        for w in desired.workers))
    sized = with_counts(ranged, {"word-count": 9, "sentiment": 5})
    assert sized.worker("word-count").count == 4  # clamped to the range
    assert sized.worker("sentiment").count == desired.worker("sentiment").count  # fixed: never touched
    assert with_counts(ranged, {}) is ranged


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 4), st.integers(0, 30), st.floats(0, 1), st.booleans()), min_size=5,
                max_size=25),
       st.integers(1, 6), st.floats(0.5, 30))
def test_never_two_suggestions_that_contradict(minutes, workers, timeout_s) -> None:
    history = []
    for i, (demand, errors, p99_share, repeat) in enumerate(minutes):
        s = loaded(i, demand, workers, errors=(("timeout", errors),) if errors else (),
                   p99_ms=p99_share * timeout_s * 1000, repeats=int(demand * 600) if repeat else 0,
                   rss_bytes=(100 + 3 * i) * 2**20)
        history.append(s)
    now = T0 + 60 * len(history)
    found = suggest([PluginView("p", workers, workers, timeout_s)], {"p": history}, now, fast(min_samples=3))
    settings_touched = [s.setting for s in found if s.setting is not None]
    assert len(settings_touched) == len(set(settings_touched))
    rules = {s.rule for s in found}
    assert not {"scale-up", "scale-down"} <= rules
    assert not {"scale-down", "timeout"} <= rules
    assert len({s.id for s in found}) == len(found)


def test_sample_from_a_history_summary() -> None:
    summary = {"time": T0, "span_s": 42.0, "calls": 10, "errors_by": {"timeout": 2}, "p50_ms": 1.0, "p95_ms": 2.0,
               "p99_ms": 3.0, "cpu_pct": 150.0, "rss_per_worker_bytes": 1000, "wait_p95_ms": 0.5,
               "inflight": 1.5, "utilization": 0.9, "contended_pct": 40.0, "workers": 2.0}
    s = Sample.from_summary(summary, repeats=3)
    assert (s.span_s, s.error_count, s.cpu_per_worker, s.rss_bytes, s.repeats) == (42.0, 2, 75.0, 1000, 3)
    assert s.load == 0.9

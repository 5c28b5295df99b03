"""The rules one by one (memory, cache, timeout), error signatures from worker logs, and verdicts."""

from __future__ import annotations

import random

from aiplugs.plan.autotune import PluginView, Suggestion, error_signatures, stats, suggest, verdict

from .autotune_sim import T0, fast, loaded, sample

MB = 2**20


def test_steady_rss_growth_proposes_recycling_after_n_calls() -> None:
    # 100 MiB growing 1 MiB a minute over 30 minutes (+29%), 300 calls a minute on one worker
    history = [loaded(m, 0.5, 1, rss_bytes=(100 + m) * MB) for m in range(30)]
    (memory,) = suggest([PluginView("p", 1, 1)], {"p": history}, T0 + 1800, fast(min_samples=10))
    assert memory.rule == "memory" and memory.change.setting == "max_calls_per_worker"
    assert memory.change.old is None
    # a 10 % growth budget / 29 % growth over 9,000 calls ≈ 3,100 calls, rounded down to two digits
    assert memory.change.new == 3100
    numbers = dict(memory.evidence.numbers)
    assert round(numbers["rss_slope_mb_per_h"]) == 60
    assert {t.metric for t in memory.evidence.thresholds} == {"RSS growth %", "trend fit R²"}
    assert Suggestion.from_dict(memory.to_dict()) == memory  # history keeps it as JSON


def test_noisy_or_flat_memory_is_no_leak() -> None:
    rng = random.Random(7)
    noisy = [loaded(m, 0.5, 1, rss_bytes=(100 + rng.uniform(-30, 30)) * MB) for m in range(30)]
    flat = [loaded(m, 0.5, 1, rss_bytes=100 * MB) for m in range(30)]
    sawtooth = [loaded(m, 0.5, 1, rss_bytes=(100 + m % 5 * 6) * MB) for m in range(30)]  # recycled every 5 min
    for history in (noisy, flat, sawtooth):
        assert suggest([PluginView("p", 1, 1)], {"p": history}, T0 + 1800, fast(min_samples=10)) == ()
    growing = [loaded(m, 0.5, 1, rss_bytes=(100 + m) * MB) for m in range(30)]
    already = PluginView("p", 1, 1, max_calls_per_worker=1000)  # recycling more often than proposed: leave it
    assert suggest([already], {"p": growing}, T0 + 1800, fast(min_samples=10)) == ()


def test_repeated_payloads_propose_the_cache_unless_it_is_on() -> None:
    history = [loaded(m, 0.3, 1, repeats=120) for m in range(10)]  # 180 calls a minute, 120 repeats
    (cache,) = suggest([PluginView("p", 1, 1)], {"p": history}, T0 + 600, fast())
    assert cache.rule == "cache" and (cache.change.old, cache.change.new) == (None, 60.0)
    assert cache.evidence.thresholds[0].metric == "identical payload %"
    assert round(cache.evidence.thresholds[0].value) == 67 and cache.confidence == "medium"
    assert "payload alone" in cache.expected
    assert suggest([PluginView("p", 1, 1, cache_ttl_s=30)], {"p": history}, T0 + 600, fast()) == ()
    few = [loaded(m, 0.3, 1, repeats=20) for m in range(10)]
    assert suggest([PluginView("p", 1, 1)], {"p": few}, T0 + 600, fast()) == ()


def test_p99_near_the_timeout_proposes_a_longer_one() -> None:
    history = [sample(m, calls=50, p99_ms=9000.0, p95_ms=5000.0, errors=(("timeout", 2),), workers=1.0,
                      utilization=0.4, inflight=0.4) for m in range(10)]
    (timeout,) = suggest([PluginView("p", 1, 1, timeout_s=10)], {"p": history}, T0 + 600, fast())
    assert timeout.rule == "timeout" and timeout.change.setting == "timeout_s"
    assert (timeout.change.old, timeout.change.new) == (10, 18.0)  # p99 9 s × 2
    assert timeout.evidence.thresholds[0].limit == 8000 and "504" in timeout.expected
    assert dict(timeout.evidence.numbers)["timeouts"] == 20
    fast_calls = [sample(m, calls=50, p99_ms=2000.0, workers=1.0) for m in range(10)]
    assert suggest([PluginView("p", 1, 1, timeout_s=10)], {"p": fast_calls}, T0 + 600, fast()) == ()


def test_a_timeout_suggestion_holds_back_a_scale_down() -> None:
    idle_but_slow = [sample(m, calls=5, p99_ms=9500.0, workers=3.0, utilization=0.05, inflight=0.1)
                     for m in range(12)]
    found = suggest([PluginView("p", 3, 3, timeout_s=10)], {"p": idle_but_slow}, T0 + 720, fast())
    assert [s.rule for s in found] == ["timeout"]


def test_error_signatures_group_tracebacks_by_what_failed_where() -> None:
    log = [
        "starting", "Traceback (most recent call last):",
        '  File "/x/aiplugs/adapters/workers/harness.py", line 200, in call',
        "    result = await invoke(func, args)",
        '  File "/p/backend.py", line 7, in run',
        "    raise ValueError(f\"bad input: {payload.get('text')!r}\")",
        "ValueError: bad input: 'oops'",
        "Traceback (most recent call last):", '  File "/p/backend.py", line 7, in run',
        "ValueError: bad input: 'another one'",
        "Traceback (most recent call last):", '  File "/p/backend.py", line 3, in run', "KeyError: 'x'", "",
        "During handling of the above exception, another exception occurred:", "",
        "Traceback (most recent call last):", '  File "/p/backend.py", line 5, in run',
        "RuntimeError: failed after 42 tries at 0xdeadbeef",
        "ValueError: a line that is no traceback",
    ]
    assert error_signatures(log) == [
        ("ValueError: bad input: '…' (backend.py:7 in run)", 2),
        ("RuntimeError: failed after N tries at 0x… (backend.py:5 in run)", 1),
    ]


def test_verdicts_compare_the_windows_by_what_the_rule_promised() -> None:
    busy = stats([loaded(m, 1.5, 1) for m in range(5)]).to_dict()
    relieved = stats([loaded(m, 1.5, 2) for m in range(5)]).to_dict()
    assert verdict("scale-up", busy, relieved)[0] == "improved"
    assert verdict("scale-up", busy, busy)[0] == "no effect"
    failing = stats([loaded(m, 1.5, 2, errors=(("exception:ValueError", 100),)) for m in range(5)]).to_dict()
    assert verdict("scale-up", busy, failing)[0] == "worse"
    slower = stats([loaded(m, 1.5, 1, p95_ms=400.0) for m in range(5)]).to_dict()
    assert verdict("cache", busy, slower)[0] == "worse"
    quicker = stats([loaded(m, 1.5, 1, p50_ms=5.0) for m in range(5)]).to_dict()
    assert verdict("cache", busy, quicker)[0] == "improved"
    idle3 = stats([loaded(m, 0.1, 3) for m in range(5)]).to_dict()
    idle1 = stats([loaded(m, 0.1, 1) for m in range(5)]).to_dict()
    assert verdict("scale-down", idle3, idle1)[0] == "improved"
    nothing = stats([sample(m) for m in range(5)]).to_dict()
    assert verdict("scale-down", idle3, nothing) == ("no effect", "no calls since the change to compare")

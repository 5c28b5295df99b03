"""Did an applied suggestion do what it said? The window before it against the verification window after it.

Worse is judged the same way for every rule — more errors, or a slower p95 — because a change that breaks calls
is worse whatever it meant to fix. Improved is judged by what the rule promised: less waiting after a scale-up,
the same service with fewer workers after a scale-down, faster answers with a cache, fewer timeouts with a longer
timeout, less memory with recycling. Anything else is "no effect".
"""

from __future__ import annotations

from typing import Any, Literal, Mapping

__all__ = ["Verdict", "verdict"]

Verdict = Literal["improved", "no effect", "worse"]
SLOWER = 1.2  # p95 this much higher (and by 5 ms at least) is worse
FASTER = 0.9  # p95 / p50 this much lower is better


def verdict(rule: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[Verdict, str]:
    """``before`` / ``after``: ``Stats.to_dict()`` of the two windows; (verdict, why in a few words)."""
    if not after.get("calls"):
        return "no effect", "no calls since the change to compare"
    b_err, a_err = before.get("error_pct") or 0.0, after.get("error_pct") or 0.0
    if a_err >= b_err + 2 and a_err >= 1.5 * b_err:
        return "worse", f"error rate {b_err:g}% → {a_err:g}%"
    b95, a95 = before.get("p95_ms"), after.get("p95_ms")
    if b95 is not None and a95 is not None and a95 >= b95 * SLOWER and a95 - b95 >= 5:
        return "worse", f"p95 {b95:g} → {a95:g} ms"
    faster = b95 is not None and a95 is not None and a95 <= b95 * FASTER
    if rule == "scale-up":
        b_c, a_c = before.get("contended_pct") or 0.0, after.get("contended_pct") or 0.0
        if faster or a_c <= b_c - 10:
            return "improved", f"p95 {b95} → {a95} ms, contended {b_c:g}% → {a_c:g}%"
    elif rule == "scale-down":
        if (after.get("workers") or 0) < (before.get("workers") or 0):
            return "improved", f"workers {before.get('workers')} → {after.get('workers')} at the same p95"
    elif rule == "cache":
        b50, a50 = before.get("p50_ms"), after.get("p50_ms")
        if b50 is not None and a50 is not None and a50 <= b50 * FASTER:
            return "improved", f"p50 {b50:g} → {a50:g} ms"
    elif rule == "timeout":
        b_t = _share(before, "timeout")
        a_t = _share(after, "timeout")
        if b_t > 0 and a_t <= b_t / 2:
            return "improved", f"timeouts {b_t:.1f}% → {a_t:.1f}% of calls"
    elif rule == "memory":
        b_rss, a_rss = before.get("rss_bytes"), after.get("rss_bytes")
        if b_rss and a_rss and a_rss <= b_rss * 0.95:
            return "improved", f"RSS per worker {b_rss / 2**20:.0f} → {a_rss / 2**20:.0f} MiB"
    return "no effect", "no clear change in the rule's measure"


def _share(stats: Mapping[str, Any], kind: str) -> float:
    calls = stats.get("calls") or 0
    count = (stats.get("errors_by") or {}).get(kind, 0)
    return 100.0 * count / calls if calls else 0.0

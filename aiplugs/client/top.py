"""``aiplugs top``'s numbers: two answers of ``GET /api/top`` (cumulative counters) a moment apart become one row
per local plugin of rates over that moment, the way ``docker stats`` turns two readings into a CPU %.

Row keys: ``id``, ``workers`` (ready) and ``slots``, ``cpu_pct`` (100 = one core; the sum of the plugin's worker
trees), ``rss_bytes``, ``calls`` and ``rps``, ``p50_ms`` / ``p95_ms`` (of the calls that ended in the interval),
``errors`` and ``error_pct``, ``inflight`` (now), ``wait_ms`` (mean wait for a ready worker). None where the
interval had nothing to measure (no calls: no latency).
"""

from __future__ import annotations

from typing import Any, Mapping

from ..util.histogram import LATENCY_BOUNDS, quantile, sub_counts

__all__ = ["top_report", "top_rows"]


def _plugin_rows(answer: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {p["id"]: p for p in answer.get("plugins", [])}


def _cpu_seconds(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> float:
    """CPU seconds the plugin's worker trees used in between; a worker that is new (another pid) counts whole."""
    earlier = {(w["index"], w["pid"]): w.get("cpu_s") or 0.0 for w in (before or {}).get("workers", [])}
    used = 0.0
    for worker in after.get("workers", []):
        now = worker.get("cpu_s")
        if now is not None:
            used += max(now - earlier.get((worker["index"], worker["pid"]), 0.0), 0.0)
    return used


def _errors(plugin: Mapping[str, Any]) -> int:
    return sum((plugin.get("errors") or {}).values())


def top_rows(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A row per plugin of ``after``; rates need ``before`` (None: only the values of now)."""
    span = after["clock"] - before["clock"] if before is not None else 0.0
    earlier = _plugin_rows(before) if before is not None else {}
    bounds = after.get("bounds") or list(LATENCY_BOUNDS)
    rows = []
    for plugin_id, now in sorted(_plugin_rows(after).items()):
        then = earlier.get(plugin_id)
        workers = now.get("workers", [])
        row: dict[str, Any] = {
            "id": plugin_id, "workers": now.get("ready", 0), "slots": len(workers),
            "cpu_pct": None, "rss_bytes": now.get("rss_bytes"), "calls": None, "rps": None, "p50_ms": None,
            "p95_ms": None, "errors": None, "error_pct": None,
            "inflight": sum(w.get("inflight", 0) for w in workers), "wait_ms": None,
        }
        if span > 0:
            row["cpu_pct"] = round(100.0 * _cpu_seconds(then, now) / span, 1)
            reset = then is None or now.get("calls", 0) < then.get("calls", 0)  # a new pool: count from zero
            base: Mapping[str, Any] = {} if reset else then  # type: ignore[assignment]
            calls = now.get("calls", 0) - base.get("calls", 0)
            latency = sub_counts(now.get("latency") or (), base.get("latency") or ())
            waits = sub_counts(now.get("wait") or (), base.get("wait") or ())
            errors = _errors(now) - _errors(base)
            row.update(calls=calls, rps=round(calls / span, 2), errors=errors,
                       error_pct=round(100.0 * errors / calls, 1) if calls else None,
                       p50_ms=_ms(quantile(bounds, latency, 0.5)), p95_ms=_ms(quantile(bounds, latency, 0.95)))
            if sum(waits):
                row["wait_ms"] = _ms((now.get("wait_sum", 0.0) - base.get("wait_sum", 0.0)) / sum(waits))
        rows.append(row)
    return rows


def top_report(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> dict[str, Any]:
    """What ``aiplugs top --json`` prints: the rows, the interval they cover and when."""
    span = after["clock"] - before["clock"] if before is not None else 0.0
    return {"time": after.get("time"), "interval_s": round(span, 3), "plugins": top_rows(before, after)}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)

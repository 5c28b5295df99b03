"""Suggestions as text: one JSON shape (``GET /api/suggestions``, ``/history``) rendered the same way for
``aiplugs suggest`` and the notebook's plain-text view."""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

__all__ = ["format_entry", "format_history", "format_listing", "format_suggestion"]


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_suggestion(s: Mapping[str, Any], *, detail: bool = True) -> str:
    """Title line, then (``detail``) the evidence, the expected effect and the diff."""
    lines = [f"{s['id']}  [{s['confidence']} confidence]", f"  {s['title']}"]
    if not detail:
        return "\n".join(lines)
    ev = s["evidence"]
    lines.append(f"  evidence: {ev['samples']} samples over the last {_number(ev['window_s'])}s "
                 f"({_when(ev['since'])} → {_when(ev['until'])})")
    lines += [f"    {t['metric']} {_number(t['value'])} {t['op']} {_number(t['limit'])} "
              f"(in {t['over']} of {ev['samples']} samples)" for t in ev["thresholds"]]
    numbers = ev.get("numbers") or {}
    shown = {k: v for k, v in numbers.items() if v not in (None, {}, []) and k != "top_signatures"}
    if shown:
        lines.append("    " + ", ".join(f"{k}={_number(v)}" for k, v in sorted(shown.items())))
    for signature, count in numbers.get("top_signatures") or []:
        lines.append(f"    ×{count}  {signature}")
    lines.append(f"  expected: {s['expected']}")
    if s.get("diff"):
        lines += ["", *("  " + line for line in s["diff"].rstrip("\n").splitlines())]
    elif s.get("change") is None:
        lines.append("  (nothing to apply: look at the worker logs with `aiplugs logs " + s["plugin"] + "`)")
    return "\n".join(lines)


def format_listing(listing: Mapping[str, Any]) -> str:
    suggestions: Sequence[Mapping[str, Any]] = listing.get("suggestions") or []
    when = listing.get("evaluated_at")
    head = f"{len(suggestions)} suggestion{'s' if len(suggestions) != 1 else ''}" + \
        (f" (evaluated {_when(when)})" if when else " (not evaluated yet)")
    blocks = [head]
    blocks += [format_suggestion(s) for s in suggestions]
    scaling = listing.get("autoscaling") or {}
    if scaling:
        rows = [f"  {pid}: {info['count']} of {info['min']}-{info['max']} ({info['reason']})"
                + (f"; now {info['now']}" if info.get("now") else "") for pid, info in sorted(scaling.items())]
        blocks.append("autoscaled:\n" + "\n".join(rows))
    if suggestions:
        blocks.append("`aiplugs suggest apply ID` edits aiplugs.toml and applies; `reject ID` hides one.")
    return "\n\n".join(blocks)


def format_entry(e: Mapping[str, Any]) -> str:
    s = e["suggestion"]
    verdict = e.get("verdict") or "not verified yet"
    if e.get("verdict_reason"):
        verdict += f" ({e['verdict_reason']})"
    state = f"reverted {_when(e['reverted_at'])}" if e.get("reverted_at") else verdict
    line = f"#{e['id']}  {_when(e['applied_at'])}  {s['id']}  {s['title']}\n     {state}"
    if e.get("verdict") == "worse" and e.get("revertible"):
        line += f"\n     `aiplugs suggest revert {e['id']}` puts the old value back"
    return line


def format_history(entries: Sequence[Mapping[str, Any]]) -> str:
    if not entries:
        return "No suggestion was applied yet."
    return "\n".join(format_entry(e) for e in entries)

"""The Suggestions page, over the suggestion endpoints (called in-process, subrequest.py):

  GET  /api/suggestions                       the open suggestions: rule, evidence, the change and its diff
  POST /api/suggestions/{id}/apply|reject|revert
  GET  /api/suggestions/history               applied suggestions: diff, verdict, reverted or not

A daemon without them shows a page that says so. The answers are read tolerantly (a list, or the list under the
obvious key) and turned into plain rows here; applying, rejecting and reverting are the API's own actions.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from starlette.requests import Request
from starlette.responses import Response

from .core import Dashboard
from .forms import form, redirect
from .subrequest import available, call, listed

__all__ = ["diff_lines", "evidence_pairs", "suggestion_action", "suggestion_view", "suggestions_page"]

ACTIONS = ("apply", "reject", "revert")


def diff_lines(diff: Any) -> list[dict[str, str]]:
    """A unified diff as lines with their kind (``add``, ``del``, ``hunk``, ``ctx``) for colouring."""
    text = diff if isinstance(diff, str) else "\n".join(map(str, diff)) if isinstance(diff, list) else ""
    out = []
    for line in text.splitlines():
        kind = ("hunk" if line.startswith("@@") else "head" if line.startswith(("+++", "---"))
                else "add" if line.startswith("+") else "del" if line.startswith("-") else "ctx")
        out.append({"kind": kind, "text": line})
    return out


def _pairs(value: Any) -> list[tuple[str, str]]:
    """Anything as (name, value) pairs for a definition list."""
    if isinstance(value, dict):
        return [(str(k), v if isinstance(v, str) else _compact(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [("", v if isinstance(v, str) else _compact(v)) for v in value]
    return [("", str(value))] if value not in (None, "") else []


def _compact(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value, default=str, ensure_ascii=False)


def evidence_pairs(evidence: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The evidence of a suggestion as (what decided it: the window and each threshold crossed, the window's
    figures)."""
    if not isinstance(evidence, dict):
        return _pairs(evidence), []
    head = []
    if "window_s" in evidence:
        head.append(("window", f"{_compact(evidence['window_s'])} s, {evidence.get('samples', '?')} samples"))
    for t in evidence.get("thresholds") or ():
        if isinstance(t, dict):
            head.append(("threshold crossed", f"{t.get('metric')} {_compact(t.get('value'))} {t.get('op')} "
                                              f"{_compact(t.get('limit'))} (in {t.get('over')} samples)"))
    numbers = evidence.get("numbers")
    figures = _pairs({k: v for k, v in numbers.items() if v not in (None, {}, [])} if isinstance(numbers, dict)
                     else numbers)
    rest = {k: v for k, v in evidence.items() if k not in ("window_s", "samples", "since", "until", "thresholds",
                                                            "numbers")}
    return head + _pairs(rest), figures


def suggestion_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """A suggestion, or a history entry (``{"id": n, "suggestion": {...}, "diff": ..., "verdict": ...}``)."""
    inner = item.get("suggestion") if isinstance(item.get("suggestion"), dict) else item
    entry = inner is not item
    sid = str(inner.get("id") or "")
    reverted = bool(item.get("reverted_at"))
    state = "reverted" if reverted else item.get("state") or item.get("status") or ("applied" if entry else None)
    change = inner.get("change") if isinstance(inner.get("change"), dict) else None
    return {
        "id": sid, "entry_id": item.get("id") if entry else None, "plugin": inner.get("plugin"),
        "heading": inner.get("title") or inner.get("summary") or inner.get("rule") or sid,
        "rule": inner.get("rule"), "state": state, "confidence": inner.get("confidence"),
        "effect": inner.get("expected") or inner.get("expected_effect"),
        "evidence": evidence_pairs(inner.get("evidence"))[0], "figures": evidence_pairs(inner.get("evidence"))[1],
        "change": f"plugins.{change.get('plugin')}.{change.get('setting')}: {_compact(change.get('old'))} → "
                  f"{_compact(change.get('new'))}" if change else None,
        "diff": diff_lines(item.get("diff") if entry else inner.get("diff")),
        "verdict": item.get("verdict"), "verdict_reason": item.get("verdict_reason"),
        "revertible": bool(item.get("revertible", entry and not reverted and change is not None)),
        "when": item.get("applied_at") or inner.get("created_at"),
    }


async def suggestions_page(dash: Dashboard, request: Request) -> Response:
    data: dict[str, Any] = {"title": "Suggestions", "live": "apply. suggestion.",
                            "available": available(request, "GET", "/api/suggestions")}
    if data["available"]:
        listing, history = (await call(request, "GET", "/api/suggestions"),
                            await call(request, "GET", "/api/suggestions/history"))
        data["problem"] = None if listing.ok else listing.error()
        data["suggestions"] = [suggestion_view(s) for s in listed(listing.data, "suggestions", "items")]
        data["history"] = [suggestion_view(h) for h in listed(history.data, "history", "entries", "items")]
        # the file the diffs were made from: applying refuses a file changed since (what was shown is what lands)
        data["config_sha256"] = listing.data.get("config_sha256") if isinstance(listing.data, dict) else None
        data["can"] = {a: available(request, "POST", f"/api/suggestions/x/{a}") for a in ACTIONS}
    return dash.render(request, "suggestions.html", data)


async def suggestion_action(dash: Dashboard, request: Request) -> Response:
    """``POST /ui/suggestions/{id}/{apply|reject|revert}``: the API's own action, then the page again. Revert
    takes a suggestion id or a history entry's number, as the API does."""
    ref, action = request.path_params["suggestion_id"], request.path_params["action"]
    if action not in ACTIONS or "/" in ref or not available(request, "POST", f"/api/suggestions/{ref}/{action}"):
        return redirect(dash.flash, "/ui/suggestions", "error", f"this daemon cannot {action} suggestions")
    fields = await form(request)
    body = {"config_sha256": fields["config_sha256"]} if action == "apply" and fields.get("config_sha256") else {}
    answer = await call(request, "POST", f"/api/suggestions/{ref}/{action}", body=body)
    if not answer.ok:
        return redirect(dash.flash, "/ui/suggestions", "error", f"Could not {action} {ref}: {answer.error()}")
    done = {"apply": "Applied", "reject": "Rejected", "revert": "Reverted"}[action]
    return redirect(dash.flash, "/ui/suggestions", "ok", f"{done} suggestion {ref}.")

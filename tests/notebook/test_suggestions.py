"""Session.suggestions(): the view of standing suggestions with Apply / Reject buttons and the history with Revert,
against a stand-in client that answers as the daemon's API does (the API itself is tested end to end)."""

from __future__ import annotations

import sys
from typing import Any

from aiplugs.notebook import SuggestionsView

SUGGESTION = {
    "id": "scale-up:slow:1a2b3c", "rule": "scale-up", "plugin": "slow", "confidence": "high",
    "title": "scale slow up: 1 → 2 workers", "expected": "load per worker 1.00 → about 0.50",
    "change": {"plugin": "slow", "setting": "workers", "old": 1, "new": 2},
    "diff": "--- aiplugs.toml\n+++ aiplugs.toml\n@@ -1 +1 @@\n-workers = 1\n+workers = 2\n",
    "evidence": {"window_s": 300, "samples": 5, "since": 1.0, "until": 301.0, "numbers": {"calls": 900},
                 "thresholds": [{"metric": "utilization", "op": ">=", "limit": 0.8, "value": 0.97, "over": 5}]},
}
ERRORS = {**SUGGESTION, "id": "errors:slow:ffffff", "rule": "errors", "change": None, "diff": None,
          "title": "investigate slow's errors: 12% of 900 calls", "expected": "fix the top error",
          "evidence": {**SUGGESTION["evidence"], "numbers": {"top_signatures": [["ValueError: bad '…' (b.py:7 in run)",
                                                                                  90]]}}}


class Daemon:
    """Answers like DaemonClient; applying moves a suggestion into the history, reverting marks it."""

    def __init__(self) -> None:
        self.standing = [dict(SUGGESTION), dict(ERRORS)]
        self.history: list[dict[str, Any]] = []
        self.calls: list[tuple] = []

    def suggestions(self, evaluate: bool = False) -> dict[str, Any]:
        self.calls.append(("list", evaluate))
        return {"evaluated_at": 5.0, "config_sha256": "abc", "suggestions": list(self.standing),
                "autoscaling": {"elastic": {"min": 1, "max": 3, "count": 2, "reason": "1 → 2: load 2.00",
                                            "now": None}}}

    def suggestion_history(self) -> list[dict[str, Any]]:
        return list(self.history)

    def apply_suggestion(self, ref: str, sha: str | None = None) -> dict[str, Any]:
        self.calls.append(("apply", ref, sha))
        applied = next(s for s in self.standing if s["id"] == ref)
        self.standing.remove(applied)
        entry = {"id": len(self.history) + 1, "suggestion": applied, "applied_at": 10.0, "verdict": "worse",
                 "verdict_reason": "p95 80 → 400 ms", "reverted_at": None, "revertible": True}
        self.history.insert(0, entry)
        return {"entry": entry, "apply": {"ok": True, "failures": []}}

    def reject_suggestion(self, ref: str) -> dict[str, Any]:
        self.calls.append(("reject", ref))
        self.standing = [s for s in self.standing if s["id"] != ref]
        return {"rejected": ref, "hidden_for_s": 60.0}

    def revert_suggestion(self, ref: str) -> dict[str, Any]:
        self.calls.append(("revert", ref))
        entry = next(e for e in self.history if str(e["id"]) == ref)
        entry.update(reverted_at=20.0, revertible=False)
        return {"reverted": entry["id"]}


def test_html_and_text_show_evidence_diff_signatures_and_autoscaling() -> None:
    view = SuggestionsView(Daemon())
    html = view._repr_html_()
    assert "scale slow up: 1 → 2 workers" in html and "+workers = 2" in html and "0.97" in html
    assert "ValueError: bad" in html and "nothing to apply" in html
    assert "1 → 2: load 2.00" in html and "No suggestion applied yet" in html
    text = repr(view)
    assert "scale-up:slow:1a2b3c  [high confidence]" in text and "autoscaled:" in text


def test_apply_button_edits_through_the_daemon_and_the_history_offers_revert() -> None:
    daemon = Daemon()
    view = SuggestionsView(daemon)
    box = view.widget()
    buttons = [w for row in box.children if hasattr(row, "children") for part in row.children
               if hasattr(part, "children") for w in part.children]
    assert [b.description for b in buttons] == ["Apply", "Reject", "Reject"]  # nothing to apply for errors
    buttons[0].click()
    assert ("apply", SUGGESTION["id"], "abc") in daemon.calls  # with the sha256 of the file the diff was made for
    assert "done" in view.output.value
    assert [s["id"] for s in view.suggestions] == [ERRORS["id"]]  # redrawn in place
    revert = [w for w in box.children if getattr(w, "description", "").startswith("Revert")]
    assert [r.description for r in revert] == ["Revert #1"]
    assert "worse" in view._repr_html_() and "p95 80 → 400 ms" in view._repr_html_()
    revert[0].click()
    assert ("revert", "1") in daemon.calls and "reverted" in view._repr_html_()


def test_a_refusal_shows_under_the_view() -> None:
    daemon = Daemon()

    def refuse(ref: str, sha: str | None = None) -> dict[str, Any]:
        raise RuntimeError("aiplugs.toml changed since the diff was shown")

    daemon.apply_suggestion = refuse  # type: ignore[method-assign]
    view = SuggestionsView(daemon)
    view.widget()
    view._act(view.apply, SUGGESTION["id"])
    assert "changed since the diff was shown" in view.output.value


def test_the_mimebundle_carries_the_widget_and_a_fallback() -> None:
    bundle = SuggestionsView(Daemon())._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "text/html" in bundle


def test_ipywidgets_loads_only_when_drawn() -> None:
    import subprocess

    code = ("import sys; from aiplugs.notebook import Session, SuggestionsView; "
            "print('ipywidgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"

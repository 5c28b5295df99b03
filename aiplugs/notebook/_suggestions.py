"""``Session.suggestions()``: the daemon's standing suggestions — evidence, expected effect, the diff of aiplugs.toml
— with an Apply and a Reject button each, the autoscaled plugins, and the history of applied ones (verdicts,
Revert buttons). Without ipywidgets (or outside a notebook) it is a plain HTML and text view; ipywidgets is
imported only when the buttons are drawn.
"""

from __future__ import annotations

from typing import Any

from ..client.suggestions import format_history, format_listing
from ._html import STATE_COLORS, badge, esc, table

__all__ = ["SuggestionsView"]

_VERDICT_STATES = {"improved": "ok", "worse": "error", "no effect": "disabled"}


class SuggestionsView:
    """``client``: the daemon's client; ``listing``/``history``: its answers, as last fetched (``refresh()``)."""

    def __init__(self, client: Any, listing: dict[str, Any] | None = None,
                 history: list[dict[str, Any]] | None = None) -> None:
        self.client = client
        self.listing = listing if listing is not None else client.suggestions()
        self.history = history if history is not None else client.suggestion_history()
        self._box: Any = None  # the widget, once drawn: refreshed in place after a click
        self.last_result: dict[str, Any] | None = None

    @property
    def suggestions(self) -> list[dict[str, Any]]:
        return list(self.listing.get("suggestions") or [])

    def refresh(self, evaluate: bool = False) -> SuggestionsView:
        self.listing = self.client.suggestions(evaluate=evaluate)
        self.history = self.client.suggestion_history()
        if self._box is not None:
            self._box.children = self._children()
        return self

    # ---- acting ----------------------------------------------------------------------------------------------

    def apply(self, suggestion_id: str) -> dict[str, Any]:
        """Edits aiplugs.toml as shown (refused if the file changed since this view was fetched) and applies."""
        self.last_result = self.client.apply_suggestion(suggestion_id, self.listing.get("config_sha256"))
        self.refresh()
        return self.last_result

    def reject(self, suggestion_id: str) -> dict[str, Any]:
        self.last_result = self.client.reject_suggestion(suggestion_id)
        self.refresh()
        return self.last_result

    def revert(self, ref: str | int) -> dict[str, Any]:
        self.last_result = self.client.revert_suggestion(str(ref))
        self.refresh()
        return self.last_result

    # ---- showing ---------------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return format_listing(self.listing) + "\n\nhistory:\n" + format_history(self.history)

    def _repr_html_(self) -> str:
        parts = [_suggestion_html(s) for s in self.suggestions] or ["<p>No suggestions.</p>"]
        return "".join(parts) + _scaling_html(self.listing) + _history_html(self.history)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """HTML and text always; with ipywidgets the live view with buttons (Jupyter picks the richest)."""
        bundle: dict[str, Any] = {"text/plain": repr(self), "text/html": self._repr_html_()}
        try:
            widget = self.widget()
        except ImportError:
            return bundle
        shown = widget._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle.update({k: v for k, v in shown.items() if k != "text/plain"})
        return bundle

    def widget(self) -> Any:
        """An ipywidgets box: per suggestion its HTML with Apply and Reject, then the history with Revert."""
        import ipywidgets as widgets

        if self._box is None:
            self._box = widgets.VBox(self._children())
        return self._box

    def _children(self) -> list[Any]:
        import ipywidgets as widgets

        self.output = getattr(self, "output", None) or widgets.HTML()
        rows: list[Any] = []
        for s in self.suggestions:
            buttons = []
            if s.get("diff"):
                apply = widgets.Button(description="Apply", button_style="primary", tooltip=f"apply {s['id']}")
                apply.on_click(lambda _b, sid=s["id"]: self._act(self.apply, sid))
                buttons.append(apply)
            reject = widgets.Button(description="Reject", tooltip=f"hide {s['id']}")
            reject.on_click(lambda _b, sid=s["id"]: self._act(self.reject, sid))
            buttons.append(reject)
            rows.append(widgets.VBox([widgets.HTML(_suggestion_html(s)), widgets.HBox(buttons)]))
        if not rows:
            rows.append(widgets.HTML("<p>No suggestions.</p>"))
        rows.append(widgets.HTML(_scaling_html(self.listing)))
        rows.append(widgets.HTML(_history_html(self.history)))
        for entry in self.history:
            if entry.get("revertible"):
                revert = widgets.Button(description=f"Revert #{entry['id']}", tooltip=entry["suggestion"]["title"])
                revert.on_click(lambda _b, ref=entry["id"]: self._act(self.revert, ref))
                rows.append(revert)
        rows.append(self.output)
        return rows

    def _act(self, action: Any, ref: Any) -> None:
        """A click: the outcome (or the daemon's refusal) shows below the view instead of raising into nowhere."""
        try:
            action(ref)
            self.output.value = f"<p>{badge('ok')} {esc(action.__name__)} {esc(ref)} done</p>"
        except Exception as e:  # noqa: BLE001 - shown to the person who clicked
            self.output.value = f"<p>{badge('error')} {esc(e)}</p>"


def _suggestion_html(s: dict[str, Any]) -> str:
    ev = s["evidence"]
    rows = [(t["metric"], f"{t['value']:g} {t['op']} {t['limit']:g}", f"{t['over']} of {ev['samples']}")
            for t in ev["thresholds"]]
    signatures = "".join(f"<li>×{esc(n)} <code>{esc(sig)}</code></li>"
                         for sig, n in (ev.get("numbers") or {}).get("top_signatures") or [])
    diff = f"<pre>{esc(s['diff'])}</pre>" if s.get("diff") else "<p><i>nothing to apply: investigate</i></p>"
    return (f"<div style='margin:6px 0'><b>{esc(s['title'])}</b> <code>{esc(s['id'])}</code> "
            f"({esc(s['confidence'])} confidence)<br>"
            f"<small>{esc(ev['samples'])} samples over {esc(ev['window_s'])}s</small>"
            + table(("threshold crossed", "observed", "samples"), rows)
            + (f"<ul>{signatures}</ul>" if signatures else "")
            + f"<p>expected: {esc(s['expected'])}</p>{diff}</div>")


def _scaling_html(listing: dict[str, Any]) -> str:
    scaling = listing.get("autoscaling") or {}
    if not scaling:
        return ""
    rows = [(pid, f"{i['count']} of {i['min']}-{i['max']}", i["reason"], i.get("now") or "")
            for pid, i in sorted(scaling.items())]
    return table(("plugin", "workers", "last change", "now"), rows, caption="autoscaled")


def _history_html(history: list[dict[str, Any]]) -> str:
    rows = []
    for e in history:
        verdict = e.get("verdict") or "not verified yet"
        state = "reverted" if e.get("reverted_at") else verdict
        color = STATE_COLORS.get(_VERDICT_STATES.get(state, "starting"), "#24292f")
        rows.append((e["id"], e["suggestion"]["id"], e["suggestion"]["title"],
                     f'<span style="color:{color};font-weight:600">{esc(state)}</span>', e.get("verdict_reason") or ""))
    if not rows:
        return "<p>No suggestion applied yet.</p>"
    return table(("#", "suggestion", "title", "verdict", "why"), rows, raw=(3,), caption="history")

"""The live dashboard: an ipywidgets view of one session's daemon, updated from ``/api/events``.

A background thread (:class:`~aiplugs.notebook._follow.EventsFollower`) holds one events stream open: each event
lands in the log, moves a model's download bar, and (debounced) re-reads ``/api/status`` for the tables. Buttons
run their call in a thread too, so the kernel stays responsive. Only ``Session.dashboard()`` imports this module
(ipywidgets); the dashboard knows its session only as a :class:`DashboardSource`, so imports go one way
(session → dashboard).
"""

from __future__ import annotations

import collections
import html
import threading
import time
from typing import Any, Callable, Iterable, Protocol

import ipywidgets as widgets

from ..events import Event
from ._follow import EventsFollower, EventsSource
from ._html import badge
from .results import ApplyView, ModelsView, StatusView

__all__ = ["Dashboard", "DashboardSource"]

REFRESH_ON = ("apply.", "model.ready", "model.failed", "worker.", "proxy.", "router.", "plugin.", "call.")
PLUGIN_COLUMNS = (("id", "150px"), ("state", "90px"), ("workers", "70px"), ("restarts", "70px"),
                  ("requests", "70px"), ("errors", "60px"), ("p50 ms", "70px"))


def _cell(width: str, value: str = "") -> widgets.HTML:
    return widgets.HTML(value, layout=widgets.Layout(width=width))


class PluginRow(widgets.HBox):
    def __init__(self, plugin_id: str, on_restart: Callable[[str], None]) -> None:
        self.plugin_id = plugin_id
        self.cells = {name: _cell(width) for name, width in PLUGIN_COLUMNS}
        self.cells["id"].value = f"<b>{html.escape(plugin_id)}</b>"
        self.restart_button = widgets.Button(description="restart", icon="refresh",
                                             layout=widgets.Layout(width="90px"),
                                             tooltip=f"restart the workers of {plugin_id}")
        self.restart_button.on_click(lambda _: on_restart(plugin_id))
        super().__init__([*self.cells.values(), self.restart_button])

    def update(self, row: dict[str, Any]) -> None:
        local = row.get("mode") == "local"
        self.cells["state"].value = badge(row.get("state"))
        self.cells["workers"].value = f"{row.get('workers_ready', 0)}/{row.get('workers_desired', 0)}" if local else "-"
        self.cells["restarts"].value = str(row.get("restarts", 0))
        self.cells["requests"].value = str(row.get("requests", 0) or 0)
        self.cells["errors"].value = str(row.get("errors", 0) or 0)
        p50 = row.get("p50_ms")
        self.cells["p50 ms"].value = "-" if p50 is None else f"{p50:.1f}"
        self.restart_button.disabled = not local or row.get("state") == "disabled"


class ModelRow(widgets.HBox):
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.name = _cell("260px", html.escape(filename))
        self.state = _cell("100px")
        self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="200px"))
        self.bar.layout.visibility = "hidden"
        self.size = _cell("120px")
        super().__init__([self.name, self.state, self.bar, self.size])

    def update(self, row: dict[str, Any]) -> None:
        self.state.value = badge(row.get("state"))
        self.size.value = "-" if row.get("size") is None else f"{row['size']:,} B"
        if row.get("state") != "downloading":
            self.bar.layout.visibility = "hidden"

    def progress(self, done: int, total: int | None) -> None:
        self.state.value = badge("downloading")
        self.bar.layout.visibility = "visible"
        if total:
            self.bar.value = min(1.0, done / total)
        self.size.value = f"{done:,} / {total:,} B" if total else f"{done:,} B"


class DashboardSource(EventsSource, Protocol):
    """What the dashboard uses of a :class:`~aiplugs.notebook.Session`."""

    def apply(self, auto_approve: bool = True, *, progress: bool = True) -> ApplyView | None: ...

    def pull_models(self, keys: Iterable[str] = (), *, progress: bool = True) -> ModelsView: ...

    def restart(self, plugin_id: str) -> dict[str, Any]: ...


class Dashboard(widgets.VBox):
    """``Session.dashboard()`` returns one, already started; ``.stop()`` ends its background thread."""

    def __init__(self, session: DashboardSource, *, log_lines: int = 200) -> None:
        self.session = session
        self.header = widgets.HTML()
        self.message = widgets.HTML()
        self.apply_button = widgets.Button(description="apply", icon="play", button_style="primary")
        self.pull_button = widgets.Button(description="pull models", icon="download")
        self.refresh_button = widgets.Button(description="refresh", icon="refresh")
        self.apply_button.on_click(lambda _: self.run_action("apply", self._apply))
        self.pull_button.on_click(lambda _: self.run_action("pull models", self._pull))
        self.refresh_button.on_click(lambda _: self.refresh())
        self.plugin_rows: dict[str, PluginRow] = {}
        self.model_rows: dict[str, ModelRow] = {}
        self.plugins_box = widgets.VBox()
        self.models_box = widgets.VBox()
        self.event_log = widgets.HTML(layout=widgets.Layout(height="180px", overflow="auto",
                                                      border="1px solid #d0d7de", padding="2px 6px"))
        self.status: StatusView | None = None
        self.events_seen = 0
        self._lines: collections.deque[str] = collections.deque(maxlen=log_lines)
        self._lock = threading.RLock()
        self._follower = EventsFollower(session, on_event=self.handle, refresh=self.refresh,
                                        show_status=self.update_status, note=self._append)
        heading = "".join(f'<span style="display:inline-block;width:{w}"><b>{n}</b></span>' for n, w in PLUGIN_COLUMNS)
        super().__init__([
            self.header,
            widgets.HBox([self.apply_button, self.pull_button, self.refresh_button]),
            self.message,
            widgets.HTML("<b>plugins</b><br>" + heading), self.plugins_box,
            widgets.HTML("<b>models</b>"), self.models_box,
            widgets.HTML("<b>events</b>"), self.event_log,
        ])
        self.refresh()

    # ---- background events ---------------------------------------------------------------------------------

    def start(self) -> Dashboard:
        self._follower.start()
        return self

    def stop(self) -> None:
        if not hasattr(self, "_follower"):  # ipywidgets calls close() from __del__, even on a failed __init__
            return
        self._follower.stop()

    def close(self) -> None:
        self.stop()
        super().close()

    @property
    def following(self) -> bool:
        """True while the events stream of a running daemon is open."""
        return self._follower.following

    def handle(self, event: Event) -> None:
        """Applies one daemon event: the log, a download bar, and (for state changes) a status refresh soon."""
        data = dict(event.data)
        self.events_seen += 1
        detail = ", ".join(f"{k}={v}" for k, v in data.items() if k not in ("changes",))[:160]
        stamp = time.strftime("%H:%M:%S", time.localtime(event.ts or time.time()))
        self._append(f"{stamp} <b>{html.escape(event.type)}</b> {html.escape(detail)}", escaped=True)
        if event.type in ("model.downloading", "model.progress") and data.get("filename"):
            with self._lock:
                row = self._model_row(data["filename"])
                row.progress(int(data.get("bytes") or 0), data.get("total"))
        if event.type.startswith(REFRESH_ON):
            self._follower.refresh_soon()

    # ---- status ----------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-reads the status (one HTTP request) and redraws the tables."""
        try:
            status = self.session.status()
        except Exception as e:
            self.message.value = f'<span style="color:#cf222e">status failed: {html.escape(str(e))}</span>'
            return
        self.update_status(status)

    def update_status(self, status: StatusView) -> None:
        with self._lock:
            self.status = status
            if not status.running:
                self.header.value = (f"<b>aiplugs</b> {badge('stopped')} — no daemon for "
                                     f"<code>{html.escape(str(status.state_dir))}</code>")
                for row in self.plugin_rows.values():
                    row.cells["state"].value = badge("stopped")
                return
            api, proxy = status.api, status.proxy
            self.header.value = (
                f"<b>aiplugs</b> {badge('healthy' if status.healthy else 'degraded')} · daemon pid "
                f"{status['daemon'].get('pid')} · router {badge('ready' if api else 'stopped')} "
                f"<code>{_fmt(api)}</code> · proxy {badge('ready' if proxy else 'stopped')} <code>{_fmt(proxy)}</code>")
            for row in status.plugins:
                plugin_row = self.plugin_rows.get(row["id"])
                if plugin_row is None:
                    plugin_row = self.plugin_rows[row["id"]] = PluginRow(row["id"], self._restart_clicked)
                    self.plugins_box.children = [*self.plugins_box.children, plugin_row]
                plugin_row.update(row)
            for row in status.models:
                self._model_row(row["filename"]).update(row)

    def _model_row(self, filename: str) -> ModelRow:
        row = self.model_rows.get(filename)
        if row is None:
            row = self.model_rows[filename] = ModelRow(filename)
            self.models_box.children = [*self.models_box.children, row]
        return row

    # ---- buttons ---------------------------------------------------------------------------------------------

    def run_action(self, label: str, action: Callable[[], str]) -> threading.Thread:
        """Runs a button's call in a thread; its outcome goes to the message line and the log."""

        def run() -> None:
            self.message.value = f"{html.escape(label)}…"
            try:
                text = action()
                self.message.value = html.escape(text)
            except Exception as e:
                text = f"{label} failed: {e}"
                self.message.value = f'<span style="color:#cf222e">{html.escape(text)}</span>'
            self._append(html.escape(text), escaped=True)
            self._follower.wake()  # a daemon may have just started
            self.refresh()

        thread = threading.Thread(target=run, daemon=True, name=f"aiplugs-{label}")
        thread.start()
        return thread

    def _apply(self) -> str:
        view = self.session.apply(progress=False)
        return view._headline() if view is not None else "apply cancelled"

    def _pull(self) -> str:
        models = self.session.pull_models(progress=False)
        listed = ", ".join(f"{m['filename']} {m['state']}" for m in models)
        return f"models: {listed or 'none declared'}"

    def _restart_clicked(self, plugin_id: str) -> None:
        self.run_action(f"restart {plugin_id}", lambda: f"restarted {self.session.restart(plugin_id)['plugin']}")

    # ---- log -------------------------------------------------------------------------------------------------

    def _append(self, line: str, escaped: bool = False) -> None:
        with self._lock:
            self._lines.appendleft(line if escaped else html.escape(line))  # newest first: no scrolling needed
            self.event_log.value = "<br>".join(self._lines)


def _fmt(address: tuple[str, int] | None) -> str:
    return f"{address[0]}:{address[1]}" if address else "-"

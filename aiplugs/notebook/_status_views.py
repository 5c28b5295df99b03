"""Views of the running system: the daemon's status report and its tables (plugins, models, verify results).

With no daemon running, ``StatusView.running`` is False and the tables come from the declaration instead (see
``Session.plugins``); the views themselves only show the rows they are given.
"""

from __future__ import annotations

import time
from typing import Any, Iterator, Mapping, Sequence

from ._html import badge, esc, records_frame, table

__all__ = ["ModelsView", "PluginsView", "StatusView", "TableView", "VerifyView"]


class TableView:
    """Rows of plain dicts shown as one table; iterate it, index it by position or by ``id``/``filename``."""

    columns: Sequence[str] = ()
    key = "id"
    title = ""

    def __init__(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.rows = [dict(r) for r in rows]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, item: int | str) -> dict[str, Any]:
        if isinstance(item, int):
            return self.rows[item]
        for row in self.rows:
            if row.get(self.key) == item:
                return row
        raise KeyError(item)

    def ids(self) -> list[str]:
        return [r.get(self.key) for r in self.rows]

    def to_dict(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows]

    def to_pandas(self):
        return records_frame(self.rows)

    def cells(self, row: Mapping[str, Any]) -> list[Any]:
        return [row.get(c) for c in self.columns]

    def __repr__(self) -> str:
        grid = [list(self.columns)] + [["" if v is None else str(v) for v in self.cells(r)] for r in self.rows]
        widths = [max(len(row[i]) for row in grid) for i in range(len(self.columns))]
        return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in grid)

    def _repr_html_(self) -> str:
        state = list(self.columns).index("state") if "state" in self.columns else -1
        rows = []
        for row in self.rows:
            cells = self.cells(row)
            if state >= 0:
                cells[state] = badge(cells[state])
            rows.append(cells)
        return table(self.columns, rows, raw=[state] if state >= 0 else [], caption=self.title or None)


class PluginsView(TableView):
    columns = ("id", "mode", "state", "workers", "restarts", "requests", "errors", "p50_ms", "last_error")
    title = "plugins"

    def cells(self, row: Mapping[str, Any]) -> list[Any]:
        workers = f"{row.get('workers_ready', 0)}/{row.get('workers_desired', 0)}" if row.get("mode") == "local" else "-"
        error = (row.get("last_error") or "").splitlines()[0][:80] if row.get("last_error") else ""
        return [row.get("id"), row.get("mode") or "-", row.get("state"), workers, row.get("restarts", 0),
                row.get("requests", 0), row.get("errors", 0), row.get("p50_ms"), error]


class ModelsView(TableView):
    columns = ("filename", "state", "size", "used_by", "lazy", "path")
    key = "filename"
    title = "models"

    def cells(self, row: Mapping[str, Any]) -> list[Any]:
        cells = super().cells(row)
        cells[3] = ", ".join(row.get("used_by") or [])
        return cells


class VerifyView(TableView):
    columns = ("filename", "state", "size", "drift", "expected_sha256", "actual_sha256")
    key = "filename"
    title = "verify"

    @property
    def ok(self) -> bool:
        return all(r.get("state") == "ready" for r in self.rows)


class StatusView:
    """The daemon's status report (``/api/status``), or an empty one when no daemon runs (``running`` False)."""

    def __init__(self, data: Mapping[str, Any] | None, state_dir: Any = None) -> None:
        self.data = dict(data) if data else None
        self.state_dir = state_dir

    @property
    def running(self) -> bool:
        return self.data is not None and self.data.get("daemon") is not None

    @property
    def healthy(self) -> bool:
        return bool(self.data and self.data.get("healthy"))

    def __getitem__(self, key: str) -> Any:
        if self.data is None:
            raise KeyError(key)
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default) if self.data else default

    @property
    def plugins(self) -> PluginsView:
        return PluginsView(self.get("plugins") or [])

    @property
    def models(self) -> ModelsView:
        return ModelsView(self.get("models") or [])

    @property
    def api(self) -> tuple[str, int] | None:
        return _address(self.get("api"))

    @property
    def proxy(self) -> tuple[str, int] | None:
        return _address(self.get("proxy"))

    def to_dict(self) -> dict[str, Any]:
        if not self.running:
            return {"format_version": "1", "healthy": False, "daemon": None, "state_dir": str(self.state_dir)}
        return dict(self.data)

    def to_pandas(self):
        """The plugins table (``.models.to_pandas()`` gives the models)."""
        return self.plugins.to_pandas()

    def __repr__(self) -> str:
        if not self.running:
            return f"No aiplugs daemon runs for {self.state_dir}."
        from ..runtime.status import format_status

        return format_status(self.data)

    def _repr_html_(self) -> str:
        if not self.running:
            return f"<p>No aiplugs daemon runs for <code>{esc(self.state_dir)}</code>.</p>"
        d = self.data["daemon"]
        head = table(["", ""], [
            ("daemon", f"pid {esc(d.get('pid'))}, up {esc(_ago(d.get('started_at')))}, "
                       + badge("healthy" if self.healthy else "degraded")),
            ("api", esc(_fmt(self.api))), ("proxy", esc(_fmt(self.proxy))),
            ("ca cert", esc(self.get("ca_cert") or "-")),
        ], raw=[1])
        parts = [head, self.plugins._repr_html_()]
        if self.models.rows:
            parts.append(self.models._repr_html_())
        bad = [c for c in self.get("conditions") or [] if not c.get("ok")]
        if bad:
            parts.append(table(["condition", "reason"], [(c["type"], c["reason"]) for c in bad],
                               caption="conditions not met"))
        return f'<div class="aiplugs-status">{"".join(parts)}</div>'


def _address(endpoint: Mapping[str, Any] | None) -> tuple[str, int] | None:
    return (endpoint["host"], int(endpoint["port"])) if endpoint else None


def _fmt(address: tuple[str, int] | None) -> str:
    return f"{address[0]}:{address[1]}" if address else "-"


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    seconds = int(time.time() - ts)
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m" if seconds < 7200 else f"{seconds // 3600}h"

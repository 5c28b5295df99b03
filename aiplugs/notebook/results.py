"""Rich result objects: what ``Session`` methods return.

Each wraps plain data, shows itself as an HTML table in Jupyter (``_repr_html_``) and as text elsewhere, converts
back to plain data with ``to_dict()``, and to a DataFrame with ``to_pandas()`` when pandas is installed.
"""

from __future__ import annotations

import time
from typing import Any, Iterator, Mapping, Sequence

from ..plan import ActionKind, Plan
from ._html import badge, esc, records_frame, table

__all__ = ["ApplyView", "ConfigView", "ModelsView", "PlanView", "PluginsView", "StatusView", "TableView"]

_KIND_STYLE = {
    ActionKind.CREATE: "color:#1a7f37", ActionKind.UPDATE: "color:#9a6700",
    ActionKind.REPLACE: "color:#8250df", ActionKind.DELETE: "color:#cf222e", ActionKind.NOOP: "color:#6e7781",
}


class PlanView:
    """A :class:`~aiplugs.plan.Plan` with coloured terraform-style lines. Attribute access reaches the plan."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def __getattr__(self, name: str) -> Any:  # changes, changes_present, counts(), summary(), to_json(), ...
        return getattr(self.plan, name)

    def to_dict(self) -> dict[str, Any]:
        return self.plan.to_dict()

    def to_pandas(self):
        return records_frame([a.to_dict() for a in self.plan.actions], ["kind", "type", "name", "unit", "reason"])

    def __str__(self) -> str:
        return self.plan.to_text()

    def __repr__(self) -> str:
        return self.plan.to_text()

    def _repr_html_(self, *, show_noop: bool = False) -> str:
        actions = self.plan.actions if show_noop else self.plan.changes
        rows = [(a.kind.symbol, a.unit, a.reason) for a in actions]
        styles = [_KIND_STYLE[a.kind] for a in actions]
        body = table(["", "unit", "reason"], rows, row_styles=styles) if rows else ""
        return f'<div class="aiplugs-plan">{body}<p><b>{esc(self.plan.summary())}</b></p></div>'


class ConfigView:
    """The effective configuration: every leaf with its value and where it came from (file:line:col, env, default).

    ``view["proxy.port_range"]`` is the value, ``view.origin("proxy.port_range")`` its origin."""

    def __init__(self, config: Any) -> None:  # aiplugs.declaration.config.Config
        self.config = config
        self.rows: list[tuple[str, Any, str]] = config.effective()

    @property
    def path(self):
        return self.config.path

    def __getitem__(self, dotted: str) -> Any:
        for key, value, _ in self.rows:
            if key == dotted:
                return value
        prefix = dotted + "."
        found = {key[len(prefix):]: value for key, value, _ in self.rows if key.startswith(prefix)}
        if not found:
            raise KeyError(dotted)
        return found

    def origin(self, dotted: str) -> str:
        return self.config.origin(dotted)

    def to_dict(self) -> dict[str, Any]:
        return {"config": str(self.config.path),
                "values": [{"key": k, "value": v, "origin": o} for k, v, o in self.rows]}

    def to_pandas(self):
        return records_frame(self.to_dict()["values"], ["key", "value", "origin"])

    def __repr__(self) -> str:
        width = max((len(k) for k, _, _ in self.rows), default=10)
        return "\n".join(f"{k:<{width}}  {v!r:<30}  {o}" for k, v, o in self.rows)

    def _repr_html_(self) -> str:
        styles = ["" if o == "default" else "font-weight:600" for _, _, o in self.rows]
        return table(["key", "value", "origin"], [(k, repr(v), o) for k, v, o in self.rows],
                     row_styles=styles, caption=str(self.config.path))


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


class ApplyView:
    """What ``Session.apply`` did: the plan, the daemon's converge result (None when nothing changed), the status."""

    def __init__(self, outcome: Any) -> None:  # aiplugs.client.lifecycle.ApplyOutcome
        self.outcome = outcome
        self.plan = PlanView(outcome.plan)
        self.result = outcome.result
        self.status = StatusView(outcome.status)

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    @property
    def failures(self) -> list[dict[str, Any]]:
        return list((self.result or {}).get("failures") or [])

    def to_dict(self) -> dict[str, Any]:
        return self.outcome.to_dict()

    def to_pandas(self):
        return self.plan.to_pandas()

    def _headline(self) -> str:
        if self.result is None:
            return "No changes: the running system already matches the declaration."
        if self.result.get("ok"):
            return f"Apply complete ({self.result.get('seconds', 0):.1f}s)."
        return "Apply failed: " + "; ".join(f"{f['unit']}: {f['error']}" for f in self.failures)

    def __repr__(self) -> str:
        return f"{self.plan.plan.to_text()}\n\n{self._headline()}\n\n{self.status!r}"

    def _repr_html_(self) -> str:
        color = "#1a7f37" if self.ok else "#cf222e"
        return (f'<div class="aiplugs-apply">{self.plan._repr_html_()}'
                f'<p style="color:{color}"><b>{esc(self._headline())}</b></p>{self.status._repr_html_()}</div>')


def _address(endpoint: Mapping[str, Any] | None) -> tuple[str, int] | None:
    return (endpoint["host"], int(endpoint["port"])) if endpoint else None


def _fmt(address: tuple[str, int] | None) -> str:
    return f"{address[0]}:{address[1]}" if address else "-"


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    seconds = int(time.time() - ts)
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m" if seconds < 7200 else f"{seconds // 3600}h"

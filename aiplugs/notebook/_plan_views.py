"""Views of the declaration and of converging to it: the effective configuration, the plan, what apply did."""

from __future__ import annotations

from typing import Any

from ..plan import ActionKind, Plan
from ._html import esc, records_frame, table
from ._status_views import StatusView

__all__ = ["ApplyView", "ConfigView", "PlanView"]

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

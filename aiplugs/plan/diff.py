"""Plan: the pure diff of a DesiredState against an observed ActualState. No I/O.

Every action has a kind, a unit and a human reason; a plan prints terraform-style and as versioned JSON::

    + worker word-count#1  (scale 1→2)
    Plan: 1 to add, 0 to change, 0 to destroy.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Literal

from .desired import DesiredState, EndpointSpec

__all__ = [
    "Action",
    "ActionKind",
    "ActualState",
    "ObservedEndpoint",
    "ObservedModel",
    "ObservedRelay",
    "ObservedWorker",
    "Plan",
    "converged",
    "diff",
]

PLAN_FORMAT_VERSION = "1"
UnitType = Literal["api", "proxy", "rules", "model", "worker", "relay"]


class ActionKind(str, enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "noop"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "noop": " "}[self.value]


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    type: UnitType
    name: str  # "" for api/proxy/rules; filename for models; "<plugin>#<n>" for workers; plugin id for relays
    reason: str

    @property
    def unit(self) -> str:
        return f"{self.type} {self.name}" if self.name else self.type

    @property
    def plugin_id(self) -> str:
        return self.name.partition("#")[0]

    @property
    def index(self) -> int:
        return int(self.name.partition("#")[2] or 0)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "type": self.type, "name": self.name, "unit": self.unit,
                "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.kind.symbol} {self.unit}  ({self.reason})"


@dataclass(frozen=True)
class ObservedEndpoint:
    host: str
    port: int


@dataclass(frozen=True)
class ObservedModel:
    filename: str
    sha256: str | None  # the hash recorded when it was last verified
    state: Literal["verified", "unverified", "changed", "missing"]


@dataclass(frozen=True)
class ObservedWorker:
    plugin_id: str
    index: int
    pid: int | None
    alive: bool
    config_hash: str


@dataclass(frozen=True)
class ObservedRelay:
    plugin_id: str
    config_hash: str


@dataclass(frozen=True)
class ActualState:
    """What is running, as recorded in ``state.json`` and confirmed by cheap checks. Empty = nothing runs."""

    daemon_pid: int | None = None
    api: ObservedEndpoint | None = None
    proxy: ObservedEndpoint | None = None
    rules_hash: str | None = None
    models: tuple[ObservedModel, ...] = ()
    workers: tuple[ObservedWorker, ...] = ()
    relays: tuple[ObservedRelay, ...] = ()


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]

    @property
    def changes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.kind is not ActionKind.NOOP)

    @property
    def changes_present(self) -> bool:
        return bool(self.changes)

    def counts(self) -> dict[str, int]:
        add = sum(a.kind in (ActionKind.CREATE, ActionKind.REPLACE) for a in self.actions)
        change = sum(a.kind is ActionKind.UPDATE for a in self.actions)
        destroy = sum(a.kind in (ActionKind.DELETE, ActionKind.REPLACE) for a in self.actions)
        return {"add": add, "change": change, "destroy": destroy}

    def summary(self) -> str:
        if not self.changes_present:
            return "No changes."
        c = self.counts()
        return f"Plan: {c['add']} to add, {c['change']} to change, {c['destroy']} to destroy."

    def to_text(self, color: bool = False) -> str:
        width = max((len(a.kind.symbol) for a in self.changes), default=1)
        lines = [_paint(f"{a.kind.symbol:>{width}} {a.unit}  ({a.reason})", a.kind, color) for a in self.changes]
        return "\n".join([*lines, "", self.summary()] if lines else [self.summary()])

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": PLAN_FORMAT_VERSION, "changes_present": self.changes_present,
                "summary": self.counts(), "actions": [a.to_dict() for a in self.actions]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self) -> str:
        return self.to_text()


_COLORS = {ActionKind.CREATE: "32", ActionKind.UPDATE: "33", ActionKind.REPLACE: "35", ActionKind.DELETE: "31"}


def _paint(text: str, kind: ActionKind, color: bool) -> str:
    return f"\x1b[{_COLORS[kind]}m{text}\x1b[0m" if color and kind in _COLORS else text


def _endpoint(spec: EndpointSpec) -> str:
    port = spec.port if spec.port is not None else f"auto {spec.port_range[0]}-{spec.port_range[1]}"
    return f"{spec.host}:{port}"


def _endpoint_action(kind_name: Literal["api", "proxy"], spec: EndpointSpec,
                     seen: ObservedEndpoint | None) -> Action:
    if seen is None:
        return Action(ActionKind.CREATE, kind_name, "", f"listen on {_endpoint(spec)}")
    if not spec.accepts(seen.host, seen.port):
        return Action(ActionKind.REPLACE, kind_name, "", f"{seen.host}:{seen.port} → {_endpoint(spec)}")
    return Action(ActionKind.NOOP, kind_name, "", f"listening on {seen.host}:{seen.port}")


def diff(desired: DesiredState, actual: ActualState) -> Plan:
    """What converge must do to turn ``actual`` into ``desired``; pure and deterministic."""
    actions = [_endpoint_action("api", desired.api, actual.api)]
    proxy = _endpoint_action("proxy", desired.proxy.endpoint, actual.proxy)
    actions.append(proxy)
    if proxy.kind is ActionKind.NOOP and actual.rules_hash != desired.proxy.rules_hash:
        n = len({s.plugin_id for s in desired.proxy.scripts})
        actions.append(Action(ActionKind.UPDATE, "rules", "", f"hot-swap rules of {n} plugin(s)"))
    actions.extend(_model_actions(desired, actual))
    actions.extend(_worker_actions(desired, actual))
    actions.extend(_relay_actions(desired, actual))
    return Plan(tuple(actions))


def _model_actions(desired: DesiredState, actual: ActualState) -> list[Action]:
    seen = {m.filename: m for m in actual.models}
    actions = []
    for model in desired.models:
        observed = seen.get(model.filename)
        if model.lazy:
            actions.append(Action(ActionKind.NOOP, "model", model.filename, "lazy: pulled on first call"))
        elif observed is None or observed.state == "missing":
            size = f", {model.size} bytes" if model.size is not None else ""
            actions.append(Action(ActionKind.CREATE, "model", model.filename, f"download from {model.url}{size}"))
        elif observed.sha256 != model.sha256:
            actions.append(Action(ActionKind.REPLACE, "model", model.filename, "sha256 changed in manifest"))
        elif observed.state == "unverified":
            actions.append(Action(ActionKind.UPDATE, "model", model.filename, "file present, verify sha256"))
        elif observed.state == "changed":
            actions.append(Action(ActionKind.REPLACE, "model", model.filename, "file changed since verified"))
        else:
            actions.append(Action(ActionKind.NOOP, "model", model.filename, "verified"))
    return actions


def _worker_actions(desired: DesiredState, actual: ActualState) -> list[Action]:
    observed: dict[str, dict[int, ObservedWorker]] = {}
    for worker in actual.workers:
        observed.setdefault(worker.plugin_id, {})[worker.index] = worker
    actions = []
    wanted = {w.plugin_id: w for w in desired.workers}
    for spec in desired.workers:
        running = observed.get(spec.plugin_id, {})
        before = len(running)
        plugin = desired.plugin(spec.plugin_id)
        if not running and plugin is not None and plugin.provision == "lazy":
            actions.append(Action(ActionKind.NOOP, "worker", f"{spec.plugin_id}#0", "lazy: started on first call"))
            continue
        for index in range(spec.count):
            unit = f"{spec.plugin_id}#{index}"
            seen = running.get(index)
            if seen is None:
                reason = f"scale {before}→{spec.count}" if before else "start"
                actions.append(Action(ActionKind.CREATE, "worker", unit, reason))
            elif seen.config_hash != spec.config_hash:
                actions.append(Action(ActionKind.REPLACE, "worker", unit, "config changed"))
            elif not seen.alive:
                actions.append(Action(ActionKind.REPLACE, "worker", unit, f"not running (pid {seen.pid})"))
            else:
                actions.append(Action(ActionKind.NOOP, "worker", unit, f"running (pid {seen.pid})"))
        for index in sorted(i for i in running if i >= spec.count):
            actions.append(Action(ActionKind.DELETE, "worker", f"{spec.plugin_id}#{index}",
                                  f"scale {before}→{spec.count}"))
    for plugin_id in sorted(set(observed) - set(wanted)):
        reason = "plugin disabled" if plugin_id in desired.disabled else (
            "plugin now in cloud mode" if desired.plugin(plugin_id) else "plugin removed")
        for index in sorted(observed[plugin_id]):
            actions.append(Action(ActionKind.DELETE, "worker", f"{plugin_id}#{index}", reason))
    return actions


def _relay_actions(desired: DesiredState, actual: ActualState) -> list[Action]:
    seen = {r.plugin_id: r for r in actual.relays}
    actions = []
    for relay in desired.relays:
        observed = seen.get(relay.plugin_id)
        if observed is None:
            actions.append(Action(ActionKind.CREATE, "relay", relay.plugin_id, f"relay to cloud {relay.path}"))
        elif observed.config_hash != relay.config_hash:
            actions.append(Action(ActionKind.UPDATE, "relay", relay.plugin_id, "relay settings changed"))
        else:
            actions.append(Action(ActionKind.NOOP, "relay", relay.plugin_id, "relaying"))
    wanted = {r.plugin_id for r in desired.relays}
    for plugin_id in sorted(set(seen) - wanted):
        actions.append(Action(ActionKind.DELETE, "relay", plugin_id, "no longer a cloud plugin"))
    return actions


def converged(desired: DesiredState, daemon_pid: int = 1) -> ActualState:
    """The ActualState a successful converge of ``desired`` records (auto ports take the first in range)."""

    def endpoint(spec: EndpointSpec) -> ObservedEndpoint:
        return ObservedEndpoint(spec.host, spec.port if spec.port is not None else spec.port_range[0])

    return ActualState(
        daemon_pid=daemon_pid,
        api=endpoint(desired.api),
        proxy=endpoint(desired.proxy.endpoint),
        rules_hash=desired.proxy.rules_hash,
        models=tuple(ObservedModel(m.filename, m.sha256, "verified") for m in desired.models if not m.lazy),
        workers=tuple(ObservedWorker(w.plugin_id, i, None, True, w.config_hash)
                      for w in desired.workers for i in range(w.count)),
        relays=tuple(ObservedRelay(r.plugin_id, r.config_hash) for r in desired.relays),
    )

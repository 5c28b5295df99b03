"""Plan: an immutable tuple of actions, each with a kind, a unit and a human reason; printed terraform-style::

    + worker word-count#1  (scale 1→2)
    Plan: 1 to add, 0 to change, 0 to destroy.

and as versioned JSON. ``converge`` carries out each action through exactly one adapter call per (type, kind).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Action", "ActionKind", "PLAN_FORMAT_VERSION", "Plan", "UnitType"]

PLAN_FORMAT_VERSION = "2"
UnitType = Literal["api", "proxy", "rules", "package", "env", "model", "hook", "worker", "route"]


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
    # "" for api/proxy/rules; filename for models; "<plugin>#<n>" for workers; "<plugin> <hook>" for hooks;
    # plugin id otherwise
    name: str
    reason: str

    @property
    def unit(self) -> str:
        return f"{self.type} {self.name}" if self.name else self.type

    @property
    def plugin_id(self) -> str:
        return self.name.partition("#")[0].partition(" ")[0]

    @property
    def index(self) -> int:
        return int(self.name.partition("#")[2] or 0)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "type": self.type, "name": self.name, "unit": self.unit,
                "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.kind.symbol} {self.unit}  ({self.reason})"


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    recheck_after: float | None = None  # seconds until a waiting action (a backoff) becomes due; None: nothing waits

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

"""A suggestion as data: which rule, the evidence it rests on, the change to ``aiplugs.toml`` it proposes, what
that change should do and how sure the rule is. Frozen and JSON round-trippable (history keeps them).

The id is stable: the same rule proposing the same change for the same plugin has the same id on every
evaluation, so ``aiplugs suggest apply ID`` names what the person saw, and a rejection sticks to it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal, Mapping

__all__ = ["Change", "Confidence", "Evidence", "RULES", "RuleId", "Setting", "Suggestion", "Threshold",
           "suggestion_id"]

RuleId = Literal["errors", "timeout", "scale-up", "memory", "cache", "scale-down"]
RULES: tuple[RuleId, ...] = ("errors", "timeout", "scale-up", "memory", "cache", "scale-down")  # shown in this order
Setting = Literal["workers", "max_calls_per_worker", "cache_ttl_s", "timeout_s"]
Confidence = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class Change:
    """``[plugins.<plugin>] <setting>``: from ``old`` (None: not set) to ``new`` (plain TOML values)."""

    plugin: str
    setting: Setting
    old: Any
    new: Any

    @property
    def path(self) -> tuple[str, str, str]:
        return ("plugins", self.plugin, self.setting)

    def to_dict(self) -> dict[str, Any]:
        return {"plugin": self.plugin, "setting": self.setting, "old": self.old, "new": self.new}

    def __str__(self) -> str:
        return f"plugins.{self.plugin}.{self.setting}: {_toml(self.old)} → {_toml(self.new)}"


@dataclass(frozen=True)
class Threshold:
    """One threshold the evidence crossed: ``metric`` ``op`` ``limit``, observed ``value`` (the window's mean or
    total), in ``over`` of the window's samples."""

    metric: str
    op: Literal[">=", "<="]
    limit: float
    value: float
    over: int

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "op": self.op, "limit": self.limit, "value": round(self.value, 3),
                "over": self.over}

    def __str__(self) -> str:
        return f"{self.metric} {round(self.value, 3):g} {self.op} {self.limit:g} (in {self.over} samples)"


@dataclass(frozen=True)
class Evidence:
    window_s: float
    samples: int
    since: float  # the first sample's start
    until: float  # the last sample's end
    thresholds: tuple[Threshold, ...]
    numbers: tuple[tuple[str, Any], ...] = ()  # the window's figures (Stats.to_dict) and the rule's own

    def to_dict(self) -> dict[str, Any]:
        return {"window_s": self.window_s, "samples": self.samples, "since": self.since, "until": self.until,
                "thresholds": [t.to_dict() for t in self.thresholds], "numbers": dict(self.numbers)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evidence:
        return cls(float(data["window_s"]), int(data["samples"]), float(data["since"]), float(data["until"]),
                   tuple(Threshold(**t) for t in data.get("thresholds", ())),
                   tuple((str(k), v) for k, v in (data.get("numbers") or {}).items()))


@dataclass(frozen=True)
class Suggestion:
    id: str
    rule: RuleId
    plugin: str
    title: str  # one line: "scale word-count up: 1 → 2 workers"
    evidence: Evidence
    change: Change | None  # None: nothing to apply (investigate errors)
    expected: str
    confidence: Confidence

    @property
    def setting(self) -> str | None:
        return self.change.setting if self.change is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "rule": self.rule, "plugin": self.plugin, "title": self.title,
                "evidence": self.evidence.to_dict(), "change": self.change.to_dict() if self.change else None,
                "expected": self.expected, "confidence": self.confidence}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Suggestion:
        change = data.get("change")
        return cls(str(data["id"]), data["rule"], str(data["plugin"]), str(data["title"]),
                   Evidence.from_dict(data["evidence"]), Change(**change) if change else None,
                   str(data["expected"]), data["confidence"])


def suggestion_id(rule: RuleId, plugin: str, what: Any) -> str:
    """``scale-up:word-count:3f2a1c``: readable, and the same for the same proposal (``what``: the change, or for
    a suggestion without one what it is about)."""
    digest = hashlib.sha256(json.dumps([rule, plugin, what], sort_keys=True, default=str).encode()).hexdigest()
    return f"{rule}:{plugin}:{digest[:6]}"


def _toml(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value) if isinstance(value, str) else str(value)

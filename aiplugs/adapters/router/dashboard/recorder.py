"""What the dashboard remembers from the event bus so a page rendered on the server shows it too: the last apply
with its plan, and the bytes of downloads in progress. Listening costs one call per event in the publisher's
thread; nothing is asked of the daemon when a page renders.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from ....events import EventBus
from ....events.catalogue import (APPLY_ACTION_FINISHED, APPLY_FAILED, APPLY_FINISHED, APPLY_PLANNED,
                                  MODEL_DOWNLOADING, MODEL_FAILED, MODEL_PROGRESS, MODEL_READY)

__all__ = ["LastApply", "Recorder"]


@dataclass(frozen=True)
class LastApply:
    """A converge pass: its plan lines, and how it ended (``ok`` None while it runs)."""

    planned_at: float
    summary: str
    changes: tuple[str, ...]
    ok: bool | None = None
    seconds: float | None = None
    failures: tuple[str, ...] = ()
    finished_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"planned_at": self.planned_at, "summary": self.summary, "changes": list(self.changes),
                "ok": self.ok, "seconds": self.seconds, "failures": list(self.failures),
                "finished_at": self.finished_at}


@dataclass
class Recorder:
    last_apply: LastApply | None = None
    downloads: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # model filename → (bytes, total)
    _errors: dict[str, str] = field(default_factory=dict, repr=False)  # unit → error, in the pass under way
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def attach(self, bus: EventBus) -> Recorder:
        """Replays what the bus still holds, then follows it."""
        for event in bus.history():
            self.on_event(event.to_dict())
        bus.listen(self.on_event)
        return self

    def on_event(self, event: dict[str, Any]) -> None:
        kind, data, ts = event.get("type"), event.get("data") or {}, event.get("ts") or 0.0
        with self._lock:
            if kind == APPLY_PLANNED:
                self.last_apply = LastApply(ts, str(data.get("summary", "")), tuple(map(str, data.get("changes") or ())))
                self._errors = {}
            elif kind == APPLY_ACTION_FINISHED and not data.get("ok"):
                self._errors[str(data.get("unit"))] = str(data.get("error") or "failed")
            elif kind in (APPLY_FINISHED, APPLY_FAILED) and self.last_apply is not None:
                failures = tuple(f"{unit}: {self._errors.get(str(unit), 'failed')}" for unit in data.get("failures") or ())
                self.last_apply = LastApply(self.last_apply.planned_at, self.last_apply.summary,
                                            self.last_apply.changes, bool(data.get("ok")), data.get("seconds"),
                                            failures, ts)
            elif kind == MODEL_DOWNLOADING:
                self.downloads[data["filename"]] = (0, data.get("total"))
            elif kind == MODEL_PROGRESS:
                self.downloads[data["filename"]] = (int(data.get("bytes") or 0), data.get("total"))
            elif kind in (MODEL_READY, MODEL_FAILED):
                self.downloads.pop(data.get("filename"), None)

    def download(self, filename: str) -> tuple[int, int | None] | None:
        with self._lock:
            return self.downloads.get(filename)

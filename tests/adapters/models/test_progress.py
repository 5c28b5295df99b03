"""model.progress events from the fsspec callback of a download: throttled, the final one always sent."""

from __future__ import annotations

from aiplugs.adapters.models._progress import ModelCallback
from aiplugs.events import EventBus


def test_callback_events_are_throttled_but_final_one_is_sent():
    bus = EventBus()
    cb = ModelCallback("m.bin", bus)
    cb.set_size(1000)
    for _ in range(100):
        cb.relative_update(10)
    events = [e.data for e in bus.history() if e.type == "model.progress"]
    assert 1 <= len(events) < 10
    assert events[-1] == {"filename": "m.bin", "bytes": 1000, "total": 1000}

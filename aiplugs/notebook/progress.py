"""Download bars in the notebook: the daemon downloads, its ``model.*`` events drive ``tqdm.auto`` bars here
(ipywidgets bars in Jupyter, text bars in a terminal)."""

from __future__ import annotations

import threading
from typing import Any, Mapping

__all__ = ["ModelBars"]


class ModelBars:
    """Feed it events (dicts as the daemon sends them); it opens, moves and closes one bar per model file."""

    def __init__(self) -> None:
        self.bars: dict[str, Any] = {}
        self.finished: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type", "")
        data = event.get("data") or {}
        name = data.get("filename") or ""
        if not kind.startswith("model.") or not name:
            return
        with self._lock:
            if kind in ("model.downloading", "model.progress"):
                bar = self.bars.get(name)
                if bar is None:
                    from tqdm.auto import tqdm

                    bar = self.bars[name] = tqdm(total=data.get("total"), desc=name, unit="B", unit_scale=True,
                                                 unit_divisor=1024, leave=True)
                if data.get("total") and bar.total != data["total"]:
                    bar.total = data["total"]
                done = data.get("bytes")
                if done is not None and done > bar.n:
                    bar.update(done - bar.n)
            elif kind in ("model.ready", "model.failed"):
                bar = self.bars.pop(name, None)
                if bar is not None:
                    if kind == "model.ready" and bar.total and bar.n < bar.total:
                        bar.update(bar.total - bar.n)
                    bar.close()
                self.finished.append(name)

    def close(self) -> None:
        with self._lock:
            for bar in self.bars.values():
                bar.close()
            self.bars.clear()

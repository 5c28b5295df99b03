"""Download bars from ``model.*`` events: the one renderer for ``aiplugs apply``, ``aiplugs models pull`` and the
notebook. Whoever downloads (the daemon, or this process) publishes events; this turns them into ``tqdm`` bars —
text bars on a terminal, ipywidgets bars in Jupyter — or, where nobody watches (a log), one line per model."""

from __future__ import annotations

import sys
import threading
from typing import IO, Any, Mapping

from ..events.catalogue import MODEL_DOWNLOADING, MODEL_FAILED, MODEL_PROGRESS, MODEL_READY

__all__ = ["ModelBars", "watched"]


def watched(stream: IO[str] | None = None) -> bool:
    """Whether a person watches: the stream is a terminal, or we run inside a Jupyter kernel."""
    if "ipykernel" in sys.modules:
        try:
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None and getattr(shell, "kernel", None) is not None:
                return True
        except ImportError:
            pass
    try:
        return (stream or sys.stderr).isatty()
    except (AttributeError, ValueError):
        return False


class ModelBars:
    """Feed it events (dicts as the daemon sends them); it opens, moves and closes one bar per model file.

    ``bars=False`` prints one line when a download starts and one when it ends, for logs."""

    def __init__(self, *, bars: bool | None = None, file: IO[str] | None = None) -> None:
        self.file = file
        self.show_bars = watched(file) if bars is None else bars
        self.bars: dict[str, Any] = {}
        self.announced: set[str] = set()
        self.finished: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, event: Mapping[str, Any]) -> None:
        kind, data = event.get("type", ""), event.get("data") or {}
        name = data.get("filename") or ""
        if not name or kind not in (MODEL_DOWNLOADING, MODEL_PROGRESS, MODEL_READY, MODEL_FAILED):
            return
        with self._lock:
            if kind in (MODEL_DOWNLOADING, MODEL_PROGRESS):
                self._progress(name, data.get("bytes"), data.get("total"))
            else:
                self._finish(name, kind == MODEL_READY, data.get("error"))

    def _progress(self, name: str, done: int | None, total: int | None) -> None:
        if not self.show_bars:
            if name not in self.announced:
                self.announced.add(name)
                size = f" ({total} bytes)" if total else ""
                print(f"  model {name} downloading{size}", file=self.file or sys.stderr)
            return
        bar = self.bars.get(name)
        if bar is None:
            from tqdm.auto import tqdm

            bar = self.bars[name] = tqdm(total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024,
                                         leave=True, dynamic_ncols=True, file=self.file)
        if total and bar.total != total:
            bar.total = total
        if done is not None and done > bar.n:
            bar.update(done - bar.n)

    def _finish(self, name: str, ok: bool, error: str | None) -> None:
        bar = self.bars.pop(name, None)
        if bar is not None:
            if ok and bar.total and bar.n < bar.total:
                bar.update(bar.total - bar.n)
            bar.close()
        self.finished.append(name)
        if not self.show_bars:
            print(f"  model {name} {'ready' if ok else f'failed: {error}'}", file=self.file or sys.stderr)

    def close(self) -> None:
        with self._lock:
            for bar in self.bars.values():
                bar.close()
            self.bars.clear()

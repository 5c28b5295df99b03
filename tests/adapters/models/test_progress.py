"""Progress bars (tqdm.auto) and model.progress events from the same fsspec callback."""

from __future__ import annotations

import subprocess
import sys

from aiplugs.events import EventBus
from aiplugs.adapters.models._progress import ModelCallback, want_bars


def test_want_bars():
    assert want_bars(True) is True and want_bars(False) is False
    assert want_bars(None) is False  # pytest captures stderr: not a terminal


def test_callback_events_are_throttled_but_final_one_is_sent():
    bus = EventBus()
    cb = ModelCallback("m.bin", bus, bars=False)
    cb.set_size(1000)
    for _ in range(100):
        cb.relative_update(10)
    events = [e.data for e in bus.history() if e.type == "model.progress"]
    assert 1 <= len(events) < 10
    assert events[-1] == {"filename": "m.bin", "bytes": 1000, "total": 1000}


def test_forced_bar_draws_on_stderr(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 100_000)
    code = f"""
import asyncio, hashlib
from pathlib import Path
from aiplugs.adapters.models import ModelStore
from aiplugs.plan import ModelSpec
data = Path({str(src)!r}).read_bytes()
m = ModelSpec("m.bin", {str(src)!r}, hashlib.sha256(data).hexdigest(), len(data), Path("x"), ("M",), ("p",), False)
asyncio.run(ModelStore(Path({str(tmp_path / 'models')!r}), Path({str(tmp_path / 'state')!r}), progress=True).ensure(m))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "m.bin" in out.stderr and "100%" in out.stderr

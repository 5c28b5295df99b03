"""Download bars from model events: the one renderer for apply, models pull and the notebook."""

from __future__ import annotations

import io
import subprocess
import sys

from aiplugs.client.progress import ModelBars, watched


def event(kind: str, **data) -> dict:
    return {"type": kind, "data": {"filename": "m.bin", **data}}


def test_nobody_watches_a_captured_stream():
    assert watched(io.StringIO()) is False


def test_lines_for_logs_one_at_start_one_at_end():
    out = io.StringIO()
    bars = ModelBars(bars=False, file=out)
    bars(event("model.downloading", url="u", total=10))
    bars(event("model.progress", bytes=5, total=10))
    bars(event("model.progress", bytes=10, total=10))
    bars(event("model.ready", path="p", sha256="s", size=10, downloaded=True))
    bars(event("worker.started", plugin_id="x"))  # not a model event: ignored
    assert out.getvalue().splitlines() == ["  model m.bin downloading (10 bytes)", "  model m.bin ready"]
    assert bars.finished == ["m.bin"]


def test_bars_move_and_close():
    out = io.StringIO()
    bars = ModelBars(bars=True, file=out)
    bars(event("model.progress", bytes=40, total=100))
    assert bars.bars["m.bin"].n == 40
    bars(event("model.failed", url="u", error="boom", bytes=40, total=100))
    assert bars.bars == {} and "m.bin" in out.getvalue()


def test_a_local_pull_draws_a_bar_from_the_store_s_events(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 100_000)
    code = f"""
import asyncio, hashlib, sys
from pathlib import Path
from aiplugs.adapters.models import ModelStore
from aiplugs.client.progress import ModelBars
from aiplugs.events import EventBus
from aiplugs.plan import ModelSpec
data = Path({str(src)!r}).read_bytes()
m = ModelSpec("m.bin", {str(src)!r}, hashlib.sha256(data).hexdigest(), len(data), Path("x"), ("M",), ("p",), False)
bus = EventBus()
bars = ModelBars(bars=True)
bus.listen(bars)
asyncio.run(ModelStore(Path({str(tmp_path / 'models')!r}), Path({str(tmp_path / 'state')!r}), events=bus).download(m))
bars.close()
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "m.bin" in out.stderr and "100%" in out.stderr

"""gc: undeclared files, stale temp files (owner gone), orphan locks — never a live process's work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from aiplugs.adapters.models import ModelStore
from aiplugs.adapters.models._gc import garbage
from aiplugs.runtime.models import pull
from aiplugs.store.state import read_state

from .conftest import spec


def _desired(*models):
    return SimpleNamespace(models=tuple(models))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def test_gc_removes_only_garbage(dirs, tmp_path):
    models, state = dirs
    src = tmp_path / "src.bin"
    src.write_bytes(b"model")
    keep = spec(models, str(src), b"model", filename="keep.bin")
    old = spec(models, str(src), b"model", filename="old.bin")
    store = ModelStore(models, state)
    await pull(store, [keep, old])
    dead = _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        stale_part = models / f"keep.bin.{dead}-abcd.part"
        live_part = models / f"keep.bin.{live.pid}-beef.part"
        stale_part.write_bytes(b"x")
        live_part.write_bytes(b"x")
        (models / ".gitkeep").write_text("")
        (models / "sub").mkdir()
        orphan_lock = models / "gone.bin.lock"
        orphan_lock.write_text("")

        would = store.gc(_desired(keep), dry_run=True)
        assert {p.name for p in would} >= {"old.bin", stale_part.name, "gone.bin.lock"}
        assert (models / "old.bin").exists() and stale_part.exists() and orphan_lock.exists()

        removed = store.gc(_desired(keep))
        assert removed == would
        names = {p.name for p in models.iterdir()}
        assert {"keep.bin", live_part.name, ".gitkeep", "sub"} <= names
        assert not names & {"old.bin", stale_part.name, "gone.bin.lock"}
        assert set(read_state(state).models) == {"keep.bin"}
    finally:
        live.stdin.close()
        live.wait()


def test_locks_live_in_the_state_dir_not_beside_the_models(dirs):
    from aiplugs.store.locks import model_lock_path

    models, state = dirs
    assert model_lock_path(state, "m.bin") == state / "locks" / "m.bin.lock"
    assert models not in model_lock_path(state, "m.bin").parents

def test_gc_of_missing_folder_is_empty(tmp_path: Path):
    assert garbage(tmp_path / "nope", set()) == []
    assert os.getpid() > 0

"""observe: what state.json records plus cheap checks (pids alive, model files by stat), as an ActualState."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


from aiplugs.plan import DesiredState, ModelState, diff
from aiplugs.store.observe import observe
from aiplugs.store.state import DaemonRecord, EndpointRecord, ModelRecord, StateFile, WorkerRecord, read_state
from aiplugs.store.state import write_state




def place_model(desired: DesiredState) -> tuple[Path, ModelRecord]:
    model = desired.models[0]
    source = Path(model.url)
    model.path.write_bytes(source.read_bytes())
    st = model.path.stat()
    return model.path, ModelRecord(sha256=model.sha256, size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino)


def record_converged(desired: DesiredState, daemon_pid: int, worker_pid: int) -> StateFile:
    path, record = place_model(desired)
    return StateFile(
        daemon=DaemonRecord(pid=daemon_pid, started_at=time.time()),
        api=EndpointRecord(host="127.0.0.1", port=5000),
        proxy=EndpointRecord(host="127.0.0.1", port=8080),
        api_hash=desired.api_hash,
        rules_hash=desired.proxy.rules_hash,
        models={path.name: record},
        workers={w.plugin_id: WorkerRecord(config_hash=w.config_hash, pids=[worker_pid] * w.count)
                 for w in desired.workers},
        routes={r.plugin_id: r.config_hash for r in desired.routes},
    )


def test_observe_converged_state_gives_no_changes(desired: DesiredState) -> None:
    state = record_converged(desired, os.getpid(), os.getpid())
    write_state(desired.state_dir, state)
    plan = diff(desired, observe(read_state(desired.state_dir), desired))
    assert plan.to_text() == "No changes."


def test_observe_without_a_live_daemon_sees_only_models(desired: DesiredState) -> None:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    actual = observe(record_converged(desired, done.pid, os.getpid()), desired)
    assert actual.daemon_pid is None and actual.api is None and actual.workers == ()
    assert [m.state for m in actual.models] == [ModelState.READY]
    assert "+ api" in diff(desired, actual).to_text()


def test_observe_dead_worker_and_changed_model(desired: DesiredState) -> None:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    state = record_converged(desired, os.getpid(), done.pid)
    model = desired.models[0]
    actual = observe(state, desired)
    assert all(not w.alive and w.pid == done.pid for w in actual.workers)
    texts = [str(a) for a in diff(desired, actual).changes]
    assert texts == [f"-/+ worker {w.plugin_id}#0  (not running (pid {done.pid} gone))" for w in desired.workers]

    os.utime(model.path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    state = state.model_copy(update={"workers": {}})
    assert [m.state for m in observe(state, desired).models] == [ModelState.UNVERIFIED]
    assert f"~ model {model.filename}  (file present, verify sha256)" in diff(desired, observe(state, desired)).to_text()

    unrecorded = state.model_copy(update={"models": {}})
    assert [m.state for m in observe(unrecorded, desired).models] == [ModelState.UNVERIFIED]
    other = state.model_copy(update={"models": {model.filename: state.models[model.filename].model_copy(
        update={"sha256": "0" * 64, "mtime_ns": model.path.stat().st_mtime_ns})}})
    assert [m.state for m in observe(other, desired).models] == [ModelState.CORRUPT]
    model.path.unlink()
    assert [m.state for m in observe(state, desired).models] == [ModelState.MISSING]
    assert [m.sha256 for m in observe(state, desired).models] == [model.sha256]


def test_model_record_matches_by_size_mtime_inode(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(b"abc")
    st = path.stat()
    record = ModelRecord(sha256="0" * 64, size=3, mtime_ns=st.st_mtime_ns, inode=st.st_ino)
    assert record.matches_file(path.stat())
    path.write_bytes(b"abcd")
    assert not record.matches_file(path.stat())
    replaced = tmp_path / "n.bin"
    replaced.write_bytes(b"abc")
    os.utime(replaced, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(replaced, path)
    assert not record.matches_file(path.stat())  # same size and mtime, new inode


def test_hook_records_are_observed_so_plan_shows_uninstall_hooks(desired: DesiredState, tmp_path: Path) -> None:
    from aiplugs.store.state import HookRecord

    entry = tmp_path / "gone" / "backend.py"
    entry.parent.mkdir()
    entry.write_text("def uninstall(ctx): pass\n")
    state = StateFile(hooks={"gone": HookRecord(installed="1.0.0", uninstall=True, version="1.0.0", entry=str(entry),
                                                 plugin_dir=str(entry.parent))})
    lines = [str(a).strip() for a in diff(desired, observe(state, desired)).changes]
    assert "+ hook gone uninstall  (plugin removed: runs before its files are deleted)" in lines
    entry.unlink()
    lines = [str(a).strip() for a in diff(desired, observe(state, desired)).changes]
    assert "+ hook gone uninstall  (plugin removed; its files are gone: only its record is dropped)" in lines

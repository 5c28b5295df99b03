"""state.json: atomic writes, locked updates across processes, pid checks, and observing what runs."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from aiplugs.errors import AiplugsError
from aiplugs.plan import diff
from aiplugs.plan import DesiredState, load_desired_state
from aiplugs.store.state import (
    DaemonRecord,
    EndpointRecord,
    ModelRecord,
    StateFile,
    WorkerRecord,
    observe,
    pid_alive,
    read_state,
    state_path,
    update_state,
    write_state,
)


def test_missing_state_is_empty(tmp_path: Path) -> None:
    assert read_state(tmp_path / "nothing") == StateFile()


def test_write_then_read_round_trips_with_private_modes(tmp_path: Path) -> None:
    state_dir = tmp_path / ".aiplugs"
    state = StateFile(api=EndpointRecord(host="127.0.0.1", port=5001), rules_hash="r",
                      workers={"p": WorkerRecord(config_hash="h", pids=[1, None])}, relays={"c": "h2"})
    write_state(state_dir, state)
    assert read_state(state_dir) == state
    assert stat.S_IMODE(state_path(state_dir).stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert [p.name for p in state_dir.iterdir()] == ["state.json"]  # no temp files left behind
    assert json.loads(state_path(state_dir).read_text())["format_version"] == 1


def test_unknown_fields_are_ignored_for_forward_compatibility(tmp_path: Path) -> None:
    tmp_path.joinpath("state.json").write_text('{"format_version": 1, "future": {"x": 1}, "rules_hash": "r"}')
    assert read_state(tmp_path).rules_hash == "r"


@pytest.mark.parametrize("text", ["{not json", '{"format_version": 99}', '{"api": {"host": 1}}'])
def test_corrupt_state_names_the_file(tmp_path: Path, text: str) -> None:
    tmp_path.joinpath("state.json").write_text(text)
    with pytest.raises(AiplugsError) as info:
        read_state(tmp_path)
    assert str(tmp_path / "state.json") in str(info.value) and "unreadable" in str(info.value)


def test_update_state_is_serialised_across_threads(tmp_path: Path) -> None:
    def add(n: int) -> None:
        update_state(tmp_path, lambda s: s.relays.__setitem__(f"t{n}", str(n)))

    threads = [threading.Thread(target=add, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert read_state(tmp_path).relays == {f"t{n}": str(n) for n in range(16)}


UPDATER = """
import sys
from pathlib import Path
from aiplugs.store.state import update_state
name = sys.argv[2]
for i in range(15):
    update_state(Path(sys.argv[1]), lambda s: s.relays.__setitem__(f"{name}{i}", "x"))
"""


def test_update_state_is_serialised_across_processes(tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", UPDATER, str(tmp_path), name]) for name in ("a", "b")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    assert len(read_state(tmp_path).relays) == 30


def test_pid_alive(tmp_path: Path) -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(None) and not pid_alive(0) and not pid_alive(-5)
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    assert not pid_alive(done.pid)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # exited but not yet reaped by us: a zombie is not running
        if Path(f"/proc/{zombie.pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] == b"Z":
            break
        time.sleep(0.02)
    assert not pid_alive(zombie.pid)
    zombie.wait()


# --- observe: recorded state + cheap checks -------------------------------------------------------------------------


@pytest.fixture
def desired(project: Path, clean_env: dict[str, str]) -> DesiredState:
    return load_desired_state(project / "aiplugs.toml", env=clean_env)[1]


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
        rules_hash=desired.proxy.rules_hash,
        models={path.name: record},
        workers={w.plugin_id: WorkerRecord(config_hash=w.config_hash, pids=[worker_pid] * w.count)
                 for w in desired.workers},
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
    assert [m.state for m in actual.models] == ["verified"]
    assert "+ api" in diff(desired, actual).to_text()


def test_observe_dead_worker_and_changed_model(desired: DesiredState) -> None:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    state = record_converged(desired, os.getpid(), done.pid)
    model = desired.models[0]
    actual = observe(state, desired)
    assert all(not w.alive and w.pid == done.pid for w in actual.workers)
    texts = [str(a) for a in diff(desired, actual).changes]
    assert texts == [f"-/+ worker {w.plugin_id}#0  (not running (pid {done.pid}))" for w in desired.workers]

    os.utime(model.path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    state = state.model_copy(update={"workers": {}})
    assert [m.state for m in observe(state, desired).models] == ["changed"]
    assert f"-/+ model {model.filename}  (file changed since verified)" in diff(desired, observe(state, desired)).to_text()

    unrecorded = state.model_copy(update={"models": {}})
    assert [m.state for m in observe(unrecorded, desired).models] == ["unverified"]
    model.path.unlink()
    assert [m.state for m in observe(state, desired).models] == ["missing"]
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

"""The flock lock against real processes, and against filelock's FileLock (processes using either exclude each
other)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import filelock
import pytest

from aiplugs.store.flock import FileLock, LockTimeout

HOLD = """
import sys, time
{lock}
lock.acquire()
print("held", flush=True)
sys.stdin.readline()
"""
OURS = "from aiplugs.store.flock import FileLock; lock = FileLock(sys.argv[1])"
THEIRS = "from filelock import FileLock; lock = FileLock(sys.argv[1], thread_local=False)"


def hold(path: Path, lock: str) -> subprocess.Popen[str]:
    """A process holding the lock until its stdin is closed (or it is killed)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD.format(lock=lock), str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def let_go(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(10)


@pytest.mark.parametrize("other", [OURS, THEIRS], ids=["flock", "filelock"])
def test_a_lock_another_process_holds_times_out_then_is_taken(tmp_path: Path, other: str) -> None:
    path = tmp_path / "x.lock"
    proc = hold(path, other)
    try:
        started = time.monotonic()
        with pytest.raises(LockTimeout, match="held by another process"):
            FileLock(path, timeout=0.3).acquire()
        assert time.monotonic() - started >= 0.3
        with pytest.raises(TimeoutError):  # the once-only try
            FileLock(path, timeout=0).acquire()
    finally:
        let_go(proc)
    with FileLock(path, timeout=5) as lock:
        assert lock.is_locked
    assert not lock.is_locked


def test_filelock_waits_for_ours(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    proc = hold(path, OURS)
    try:
        with pytest.raises(filelock.Timeout):
            filelock.FileLock(str(path), thread_local=False).acquire(timeout=0.2)
    finally:
        let_go(proc)
    with filelock.FileLock(str(path), thread_local=False, timeout=5):
        pass


def test_a_process_that_dies_releases_its_lock(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    proc = hold(path, OURS)
    proc.kill()
    proc.wait(10)
    with FileLock(path, timeout=5):
        assert path.exists()
    assert path.exists()  # the file stays: waiters share its inode


def test_a_waiter_takes_the_lock_once_it_is_released(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    proc = hold(path, OURS)
    code = f"import sys\n{OURS}\nlock.acquire(timeout=20); print('got')"
    waiter = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    assert waiter.poll() is None  # still waiting
    let_go(proc)
    out, _ = waiter.communicate(timeout=20)
    assert out.strip() == "got"


def test_re_entrant_in_one_object_exclusive_between_objects(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    lock = FileLock(path)
    lock.acquire()
    lock.acquire()
    lock.release()
    assert lock.is_locked
    with pytest.raises(LockTimeout):  # another descriptor, even in this process
        FileLock(path, timeout=0).acquire()
    lock.release()
    assert not lock.is_locked
    lock.release()  # one too many: nothing
    with FileLock(path, timeout=0):
        pass

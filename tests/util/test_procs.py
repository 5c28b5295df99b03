"""Process checks on psutil."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from aiplugs.util.procs import kill_group, pid_alive


def test_pid_alive() -> None:
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




def test_kill_group_ends_every_member_and_says_when_none_is_left() -> None:
    leader = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                               "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
                               "print(1, flush=True); time.sleep(60)"], start_new_session=True,
                              stdout=subprocess.PIPE, text=True)
    assert leader.stdout.readline().strip() == "1"
    assert kill_group(leader.pid)
    leader.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and kill_group(leader.pid, 0):
        time.sleep(0.05)
    assert not kill_group(leader.pid, 0)

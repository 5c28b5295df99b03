"""Process checks and group kills, on psutil: is a pid alive (zombies are not), stop a whole process group."""

from __future__ import annotations

import os
import signal

__all__ = ["kill_group", "pid_alive"]


def pid_alive(pid: int | None) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    if not pid or pid <= 0:
        return False
    import psutil  # here, not at the top: `aiplugs plan` with no daemon recorded never asks (~4 ms of import)

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Signals every process of group ``pgid``; False when the group has no process left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""How a worker process ends: with its parent, as a whole process group, or with the code the backend chose.

Standard library only (runs inside the worker, see harness.py).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

__all__ = ["PARENT_DIED", "die_with_parent", "end_group", "exit_now"]

PARENT_DIED = signal.SIGUSR2  # what the kernel sends us when the parent dies (PR_SET_PDEATHSIG)


def end_group() -> None:
    """Kills this worker's whole process group — itself and whatever the backend started — at once."""
    try:
        os.killpg(0, signal.SIGKILL)
    finally:
        os._exit(3)


def die_with_parent(parent_pid: int) -> None:
    """Exit as soon as the process that started us is gone, even if it was SIGKILLed — taking the processes the
    backend started along (they share our process group: we lead it)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            signal.signal(PARENT_DIED, lambda *_: end_group())
            libc.prctl(PR_SET_PDEATHSIG, PARENT_DIED, 0, 0, 0)
        except (OSError, AttributeError, ValueError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        end_group()

    def watchdog() -> None:  # for non-Linux, for parents that were threads which exited, and a busy main thread
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                end_group()

    threading.Thread(target=watchdog, name="aiplugs-parent-watchdog", daemon=True).start()


def exit_now(e: SystemExit | int) -> None:
    """Ends the process right away with the backend's sys.exit code (a message goes to stderr, code 1), or with
    ``e`` itself when it is an int. ``os._exit``: threads still running sync backend code are not waited for."""
    code = e.code if isinstance(e, SystemExit) else e
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

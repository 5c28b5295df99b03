"""A plugin's install or uninstall hook, run once in a harness process without a socket.

It runs like a worker in every other respect — the same interpreter, environment (``worker_env``), working
directory (the data folder) and its own process group — so a hook sees what the plugin's workers will see. Its
output goes to the plugin's log; the last lines come back in ``HookFailed.tail``.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import time
from typing import Literal, Mapping

from ...plan import WorkerSpec
from .errors import HookFailed, WorkerError
from .process import HARNESS, RotatingLog, _killpg, prepare_dirs, pump, worker_cwd, worker_env
from .protocol import EXIT_HOOK_TIMEOUT

__all__ = ["HOOK_TAIL", "OneShotHook", "run_hook"]

OneShotHook = Literal["install", "uninstall"]
HOOK_TAIL = 15  # lines of a hook's output kept for its error
# The harness times the hook itself and says where it hung; the manager's own limit, this much later, catches
# what the harness cannot: an import of backend.py that never finishes.
BACKSTOP_S = 2.0


async def run_hook(spec: WorkerSpec, hook: OneShotHook, *, python: str, log: RotatingLog,
                   parent_env: Mapping[str, str] | None = None) -> None:
    """Returns when the hook succeeded, or backend.py does not define it; HookFailed when it raised, ran past
    ``spec.hooks_timeout_s`` or could not start. The process group is killed when the run ends, whatever the
    hook left running."""
    if hook not in ("install", "uninstall"):
        raise ValueError(f"run_hook: hook must be 'install' or 'uninstall', got {hook!r}")
    what = f"{spec.plugin_id} {hook} hook"
    timeout = spec.hooks_timeout_s
    try:
        prepare_dirs(spec)
    except WorkerError as e:
        raise HookFailed(f"{what} failed: {e.message}", plugin_id=spec.plugin_id, hook=hook) from None
    tail: collections.deque[str] = collections.deque(maxlen=HOOK_TAIL)
    log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} running the {hook} hook\n".encode())
    try:
        proc = await asyncio.create_subprocess_exec(
            python, str(HARNESS), "--entry", str(spec.entry), "--hook", hook, "--hook-timeout", repr(timeout),
            "--parent-pid", str(os.getpid()),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env=worker_env(spec, parent_env), cwd=str(worker_cwd(spec)), start_new_session=True)
    except OSError as e:
        raise HookFailed(f"{what} failed: cannot start {python}: {e}", plugin_id=spec.plugin_id, hook=hook) from None
    output = asyncio.create_task(pump(proc.stdout, log, tail))
    try:
        code = await _exited(proc, timeout + BACKSTOP_S)
    finally:
        _killpg(proc.pid, signal.SIGKILL)  # also when the caller gave up (cancelled)
    await proc.wait()
    await asyncio.wait({output}, timeout=2.0)
    if code == 0:
        log.write(f"--- the {hook} hook succeeded\n".encode())
        return
    if code is None or code == EXIT_HOOK_TIMEOUT:
        message = f"{what} timed out after {timeout:g}s"
    elif code < 0:
        message = f"{what} failed: killed by {_signal_name(-code)}"
    else:
        last = next((line for line in reversed(tail) if line.strip()), f"exit code {code}")
        message = f"{what} failed: {last.strip()}"
    log.write(f"--- {message}\n".encode())
    raise HookFailed(message, plugin_id=spec.plugin_id, hook=hook, tail=tuple(tail))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


async def _exited(proc: asyncio.subprocess.Process, timeout: float) -> int | None:
    """The exit code, or None after ``timeout``. Not ``proc.wait()``: in Python 3.11 that also waits until every
    process holding the output pipe is gone, and a hook's child may hold it for good."""
    deadline = time.monotonic() + timeout
    while proc.returncode is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return proc.returncode

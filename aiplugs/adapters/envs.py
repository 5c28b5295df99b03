"""Python environments for plugins that declare requirements: one virtualenv per ``EnvSpec``, built by pip.

``python -m venv --without-pip <path>`` (the standard library's, ~50 ms), then the daemon's own pip installs the
requirements into it (``pip --python <path>/bin/python install …``), so no pip is copied into every environment.
When the daemon's interpreter has no pip, the environment gets its own (``ensurepip``) and installs with that.
pip takes its configuration as always: ``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, ``PIP_NO_INDEX`` in the daemon's
environment, or pip.conf. Offline, point ``PIP_FIND_LINKS`` at a folder of wheels and set ``PIP_NO_INDEX=1``.

An environment is built in place under its lock and is complete only once its marker is written, last: a folder
without a readable marker is an unfinished build and is removed before the next one. pip's whole output goes to
``<state_dir>/logs/env-<id>.log``; a failure raises ``EnvError`` with pip's last lines.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Mapping, TextIO

from ..errors import AiplugsError
from ..plan import EnvSpec
from ..store.envs import ENV_MARKER, env_ready
from ..store.locks import LOCKS_DIR, HeldLock
from ..util.atomic import atomic_write_text

__all__ = ["EnvError", "build_env", "env_ready"]

TAIL_LINES = 12


class EnvError(AiplugsError):
    """Building a Python environment failed; ``tail`` holds the installer's last output lines."""

    def __init__(self, message: str, tail: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.tail = tail


async def build_env(env: EnvSpec, state_dir: Path, *, environ: Mapping[str, str] | None = None,
                    timeout_s: float = 1800.0, lock_timeout_s: float = 1800.0) -> None:
    """Makes ``env`` complete (nothing to do when it is); raises EnvError with pip's last lines when pip fails.
    ``environ``: the variables pip runs with (its PIP_* configuration); default: this process's."""
    lock = HeldLock(state_dir / LOCKS_DIR / f"env-{env.id}.lock", what=f"a build of Python environment {env.id}",
                    timeout=lock_timeout_s)
    async with lock:
        if env_ready(env):
            return
        log_path = state_dir / "logs" / f"env-{env.id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.rmtree, env.path, True)  # an unfinished build
        env.path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(log_path, "w", encoding="utf-8") as log:
            own_pip = importlib.util.find_spec("pip") is None
            venv = [sys.executable, "-m", "venv", *([] if own_pip else ["--without-pip"]), str(env.path)]
            await _run(venv, log, timeout_s, "creating the virtualenv", environ)
            pip = ([str(env.python), "-m", "pip"] if own_pip
                   else [sys.executable, "-m", "pip", "--python", str(env.python)])
            install = [*pip, "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
                       *env.requirements]
            await _run(install, log, timeout_s - (time.monotonic() - started), "pip install", environ)
        marker = {"id": env.id, "requirements": list(env.requirements), "python": sys.version.split()[0],
                  "built_at": time.time(), "seconds": round(time.monotonic() - started, 3)}
        atomic_write_text(env.path / ENV_MARKER, json.dumps(marker, indent=2) + "\n")


async def _run(argv: list[str], log: TextIO, timeout_s: float, what: str, environ: Mapping[str, str] | None
               ) -> None:
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    env = dict(environ if environ is not None else os.environ)
    env.pop("PYTHONPATH", None)  # the environment is the plugin's own; nothing of the daemon's leaks in
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), max(timeout_s, 1.0))
    except (TimeoutError, asyncio.CancelledError) as e:
        proc.kill()
        await proc.wait()
        if isinstance(e, TimeoutError):
            raise EnvError(f"{what} did not finish within {timeout_s:.0f}s") from None
        raise
    text = out.decode("utf-8", "replace")
    log.write(text)
    log.flush()
    if proc.returncode != 0:
        tail = tuple(line for line in text.splitlines() if line.strip())[-TAIL_LINES:]
        last = next((line.strip() for line in reversed(tail) if line.lstrip().startswith("ERROR")),
                    tail[-1].strip() if tail else "")
        raise EnvError(f"{what} failed (exit {proc.returncode}): {last}", tail)

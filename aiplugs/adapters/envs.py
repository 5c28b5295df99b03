"""Python environments for plugins that declare requirements: one virtualenv per ``EnvSpec``.

With uv beside the daemon's interpreter or on PATH: ``uv venv`` + ``uv pip install`` (fast, with uv's cache). Otherwise the standard library's
``python -m venv --without-pip`` and the daemon's own pip installing into it (``pip --python <env>/bin/python
install …``), so no pip is copied into every environment; a daemon interpreter without pip gives the environment
its own. Index settings come from the environment as always: ``PIP_INDEX_URL``, ``PIP_EXTRA_INDEX_URL``,
``PIP_FIND_LINKS``, ``PIP_NO_INDEX`` (passed to uv as its flags too) or uv's own ``UV_*``. Offline, point
``PIP_FIND_LINKS`` at a folder of wheels and set ``PIP_NO_INDEX=1``.

An environment is built in place under its lock and is complete only once its marker is written, last: a folder
without a readable marker is an unfinished build and is removed before the next one. The installer's whole output
goes to ``<state_dir>/logs/env-<id>.log``; a failure raises ``EnvError`` with its last lines. ``remove_env`` takes
one away under the same lock (never one being built, or one a live process runs from), renamed aside first so a
half-removed folder is never taken for an environment.
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
from typing import Literal, Mapping, TextIO

from ..errors import AiplugsError
from ..plan import EnvSpec
from ..plan.envs import ENVS_DIR
from ..store.envs import ENV_MARKER, env_ready, env_users
from ..store.locks import LOCKS_DIR, HeldLock, LockHeld
from ..util.atomic import atomic_write_text, temp_owner, temp_path_for
from ..util.procs import pid_alive

__all__ = ["EnvError", "Installer", "build_env", "default_installer", "env_ready", "remove_env"]

TAIL_LINES = 12


class EnvError(AiplugsError):
    """Building a Python environment failed; ``tail`` holds the installer's last output lines."""

    def __init__(self, message: str, tail: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.tail = tail


Installer = Literal["uv", "pip"]


def find_uv(environ: Mapping[str, str] | None = None) -> str | None:
    """uv beside this interpreter (``pip install uv`` into aiplugs' own environment), else on PATH."""
    beside = shutil.which("uv", path=str(Path(sys.executable).parent))
    return beside or shutil.which("uv", path=(environ if environ is not None else os.environ).get("PATH"))


def default_installer(environ: Mapping[str, str] | None = None) -> Installer:
    """uv when there is one (much faster), else pip."""
    return "uv" if find_uv(environ) else "pip"


async def build_env(env: EnvSpec, state_dir: Path, *, environ: Mapping[str, str] | None = None,
                    installer: Installer | None = None, timeout_s: float = 1800.0,
                    lock_timeout_s: float = 1800.0) -> None:
    """Makes ``env`` complete (nothing to do when it is); raises EnvError with the installer's last lines when it
    fails. ``environ``: the variables the installer runs with (PATH, PIP_*, UV_*); default: this process's."""
    lock = _env_lock(state_dir, env.id, lock_timeout_s)
    environ = dict(environ if environ is not None else os.environ)
    installer = installer or default_installer(environ)
    async with lock:
        if env_ready(env):
            return
        log_path = state_dir / "logs" / f"env-{env.id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.rmtree, env.path, True)  # an unfinished build
        env.path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        steps = _uv_steps(env, environ) if installer == "uv" else _pip_steps(env)
        with open(log_path, "w", encoding="utf-8") as log:
            for what, argv in steps:
                await _run(argv, log, timeout_s - (time.monotonic() - started), what, environ)
        marker = {"id": env.id, "requirements": list(env.requirements), "python": sys.version.split()[0],
                  "installer": installer, "built_at": time.time(), "seconds": round(time.monotonic() - started, 3)}
        atomic_write_text(env.path / ENV_MARKER, json.dumps(marker, indent=2) + "\n")


def remove_env(state_dir: Path, env_id: str) -> bool:
    """Removes the environment ``env_id`` (False: there was none); EnvError while it is being built or a live
    process runs from it. Leftovers of removals cut short (renamed aside by a process that is gone) go too."""
    root = state_dir / ENVS_DIR
    folder = root / env_id
    lock = _env_lock(state_dir, env_id, timeout_s=0)
    try:
        lock.acquire()
    except LockHeld:
        raise EnvError(f"Python environment {env_id} is not removed: {lock.describe_holder()} is building it") from None
    try:
        _clear_leftovers(root)
        if not folder.is_dir():
            return False
        user = env_users([folder]).get(folder)
        if user is not None:
            raise EnvError(f"Python environment {env_id} is not removed: pid {user} runs from it")
        aside = temp_path_for(root / f".removing-{env_id}", "")
        os.replace(folder, aside)
        shutil.rmtree(aside, ignore_errors=True)
        return True
    finally:
        lock.release()


def _env_lock(state_dir: Path, env_id: str, timeout_s: float) -> HeldLock:
    return HeldLock(state_dir / LOCKS_DIR / f"env-{env_id}.lock", what=f"a build of Python environment {env_id}",
                    timeout=timeout_s)


def _clear_leftovers(root: Path) -> None:
    """``.removing-<id>.<pid>-<hex>`` folders whose remover is gone (a removal in progress is left to finish)."""
    for aside in root.glob(".removing-*"):
        if not pid_alive(temp_owner(aside, "")):
            shutil.rmtree(aside, ignore_errors=True)


def _pip_steps(env: EnvSpec) -> list[tuple[str, list[str]]]:
    own_pip = importlib.util.find_spec("pip") is None  # the daemon's interpreter has none: the env gets its own
    venv = [sys.executable, "-m", "venv", *([] if own_pip else ["--without-pip"]), str(env.path)]
    pip = [str(env.python), "-m", "pip"] if own_pip else [sys.executable, "-m", "pip", "--python", str(env.python)]
    install = [*pip, "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
               *env.requirements]
    return [("creating the virtualenv", venv), ("pip install", install)]


# pip's settings in the environment, as uv flags (uv reads only its own UV_* variables)
_PIP_TO_UV = {"PIP_INDEX_URL": "--index-url", "PIP_EXTRA_INDEX_URL": "--extra-index-url",
              "PIP_FIND_LINKS": "--find-links"}


def _uv_steps(env: EnvSpec, environ: Mapping[str, str]) -> list[tuple[str, list[str]]]:
    flags: list[str] = []
    for var, flag in _PIP_TO_UV.items():
        for value in environ.get(var, "").split():
            flags += [flag, value]
    if environ.get("PIP_NO_INDEX", "").lower() in ("1", "true", "yes", "on"):
        flags.append("--no-index")
    uv = find_uv(environ) or "uv"
    venv = [uv, "venv", "--quiet", "--python", sys.executable, str(env.path)]
    install = [uv, "pip", "install", "--python", str(env.python), *flags, *env.requirements]
    return [("creating the virtualenv", venv), ("uv pip install", install)]


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
        raise EnvError(f"{what} failed (exit {proc.returncode}): {_summary(tail)}", tail)


def _summary(tail: tuple[str, ...]) -> str:
    """The installer's error in one line: pip's last ``ERROR: …``; uv's ``error: …`` (or ``× …``) with the
    cause it gives on the next line."""
    lines = [line.strip() for line in tail]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith(("ERROR", "error:", "×")):
            cause = lines[i + 1] if i + 1 < len(lines) else ""
            if cause.startswith(("cause:", "╰─▶")):
                return f"{lines[i]}: {cause.removeprefix('cause:').removeprefix('╰─▶').strip()}"
            return lines[i]
    return lines[-1] if lines else ""

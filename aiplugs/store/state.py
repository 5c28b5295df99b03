"""``<state_dir>/state.json``: what survives a restart, written atomically.

The file records ports in use, pids, verified model hashes and config hashes per unit. Writers go through
:func:`update_state`, which holds a lock so the daemon and ``aiplugs models pull`` never lose each other's writes.
A damaged file (cut short, not UTF-8, not JSON, a folder) is one clear error naming the file and what to do.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import AiplugsError

__all__ = [
    "DaemonRecord",
    "EndpointRecord",
    "HookRecord",
    "ModelRecord",
    "StateDamaged",
    "StateFile",
    "WorkerRecord",
    "read_state",
    "state_path",
    "update_state",
    "write_state",
]

STATE_FILE = "state.json"


class StateDamaged(AiplugsError):
    """state.json cannot be read; the message says how to recover (models stay, they are re-verified)."""


class _Record(BaseModel):
    # Built on first use: `aiplugs plan` without a state.json validates none of them (~3 ms of schema building).
    model_config = ConfigDict(extra="ignore", defer_build=True)


class EndpointRecord(_Record):
    host: str
    port: int


class DaemonRecord(_Record):
    pid: int
    started_at: float
    command: str = ""


class ModelRecord(_Record):
    sha256: str
    size: int
    mtime_ns: int
    inode: int
    verified_at: float = Field(default_factory=time.time)

    def matches_file(self, stat: os.stat_result) -> bool:
        return (stat.st_size, stat.st_mtime_ns, stat.st_ino) == (self.size, self.mtime_ns, self.inode)


class WorkerRecord(_Record):
    config_hash: str
    # index -> pid (None while starting). Each worker leads its own process group (pgid == pid), so these are
    # also the groups to sweep when a daemon died without stopping them.
    pids: list[int | None] = Field(default_factory=list)
    # "ray": replicas of a Ray Serve deployment, which Ray supervises (maybe on other machines): their pids are
    # shown, never swept
    backend: Literal["process", "ray"] = "process"


class HookRecord(_Record):
    """How to run a plugin's uninstall hook once the plugin has left the declaration, and which version's install
    hook ran. Settings are not kept (secrets never go to state.json): uninstall sees the schema defaults."""

    installed: str | None = None  # the version whose install hook ran
    uninstall: bool = False  # its backend defines uninstall(ctx)
    version: str
    entry: str
    plugin_dir: str
    python: str | None = None
    timeout_s: float = 60.0


class StateFile(_Record):
    format_version: Literal[1] = 1
    daemon: DaemonRecord | None = None
    api: EndpointRecord | None = None
    api_hash: str | None = None
    proxy: EndpointRecord | None = None
    rules_hash: str | None = None
    ca_cert: str | None = None
    models: dict[str, ModelRecord] = Field(default_factory=dict)
    workers: dict[str, WorkerRecord] = Field(default_factory=dict)
    routes: dict[str, str] = Field(default_factory=dict)  # plugin id -> route config hash
    hooks: dict[str, HookRecord] = Field(default_factory=dict)  # plugin id -> its lifecycle hooks' record
    # The ports last listened on ("api", "proxy"), kept after a stop so auto-allocated ports stay stable across
    # restarts while free. Unlike api/proxy above, they say nothing about what runs now.
    last_ports: dict[str, int] = Field(default_factory=dict)


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def _damaged(path: Path, what: str) -> StateDamaged:
    return StateDamaged(
        f"{path}: state file is damaged ({what}). Move it aside (`mv {path} {path}.broken`) and run "
        "`aiplugs down` then `aiplugs apply`: a running daemon is still found by its pid file, and models stay "
        "(they are verified again)")


def read_state(state_dir: Path) -> StateFile:
    path = state_path(state_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return StateFile.model_construct()  # the empty state: nothing read, nothing to validate
    except UnicodeDecodeError:
        raise _damaged(path, "not UTF-8 text") from None
    except IsADirectoryError:
        raise _damaged(path, "a folder, not a file") from None
    except OSError as e:
        raise _damaged(path, e.strerror or str(e)) from None
    try:
        return StateFile.model_validate(json.loads(text))
    except json.JSONDecodeError as e:
        raise _damaged(path, f"not JSON: {e.msg} at line {e.lineno}") from None
    except ValidationError as e:
        raise _damaged(path, f"unexpected content: {e.error_count()} invalid field(s)") from None


def write_state(state_dir: Path, state: StateFile) -> None:
    from ..util.atomic import atomic_write_text

    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_text(state_path(state_dir), state.model_dump_json(indent=2) + "\n", mode=0o600)


def update_state(state_dir: Path, change: Callable[[StateFile], None], timeout: float = 30.0, *,
                 recover: bool = False) -> StateFile:
    """Read-modify-write under ``state.json.lock``; ``change`` mutates the state in place.

    ``recover``: a damaged file is replaced by the change applied to an empty state (the daemon rewriting its
    own record) instead of raising; the damaged file is kept beside it as ``state.json.broken``."""
    from .flock import FileLock

    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with FileLock(str(state_path(state_dir)) + ".lock", timeout=timeout):
        try:
            state = read_state(state_dir)
        except StateDamaged:
            if not recover:
                raise
            path = state_path(state_dir)
            os.replace(path, path.with_name(STATE_FILE + ".broken"))
            state = StateFile()
        change(state)
        write_state(state_dir, state)
    return state

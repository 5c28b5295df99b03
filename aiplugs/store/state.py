"""``<state_dir>/state.json``: what survives a restart, written atomically; and the cheap observation of it.

The file records ports in use, pids, verified model hashes and config hashes per unit. Writers go through
:func:`update_state`, which holds a lock so the daemon and ``aiplugs models pull`` never lose each other's writes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import AiplugsError
from ..util.atomic import atomic_write_text
from ..plan import ActualState, ObservedEndpoint, ObservedModel, ObservedRelay, ObservedWorker
from ..plan import DesiredState

__all__ = [
    "DaemonRecord",
    "EndpointRecord",
    "ModelRecord",
    "StateFile",
    "WorkerRecord",
    "observe",
    "pid_alive",
    "read_state",
    "state_path",
    "update_state",
    "write_state",
]

STATE_FILE = "state.json"


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


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
    pids: list[int | None] = Field(default_factory=list)  # index -> pid (None while starting)


class StateFile(_Record):
    format_version: Literal[1] = 1
    daemon: DaemonRecord | None = None
    api: EndpointRecord | None = None
    proxy: EndpointRecord | None = None
    rules_hash: str | None = None
    ca_cert: str | None = None
    models: dict[str, ModelRecord] = Field(default_factory=dict)
    workers: dict[str, WorkerRecord] = Field(default_factory=dict)
    relays: dict[str, str] = Field(default_factory=dict)  # plugin id -> config hash
    # The ports last listened on ("api", "proxy"), kept after a stop so auto-allocated ports stay stable across
    # restarts while free. Unlike api/proxy above, they say nothing about what runs now.
    last_ports: dict[str, int] = Field(default_factory=dict)


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def read_state(state_dir: Path) -> StateFile:
    path = state_path(state_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return StateFile()
    try:
        return StateFile.model_validate(json.loads(text))
    except (json.JSONDecodeError, ValidationError) as e:
        raise AiplugsError(
            f"{path}: state file is unreadable ({e.__class__.__name__}); stop the daemon and move it aside "
            "to start afresh (models stay; they are re-verified)"
        ) from None


def write_state(state_dir: Path, state: StateFile) -> None:
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_text(state_path(state_dir), state.model_dump_json(indent=2) + "\n", mode=0o600)


def update_state(state_dir: Path, change: Callable[[StateFile], None], timeout: float = 30.0) -> StateFile:
    """Read-modify-write under ``state.json.lock``; ``change`` mutates the state in place."""
    from filelock import FileLock

    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with FileLock(str(state_path(state_dir)) + ".lock", timeout=timeout):
        state = read_state(state_dir)
        change(state)
        write_state(state_dir, state)
    return state


def pid_alive(pid: int | None) -> bool:
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not running
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return True


def observe(state: StateFile, desired: DesiredState) -> ActualState:
    """ActualState from the recorded state plus cheap checks (pids alive, model files unchanged by stat)."""
    daemon_alive = state.daemon is not None and pid_alive(state.daemon.pid)
    models = []
    for model in desired.models:
        record = state.models.get(model.filename)
        try:
            stat = model.path.stat()
        except OSError:
            models.append(ObservedModel(model.filename, record.sha256 if record else None, "missing"))
            continue
        if record is None:
            models.append(ObservedModel(model.filename, None, "unverified"))
        else:
            models.append(ObservedModel(model.filename, record.sha256,
                                        "verified" if record.matches_file(stat) else "changed"))
    if not daemon_alive:
        return ActualState(models=tuple(models))
    return ActualState(
        daemon_pid=state.daemon.pid if state.daemon else None,
        api=ObservedEndpoint(state.api.host, state.api.port) if state.api else None,
        proxy=ObservedEndpoint(state.proxy.host, state.proxy.port) if state.proxy else None,
        rules_hash=state.rules_hash,
        models=tuple(models),
        workers=tuple(
            ObservedWorker(plugin_id, index, pid, pid_alive(pid), record.config_hash)
            for plugin_id, record in state.workers.items()
            for index, pid in enumerate(record.pids)
        ),
        relays=tuple(ObservedRelay(pid, h) for pid, h in state.relays.items()),
    )

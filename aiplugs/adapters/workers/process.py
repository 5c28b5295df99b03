"""One worker process: its environment, spawn + health check, output pumping into a rotating log, and stop."""

from __future__ import annotations

import asyncio
import collections
import logging
import logging.handlers
import os
import signal
import socket
import time
from pathlib import Path
from typing import Mapping

from ...plan import WorkerSpec
from .channel import Channel
from .errors import WorkerError

__all__ = ["RotatingLog", "WorkerProcess", "worker_env"]

HARNESS = Path(__file__).resolve().parent / "harness.py"
TAIL_LINES = 50
# Variables a Python process needs to run at all; nothing else of the parent (API keys!) passes unless declared.
SAFE_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME",
            "SYSTEMROOT", "VIRTUAL_ENV")


def worker_env(spec: WorkerSpec, parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """The complete environment of a worker: a minimal safe set, ``pass_env`` from the parent, then the spec's."""
    parent = os.environ if parent is None else parent
    env = {k: parent[k] for k in SAFE_ENV if k in parent}
    env.update({k: parent[k] for k in spec.pass_env if k in parent})
    env.update(spec.env)
    if spec.python is not None:  # the plugin's own environment (<env>/bin/python)
        env["VIRTUAL_ENV"] = str(spec.python.parent.parent)
    env["PYTHONUNBUFFERED"] = "1"  # so a crash's last lines reach the log
    return env


class RotatingLog:
    """One worker slot's log: lines appended to ``path``, rotated by the standard library's
    ``RotatingFileHandler`` (``path.1`` ... ``path.<backups>`` kept)."""

    def __init__(self, path: Path, max_bytes: int = 5 * 1024 * 1024, backups: int = 3) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                                             encoding="utf-8", errors="replace")
        self._handler.setFormatter(logging.Formatter("%(message)s"))

    def write(self, data: bytes) -> None:
        line = data.decode("utf-8", "replace").rstrip("\n")
        self._handler.emit(logging.makeLogRecord({"msg": line, "levelno": logging.INFO, "levelname": "INFO"}))

    def close(self) -> None:
        self._handler.close()


class WorkerProcess:
    """Spawned by :meth:`start`, which returns only once the backend imported and answered a ping."""

    def __init__(self, spec: WorkerSpec, index: int, *, python: str, log: RotatingLog,
                 tail: collections.deque[str], parent_env: Mapping[str, str] | None = None) -> None:
        self.spec = spec
        self.parent_env = parent_env
        self.index = index
        self.python = python
        self.log = log
        self.tail = tail  # shared by the pool: the last stderr lines of any of its workers
        self.proc: asyncio.subprocess.Process | None = None
        self.channel: Channel | None = None
        self.outstanding = 0
        self.ready = False
        self.started_at = 0.0
        self._pumps: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self, ready_timeout: float) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.started_at = time.monotonic()
        self.log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {self.spec.unit(self.index)}\n".encode())
        try:
            self.proc = await asyncio.create_subprocess_exec(
                self.python, str(HARNESS), "--entry", str(self.spec.entry), "--fd", str(theirs.fileno()),
                "--parent-pid", str(os.getpid()),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                pass_fds=(theirs.fileno(),), env=worker_env(self.spec, self.parent_env), cwd=str(self.spec.plugin_dir),
                start_new_session=True,  # its own process group, so stop can signal the backend's children too
            )
        except OSError as e:
            ours.close()
            raise WorkerError(f"{self.spec.unit(self.index)}: cannot start {self.python}: {e}",
                              plugin_id=self.spec.plugin_id) from None
        finally:
            theirs.close()
        self._pumps = [asyncio.create_task(self._pump(self.proc.stdout, False)),
                       asyncio.create_task(self._pump(self.proc.stderr, True))]
        self.channel = await Channel.connect(ours)
        try:
            await asyncio.wait_for(asyncio.shield(self.channel.hello), ready_timeout)
            ping = self.channel.open("ping")
            try:
                answer = await asyncio.wait_for(ping.next(), ready_timeout)
            finally:
                ping.close()
            if answer.get("value") != "pong":
                raise ConnectionError(f"unexpected health answer {answer!r}")
        except (TimeoutError, ConnectionError) as e:
            reason = f"did not become ready within {ready_timeout:.0f} s" if isinstance(e, TimeoutError) \
                else "exited during start"
            await self.stop(grace=1.0)
            await self._drain_pumps()
            code = self.proc.returncode
            raise WorkerError(f"{self.spec.unit(self.index)} {reason}"
                              + (f" (exit code {code})" if code is not None else ""),
                              plugin_id=self.spec.plugin_id, stderr_tail=tuple(self.tail)) from None
        self.ready = True

    async def wait(self) -> int:
        assert self.proc is not None
        code = await self.proc.wait()
        self.ready = False
        await self._drain_pumps()
        if self.channel is not None:
            await self.channel.close()
        return code

    async def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the process group, ``grace`` seconds, then SIGKILL to the group."""
        self.ready = False
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            _killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                _killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        _killpg(proc.pid, signal.SIGKILL)  # whatever the backend itself spawned and left behind
        if self.channel is not None:
            await self.channel.close()

    async def _pump(self, stream: asyncio.StreamReader | None, is_stderr: bool) -> None:
        if stream is None:
            return
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line longer than the stream limit: take what is there
                line = await stream.read(64 * 1024)
            if not line:
                return
            try:
                self.log.write(line)
            except (OSError, ValueError):
                pass
            if is_stderr:
                self.tail.append(line.decode("utf-8", "replace").rstrip("\n"))

    async def _drain_pumps(self) -> None:
        if self._pumps:
            await asyncio.wait(self._pumps, timeout=2.0)


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass

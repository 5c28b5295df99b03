"""One worker process: its environment, folders, spawn + health check, output pumping into a rotating log, the
shutdown hook, and stop."""

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
from typing import Any, Callable, Mapping

from ...plan import WorkerSpec
from .channel import Channel
from .errors import HookFailed, WorkerError
from .protocol import EXIT_HOOK_FAILED, EXIT_HOOK_TIMEOUT

__all__ = ["RotatingLog", "WorkerProcess", "prepare_dirs", "pump", "worker_cwd", "worker_env"]

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


def prepare_dirs(spec: WorkerSpec) -> None:
    """Creates the plugin's data and cache folders when missing, readable by this user only (they hold what the
    plugin keeps about its user); folders that exist are left as they are."""
    for folder in (spec.data_dir, spec.cache_dir):
        if folder is None or folder.is_dir():
            continue
        try:
            folder.mkdir(parents=True, mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)  # mkdir's mode passes through the umask
        except OSError as e:
            raise WorkerError(f"plugin {spec.plugin_id!r}: cannot create {folder}: {e}",
                              plugin_id=spec.plugin_id) from None


def worker_cwd(spec: WorkerSpec) -> Path:
    """Workers and hook runs start in the plugin's data folder (relative paths a backend writes land there, kept
    across versions), or in the plugin's own folder when it has none."""
    return spec.data_dir if spec.data_dir is not None else spec.plugin_dir


async def pump(stream: asyncio.StreamReader | None, log: RotatingLog, tail: collections.deque[str] | None) -> None:
    """Copies a child's output into ``log`` line by line, keeping the last lines in ``tail`` (when given)."""
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
            log.write(line)
        except (OSError, ValueError):
            pass
        if tail is not None:
            tail.append(line.decode("utf-8", "replace").rstrip("\n"))


def _unheard(plugin_id: str, topic: str, data: Any) -> None:
    pass


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
    """Spawned by :meth:`start`, which returns only once the backend imported, its init hook ran and it answered
    a ping. ``on_publish(plugin_id, topic, data)`` gets what the backend publishes under its own namespace."""

    def __init__(self, spec: WorkerSpec, index: int, *, python: str, log: RotatingLog,
                 tail: collections.deque[str], parent_env: Mapping[str, str] | None = None,
                 on_publish: Callable[[str, str, Any], None] = _unheard) -> None:
        self.spec = spec
        self.on_publish = on_publish
        self.parent_env = parent_env
        self.index = index
        self.python = python
        self.log = log
        self.tail = tail  # shared by the pool: the last stderr lines of any of its workers
        self.proc: asyncio.subprocess.Process | None = None
        self.channel: Channel | None = None
        self.outstanding = 0
        self.calls = 0  # calls this process finished (telemetry)
        self.startup_s: float | None = None  # spawn → ready, once ready (telemetry)
        self.ready = False
        self.hello: dict[str, Any] = {}  # what the worker said about its backend (hooks, tools, handlers)
        self.started_at = 0.0
        self._pumps: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self, ready_timeout: float) -> None:
        """``ready_timeout`` bounds the import and the ping; the init hook has ``spec.hooks_timeout_s`` on top."""
        prepare_dirs(self.spec)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.started_at = time.monotonic()
        self.log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {self.spec.unit(self.index)}\n".encode())
        try:
            self.proc = await asyncio.create_subprocess_exec(
                self.python, str(HARNESS), "--entry", str(self.spec.entry), "--fd", str(theirs.fileno()),
                "--parent-pid", str(os.getpid()), "--hook-timeout", repr(self.spec.hooks_timeout_s),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                pass_fds=(theirs.fileno(),), env=worker_env(self.spec, self.parent_env), cwd=str(worker_cwd(self.spec)),
                start_new_session=True,  # its own process group, so stop can signal the backend's children too
            )
        except OSError as e:
            ours.close()
            raise WorkerError(f"{self.spec.unit(self.index)}: cannot start {self.python}: {e}",
                              plugin_id=self.spec.plugin_id) from None
        finally:
            theirs.close()
        self._pumps = [asyncio.create_task(pump(self.proc.stdout, self.log, None)),
                       asyncio.create_task(pump(self.proc.stderr, self.log, self.tail))]
        self.channel = await Channel.connect(ours, self._published)
        try:
            self.hello = await asyncio.wait_for(asyncio.shield(self.channel.hello),
                                                ready_timeout + self.spec.hooks_timeout_s)
            ping = self.channel.open("ping")
            try:
                answer = await asyncio.wait_for(ping.next(), ready_timeout)
            finally:
                ping.close()
            if answer.get("value") != "pong":
                raise ConnectionError(f"unexpected health answer {answer!r}")
            self.startup_s = time.monotonic() - self.started_at
        except (TimeoutError, ConnectionError) as e:
            reason = f"did not become ready within {ready_timeout:.0f} s" if isinstance(e, TimeoutError) \
                else "exited during start"
            await self.stop(grace=1.0)
            await self._drain_pumps()
            code = self.proc.returncode
            if code in (EXIT_HOOK_FAILED, EXIT_HOOK_TIMEOUT):  # the harness's last line says what init did
                said = next((line for line in reversed(self.tail) if line.startswith("init hook ")), None)
                if said is not None:
                    raise HookFailed(f"{self.spec.unit(self.index)} {said} (exit code {code})", hook="init",
                                     plugin_id=self.spec.plugin_id, tail=tuple(self.tail)) from None
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

    async def shutdown(self, timeout: float) -> None:
        """Runs the backend's shutdown hook (when it has one) and waits for it at most ``timeout`` seconds;
        whatever happens, :meth:`stop` follows."""
        channel = self.channel
        if timeout <= 0 or not self.alive or channel is None or channel.closed \
                or "shutdown" not in self.hello.get("hooks", ()):
            return
        call = channel.open("shutdown")
        try:
            frame = await call.next(timeout)
        except TimeoutError:
            frame = {"kind": "error", "message": f"still running after {timeout:.1f} s; stopping anyway"}
        finally:
            call.close()
        if frame.get("kind") != "result":
            why = f"{frame.get('type')}: {frame.get('message')}" if frame.get("type") else frame.get("message")
            self.log.write(f"--- shutdown hook of {self.spec.unit(self.index)}: {why or 'the worker exited'}\n"
                           .encode())

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

    def _published(self, topic: Any, data: Any) -> None:
        """The manager, not the worker, vouches for the source: a frame outside the plugin's own namespace (a
        backend writing frames by hand) is dropped."""
        prefix = f"{self.spec.plugin_id}/"
        if not isinstance(topic, str) or not topic.startswith(prefix) or topic == prefix:
            self.log.write(f"--- dropped a publish to {topic!r}: outside the namespace {prefix!r}\n".encode())
            return
        self.on_publish(self.spec.plugin_id, topic, data)

    async def _drain_pumps(self) -> None:
        if self._pumps:
            await asyncio.wait(self._pumps, timeout=2.0)


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass

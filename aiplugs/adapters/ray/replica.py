"""PluginReplica: the Ray Serve deployment class that serves one plugin's ``backend.py`` — the same contract as a
worker process, with the harness's own code (``workers/entries.py`` finds tools and builds arguments,
``workers/plugin_context.py`` is ``ctx``).

Construction (``async __init__``, on the replica's event loop): the environment becomes the plugin's — on the
daemon's machine what Ray assigned to the replica (its GPUs, thread counts, ``RAY_*``) plus the planned variables,
so none of the daemon's other variables reach the plugin; on another node the node's own environment plus the
planned variables — models are provisioned by sha256 through the verified ``ModelStore`` into a
store on this node, backend.py is imported, and ``init(ctx)`` runs within ``hooks.timeout_s``. A failing or hung
init fails the constructor with ``init hook failed: <Type>: <message>`` (or ``init hook timed out after <N>s``),
which is what the daemon reports.

Where things are: on the daemon's own machine (same host key) the planned paths — the models folder, the plugin's
data and cache folders, ``<state_dir>/logs/<id>-<rank>.log`` — are used as they are. On another node nothing
planned is trusted: the plugin folder is the copy that came in the constructor argument (bundle.py), and models,
data, cache and log live under ``$AIPLUGS_NODE_DIR`` (default ``<tmp>/aiplugs-node``); a model is fetched there from
its declared URL (``s3://``, ``https://``…; a file the plugin ships is found in its copy of the folder) and
verified.

Calls: ``call(message)`` is a streaming method; ``message`` is the JSON text of ``{"op", "payload", "tool",
"client_id", "event"}`` and every frame it yields is JSON text, as on a worker's channel: ``result``, or ``stream``
+ ``item``... + ``end``, or ``error`` with the backend's exception type; ``publish`` frames (``ctx.publish``) come
first, whenever they were made. JSON both ways keeps the contract identical: a result a process worker could not
send fails here the same way.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any, AsyncIterator, TextIO

from ..workers.entries import (HOOKS, Caller, HookTimedOut, NoEventHandler, NoSuchTool, call_hook, find_tool, invoke,
                               load_backend)
from ..workers.plugin_context import Context
from ..workers.protocol import HEADER
from .bundle import unpack
from .deployment import RAY_KEEP, host_key

__all__ = ["FAILURE", "PluginReplica", "node_dir"]

FAILURE = "--- the plugin's replica failed to start ---"  # what follows it in Serve's message is ours

SAFE_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME",
            "VIRTUAL_ENV")


def node_dir() -> Path:
    """This node's aiplugs folder for replicas planned on another machine."""
    return Path(os.environ.get("AIPLUGS_NODE_DIR") or Path(tempfile.gettempdir()) / "aiplugs-node")


def _rank() -> int:
    """The replica's rank in its deployment (0..n-1): its slot, for the log file's name."""
    try:
        from ray import serve

        rank = serve.get_replica_context().rank
        return int(getattr(rank, "rank", rank))
    except Exception:
        return 0


class _Tee:
    """The replica's stdout / stderr: Ray's own log file, and the plugin's log that ``aiplugs logs`` shows."""

    def __init__(self, stream: TextIO, log: TextIO) -> None:
        self._stream, self._log = stream, log

    def write(self, text: str) -> int:
        try:
            self._log.write(text)
            self._log.flush()
        except (OSError, ValueError):
            pass
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class PluginReplica:
    async def __init__(self, config: dict[str, Any]) -> None:  # type: ignore[misc]  # Serve awaits it
        self.config = config
        self.plugin_id: str = config["plugin_id"]
        local = config["host"] == host_key()
        own = node_dir()
        if local or config.get("bundle") is None:
            plugin_dir = Path(config["plugin_dir"])
        else:  # the copy that came with the replica
            plugin_dir = unpack(*config["bundle"], own / "plugins" / self.plugin_id)
        folders = {name: (Path(config[name]) if local and config.get(name) else own / name.split("_")[0] / self.plugin_id)
                   for name in ("data_dir", "cache_dir")}
        log_dir = Path(config["log_dir"]) if local else own / "logs"
        self._capture(log_dir / f"{self.plugin_id}-{_rank()}.log")
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        env = dict(config["env"])
        try:
            models = await self._provision(config, local, plugin_dir, own)
        except Exception as e:
            _init_failed([*traceback.format_exc().splitlines(), f"models not provisioned: {e}"])
        env.update({key: path for key, path in models.items()})
        env.update({"AIPLUGS_MODELS": json.dumps(models, sort_keys=True, separators=(",", ":")),
                    "AIPLUGS_PLUGIN_DIR": str(plugin_dir), "AIPLUGS_DATA_DIR": str(folders["data_dir"]),
                    "AIPLUGS_CACHE_DIR": str(folders["cache_dir"]), "PYTHONUNBUFFERED": "1"})
        if local:  # this environment is the daemon's (its Ray instance inherited it): none of its secrets pass
            kept = {k: v for k, v in os.environ.items() if k in SAFE_ENV or k in RAY_KEEP or k.startswith("RAY_")}
            os.environ.clear()
            os.environ.update(kept)
        os.environ.update(env)  # on another node the node's own environment stays (its image, its credentials)
        os.chdir(folders["data_dir"])  # as a worker process: relative paths the backend writes land there
        self._outbox: collections.deque[str] = collections.deque()
        self.module = load_backend(plugin_dir / config["entry_name"])
        self.ctx = Context.from_env(os.environ, sink=self._published, fallback_id=self.plugin_id)
        self.caller = Caller(self.ctx)
        self.hooks = {name: getattr(self.module, name) for name in HOOKS if callable(getattr(self.module, name, None))}
        self.on_message = getattr(self.module, "on_message", None)
        self.on_event = getattr(self.module, "on_event", None)
        self._shutdown_ran = False
        init = self.hooks.get("init")
        if init is not None:
            try:
                await call_hook(self.caller, init, "init", config["hooks_timeout_s"])
            except HookTimedOut as e:
                _init_failed([*e.where, str(e)])
            except Exception as e:
                reason = str(e).replace("\n", " ")
                _init_failed([*traceback.format_exc().splitlines(),
                              f"init hook failed: {type(e).__name__}: {reason}"])

    # ---- setting up ----------------------------------------------------------------------------------------------

    def _capture(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            log = open(path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115 - lives as long as the replica
        except OSError:
            return
        sys.stdout, sys.stderr = _Tee(sys.stdout, log), _Tee(sys.stderr, log)  # type: ignore[assignment]

    async def _provision(self, config: dict[str, Any], local: bool, plugin_dir: Path, own: Path) -> dict[str, str]:
        """env key -> path of each model, verified by sha256 in this node's store."""
        if not config["models"]:
            return {}
        from ..models import ModelStore
        from ...plan import ModelSpec, ModelState

        store_dir = Path(config["models_dir"]) if local else own / "models"
        store = ModelStore(store_dir, Path(config["state_dir"]) if local else own / "state")
        found: dict[str, str] = {}
        shipped = config["plugin_dir"].rstrip("/") + "/"
        for m in config["models"]:
            url = m["url"]
            if not local and url.startswith(shipped):  # a file the plugin ships: in its copy of the folder
                url = str(plugin_dir / url[len(shipped):])
            spec = ModelSpec(m["filename"], url, m["sha256"], m["size"], store_dir / m["filename"],
                             tuple(m["keys"]), (self.plugin_id,), False)
            state = store.status(spec)
            if state is ModelState.UNVERIFIED and (await store.verify(spec)).ok:
                state = ModelState.READY
            if state is not ModelState.READY:
                await store.download(spec)
            found.update({key: str(spec.path) for key in spec.keys})
        return found

    def _published(self, frame: bytes) -> None:
        self._outbox.append(frame[HEADER.size:].decode("utf-8"))  # from any thread: deque appends are atomic

    # ---- serving -------------------------------------------------------------------------------------------------

    def _resolve(self, op: str, message: dict[str, Any]) -> tuple[Any, tuple[Any, ...]]:
        if op == "event":
            if not callable(self.on_event):
                raise NoEventHandler("this plugin's backend defines no on_event(event) to receive events")
            return self.on_event, self.caller.args(self.on_event, (message.get("event"),))
        payload, tool = message.get("payload"), message.get("tool")
        if op == "message" and tool is None:
            if not callable(self.on_message):
                raise NotImplementedError("this plugin's backend defines no on_message(message) for WebSockets")
            base = (payload, message.get("client_id")) if self.caller.capacity(self.on_message) >= 2 else (payload,)
            return self.on_message, self.caller.args(self.on_message, base)
        func = find_tool(self.module, "run" if tool is None else tool)
        return func, self.caller.args(func, (payload,))

    def _drain(self) -> list[str]:
        frames = []
        while self._outbox:
            frames.append(self._outbox.popleft())
        return frames

    async def call(self, text: str) -> AsyncIterator[str]:
        message = json.loads(text)
        op = message.get("op", "run")
        try:
            func, args = self._resolve(op, message)
            result = await invoke(func, args)
            if op == "event":
                result = None
            if inspect.isasyncgen(result) or inspect.isgenerator(result):
                for frame in self._drain():
                    yield frame
                yield _frame({"kind": "stream"})
                async for item in _items(result):
                    for frame in self._drain():
                        yield frame
                    yield _frame({"kind": "item", "value": item})
                for frame in self._drain():
                    yield frame
                yield _frame({"kind": "end"})
                return
            for frame in self._drain():
                yield frame
            yield _frame({"kind": "result", "value": result})
        except SystemExit as e:  # the backend asked its process to end: so does this replica (Ray replaces it)
            os._exit(e.code if isinstance(e.code, int) else 1)
        except (NoSuchTool, NoEventHandler, HookTimedOut) as e:
            yield _frame({"kind": "error", "type": type(e).__name__, "message": str(e)})
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            for frame in self._drain():
                yield frame
            yield _frame({"kind": "error", "type": type(e).__name__, "message": str(e)})

    async def __del__(self) -> None:
        """Serve's graceful stop: calls in flight finished; the backend's shutdown hook runs once."""
        hook = getattr(self, "hooks", {}).get("shutdown")
        if hook is None or self._shutdown_ran:
            return
        self._shutdown_ran = True
        try:
            await call_hook(self.caller, hook, "shutdown", self.config["hooks_timeout_s"])
        except Exception:
            traceback.print_exc(file=sys.stderr)


def _init_failed(lines: list[str]) -> None:
    """The constructor's failure: the lines go to the log, and (after ``FAILURE``) into the exception whose text
    Serve reports as the deployment's message; the last line says what init did, as a worker process's does."""
    print("\n".join(lines), file=sys.stderr, flush=True)
    raise RuntimeError("\n".join([FAILURE, *lines]))


async def _items(result: Any) -> AsyncIterator[Any]:
    if inspect.isasyncgen(result):
        async for item in result:
            yield item
        return
    done = object()
    while (item := await asyncio.to_thread(next, result, done)) is not done:
        yield item


def _frame(frame: dict[str, Any]) -> str:
    try:
        return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:  # the backend returned something that is not JSON
        return json.dumps({"kind": "error", "type": "TypeError", "message": f"result is not JSON serializable: {e}"})

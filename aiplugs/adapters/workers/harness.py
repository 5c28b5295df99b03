"""The process a worker runs: imports one plugin's ``backend.py`` and serves it over an inherited socket.

Started as ``python <this file> --entry backend.py --fd N --parent-pid P`` (``python -m aiplugs.adapters.workers.harness``
works too). It is run by path on purpose: the standard library is all it imports, so a worker does not pay for
importing the ``aiplugs`` package (pydantic and friends) and starts ~200 ms faster.

Protocol (see channel.py): 4-byte big-endian length + one UTF-8 JSON object per frame, multiplexed by ``id``.
  manager -> worker: {"id", "op": "ping" | "run" | "message" | "cancel", "payload"?, "client_id"?, "target"?}
  worker -> manager: {"id": 0, "kind": "hello", "pid", "on_message"} once the backend imported, then per call
                     {"id", "kind": "result", "value"} or {"id", "kind": "stream"} {"kind": "item", "value"}...
                     {"kind": "end"}, or at any point {"id", "kind": "error", "type", "message"}.
``run(payload)`` may be sync (runs in a thread), async, a generator or an async generator; ``on_message(message)``
or ``on_message(message, client_id)`` (optional) answers WebSocket messages the same way.

The worker exits when its parent dies: PR_SET_PDEATHSIG on Linux, a parent-pid watchdog thread, and EOF on the
channel; any one of them is enough.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import inspect
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

HEADER = struct.Struct("!I")
PARENT_DIED = signal.SIGUSR2  # what the kernel sends us when the parent dies (PR_SET_PDEATHSIG)
MAX_FRAME = 256 * 1024 * 1024


def encode_frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise ValueError(f"message of {len(body)} bytes exceeds the channel's {MAX_FRAME}-byte frame limit")
    return HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None at EOF."""
    try:
        header = await reader.readexactly(HEADER.size)
        (size,) = HEADER.unpack(header)
        if size > MAX_FRAME:
            raise ValueError(f"frame of {size} bytes exceeds {MAX_FRAME}")
        return json.loads(await reader.readexactly(size))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


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


def load_backend(entry: Path) -> Any:
    """Imports ``entry`` as module ``backend`` with its folder first on sys.path (so it can import siblings)."""
    folder = str(entry.parent)
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path[0] = folder  # run by path: hide our own folder from the backend
    else:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location("backend", entry)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {entry}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["backend"] = module
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise AttributeError(f"{entry} defines no run(payload) function")
    return module


class Harness:
    def __init__(self, module: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.module = module
        self.reader = reader
        self.writer = writer
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self._pending: list[bytes] = []  # frames of this loop iteration, written with one syscall
        on_message = getattr(module, "on_message", None)
        self.on_message = on_message if callable(on_message) else None
        self.on_message_takes_client = False
        if self.on_message is not None:
            try:
                self.on_message_takes_client = len(inspect.signature(self.on_message).parameters) >= 2
            except (TypeError, ValueError):
                pass

    def send(self, message: dict[str, Any]) -> None:
        try:
            frame = encode_frame(message)
        except (TypeError, ValueError) as e:  # the backend returned something that is not JSON
            frame = encode_frame({"id": message["id"], "kind": "error", "type": "TypeError",
                                  "message": f"result is not JSON serializable: {e}"})
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(frame)

    def _flush(self) -> None:
        data, self._pending = b"".join(self._pending), []
        self.writer.write(data)

    async def serve(self) -> None:
        self.send({"id": 0, "kind": "hello", "pid": os.getpid(), "on_message": self.on_message is not None})
        while True:
            message = await read_frame(self.reader)
            if message is None:
                return  # the manager closed its end (or died)
            op, call_id = message.get("op"), message.get("id")
            if op == "ping":
                self.send({"id": call_id, "kind": "result", "value": "pong"})
            elif op == "cancel":
                task = self.tasks.get(message.get("target"))
                if task is not None:
                    task.cancel()
            elif op in ("run", "message"):
                task = asyncio.get_running_loop().create_task(self.call(call_id, op, message))
                self.tasks[call_id] = task
                task.add_done_callback(lambda _t, i=call_id: self.tasks.pop(i, None))
            else:
                self.send({"id": call_id, "kind": "error", "type": "ProtocolError", "message": f"unknown op {op!r}"})

    async def call(self, call_id: int, op: str, message: dict[str, Any]) -> None:
        try:
            if op == "run":
                func, args = self.module.run, (message.get("payload"),)
            elif self.on_message is None:
                raise NotImplementedError("this plugin's backend defines no on_message(message) for WebSockets")
            else:
                func = self.on_message
                args = (message.get("payload"), message.get("client_id")) if self.on_message_takes_client \
                    else (message.get("payload"),)
            if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
                result = func(*args)
            else:
                result = await asyncio.to_thread(func, *args)
            if inspect.isawaitable(result):
                result = await result
            if inspect.isasyncgen(result):
                self.send({"id": call_id, "kind": "stream"})
                async for item in result:
                    self.send({"id": call_id, "kind": "item", "value": item})
                    await self.writer.drain()
                self.send({"id": call_id, "kind": "end"})
            elif inspect.isgenerator(result):
                self.send({"id": call_id, "kind": "stream"})
                done = object()
                while (item := await asyncio.to_thread(next, result, done)) is not done:
                    self.send({"id": call_id, "kind": "item", "value": item})
                    await self.writer.drain()
                self.send({"id": call_id, "kind": "end"})
            else:
                self.send({"id": call_id, "kind": "result", "value": result})
        except asyncio.CancelledError:
            return  # the manager gave up on this call (timeout or client gone)
        except SystemExit as e:  # the backend asked the process to end: end it with the backend's code
            exit_now(e)
        except Exception as e:  # the backend raised: report it, keep serving
            traceback.print_exc(file=sys.stderr)
            self.send({"id": call_id, "kind": "error", "type": type(e).__name__, "message": str(e)})


async def amain(args: argparse.Namespace) -> int:
    sock = socket.socket(fileno=args.fd)
    sock.setblocking(False)
    reader, writer = await asyncio.open_unix_connection(sock=sock, limit=MAX_FRAME)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    module = load_backend(Path(args.entry).resolve())
    harness = Harness(module, reader, writer)
    serving = loop.create_task(harness.serve())
    stopping = loop.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if serving.done() and serving.exception() is not None:
        raise serving.exception()  # type: ignore[misc]
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="aiplugs-worker", description=__doc__.split("\n")[0])
    parser.add_argument("--entry", required=True, help="the plugin's backend.py")
    parser.add_argument("--fd", type=int, required=True, help="inherited socket to the manager")
    parser.add_argument("--parent-pid", type=int, required=True)
    args = parser.parse_args(argv)
    die_with_parent(args.parent_pid)
    try:
        code = asyncio.run(amain(args))
    except SystemExit as e:  # sys.exit() in the backend, also while it was imported
        exit_now(e)
    except BaseException:  # an import error of the backend lands here: its traceback is the stderr tail
        traceback.print_exc(file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # do not wait for threads still running a sync run()


def exit_now(e: SystemExit) -> None:
    """Ends the worker with the code the backend passed to sys.exit (a message goes to stderr, code 1)."""
    code = e.code
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()

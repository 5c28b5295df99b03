"""The process a worker runs: imports one plugin's ``backend.py`` and serves it over an inherited socket.

Started as ``python <this file> --entry backend.py --fd N --parent-pid P --hook-timeout S`` (``python -m
aiplugs.adapters.workers.harness`` works too). It is run by path on purpose: the standard library is all it
imports, so a worker does not pay for importing the ``aiplugs`` package (pydantic and friends) and starts ~200 ms
faster. Its siblings (protocol, lifeline, entries, plugin_context) are then loaded as the private package
``_aiplugs_worker``, so their names never shadow a module of the backend's own.

Start: import backend.py (``run`` required), build ``ctx`` from the environment (plugin_context.py), run
``init(ctx)`` when defined, within --hook-timeout, and only then say hello: a worker counts as started only once
init succeeded. An init that raises prints its traceback and then, as the last stderr line, ``init hook failed:
<Type>: <message>``, exit code 5; one past the timeout prints where it was stuck, then ``init hook timed out after
<N>s``, exit code 6 (protocol.py).

Protocol (see channel.py): 4-byte big-endian length + one UTF-8 JSON object per frame, multiplexed by ``id``.
  manager -> worker:
    {"id", "op": "ping"}                                      -> result "pong"
    {"id", "op": "run", "payload", "tool"?}                   -> the answer of that tool ("run" when absent)
    {"id", "op": "message", "payload", "client_id", "tool"?}  -> the answer of on_message, or of the named tool
    {"id", "op": "event", "event": {"type", "source", "data", "time"}}  -> result null once on_event returned
    {"id", "op": "shutdown"}                                  -> result null once shutdown(ctx) returned (it runs
                                                                 once per worker, within --hook-timeout)
    {"id": 0, "op": "cancel", "target"}                       -> call ``target`` is cancelled; no answer
  worker -> manager:
    {"id": 0, "kind": "hello", "pid", "on_message": bool, "on_event": bool, "hooks": [names], "tools": [names]}
        once, after init;
    per call: {"id", "kind": "result", "value"}, or {"id", "kind": "stream"}, {"id", "kind": "item", "value"}...,
        {"id", "kind": "end"}; or at any point {"id", "kind": "error", "type", "message"}, ``type`` being the
        backend's exception class or one of NoSuchTool, NoEventHandler, HookTimedOut, ProtocolError;
    {"id": 0, "kind": "publish", "topic": "<plugin-id>/<name>", "data"} whenever the backend calls ctx.publish.

What backend.py may define (only ``run`` is required; each may be sync or async):
  ``run(payload[, ctx])`` and tools ``<name>(payload[, ctx])`` — a tool is any public function defined in
  backend.py itself (not imported into it) whose name is not reserved: init, shutdown, install, uninstall,
  on_event, on_message. Both may be (async) generators, which stream. ``on_message(message[, client_id[, ctx]])``
  answers WebSocket messages the same way; ``on_event(event[, ctx])``; hooks ``init``, ``shutdown``, ``install``
  and ``uninstall``, each ``(ctx)``. A function gets ``ctx`` last when it names one more positional parameter
  than the base call. Sync code runs in a thread, so the loop keeps serving concurrent calls.

One-shot hooks: ``python <this file> --entry backend.py --hook install|uninstall --hook-timeout S [--parent-pid
P]`` opens no socket: it imports backend.py, builds ctx and runs the hook; exit 0 (also when backend.py does not
define it), 1 with the traceback when it raised, 6 when it timed out. ctx.publish there validates, then only logs.

The worker exits when its parent dies: PR_SET_PDEATHSIG on Linux, a parent-pid watchdog thread, and EOF on the
channel; any one of them is enough. It ends with os._exit: threads still running sync backend code are not
waited for.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextvars
import inspect
import json
import os
import signal
import socket
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

if __package__:  # imported (channel.py and process.py use the protocol) or run with -m
    from .entries import (HOOKS, Caller, HookTimedOut, NoEventHandler, NoSuchTool, call_hook, find_tool, invoke,
                          load_backend, tools)
    from .lifeline import die_with_parent, exit_now
    from .outbox import Outbox, encoded
    from .plugin_context import Context
    from .protocol import EXIT_HOOK_FAILED, EXIT_HOOK_TIMEOUT, HEADER, MAX_FRAME, FrameLink, encode_frame
    from .sync_executor import SyncExecutor
else:  # run by path: our siblings as a private package, neither importing aiplugs nor shadowing backend modules
    import types

    _package = types.ModuleType("_aiplugs_worker")
    _package.__path__ = [str(Path(__file__).resolve().parent)]
    sys.modules["_aiplugs_worker"] = _package
    from _aiplugs_worker.entries import (HOOKS, Caller, HookTimedOut, NoEventHandler, NoSuchTool, call_hook,
                                         find_tool, invoke, load_backend, tools)
    from _aiplugs_worker.lifeline import die_with_parent, exit_now
    from _aiplugs_worker.outbox import Outbox, encoded
    from _aiplugs_worker.plugin_context import Context
    from _aiplugs_worker.protocol import (EXIT_HOOK_FAILED, EXIT_HOOK_TIMEOUT, HEADER, MAX_FRAME, FrameLink,
                                          encode_frame)
    from _aiplugs_worker.sync_executor import SyncExecutor

__all__ = ["HEADER", "MAX_FRAME", "Harness", "encode_frame", "main"]


def _handler(module: Any, name: str) -> Callable[..., Any] | None:
    func = getattr(module, name, None)
    return func if callable(func) else None


def build_context(entry: Path, sink: Callable[[bytes], None]) -> Context:
    return Context.from_env(os.environ, sink=sink, fallback_id=entry.parent.name)


def report_timeout(e: HookTimedOut) -> int:
    """Where the hook is stuck, then the one-line reason last (what the manager quotes)."""
    print("\n".join([*e.where, str(e)]), file=sys.stderr, flush=True)
    return EXIT_HOOK_TIMEOUT


class Harness:
    """Serves one backend over ``link`` (connect it to the manager's socket): frames are taken as they arrive
    (``_frame``, from the link's ``buffer_updated``), answers go out through ``outbox`` (outbox.py: a plain answer
    of sync code written by the thread that ran it, the rest by the loop in batches). ``sock``: the socket under
    ``link``, which those threads write to (None: the loop writes every answer)."""

    def __init__(self, module: Any, entry: Path, *, hook_timeout: float,
                 sock: socket.socket | None = None) -> None:
        self.module = module
        self.loop = asyncio.get_running_loop()
        # read nothing before init ran and hello is out (``serve``); ends ``serve`` when the manager's end closes
        self.link = FrameLink(self._frame, self._link_ended, paused=True)
        self._served: asyncio.Future[None] = self.loop.create_future()
        self.hook_timeout = hook_timeout
        # calls in progress: tasks, or sync code in a thread (begin)
        self.tasks: dict[int, asyncio.Task[None] | concurrent.futures.Future[None]] = {}
        # the loop's default executor (to_thread uses it too): the threads for all sync code, as few as keep it
        # moving (sync_executor.py)
        self.executor = SyncExecutor(thread_name_prefix="asyncio")
        self.loop.set_default_executor(self.executor)
        self.outbox = Outbox(self.loop, self.link, sock, self._take, self._claim)
        self.ctx = build_context(entry, self.outbox.post)
        self.caller = Caller(self.ctx)
        self.hooks = {name: getattr(module, name) for name in HOOKS if _handler(module, name) is not None}
        self.on_message = _handler(module, "on_message")
        self.on_event = _handler(module, "on_event")
        self._shutdown_ran = False
        self._sync_funcs: dict[Any, bool] = {}

    def send(self, message: dict[str, Any]) -> None:
        self.outbox.send(message)

    async def start(self) -> int:
        """init, then serving until the manager closes the channel; the process's exit code."""
        init = self.hooks.get("init")
        if init is not None:
            try:
                await call_hook(self.caller, init, "init", self.hook_timeout)
            except HookTimedOut as e:
                return report_timeout(e)
            except Exception as e:
                traceback.print_exc(file=sys.stderr)
                reason = str(e).replace("\n", " ")
                print(f"init hook failed: {type(e).__name__}: {reason}", file=sys.stderr, flush=True)
                return EXIT_HOOK_FAILED
        await self.serve()
        return 0

    async def serve(self) -> None:
        """Says hello, then takes frames until the manager closes its end (or dies)."""
        self.send({"id": 0, "kind": "hello", "pid": os.getpid(), "on_message": self.on_message is not None,
                   "on_event": self.on_event is not None, "hooks": sorted(self.hooks), "tools": tools(self.module)})
        self.link.resume()
        await self._served

    def _frame(self, body: bytes) -> None:
        """One frame from the manager, as it arrives; what this raises (a garbled frame) ends ``serve`` with it."""
        message = json.loads(body)
        op, call_id = message.get("op"), message.get("id")
        if op == "ping":
            self.send({"id": call_id, "kind": "result", "value": "pong"})
        elif op == "cancel":
            task = self.tasks.pop(message.get("target"), None)  # a thread's late outcome is then dropped
            if task is not None:
                task.cancel()
        elif op in ("run", "message", "event"):
            self.begin(call_id, op, message)
        elif op == "shutdown":
            self.track(call_id, self.loop.create_task(self.call(call_id, op, message)))
        else:
            self.send({"id": call_id, "kind": "error", "type": "ProtocolError", "message": f"unknown op {op!r}"})

    def _link_ended(self, error: BaseException | None) -> None:
        if self._served.done():
            return
        if error is None or isinstance(error, OSError):  # EOF, or the manager's end is gone
            self._served.set_result(None)
        else:
            self._served.set_exception(error)

    def track(self, call_id: int, task: asyncio.Task[None]) -> None:
        """A call in progress, cancellable by id until it is done."""
        self.tasks[call_id] = task
        task.add_done_callback(lambda t, i=call_id: self.tasks.pop(i, None) if self.tasks.get(i) is t else None)

    def begin(self, call_id: int, op: str, message: dict[str, Any]) -> None:
        """Starts a call. Sync code, the common case, is handed to a thread of the loop's executor directly, and
        the thread writes its plain result itself (``Outbox.hand_over``): no task, future chain or coroutines per call
        as with ``invoke``'s to_thread (~25 % of a worker's CPU per call in benchmarks/bench_router.py). Anything
        else, and every outcome but a plain value, goes through ``call``."""
        try:
            func, args = self.resolve(op, message)
        except Exception:
            func = None  # call() resolves it again and reports why it cannot
        if func is None or not self._sync(func):
            self.track(call_id, self.loop.create_task(self.call(call_id, op, message)))
            return
        # like asyncio.to_thread: a copy of this context, so what the code sets in contextvars stays in the call
        with self.outbox.lock:  # in tasks before the thread can look (_claim)
            self.tasks[call_id] = self.executor.submit(self._in_thread, call_id, op, contextvars.copy_context(),
                                                       func, args)

    def _sync(self, func: Callable[..., Any]) -> bool:
        """Whether ``invoke`` would run ``func`` in a thread; remembered per function."""
        try:
            known = self._sync_funcs.get(func)
        except TypeError:  # an unhashable callable object
            return not (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func))
        if known is None:
            known = self._sync_funcs[func] = not (inspect.iscoroutinefunction(func)
                                                  or inspect.isasyncgenfunction(func))
        return known

    def _in_thread(self, call_id: int, op: str, context: contextvars.Context, func: Callable[..., Any],
                   args: tuple[Any, ...]) -> None:
        try:
            outcome: tuple[bool, Any] = (True, context.run(func, *args))
        except BaseException as e:  # reported by the loop (call), as for invoke's caller
            outcome = (False, e)
        ok, result = outcome
        if ok and not (inspect.isawaitable(result) or inspect.isgenerator(result) or inspect.isasyncgen(result)):
            # a plain value, the common case: answered from this thread
            answer = encoded({"id": call_id, "kind": "result", "value": None if op == "event" else result})
            self.outbox.hand_over(answer, answers=call_id)
        else:
            self.outbox.hand_over((call_id, op, outcome))

    def _claim(self, call_id: int) -> bool:
        """Whether call ``call_id`` still wants its answer (the outbox's lock is held); it is done with then."""
        return self.tasks.pop(call_id, None) is not None

    def _take(self, outcome: tuple[int, str, tuple[bool, Any]]) -> None:
        """An outcome of sync code that needs the loop (an exception, an awaitable, a stream): the general way,
        which reports or streams it."""
        call_id, op, ran = outcome
        if self._claim(call_id):
            self.track(call_id, self.loop.create_task(self.call(call_id, op, None, ran)))

    def resolve(self, op: str, message: dict[str, Any]) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The backend function a frame asks for, with its arguments."""
        if op == "event":
            if self.on_event is None:
                raise NoEventHandler("this plugin's backend defines no on_event(event) to receive events")
            return self.on_event, self.caller.args(self.on_event, (message.get("event"),))
        payload, tool = message.get("payload"), message.get("tool")
        if op == "message" and tool is None:
            if self.on_message is None:
                raise NotImplementedError("this plugin's backend defines no on_message(message) for WebSockets")
            base = (payload, message.get("client_id")) if self.caller.capacity(self.on_message) >= 2 else (payload,)
            return self.on_message, self.caller.args(self.on_message, base)
        func = find_tool(self.module, "run" if tool is None else tool)
        return func, self.caller.args(func, (payload,))

    async def call(self, call_id: int, op: str, message: dict[str, Any] | None,
                   ran: tuple[bool, Any] | None = None) -> None:
        """One call; ``ran``: (returned, its result or exception) of sync code ``begin`` ran in a thread."""
        try:
            if op == "shutdown":
                await self.shutdown()
                self.send({"id": call_id, "kind": "result", "value": None})
                return
            if ran is None:
                assert message is not None
                func, args = self.resolve(op, message)
                result = await invoke(func, args)
            else:
                returned, result = ran
                if not returned:
                    raise result
                if inspect.isawaitable(result):  # what invoke does with a sync function's awaitable
                    result = await result
            if op == "event":  # on_event's return value answers nobody
                self.send({"id": call_id, "kind": "result", "value": None})
            else:
                await self.answer(call_id, result)
        except asyncio.CancelledError:
            return  # the manager gave up on this call (timeout or client gone)
        except SystemExit as e:  # the backend asked the process to end: end it with the backend's code
            exit_now(e)
        except (NoSuchTool, NoEventHandler, HookTimedOut) as e:  # the protocol's errors: no backend traceback
            if isinstance(e, HookTimedOut):
                print(e, file=sys.stderr, flush=True)
            self.send({"id": call_id, "kind": "error", "type": type(e).__name__, "message": str(e)})
        except Exception as e:  # the backend raised: report it, keep serving
            traceback.print_exc(file=sys.stderr)
            self.send({"id": call_id, "kind": "error", "type": type(e).__name__, "message": str(e)})

    async def answer(self, call_id: int, result: Any) -> None:
        if inspect.isasyncgen(result):
            self.send({"id": call_id, "kind": "stream"})
            async for item in result:
                self.send({"id": call_id, "kind": "item", "value": item})
                await self.link.drain()
            self.send({"id": call_id, "kind": "end"})
        elif inspect.isgenerator(result):
            self.send({"id": call_id, "kind": "stream"})
            done = object()
            while (item := await asyncio.to_thread(next, result, done)) is not done:
                self.send({"id": call_id, "kind": "item", "value": item})
                await self.link.drain()
            self.send({"id": call_id, "kind": "end"})
        else:
            self.send({"id": call_id, "kind": "result", "value": result})

    async def shutdown(self) -> None:
        hook = self.hooks.get("shutdown")
        if hook is None or self._shutdown_ran:
            return
        self._shutdown_ran = True
        await call_hook(self.caller, hook, "shutdown", self.hook_timeout)


async def serve(args: argparse.Namespace) -> int:
    sock = socket.socket(fileno=args.fd)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    entry = Path(args.entry).resolve()
    harness = Harness(load_backend(entry), entry, hook_timeout=args.hook_timeout, sock=sock)
    await loop.create_unix_connection(lambda: harness.link, sock=sock)
    serving = loop.create_task(harness.start())
    stopping = loop.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    return serving.result() if serving.done() else 0


async def one_shot(args: argparse.Namespace) -> int:
    """Runs the install or uninstall hook once; an exception propagates (main prints it, exit code 1)."""
    entry = Path(args.entry).resolve()
    hook = _handler(load_backend(entry, require_run=False), args.hook)
    if hook is None:
        return 0

    def unheard(frame: bytes) -> None:  # no manager listens to a one-shot run; the log tells what was published
        print(f"ctx.publish during the {args.hook} hook is not delivered: {frame[HEADER.size:][:500].decode()}",
              file=sys.stderr)

    try:
        await call_hook(Caller(build_context(entry, unheard)), hook, args.hook, args.hook_timeout)
    except HookTimedOut as e:
        return report_timeout(e)
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="aiplugs-worker", description=__doc__.split("\n")[0])
    parser.add_argument("--entry", required=True, help="the plugin's backend.py")
    parser.add_argument("--fd", type=int, help="inherited socket to the manager (serving)")
    parser.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    parser.add_argument("--hook", choices=("install", "uninstall"), help="run this hook once instead of serving")
    parser.add_argument("--hook-timeout", type=float, default=60.0, help="seconds each hook may take")
    args = parser.parse_args(argv)
    if args.hook is None and (args.fd is None or args.parent_pid is None):
        parser.error("serving needs --fd and --parent-pid (or --hook for a one-shot hook run)")
    if args.parent_pid is not None:
        die_with_parent(args.parent_pid)
    # run_until_complete rather than asyncio.run: at the end asyncio.run would wait for the threads of sync
    # backend code (a hung hook, a long call) that os._exit is meant to leave behind.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        code = loop.run_until_complete(one_shot(args) if args.hook else serve(args))
    except SystemExit as e:  # sys.exit() in the backend, also while it was imported
        exit_now(e)
    except BaseException:  # an import error of the backend lands here: its traceback is the stderr tail
        traceback.print_exc(file=sys.stderr)
        code = 1
    exit_now(code)


if __name__ == "__main__":
    main()

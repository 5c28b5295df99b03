"""What the harness calls in a plugin's ``backend.py``: loading it, finding a named tool, passing ``ctx`` to the
functions that take it, and running hooks within a time limit. Standard library only (runs inside the worker).
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Callable

__all__ = ["HOOKS", "RESERVED", "Caller", "HookTimedOut", "NoEventHandler", "NoSuchTool", "call_hook", "find_tool",
           "invoke", "load_backend", "positional_capacity", "tools"]

HOOKS = ("init", "shutdown", "install", "uninstall")
# Functions with a fixed role: never callable as a tool by a page.
RESERVED = frozenset(HOOKS) | {"on_event", "on_message"}


class NoSuchTool(LookupError):
    """The run frame named a tool backend.py does not offer (the error frame's ``type``)."""


class NoEventHandler(LookupError):
    """An event arrived for a backend without ``on_event``."""


class HookTimedOut(Exception):
    """``where`` holds the innermost lines of what the hook was running when its time was up."""

    def __init__(self, message: str, where: list[str]) -> None:
        super().__init__(message)
        self.where = where


def load_backend(entry: Path, *, require_run: bool = True) -> Any:
    """Imports ``entry`` as module ``backend`` with its folder first on sys.path (so it can import siblings).

    Workers require ``run``: it is what ``POST /v1/plugins/<id>/run`` calls without a tool name, so a backend
    with tools only would fail on the plain route instead of at start. One-shot hook runs (install, uninstall)
    need no ``run``."""
    folder = str(entry.parent)
    harness_folder = Path(__file__).resolve().parent
    if sys.path and Path(sys.path[0]).resolve() == harness_folder:
        sys.path[0] = folder  # run by path: hide our own folder from the backend
    else:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location("backend", entry)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {entry}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["backend"] = module
    spec.loader.exec_module(module)
    if require_run and not callable(getattr(module, "run", None)):
        raise AttributeError(f"{entry} defines no run(payload) function")
    return module


def _is_tool(module: Any, name: str, obj: Any) -> bool:
    """A public, non-reserved callable *defined in* backend.py: a name it imported (``from shutil import
    rmtree``) must not become callable by pages."""
    return (not name.startswith("_") and name not in RESERVED and callable(obj) and not inspect.isclass(obj)
            and getattr(obj, "__module__", None) == module.__name__)


def tools(module: Any) -> list[str]:
    """The tool names a run frame may ask for (``run`` included), sorted."""
    names = {name for name, obj in vars(module).items() if _is_tool(module, name, obj)}
    if callable(getattr(module, "run", None)):
        names.add("run")
    return sorted(names)


def find_tool(module: Any, name: Any) -> Callable[..., Any]:
    if name == "run" and callable(getattr(module, "run", None)):
        return module.run
    obj = getattr(module, name, None) if isinstance(name, str) else None
    if isinstance(name, str) and _is_tool(module, name, obj):
        return obj  # type: ignore[return-value]
    why = " is reserved (a hook or handler, not a tool)" if name in RESERVED else " is not a tool of this backend"
    raise NoSuchTool(f"{name!r}{why}; tools: {', '.join(tools(module)) or 'none'}")


def positional_capacity(func: Callable[..., Any]) -> int:
    """How many positional arguments ``func`` names (``*args`` not counted; 0 when it has no signature)."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return 0
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


class Caller:
    """Builds a backend function's arguments: ``ctx`` goes last when the function names one more positional
    parameter than the base call (``def shout(payload, ctx)``, ``def on_event(event, ctx)``, ``def init(ctx)``).
    Signatures are inspected once per function."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self._capacity: dict[Any, int] = {}

    def capacity(self, func: Callable[..., Any]) -> int:
        try:
            n = self._capacity.get(func)
            if n is None:
                n = self._capacity[func] = positional_capacity(func)
        except TypeError:  # an unhashable callable object: inspect it every time
            n = positional_capacity(func)
        return n

    def args(self, func: Callable[..., Any], base: tuple[Any, ...]) -> tuple[Any, ...]:
        return (*base, self.ctx) if self.capacity(func) > len(base) else base


async def invoke(func: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """Calls sync code in a thread (the event loop keeps serving other calls) and async code on the loop; the
    result may still be a (async) generator for the caller to stream."""
    if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
        result = func(*args)
    else:
        result = await asyncio.to_thread(func, *args)
    if inspect.isawaitable(result):
        result = await result
    return result


async def call_hook(caller: Caller, func: Callable[..., Any], name: str, timeout: float) -> None:
    """Runs hook ``name``; HookTimedOut after ``timeout`` seconds (a sync hook's thread is left running: the
    process is about to end anyway), the hook's own exception otherwise — a TimeoutError the hook raised itself
    stays a failure, not a timeout."""
    task = asyncio.ensure_future(invoke(func, caller.args(func, ())))
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
        where = [] if done else stuck_at(task)
    finally:
        if not task.done():  # timed out, or whoever awaited us was cancelled
            task.cancel()
    if not done:
        raise HookTimedOut(f"{name} hook timed out after {timeout:g}s", where)
    task.result()


def stuck_at(task: asyncio.Task[Any], depth: int = 4) -> list[str]:
    """The innermost ``depth`` frames of what ``task`` is running: the coroutines it awaits, and the threads of
    the default executor (sync hooks run there). A traceback of every thread would bury them in the loop's own."""
    frames = []
    coro: Any = task.get_coro()
    while coro is not None and getattr(coro, "cr_frame", None) is not None:
        frames.append(coro.cr_frame)
        coro = coro.cr_await
    lines = traceback.format_list([traceback.FrameSummary(f.f_code.co_filename, f.f_lineno, f.f_code.co_name)
                                   for f in frames][-depth:]) if frames else []
    running = sys._current_frames()
    for thread in threading.enumerate():
        frame = running.get(thread.ident or -1)
        if frame is not None and thread.name.startswith("asyncio"):
            lines += [f"thread {thread.name}:\n", *traceback.format_list(traceback.extract_stack(frame)[-depth:])]
    return [line.rstrip("\n") for chunk in lines for line in chunk.splitlines()]

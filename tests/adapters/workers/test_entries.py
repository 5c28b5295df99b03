"""Plain-value pieces of the worker side: finding tools, passing ctx, hooks within a time limit."""

from __future__ import annotations

import asyncio
import time
import types

import pytest

from aiplugs.adapters.workers.entries import (Caller, HookTimedOut, NoSuchTool, call_hook, find_tool,
                                              positional_capacity, tools)


def backend_module() -> types.ModuleType:
    module = types.ModuleType("backend")
    source = ("from os.path import join\n"
              "def run(payload): return payload\n"
              "def shout(payload): return payload\n"
              "async def _hidden(payload): return payload\n"
              "def init(ctx): pass\n"
              "class Thing: pass\n")
    exec(compile(source, "backend.py", "exec"), module.__dict__)
    return module


def test_tools_are_public_functions_defined_in_the_backend() -> None:
    module = backend_module()
    assert tools(module) == ["run", "shout"]
    assert find_tool(module, "shout") is module.shout and find_tool(module, "run") is module.run
    for name in ("join", "_hidden", "init", "Thing", "missing", 3):
        with pytest.raises(NoSuchTool, match="tools: run, shout"):
            find_tool(module, name)


def test_an_imported_run_is_still_run() -> None:
    module = types.ModuleType("backend")
    module.run = len  # e.g. ``from .impl import run``
    assert tools(module) == ["run"] and find_tool(module, "run") is len


def p1(payload): ...
def p2(payload, ctx): ...
def p2_default(payload, ctx=None): ...
def p1_kw(payload, *, ctx): ...
def p_var(*args): ...
def m3(message, client_id, ctx): ...


@pytest.mark.parametrize("func, base, expected", [
    (p1, ("pl",), ("pl",)),
    (p2, ("pl",), ("pl", "CTX")),
    (p2_default, ("pl",), ("pl", "CTX")),
    (p1_kw, ("pl",), ("pl",)),  # keyword-only is not "one more positional parameter"
    (p_var, ("pl",), ("pl",)),
    (m3, ("msg", "client"), ("msg", "client", "CTX")),
    (p2, ("msg", "client"), ("msg", "client")),
    (p1, (), ("CTX",)),  # a hook that takes ctx
    (lambda: None, (), ()),  # a hook that does not
])
def test_ctx_goes_last_when_the_function_names_one_more_positional(func, base, expected) -> None:
    assert Caller("CTX").args(func, base) == expected


def test_positional_capacity_without_a_signature_is_zero() -> None:
    assert positional_capacity(max) == 0  # a builtin without a signature gets the base call only
    assert positional_capacity(p2) == 2 and positional_capacity(p_var) == 0


async def test_call_hook_passes_ctx_and_runs_sync_hooks_in_a_thread() -> None:
    import threading

    seen = []
    await call_hook(Caller("CTX"), lambda ctx: seen.append((ctx, threading.current_thread().name)), "init", 5)
    assert seen[0][0] == "CTX" and seen[0][1] != threading.current_thread().name


async def test_call_hook_times_out_and_says_where_a_sync_hook_hangs() -> None:
    release = asyncio.Event()

    def stuck_in_sync_hook(ctx):
        while not release.is_set():
            time.sleep(0.01)

    with pytest.raises(HookTimedOut, match=r"^init hook timed out after 0\.2s$") as info:
        await call_hook(Caller(None), stuck_in_sync_hook, "init", 0.2)
    release.set()
    assert any("in stuck_in_sync_hook" in line for line in info.value.where)


async def test_call_hook_times_out_and_says_where_an_async_hook_hangs() -> None:
    async def stuck_in_async_hook(ctx):
        await asyncio.sleep(3600)

    with pytest.raises(HookTimedOut) as info:
        await call_hook(Caller(None), stuck_in_async_hook, "shutdown", 0.1)
    assert str(info.value) == "shutdown hook timed out after 0.1s"
    assert any("in stuck_in_async_hook" in line for line in info.value.where)


async def test_a_timeout_error_the_hook_raises_is_its_failure_not_a_timeout() -> None:
    async def raises(ctx):
        raise TimeoutError("the model server did not answer")

    with pytest.raises(TimeoutError, match="model server"):
        await call_hook(Caller(None), raises, "init", 5)

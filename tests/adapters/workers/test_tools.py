"""Named tools against a real worker: each kind of function, ctx as a second argument, and names that are no
tool (unknown, private, imported, reserved) answered with NoSuchTool."""

from __future__ import annotations

import pytest

from aiplugs.adapters.workers import BackendError, WorkerError

TOOLS = "acount, add, awhoami, count, run, shout, whoami"


@pytest.fixture
async def tools(manager, make_spec):
    await manager.start(make_spec("tools", version="2.1"), 0)
    return manager


async def test_without_a_tool_run_answers(tools):
    assert await tools.call("tools", {"a": 1}) == {"tool": "run", "payload": {"a": 1}}
    assert await tools.call("tools", {"a": 1}, tool="run") == {"tool": "run", "payload": {"a": 1}}


async def test_a_sync_tool_runs_in_a_thread(tools):
    result = await tools.call("tools", {"text": "hi"}, tool="shout")
    assert result["text"] == "HI" and result["thread"] != "MainThread"


async def test_an_async_tool(tools):
    assert await tools.call("tools", {"a": 2, "b": 3}, tool="add") == {"sum": 5}


async def test_generator_tools_stream(tools):
    reply = await tools.request("tools", {"n": 3}, tool="count")
    assert reply.streaming and [item async for item in reply] == [{"i": 0}, {"i": 1}, {"i": 2}]
    items = [item async for item in tools.stream("tools", {"n": 2}, tool="acount")]
    assert items == [{"i": 0, "async": True}, {"i": 1, "async": True}]
    assert await tools.call("tools", {"n": 2}, tool="count") == [{"i": 0}, {"i": 1}]


async def test_a_tool_that_names_a_second_parameter_gets_ctx(tools):
    assert await tools.call("tools", {"q": 1}, tool="whoami") == {"plugin_id": "tools", "version": "2.1",
                                                                  "payload": {"q": 1}}
    assert await tools.call("tools", None, tool="awhoami") == {"plugin_id": "tools", "async": True}


async def test_a_websocket_message_may_name_a_tool(tools):
    reply = await tools.message("tools", "client-1", {"text": "ws"}, tool="shout")
    assert reply.value["text"] == "WS"


@pytest.mark.parametrize("name, why", [
    ("nope", "is not a tool of this backend"),
    ("_private", "is not a tool of this backend"),
    ("join", "is not a tool of this backend"),  # imported into backend.py, not defined there
    ("Model", "is not a tool of this backend"),  # a class
    ("init", "is reserved (a hook or handler, not a tool)"),
    ("on_event", "is reserved (a hook or handler, not a tool)"),
    ("uninstall", "is reserved (a hook or handler, not a tool)"),
    ("on_message", "is reserved (a hook or handler, not a tool)"),
])
async def test_names_that_are_no_tool_answer_no_such_tool(tools, name, why):
    with pytest.raises(BackendError) as info:
        await tools.call("tools", {}, tool=name)
    assert info.value.type_name == "NoSuchTool" and info.value.status == 404  # the caller's mistake
    assert info.value.detail == f"{name!r} {why}; tools: {TOOLS}"
    assert (await tools.call("tools", {}))["tool"] == "run"  # the worker keeps serving


async def test_a_backend_with_tools_but_no_run_does_not_start(manager, make_spec):
    with pytest.raises(WorkerError, match=r"defines no run\(payload\) function"):
        await manager.start(make_spec("tools_only"), 0)

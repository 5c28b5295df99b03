"""Named tools through a real router to real workers: ``POST /v1/plugins/{id}/tools/{tool}``, input schemas (422),
undeclared tools (404), cloud plugins (run only) and ``GET /api/plugins/{id}``."""

from __future__ import annotations

import dataclasses

from aiplugs.adapters.router.tools import MAX_ERRORS, OFF_LOOP_BYTES, Refusal, ToolValidators, resolve_tool

from .conftest import ITEMS_SCHEMA, TOOLBOX_TOOLS
from .test_run import sse_events

ITEMS = {"items": [{"name": "a"}, {"name": "b"}]}
BAD_ITEMS = {"items": [{"name": "a"}, {"name": "b"}, {"name": 3}, {}]}


async def test_a_tool_answers_json(router):
    r = await router.client.post("/v1/plugins/toolbox/tools/label", json=ITEMS, headers=router.page())
    assert r.status_code == 200 and r.json() == "a, b"


async def test_a_generator_tool_streams_sse(router):
    r = await router.client.post("/v1/plugins/toolbox/tools/words", json={"text": "one two three"},
                                 headers=router.page())
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert sse_events(r.text) == [("message", {"i": 0, "word": "one"}), ("message", {"i": 1, "word": "two"}),
                                  ("message", {"i": 2, "word": "three"})]


async def test_accept_event_stream_wraps_a_plain_tool_result(router):
    r = await router.client.post("/v1/plugins/toolbox/tools/label", json=ITEMS,
                                 headers=router.page(Accept="text/event-stream"))
    assert r.headers["content-type"].startswith("text/event-stream") and sse_events(r.text) == [("message", "a, b")]


async def test_run_is_the_default_tool(router):
    via_run = await router.client.post("/v1/plugins/toolbox/run", json={"x": 1}, headers=router.page())
    via_tools = await router.client.post("/v1/plugins/toolbox/tools/run", json={"x": 1}, headers=router.page())
    assert via_run.json() == via_tools.json() == {"tool": "run", "payload": {"x": 1}}


async def test_input_failing_the_schema_is_422_with_every_field_and_never_reaches_a_worker(router):
    r = await router.client.post("/v1/plugins/toolbox/tools/label", json=BAD_ITEMS, headers=router.page())
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["type"] == "invalid_input" and error["message"] == "items[2].name: must be of type string (got 3)"
    assert error["errors"] == [{"path": "items[2].name", "message": "must be of type string (got 3)"},
                               {"path": "items[3].name", "message": "required property is missing"}]
    assert (error["plugin"], error["tool"]) == ("toolbox", "label")
    assert not router.ctx.workers.has("toolbox")  # refused before the lazy plugin was even started


async def test_the_run_route_checks_runs_schema_too(router):
    r = await router.client.post("/v1/plugins/toolbox/run", json=[1, 2], headers=router.page())
    assert r.status_code == 422 and r.json()["error"]["message"] == "input: must be of type object (got [1, 2])"
    assert r.json()["error"]["errors"] == [{"path": "", "message": "must be of type object (got [1, 2])"}]


async def test_a_tool_the_manifest_does_not_declare_is_404_naming_the_tools(router):
    r = await router.client.post("/v1/plugins/toolbox/tools/undeclared", json={}, headers=router.page())
    assert r.status_code == 404  # backend.py has the function; the manifest does not offer it
    error = r.json()["error"]
    assert error["type"] == "no_such_tool" and error["tools"] == ["run", "label", "words", "announce", "ghost"]
    assert error["message"] == ("plugin 'toolbox' has no tool 'undeclared'; its tools: run, label, words, "
                                "announce, ghost")
    r = await router.client.post("/v1/plugins/toolbox/tools/lable", json=ITEMS, headers=router.page())
    assert r.status_code == 404 and "(did you mean 'label'?)" in r.json()["error"]["message"]
    r = await router.client.post("/v1/plugins/echo/tools/label", json=ITEMS, headers=router.page())
    assert r.status_code == 404 and r.json()["error"]["tools"] == ["run"]  # no tools declared: run only


async def test_a_declared_tool_backend_py_lacks_is_the_workers_404(router):
    r = await router.client.post("/v1/plugins/toolbox/tools/ghost", json={}, headers=router.page())
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["type"] == "NoSuchTool" and error["plugin"] == "toolbox" and "'ghost'" in error["message"]


async def test_cloud_plugins_relay_run_only(router):
    r = await router.client.post("/v1/plugins/chat/tools/summarize", json={"messages": []}, headers=router.page())
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["type"] == "no_such_tool" and "cloud mode" in error["message"] and "'summarize'" in error["message"]
    r = await router.client.post("/v1/plugins/chat/tools/run",
                                 json={"messages": [{"role": "user", "content": "hi"}]}, headers=router.page())
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "HI"


async def test_tool_routes_share_the_guard_limits_and_errors_of_run(router):
    r = await router.client.post("/v1/plugins/toolbox/tools/label", json=ITEMS)
    assert r.status_code == 401
    r = await router.client.post("/v1/plugins/toolbox/tools/label", content=b"x" * 70000, headers=router.page())
    assert r.status_code == 413
    r = await router.client.post("/v1/plugins/toolbox/tools/label", content=b"{nope", headers=router.page())
    assert r.status_code == 400 and r.json()["error"]["type"] == "bad_json"
    r = await router.client.post("/v1/plugins/toolbx/tools/label", json=ITEMS, headers=router.page())
    assert r.status_code == 404 and "(did you mean 'toolbox'?)" in r.json()["error"]["message"]
    r = await router.client.post("/v1/plugins/toolbox/tools/words", json={"text": 7}, headers=router.page())
    assert r.status_code == 422 and r.json()["error"]["message"] == "text: must be of type string (got 7)"


async def test_plugin_detail_lists_tools_with_their_schemas(router):
    r = await router.client.get("/api/plugins/toolbox", headers=router.admin())
    assert r.status_code == 200
    body = r.json()
    assert {k: body[k] for k in ("id", "name", "version", "mode", "dependencies", "subscribes", "page_events")} == {
        "id": "toolbox", "name": "toolbox", "version": "1.0.0", "mode": "local", "dependencies": [],
        "subscribes": [], "page_events": False}
    assert body["tools"] == [{"name": t["name"], "description": t["description"],
                              "input_schema": t.get("input_schema")} for t in TOOLBOX_TOOLS]
    listener = (await router.client.get("/api/plugins/listener", headers=router.admin())).json()
    assert (listener["subscribes"], listener["page_events"]) == (["toolbox/*"], True)
    assert listener["tools"] == [{"name": "run", "description": "", "input_schema": None}]
    chat = (await router.client.get("/api/plugins/chat", headers=router.admin())).json()
    assert chat["mode"] == "cloud"


async def test_plugin_detail_needs_the_admin_token_and_a_known_id(router):
    assert (await router.client.get("/api/plugins/toolbox", headers=router.page())).status_code == 401
    r = await router.client.get("/api/plugins/tolbox", headers=router.admin())
    assert r.status_code == 404 and r.json()["error"]["message"] == \
        "plugin 'tolbox' does not exist (did you mean 'toolbox'?)"


async def test_validators_are_compiled_once_per_route_config(router):
    validators = ToolValidators()
    route = router.ctx.route("toolbox")
    label = route.plugin.tool("label")
    first = validators.validator(route, label)
    assert validators.validator(route, label) is first
    assert await validators.refusal(route, label, ITEMS) is None
    changed = dataclasses.replace(route, config_hash="another")
    assert validators.validator(changed, label) is not first
    assert await validators.refusal(changed, route.plugin.tool("announce"), [1]) is None  # no schema: anything goes


async def test_big_payloads_get_the_same_answer_from_a_thread_and_errors_are_capped(router):
    route = router.ctx.route("toolbox")
    many = {"items": [{"name": i} for i in range(MAX_ERRORS + 20)]}
    for size in (0, OFF_LOOP_BYTES):
        refusal = await ToolValidators().refusal(route, route.plugin.tool("label"), many, size=size)
        assert refusal.status == 422 and len(refusal.extra["errors"]) == MAX_ERRORS
        assert refusal.extra["more_errors"] == 20
        assert refusal.message == "items[0].name: must be of type string (got 0)"


def test_resolve_tool_decides_from_the_route_alone(router):
    route = router.ctx.route("toolbox")
    assert resolve_tool(route, "label").schema() == ITEMS_SCHEMA
    assert isinstance(resolve_tool(route, "undeclared"), Refusal)
    chat = router.ctx.route("chat")
    assert resolve_tool(chat, "run").name == "run" and resolve_tool(chat, "x").status == 404

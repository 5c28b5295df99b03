"""PluginCalls takes exactly the plugin calls Starlette's router would give the same routes, with the same scope,
and leaves everything else (wrong method, trailing slash, other paths) to Starlette, answering as before."""

from __future__ import annotations

import pytest
from starlette.routing import Match, Route

from aiplugs.adapters.router.plugins import PluginCalls, run_plugin, run_tool

RUN = Route("/v1/plugins/{plugin_id}/run", run_plugin, methods=["POST"])
TOOL = Route("/v1/plugins/{plugin_id}/tools/{tool}", run_tool, methods=["POST"])


def _scope(method: str, path: str, **extra: object) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], **extra}


@pytest.mark.parametrize("method, path", [
    ("POST", "/v1/plugins/echo/run"), ("POST", "/v1/plugins/echo/tools/label"), ("POST", "/v1/plugins/a.b-c/run"),
    ("POST", "/v1/plugins/%20x/tools/t%2Fu"), ("POST", "/v1/plugins/é/tools/ü"), ("GET", "/v1/plugins/echo/run"),
    ("PUT", "/v1/plugins/echo/tools/label"), ("POST", "/v1/plugins/echo/run/"), ("POST", "/v1/plugins//run"),
    ("POST", "/v1/plugins/echo/tools/"), ("POST", "/v1/plugins/echo/tools/a/b"), ("POST", "/v1/plugins/echo"),
    ("POST", "/v1/plugins/echo/runs"), ("POST", "/v1/plugins/echo/assets/x.js"), ("POST", "/v1/plugins/run"),
    ("POST", "/api/plugins/echo/run"), ("POST", "//v1/plugins/echo/run"), ("POST", "/v1/plugins/echo/run\n"),
])
def test_takes_what_the_router_would_give_the_same_route(method: str, path: str) -> None:
    calls = PluginCalls(app=None, run=RUN, tool=TOOL)  # type: ignore[arg-type]
    ours = _scope(method, path)
    route = calls._route(ours)
    theirs = _scope(method, path)
    expected = None
    for candidate in (RUN, TOOL):  # the first routes of the app, in order
        match, child = candidate.matches(theirs)
        if match is Match.FULL:
            theirs.update(child, route=candidate)
            expected = candidate
            break
    if route is None:  # left to Starlette: then either the router agrees it is no call, or it is a rare spelling
        assert expected is None or path.endswith("\n")
        assert ours == _scope(method, path)  # untouched
    else:
        assert route is expected and ours == theirs


def test_a_root_path_is_left_to_starlette() -> None:
    calls = PluginCalls(app=None, run=RUN, tool=TOOL)  # type: ignore[arg-type]
    assert calls._route(_scope("POST", "/x/v1/plugins/echo/run", root_path="/x")) is None


def test_path_params_of_an_outer_router_are_kept() -> None:
    calls = PluginCalls(app=None, run=RUN, tool=TOOL)  # type: ignore[arg-type]
    scope = _scope("POST", "/v1/plugins/echo/tools/label", path_params={"outer": "1"})
    assert calls._route(scope) is TOOL
    assert scope["path_params"] == {"outer": "1", "plugin_id": "echo", "tool": "label"}


async def test_answers_over_http_as_before(router) -> None:
    ok = await router.client.post("/v1/plugins/echo/run", json={"x": 1}, headers=router.page())
    assert ok.status_code == 200 and ok.json()["echo"] == {"x": 1}
    unknown = await router.client.post("/v1/plugins/nope/run", json={}, headers=router.page())
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found"
    for path in ("/v1/plugins/echo/run", "/v1/plugins/toolbox/tools/label"):
        wrong = await router.client.get(path, headers=router.page())
        assert (wrong.status_code, wrong.headers["allow"], wrong.text) == (405, "POST", "Method Not Allowed")
    slash = await router.client.post("/v1/plugins/echo/run/", json={}, headers=router.page())
    assert slash.status_code == 307 and slash.headers["location"].endswith("/v1/plugins/echo/run")
    empty = await router.client.post("/v1/plugins/echo/tools/", json={}, headers=router.page())
    assert empty.status_code == 404
    raised = await router.client.post("/v1/plugins/raises/run", json={}, headers=router.page())
    assert raised.status_code == 500 and set(raised.json()["error"]) >= {"type", "message", "plugin"}
    refused = await router.client.post("/v1/plugins/toolbox/tools/label", json={"items": [{}]},
                                       headers=router.page())
    assert refused.status_code == 422 and refused.json()["error"]["errors"]
    no_token = await router.client.post("/v1/plugins/echo/run", json={})
    assert no_token.status_code == 401  # the guard still comes first

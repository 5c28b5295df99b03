"""TokenGuard with a plain ASGI app: the token each route class needs, and exactly one of each token."""

from __future__ import annotations

import pytest

from aiplugs.adapters.router.guard import TokenGuard, route_class

from .asgi import ADMIN, PAGE, PORT, context, run, scope

HOST = ("Host", f"127.0.0.1:{PORT}")


def test_route_classes() -> None:
    assert route_class("/api/health") == route_class("/proxy.pac") == route_class("/welcome") == "public"
    assert route_class("/v1/plugins/p/assets/a/b.js") == "asset"
    assert route_class("/v1/plugins/p/run") == route_class("/v1/plugins/p/ws") == route_class("/v1/x") == "page"
    assert route_class("/api/state") == route_class("/metrics") == route_class("/") == "admin"


@pytest.mark.parametrize("path,headers,status", [
    ("/api/health", [], 200),
    ("/v1/plugins/p/assets/c.js", [], 200),
    ("/v1/plugins/p/run", [], 401),
    ("/v1/plugins/p/run", [("X-AIPlugs-Token", PAGE)], 200),
    ("/v1/plugins/p/run", [("Authorization", f"Bearer {ADMIN}")], 200),
    ("/v1/plugins/p/run", [("X-AIPlugs-Token", "wrong")], 401),
    ("/api/state", [("X-AIPlugs-Token", PAGE)], 401),
    ("/api/state", [("Authorization", f"bearer {ADMIN}")], 200),
    ("/api/state", [("Authorization", "Bearer wrong")], 401),
])
async def test_tokens_per_route_class(path: str, headers: list[tuple[str, str]], status: int) -> None:
    answer = await run(TokenGuard, scope(path, headers=[HOST, *headers]), ctx=context())
    assert answer.status == status
    if status == 401:
        assert answer.headers["www-authenticate"] == ["Bearer"] and answer.app_saw is None


@pytest.mark.parametrize("path,headers", [
    ("/api/state", [("Authorization", f"Bearer {ADMIN}"), ("Authorization", "Bearer wrong")]),
    ("/api/state", [("Authorization", "Bearer wrong"), ("Authorization", f"Bearer {ADMIN}")]),
    ("/v1/plugins/p/run", [("X-AIPlugs-Token", "wrong"), ("X-AIPlugs-Token", PAGE)]),
    ("/v1/plugins/p/run", [("X-AIPlugs-Token", PAGE), ("X-AIPlugs-Token", PAGE)]),
])
async def test_repeated_tokens_are_400(path: str, headers: list[tuple[str, str]]) -> None:
    answer = await run(TokenGuard, scope(path, headers=[HOST, *headers]), ctx=context())
    assert answer.status == 400 and "repeated" in answer.json()["error"]["message"] and answer.app_saw is None


async def test_query_token_is_for_websockets_only_and_must_come_once() -> None:
    ws = await run(TokenGuard, scope("/v1/plugins/p/ws", kind="websocket", query=f"client_id=c&token={PAGE}"),
                   ctx=context())
    assert ws.accepted
    http = await run(TokenGuard, scope("/v1/plugins/p/run", query=f"token={PAGE}"), ctx=context())
    assert http.status == 401
    twice = await run(TokenGuard, scope("/v1/plugins/p/ws", kind="websocket", query=f"token={PAGE}&token=x"),
                      ctx=context())
    assert twice.close_code == 1008 and not twice.accepted

"""The front door as one middleware (``Guard``), its rules in order: Host first, then CORS (preflights carry no
token), tokens, and the body last."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from aiplugs.adapters.router.guard import Guard, guard_middleware
from aiplugs.adapters.router.guard._asgi import Picked

from .asgi import ADMIN, PAGE, PORT, context, run, scope

HOST = ("Host", f"127.0.0.1:{PORT}")
SITE = "https://site.example"


def test_guard_middleware_is_one_layer() -> None:
    assert [m.cls for m in guard_middleware(context())] == [Guard]
    Starlette(middleware=guard_middleware(context()))  # accepted as Starlette middleware


async def test_host_comes_first() -> None:
    answer = await run(Guard, scope(headers=[("Host", "rebind.example"), ("Origin", "x"), ("Origin", "y")]),
                       (b"x" * 50,), ctx=context())
    assert answer.status == 403 and "loopback" in answer.json()["error"]["message"] and answer.app_saw is None


async def test_a_preflight_needs_no_token_and_refusals_reach_an_allowed_page() -> None:
    preflight = await run(Guard, scope(method="OPTIONS", headers=[HOST, ("Origin", SITE),
                                                                  ("Access-Control-Request-Method", "POST")]),
                          ctx=context())
    assert preflight.status == 204 and preflight.headers["access-control-allow-origin"] == [SITE]
    refused = await run(Guard, scope(headers=[HOST, ("Origin", SITE)]), (b"{}",), ctx=context())
    assert refused.status == 401 and refused.headers["access-control-allow-origin"] == [SITE]
    too_big = await run(Guard, scope(headers=[HOST, ("Origin", SITE), ("X-AIPlugs-Token", PAGE)]), (b"x" * 11,),
                        ctx=context(max_body_bytes=10))
    assert too_big.status == 413 and too_big.headers["access-control-allow-origin"] == [SITE]


async def test_the_body_is_read_only_after_the_token() -> None:
    anonymous = await run(Guard, scope(headers=[HOST, ("Content-Length", "50")]), (b"x" * 50,), ctx=context())
    assert anonymous.status == 401
    ok = await run(Guard, scope(headers=[HOST, ("X-AIPlugs-Token", PAGE)]), (b"0123", b"456789"), ctx=context())
    assert ok.status == 200 and ok.app_saw == b"0123456789" and "access-control-allow-origin" not in ok.headers


@pytest.mark.parametrize("name", ["Host", "Origin", "Authorization", "X-AIPlugs-Token", "Content-Length"])
async def test_every_deciding_header_must_come_once(name: str) -> None:
    values = {"Host": HOST[1], "Origin": SITE, "Authorization": f"Bearer {ADMIN}", "X-AIPlugs-Token": PAGE,
              "Content-Length": "2"}
    headers = [HOST, ("X-AIPlugs-Token", PAGE)] if name not in ("Host", "X-AIPlugs-Token") else \
        [("X-AIPlugs-Token", PAGE)] if name == "Host" else [HOST]
    answer = await run(Guard, scope(headers=[*headers, (name, values[name]), (name, values[name])]), (b"{}",),
                       ctx=context())
    assert answer.status == 400 and "repeated" in answer.json()["error"]["message"] and answer.app_saw is None


async def test_websockets_and_lifespan() -> None:
    ws = await run(Guard, scope("/v1/plugins/p/ws", kind="websocket", headers=[HOST, ("Origin", "https://evil.ex")],
                                query=f"token={PAGE}"), ctx=context())
    assert ws.close_code == 1008 and not ws.accepted
    ok = await run(Guard, scope("/v1/plugins/p/ws", kind="websocket", query=f"token={PAGE}"), ctx=context())
    assert ok.accepted
    seen = []

    async def app(s, receive, send):  # type: ignore[no-untyped-def]
        seen.append(s["type"])

    await Guard(app, context())({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]


def test_picked_reads_the_deciding_headers_only() -> None:
    picked = Picked({"headers": [(b"host", b"a"), (b"cookie", b"x=1"), (b"cookie", b"y=2"), (b"user-agent", b"u")]})
    assert picked.getlist("host") == ["a"] and picked.getlist("cookie") == ["x=1", "y=2"]
    assert picked.get("origin") is None and "host" in picked and "origin" not in picked
    with pytest.raises(KeyError):
        picked.getlist("user-agent")  # no rule decides on it: asking is a bug, not an absent header

"""CorsGuard with a plain ASGI app: plugin origins on page and asset routes only, and exactly one Origin."""

from __future__ import annotations

from aiplugs.adapters.router.guard import CorsGuard, origin_allowed

from .asgi import PORT, context, run, scope

HOST = ("Host", f"127.0.0.1:{PORT}")
SITE = "https://site.example"


def _preflight(origin: str, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [HOST, ("Origin", origin), ("Access-Control-Request-Method", "POST"), *extra]


def test_origin_allowed_follows_the_patterns() -> None:
    ctx = context(matches=("https://site.example/*", "*://*.wiki.example:8443/*"))
    assert origin_allowed(SITE, ctx) and origin_allowed("https://site.example:8443", ctx)  # no port: any port
    assert not origin_allowed("http://site.example", ctx) and not origin_allowed("https://evil.example", ctx)
    assert origin_allowed("http://en.wiki.example:8443", ctx) and not origin_allowed("http://en.wiki.example", ctx)
    assert not origin_allowed("null", ctx) and not origin_allowed("https://[bad", ctx)


async def test_preflight_for_a_plugin_origin() -> None:
    headers = _preflight(SITE, ("Access-Control-Request-Headers", "Content-Type"),
                         ("Access-Control-Request-Headers", "x-aiplugs-token, x-other"),
                         ("Access-Control-Request-Private-Network", "true"))
    answer = await run(CorsGuard, scope(method="OPTIONS", headers=headers), ctx=context())
    assert answer.status == 204 and answer.app_saw is None
    assert answer.headers["access-control-allow-origin"] == [SITE]
    assert answer.headers["access-control-allow-headers"] == ["content-type, x-aiplugs-token"]
    assert answer.headers["access-control-allow-private-network"] == ["true"]


async def test_preflight_is_403_for_other_origins_and_routes() -> None:
    other = await run(CorsGuard, scope(method="OPTIONS", headers=_preflight("https://evil.example")), ctx=context())
    admin = await run(CorsGuard, scope("/api/state", method="OPTIONS", headers=_preflight(SITE)), ctx=context())
    assert other.status == admin.status == 403
    assert "access-control-allow-origin" not in other.headers | admin.headers


async def test_responses_carry_cors_headers_for_plugin_origins_on_page_routes_only() -> None:
    page = await run(CorsGuard, scope(headers=[HOST, ("Origin", SITE)]), ctx=context())
    assert page.status == 200 and page.headers["access-control-allow-origin"] == [SITE]
    assert page.headers["vary"] == ["Origin"]
    evil = await run(CorsGuard, scope(headers=[HOST, ("Origin", "https://evil.example")]), ctx=context())
    admin = await run(CorsGuard, scope("/api/state", "GET", headers=[HOST, ("Origin", SITE)]), ctx=context())
    assert evil.status == admin.status == 200  # no CORS headers: the browser keeps the answer from the page
    assert "access-control-allow-origin" not in evil.headers | admin.headers


async def test_repeated_origin_is_400() -> None:
    for pair in ([SITE, "https://evil.example"], ["https://evil.example", SITE], [SITE, SITE]):
        headers = [HOST, *(("Origin", o) for o in pair)]
        answer = await run(CorsGuard, scope(headers=headers), ctx=context())
        assert answer.status == 400 and "repeated origin" in answer.json()["error"]["message"]
        assert "access-control-allow-origin" not in answer.headers and answer.app_saw is None
        ws = await run(CorsGuard, scope("/v1/plugins/p/ws", kind="websocket", headers=headers), ctx=context())
        assert ws.close_code == 1008 and not ws.accepted


async def test_websocket_origin_must_be_a_plugin_or_loopback_origin() -> None:
    def ws(origin: str):
        return run(CorsGuard, scope("/v1/plugins/p/ws", kind="websocket", headers=[HOST, ("Origin", origin)]),
                   ctx=context())

    assert (await ws(SITE)).accepted
    assert (await ws(f"http://127.0.0.1:{PORT}")).accepted
    foreign = await ws("https://evil.example")
    assert foreign.close_code == 1008 and not foreign.accepted

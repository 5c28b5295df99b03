"""Host check, tokens, CORS and the body limit for every route class, against the real router."""

from __future__ import annotations

import asyncio

import pytest

from aiplugs.adapters.router import check_host, origin_allowed, route_class

from .conftest import ADMIN, PAGE

ROUTES = [  # (class, method, path)
    ("public", "GET", "/api/health"),
    ("asset", "GET", "/v1/plugins/echo/assets/content.js"),
    ("page", "POST", "/v1/plugins/echo/run"),
    ("admin", "GET", "/api/state"),
    ("admin", "GET", "/api/plugins"),
    ("admin", "GET", "/metrics"),
    ("admin", "GET", "/api/status"),
    ("admin", "POST", "/api/apply"),
]


def test_route_classes() -> None:
    assert [route_class(path) for _, _, path in ROUTES] == [kind for kind, _, _ in ROUTES]
    assert route_class("/v1/plugins/x/ws") == "page"
    assert route_class("/nope") == "admin"


def test_check_host_plain_values() -> None:
    assert check_host("127.0.0.1:5000", 5000) is None
    assert check_host("localhost:5000", 5000) is None
    assert check_host("[::1]:5000", 5000) is None
    assert check_host("127.0.0.2:5000", 5000) is None
    assert check_host("evil.example:5000", 5000)[0] == 403
    assert check_host("127.0.0.1.nip.io:5000", 5000)[0] == 403
    assert check_host(None, 5000)[0] == 403
    assert check_host("127.0.0.1:5001", 5000)[0] == 421
    assert check_host("localhost", 5000)[0] == 421


@pytest.mark.parametrize("kind,method,path", ROUTES)
async def test_foreign_host_is_403_and_wrong_port_421(router, kind, method, path):
    headers = {**router.admin(), **router.page()}
    r = await router.client.request(method, path, headers={**headers, "Host": f"attacker.example:{router.port}"},
                                    json={})
    assert r.status_code == 403 and "DNS-rebinding" in r.json()["error"]["message"]
    r = await router.client.request(method, path, headers={**headers, "Host": f"127.0.0.1:{router.port + 1}"},
                                    json={})
    assert r.status_code == 421


@pytest.mark.parametrize("kind,method,path", ROUTES)
async def test_tokens_per_route_class(router, kind, method, path):
    none = await router.client.request(method, path, json={})
    page = await router.client.request(method, path, json={}, headers={"X-AIPlugs-Token": PAGE})
    admin = await router.client.request(method, path, json={}, headers={"Authorization": f"Bearer {ADMIN}"})
    wrong = await router.client.request(method, path, json={}, headers={"Authorization": "Bearer nope",
                                                                       "X-AIPlugs-Token": "nope"})
    if kind in ("public", "asset"):
        assert none.status_code == page.status_code == admin.status_code == 200
    elif kind == "page":
        assert none.status_code == wrong.status_code == 401
        assert page.status_code == admin.status_code == 200
    else:
        assert none.status_code == page.status_code == wrong.status_code == 401
        assert none.headers["www-authenticate"] == "Bearer"
        assert admin.status_code in (200, 503)  # 503: this router runs without a daemon controller


async def test_page_token_in_query_is_only_for_websockets(router):
    r = await router.client.post(f"/v1/plugins/echo/run?token={PAGE}", json={})
    assert r.status_code == 401


async def test_cors_preflight_and_headers_for_plugin_origins_only(router):
    pre = {"Origin": "https://echo.example", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type, x-aiplugs-token",
           "Access-Control-Request-Private-Network": "true"}
    r = await router.client.options("/v1/plugins/echo/run", headers=pre)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://echo.example"
    assert r.headers["access-control-allow-headers"] == "content-type, x-aiplugs-token"
    assert r.headers["access-control-allow-private-network"] == "true"
    assert "*" not in r.headers["access-control-allow-origin"]
    r = await router.client.options("/v1/plugins/echo/run", headers={**pre, "Origin": "https://evil.example"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    r = await router.client.options("/api/state", headers=pre)  # control routes never answer CORS
    assert r.status_code == 403
    r = await router.client.post("/v1/plugins/echo/run", json={}, headers=router.page(Origin="https://echo.example"))
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://echo.example"
    assert r.headers["vary"] == "Origin"
    r = await router.client.post("/v1/plugins/echo/run", json={}, headers=router.page(Origin="https://evil.example"))
    assert "access-control-allow-origin" not in r.headers
    r = await router.client.get("/api/state", headers=router.admin(Origin="https://echo.example"))
    assert "access-control-allow-origin" not in r.headers


def test_origin_allowed_follows_content_script_patterns(router) -> None:
    ctx = router.ctx
    assert origin_allowed("https://echo.example", ctx)
    assert not origin_allowed("http://echo.example", ctx)  # the pattern says https only
    assert origin_allowed("https://en.wikipedia.org", ctx)  # word-count's *://*.wikipedia.org/wiki/*
    assert not origin_allowed("https://wikipedia.org.evil.example", ctx)
    assert not origin_allowed("null", ctx)


async def test_body_limit_is_413(router):
    big = b'{"text": "' + b"x" * 70_000 + b'"}'  # the test project sets max_body_bytes = 65536
    r = await router.client.post("/v1/plugins/echo/run", content=big, headers=router.page())
    assert r.status_code == 413 and "65536" in r.json()["error"]["message"]

    async def chunked():
        for _ in range(10):
            yield b"x" * 10_000

    r = await router.client.post("/v1/plugins/echo/run", content=chunked(), headers=router.page())
    assert r.status_code == 413
    ok = await router.client.post("/v1/plugins/echo/run", content=b'{"t": "' + b"y" * 60_000 + b'"}',
                                  headers=router.page())
    assert ok.status_code == 200


@pytest.mark.parametrize("path,headers", [
    ("/api/state", [("Authorization", f"Bearer {ADMIN}"), ("Authorization", "Bearer nope")]),
    ("/api/state", [("Authorization", "Bearer nope"), ("Authorization", f"Bearer {ADMIN}")]),
    ("/v1/plugins/echo/run", [("X-AIPlugs-Token", "nope"), ("X-AIPlugs-Token", PAGE)]),
    ("/v1/plugins/echo/run", [("X-AIPlugs-Token", PAGE), ("Origin", "https://echo.example"),
                              ("Origin", "https://evil.example")]),
])
async def test_repeated_decision_headers_are_refused(router, path, headers):
    """One valid and one invalid copy: never decided on whichever copy a parser happens to keep."""
    r = await router.client.request("POST" if path.startswith("/v1/") else "GET", path, json={}, headers=headers)
    assert r.status_code == 400 and "repeated" in r.json()["error"]["message"]
    assert "access-control-allow-origin" not in r.headers


async def _raw_status(router, head: str, body: bytes = b"") -> int:
    """Status of a hand-written request: HTTP clients refuse to send a second Host or Content-Length."""
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    try:
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        await writer.drain()
        return int((await asyncio.wait_for(reader.readline(), 10)).split()[1])
    finally:
        writer.close()


async def test_repeated_host_or_content_length_is_400(router):
    here = f"127.0.0.1:{router.port}"
    for hosts in ([here, "attacker.example"], ["attacker.example", here], [here, here]):
        head = "GET /api/health HTTP/1.1\n" + "".join(f"Host: {h}\n" for h in hosts) + "Connection: close\n"
        assert await _raw_status(router, head) == 400
    head = (f"POST /v1/plugins/echo/run HTTP/1.1\nHost: {here}\nX-AIPlugs-Token: {PAGE}\n"
            "Content-Length: 2\nContent-Length: 70000\nConnection: close\n")
    assert await _raw_status(router, head, b"{}") == 400

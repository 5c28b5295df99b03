"""The dashboard's session cookie and the Origin rule, as plain values and through the TokenGuard."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from aiplugs.adapters.router.guard import TokenGuard, route_class
from aiplugs.adapters.router.guard._asgi import Ambiguous
from aiplugs.adapters.router.guard.session import (cookie_name, issue, own_origin, session_cookie, set_cookie,
                                                     valid)

from .asgi import ADMIN, PORT, context, run, scope

HOST = ("Host", f"127.0.0.1:{PORT}")
COOKIE = cookie_name(PORT)


def test_a_session_is_valid_for_its_admin_token_until_it_expires() -> None:
    value = issue(ADMIN, now=1000, lifetime_s=60)
    assert valid(value, ADMIN, now=1059)
    assert not valid(value, ADMIN, now=1060)
    assert not valid(value, "another-admin-token", now=1001)
    assert ADMIN not in value and value != issue(ADMIN, now=1000, lifetime_s=60)  # a nonce each time


@pytest.mark.parametrize("tampered", ["", "v1", "v2.99999999999.n.mac", "v1.99999999999.n.0000", "v1.x.n.mac"])
def test_a_made_up_or_changed_session_is_not_valid(tampered: str) -> None:
    assert not valid(tampered, ADMIN)
    value = issue(ADMIN)
    version, expires, nonce, mac = value.split(".")
    assert not valid(f"{version}.{int(expires) + 10**6}.{nonce}.{mac}", ADMIN)  # a longer life is not ours to take


def test_the_cookie_is_httponly_strict_and_named_for_the_port() -> None:
    assert COOKIE == f"aiplugs_session_{PORT}"
    text = set_cookie(COOKIE, "v", 60)
    assert "HttpOnly" in text and "SameSite=Strict" in text and "Path=/" in text and "Max-Age=60" in text


def test_the_cookie_is_read_once() -> None:
    assert session_cookie(Headers({"cookie": f"a=1; {COOKIE}=v; b=2"}), COOKIE) == "v"
    assert session_cookie(Headers({"cookie": "aiplugs_session_1=v"}), COOKIE) is None
    with pytest.raises(Ambiguous):
        session_cookie(Headers({"cookie": f"{COOKIE}=a; {COOKIE}=b"}), COOKIE)


@pytest.mark.parametrize("origin,ours", [
    (f"http://127.0.0.1:{PORT}", True), (f"http://127.0.0.1:{PORT}/", True), ("http://127.0.0.1:8000", False),
    (f"http://localhost:{PORT}", False), (f"https://127.0.0.1:{PORT}", False), ("null", False),
    ("http://evil.example", False), (f"http://127.0.0.1:{PORT}@evil.example", False),
])
def test_own_origin_is_exactly_scheme_host_and_port(origin: str, ours: bool) -> None:
    assert own_origin(origin, f"127.0.0.1:{PORT}") is ours


def test_sign_in_and_static_files_are_public_the_dashboard_is_not() -> None:
    assert route_class("/login") == route_class("/ui/static/dashboard.css") == "public"
    assert route_class("/") == route_class("/ui/plugins") == route_class("/ui/static/../plugins") == "admin"


@pytest.mark.parametrize("method,headers,status", [
    ("GET", [], 200),
    ("POST", [("Origin", f"http://127.0.0.1:{PORT}")], 200),
    ("POST", [], 403),  # a cookie alone does not change state
    ("POST", [("Origin", "http://127.0.0.1:8000")], 403),
])
async def test_the_cookie_admits_reads_and_own_origin_writes(method: str, headers: list, status: int) -> None:
    cookie = ("Cookie", f"{COOKIE}={issue(ADMIN)}")
    answer = await run(TokenGuard, scope("/api/state", method, headers=[HOST, cookie, *headers]), ctx=context())
    assert answer.status == status


async def test_without_a_session_a_browser_gets_the_sign_in_page_and_a_script_json() -> None:
    page = await run(TokenGuard, scope("/ui/plugins", "GET", headers=[HOST, ("Accept", "text/html")]), ctx=context())
    assert page.status == 401 and b"aiplugs dashboard" in page.body and page.app_saw is None
    api = await run(TokenGuard, scope("/api/state", "GET", headers=[HOST, ("Accept", "text/html")]), ctx=context())
    assert api.status == 401 and api.json()["error"]["status"] == 401


async def test_a_foreign_origin_is_refused_with_the_admin_token_too() -> None:
    headers = [HOST, ("Authorization", f"Bearer {ADMIN}"), ("Origin", "http://127.0.0.1:8000")]
    answer = await run(TokenGuard, scope("/api/apply", "POST", headers=headers), ctx=context())
    assert answer.status == 403 and answer.app_saw is None
    login = await run(TokenGuard, scope("/login", "POST", headers=[HOST, ("Origin", "https://evil.example")]),
                      ctx=context())
    assert login.status == 403

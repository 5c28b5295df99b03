"""Signing in to the dashboard and who may do what with its cookie, against the real app (guard included)."""

from __future__ import annotations

from .conftest import ADMIN, OWN, PORT, Dash

COOKIE = f"aiplugs_session_{PORT}"


async def test_a_page_without_a_session_is_a_401_that_shows_nothing(dash: Dash) -> None:
    page = await dash.client.get("/ui/plugins", headers={"Accept": "text/html"})
    assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
    assert "aiplugs dashboard" in page.text
    for data in ("echo", "4242", "lexicon", str(dash.root)):
        assert data not in page.text
    api = await dash.client.get("/api/status")
    assert api.status_code == 401 and api.json()["error"]["status"] == 401


async def test_the_token_in_the_url_becomes_an_httponly_strict_cookie_and_a_redirect(dash: Dash) -> None:
    answer = await dash.client.get("/login", params={"token": ADMIN})
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/" in cookie and ADMIN not in cookie
    assert answer.headers["referrer-policy"] == "no-referrer"
    page = await dash.client.get("/ui/plugins")
    assert page.status_code == 200 and "echo" in page.text and ADMIN not in page.text
    events = await dash.client.get("/api/events", params={"follow": "0"})  # what the page's EventSource reads
    assert events.status_code == 200


async def test_a_wrong_token_signs_nobody_in(dash: Dash) -> None:
    answer = await dash.client.get("/login", params={"token": "not-it"})
    assert answer.status_code == 401 and "set-cookie" not in answer.headers
    form = await dash.client.post("/login", data={"token": "not-it"}, headers=OWN)
    assert form.status_code == 401 and "set-cookie" not in form.headers
    assert (await dash.client.get("/", headers={"Accept": "text/html"})).status_code == 401


async def test_the_login_form_posts_the_token_from_our_own_origin_only(dash: Dash) -> None:
    foreign = await dash.client.post("/login", data={"token": ADMIN}, headers={"Origin": "http://127.0.0.1:8000"})
    assert foreign.status_code == 403 and "set-cookie" not in foreign.headers
    ours = await dash.client.post("/login", data={"token": ADMIN}, headers=OWN)
    assert ours.status_code == 303 and COOKIE in ours.headers["set-cookie"]


async def test_a_state_change_with_the_cookie_must_carry_our_origin(dash: Dash) -> None:
    await dash.sign_in()
    none = await dash.client.post("/ui/plugins/echo/restart")
    other_port = await dash.client.post("/ui/plugins/echo/restart", headers={"Origin": "http://127.0.0.1:8000"})
    other_site = await dash.client.post("/ui/plugins/echo/restart", headers={"Origin": "https://evil.example"})
    assert none.status_code == other_port.status_code == other_site.status_code == 403
    assert dash.daemon.calls == []
    ours = await dash.client.post("/ui/plugins/echo/restart", headers=OWN)
    assert ours.status_code == 303 and dash.daemon.calls == [("restart", "echo")]


async def test_a_foreign_origin_is_refused_even_with_the_admin_token(dash: Dash) -> None:
    headers = {"Authorization": f"Bearer {ADMIN}", "Origin": "http://localhost:3000"}
    answer = await dash.client.post("/api/plugins/echo/restart", headers=headers)
    assert answer.status_code == 403 and dash.daemon.calls == []
    plain = await dash.client.post("/api/plugins/echo/restart", headers={"Authorization": f"Bearer {ADMIN}"})
    assert plain.status_code == 200  # the CLI sends no Origin


async def test_a_foreign_host_is_refused_before_anything_else(dash: Dash) -> None:
    await dash.sign_in()
    answer = await dash.client.get("/", headers={"Host": f"evil.example:{PORT}"})
    assert answer.status_code == 403 and "echo" not in answer.text


async def test_signing_out_clears_the_cookie(dash: Dash) -> None:
    await dash.sign_in()
    answer = await dash.client.post("/ui/logout", headers=OWN)
    assert answer.status_code == 303 and "Max-Age=0" in answer.headers["set-cookie"]
    assert (await dash.client.get("/", headers={"Accept": "text/html"})).status_code == 401


async def test_a_session_made_with_another_admin_token_is_void(dash: Dash) -> None:
    from aiplugs.adapters.router.guard.session import issue

    dash.client.cookies.set(COOKIE, issue("some-other-token"))
    assert (await dash.client.get("/ui/plugins", headers={"Accept": "text/html"})).status_code == 401
    dash.client.cookies.set(COOKIE, issue(ADMIN, now=0))  # expired long ago
    assert (await dash.client.get("/ui/plugins")).status_code == 401

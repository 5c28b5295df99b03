"""HostGuard with a plain ASGI app: loopback names on our port only, and exactly one Host."""

from __future__ import annotations

from aiplugs.adapters.router.guard import HostGuard

from .asgi import PORT, run, scope


async def test_loopback_host_on_our_port_passes() -> None:
    for host in (f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"[::1]:{PORT}"):
        answer = await run(HostGuard, scope(headers=[("Host", host)]))
        assert answer.status == 200 and answer.app_saw == b""


async def test_foreign_host_is_403_and_other_port_421() -> None:
    answer = await run(HostGuard, scope(headers=[("Host", f"attacker.example:{PORT}")]))
    assert answer.status == 403 and "DNS-rebinding" in answer.json()["error"]["message"]
    assert answer.app_saw is None
    assert (await run(HostGuard, scope(headers=[("Host", f"127.0.0.1:{PORT + 1}")]))).status == 421
    assert (await run(HostGuard, scope(headers=[]))).status == 403


async def test_repeated_host_is_400_even_when_one_is_good() -> None:
    for pair in ([f"127.0.0.1:{PORT}", "attacker.example"], [f"attacker.example:{PORT}", f"127.0.0.1:{PORT}"],
                 [f"127.0.0.1:{PORT}", f"127.0.0.1:{PORT}"]):
        answer = await run(HostGuard, scope(headers=[("Host", h) for h in pair]))
        assert answer.status == 400 and "repeated host" in answer.json()["error"]["message"]
        assert answer.app_saw is None


async def test_websocket_with_a_foreign_host_is_closed_before_accept() -> None:
    answer = await run(HostGuard, scope(kind="websocket", headers=[("Host", "rebind.example")]))
    assert answer.close_code == 1008 and not answer.accepted


async def test_lifespan_passes_through() -> None:
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    await HostGuard(app)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]

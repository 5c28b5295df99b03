"""``WS /v1/events/ws`` with a real client (the websockets library) against a real router, event hub and workers:
who may subscribe and publish (by the page's Origin), where page events go, and what backends publish."""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any, Awaitable, Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

TOOLBOX_PAGE = "https://toolbox.example"  # toolbox's content scripts match it
LISTENER_PAGE = "https://listener.example"


async def until(check: Callable[[], Any | Awaitable[Any]], timeout: float = 15.0) -> Any:
    """``check()``'s first truthy value (awaited if need be), polled; fails after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        value = await value if inspect.isawaitable(value) else value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {value!r})")
        await asyncio.sleep(0.05)


async def send(ws: ClientConnection, **message: Any) -> None:
    await ws.send(json.dumps(message))


async def receive(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def settled(ws: ClientConnection, topic: str) -> None:
    """Returns once every earlier op on ``ws`` took effect: ops are handled in order, and ``topic`` (subscribed
    here, published here) comes back only after them."""
    await send(ws, op="subscribe", topics=[topic])
    await send(ws, op="publish", topic=topic, data="probe")
    while (await receive(ws)).get("event", {}).get("type") != topic:
        pass


async def seen(router, plugin_id: str) -> list[dict[str, Any]]:
    r = await router.client.post(f"/v1/plugins/{plugin_id}/run", json={}, headers=router.page())
    return r.json()


async def test_a_page_receives_what_a_backend_publishes(router):
    async with connect(router.events_url(), origin=TOOLBOX_PAGE) as ws:
        await send(ws, op="subscribe", topics=["toolbox/*"])
        await settled(ws, "toolbox/probe")
        r = await router.client.post("/v1/plugins/toolbox/tools/announce", json={"data": {"headline": "hi"}},
                                     headers=router.page())
        assert r.json() == "sent"
        message = await receive(ws)
    assert message["op"] == "event"
    event = message["event"]
    assert (event["type"], event["source"], event["data"]) == ("toolbox/news", "toolbox", {"headline": "hi"})
    assert isinstance(event["time"], float)


async def test_a_page_may_not_use_plugins_that_do_not_run_on_it(router):
    async with connect(router.events_url(), origin=LISTENER_PAGE) as ws:  # an origin listener matches
        await send(ws, op="subscribe", topics=["toolbox/*", "listener/*"])
        error = await receive(ws)
        assert error["op"] == "error" and error["topic"] == "toolbox/*"
        assert "https://listener.example" in error["message"] and "'toolbox'" in error["message"]
        await send(ws, op="publish", topic="toolbox/clicked", data=1)
        error = await receive(ws)
        assert error["op"] == "error" and error["topic"] == "toolbox/clicked"
        await send(ws, op="publish", topic="listener/clicked", data=2)  # its own plugin: allowed, and still open
        assert (await receive(ws))["event"]["type"] == "listener/clicked"
        await send(ws, op="subscribe", topics=["nope/*", "*", "aiplugs/*", "listener/bad/x"])
        errors = [await receive(ws) for _ in range(3)]
    assert [e["topic"] for e in errors] == ["nope/*", "*", "listener/bad/x"]
    assert "no enabled plugin 'nope'" in errors[0]["message"]


async def test_without_an_origin_only_system_events(router):
    async with connect(router.events_url()) as ws:
        await send(ws, op="subscribe", topics=["toolbox/*", "aiplugs/*"])
        error = await receive(ws)
        assert error["topic"] == "toolbox/*" and "without an Origin" in error["message"]
        await send(ws, op="publish", topic="aiplugs/plugin.ready", data={})
        assert "system" in (await receive(ws))["message"]
        router.ctx.plugin_events.system("plugin.ready", {"plugin_id": "echo", "reason": f"key {router.ctx.admin_token}"})
        event = (await receive(ws))["event"]
    assert (event["type"], event["source"]) == ("aiplugs/plugin.ready", "aiplugs")
    assert event["data"] == {"plugin_id": "echo", "reason": "key **********"}  # system events are redacted


async def test_page_events_reach_plugins_with_page_events_only(router):
    await seen(router, "listener"), await seen(router, "deaf")  # their workers run (lazy plugins)
    async with connect(router.events_url(), origin=TOOLBOX_PAGE) as ws:
        await send(ws, op="publish", topic="toolbox/clicked", data={"x": 1})
        page_event = {"type": "toolbox/clicked", "source": "page:toolbox", "data": {"x": 1}}
        await until(lambda: _has(router, "listener", page_event))
    # a backend event, published after the page's, reaches deaf too: once it is there, the page's would be as well
    await router.client.post("/v1/plugins/toolbox/tools/announce", json={"data": 2}, headers=router.page())
    backend_event = {"type": "toolbox/news", "source": "toolbox", "data": 2}
    await until(lambda: _has(router, "deaf", backend_event))
    assert page_event not in await seen(router, "deaf")
    assert await seen(router, "listener") == [page_event, backend_event]


async def _has(router, plugin_id: str, event: dict[str, Any]) -> bool:
    return event in await seen(router, plugin_id)


async def test_unsubscribe_and_close_end_the_subscription(router):
    hub = router.ctx.plugin_events
    pages = lambda: [name for name in hub.stats() if name.startswith("page#")]  # noqa: E731
    async with connect(router.events_url(), origin=TOOLBOX_PAGE) as ws:
        assert pages() == []  # nothing subscribed yet: no subscription
        await send(ws, op="subscribe", topics=["toolbox/a", "toolbox/b"])
        await send(ws, op="unsubscribe", topics=["toolbox/a"])
        await settled(ws, "toolbox/probe")
        assert len(pages()) == 1
        for topic in ("toolbox/a", "toolbox/b"):
            await send(ws, op="publish", topic=topic, data=topic)
        assert (await receive(ws))["event"]["type"] == "toolbox/b"
    await until(lambda: not pages())


async def test_malformed_messages_get_errors_and_the_socket_stays_open(router):
    async with connect(router.events_url(), origin=TOOLBOX_PAGE) as ws:
        for raw in ("not json", "[1]", json.dumps({"op": "dance"}), json.dumps({"op": "subscribe"})):
            await ws.send(raw)
            assert (await receive(ws))["op"] == "error"
        await settled(ws, "toolbox/probe")


async def test_the_socket_needs_the_page_token_and_a_plugin_origin(router):
    with pytest.raises(InvalidStatus):
        await connect(router.events_url(token="wrong"), origin=TOOLBOX_PAGE)
    with pytest.raises(InvalidStatus):
        await connect(router.events_url(), origin="https://evil.example")


async def test_a_router_without_an_event_hub_closes_the_socket(router):
    router.ctx.plugin_events = None
    async with connect(router.events_url(), origin=TOOLBOX_PAGE) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await receive(ws)
    assert info.value.rcvd is not None and info.value.rcvd.code == 4503


async def test_event_delivery_is_in_metrics_per_subscriber(router):
    async with connect(router.events_url(), origin=TOOLBOX_PAGE) as ws:
        await settled(ws, "toolbox/probe")
        text = (await router.client.get("/metrics", headers=router.admin())).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {name: families[name].type for name in ("aiplugs_plugin_events_delivered", "aiplugs_plugin_events_dropped",
                                                   "aiplugs_plugin_events_failed", "aiplugs_plugin_events_queued")} == {
        "aiplugs_plugin_events_delivered": "counter", "aiplugs_plugin_events_dropped": "counter",
        "aiplugs_plugin_events_failed": "counter", "aiplugs_plugin_events_queued": "gauge"}
    delivered = {s.labels["subscriber"]: s.value for s in families["aiplugs_plugin_events_delivered"].samples}
    page = next(name for name in delivered if name.startswith("page#"))
    assert delivered[page] == 1 and {"listener", "deaf"} <= set(delivered)

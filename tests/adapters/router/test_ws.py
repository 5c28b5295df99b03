"""WebSockets with real clients (the websockets library): relay to on_message and the zombie killer."""

from __future__ import annotations

import asyncio
import json

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


async def test_messages_reach_on_message(router):
    async with connect(router.ws_url("echo", "tab-1")) as ws:
        await ws.send(json.dumps({"hello": "world"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply["client_id"] == "tab-1" and reply["echo"] == {"hello": "world"}
        await ws.send("plain text")
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["echo"] == "plain text"


async def test_same_client_id_closes_the_old_connection_with_4000(router):
    old = await connect(router.ws_url("echo", "tab-7"))
    other = await connect(router.ws_url("echo", "tab-8"))
    await old.send("{}")
    await asyncio.wait_for(old.recv(), 10)
    new = await connect(router.ws_url("echo", "tab-7"))
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(old.recv(), 10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 4000
    assert "same client_id" in info.value.rcvd.reason
    await new.send(json.dumps({"n": 1}))
    assert json.loads(await asyncio.wait_for(new.recv(), 10))["echo"] == {"n": 1}
    await other.send(json.dumps({"n": 2}))  # another client id is untouched
    assert json.loads(await asyncio.wait_for(other.recv(), 10))["echo"] == {"n": 2}
    await new.close()
    await other.close()


async def test_a_message_over_max_body_bytes_closes_with_1009(router):
    """The router's WebSocket protocol (uvicorn's wsproto) keeps ``[api] max_body_bytes`` (65536 here) per message."""
    async with connect(router.ws_url("echo", "big"), max_size=None) as ws:
        await ws.send("x" * 60_000)  # under the limit: relayed
        assert len(json.loads(await asyncio.wait_for(ws.recv(), 10))["echo"]) == 60_000
        await ws.send("x" * 70_000)
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


async def test_backend_without_on_message_answers_an_error(router):
    async with connect(router.ws_url("raises", "c1")) as ws:
        await ws.send("{}")
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))["error"]
        assert error["type"] == "NotImplementedError" and "on_message" in error["message"]


async def test_ws_needs_the_page_token(router):
    with pytest.raises(InvalidStatus) as info:
        await connect(router.ws_url("echo", "c1", token="wrong"))
    assert info.value.response.status_code == 403


async def test_ws_rejects_foreign_origins_and_bad_hosts(router):
    with pytest.raises(InvalidStatus):
        await connect(router.ws_url("echo", "c1"), origin="https://evil.example")
    async with connect(router.ws_url("echo", "c1"), origin="https://echo.example") as ws:  # the plugin's match
        await ws.send("{}")
        assert "echo" in json.loads(await asyncio.wait_for(ws.recv(), 10))
    with pytest.raises(InvalidStatus):
        await connect(router.ws_url("echo", "c1"), additional_headers={"Host": f"rebind.example:{router.port}"})


async def test_ws_unknown_plugin_and_missing_client_id(router):
    async with connect(router.ws_url("nope", "c1")) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd.code == 4404
    async with connect(router.ws_url("echo", "")) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd.code == 1008


async def test_ws_refuses_repeated_token_or_origin(router):
    with pytest.raises(InvalidStatus):  # one right, one wrong: never decided on either
        await connect(router.ws_url("echo", "c1") + "&token=wrong")
    with pytest.raises(InvalidStatus):
        await connect(router.ws_url("echo", "c1"), origin="https://echo.example",
                      additional_headers=[("Origin", "https://evil.example")])


async def test_open_connections_are_a_gauge_read_at_scrape_time(router):
    async def gauge() -> float:
        text = (await router.client.get("/metrics", headers=router.admin())).text
        family = next(f for f in text_string_to_metric_families(text) if f.name == "aiplugs_websocket_connections")
        return family.samples[0].value

    async with connect(router.ws_url("echo", "g1")) as ws:
        await ws.send("{}")
        await asyncio.wait_for(ws.recv(), 10)
        assert await gauge() == 1
    for _ in range(50):  # the router unregisters once it sees the close
        if await gauge() == 0:
            break
        await asyncio.sleep(0.05)
    assert await gauge() == 0

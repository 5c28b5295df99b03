"""Cloud-mode plugins relayed to a real OpenAI-compatible upstream on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import socket

from aiplugs.plan import CloudSpec

from .conftest import API_KEY

CHAT = {"messages": [{"role": "user", "content": "hello relay world"}]}


async def test_chat_completion_json(router):
    r = await router.client.post("/v1/plugins/chat/run", json=CHAT, headers=router.page())
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "test-model"  # cloud_model filled in
    assert body["choices"][0]["message"]["content"] == "HELLO RELAY WORLD"


async def test_streaming_is_relayed_as_it_arrives(router):
    chunks = []
    async with router.client.stream("POST", "/v1/plugins/chat/run", json={**CHAT, "stream": True},
                                    headers=router.page()) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        async for chunk in r.aiter_text():
            chunks.append(chunk)
    text = "".join(chunks)
    words = [json.loads(line[6:])["choices"][0]["delta"]["content"]
             for line in text.splitlines() if line.startswith("data: {")]
    assert words == ["HELLO", "RELAY", "WORLD"] and "data: [DONE]" in text
    assert len(chunks) >= 2  # arrived in pieces, not buffered into one body


async def test_accept_event_stream_asks_upstream_to_stream(router):
    r = await router.client.post("/v1/plugins/chat/run", json=CHAT, headers=router.page(Accept="text/event-stream"))
    assert r.headers["content-type"].startswith("text/event-stream") and "data: [DONE]" in r.text


async def test_hanging_upstream_is_504_naming_it(router):
    r = await router.client.post("/v1/plugins/hang/run", json=CHAT, headers=router.page())
    assert r.status_code == 504
    error = r.json()["error"]
    assert error["type"] == "upstream_timeout" and error["upstream"].endswith("/hang")


async def test_upstream_500_is_502(router):
    r = await router.client.post("/v1/plugins/broken/run", json=CHAT, headers=router.page())
    assert r.status_code == 502
    error = r.json()["error"]
    assert error["status"] == 500 and error["upstream"].endswith("/fail") and "meltdown" in error["detail"]


def reroute(router, plugin_id: str, cloud) -> None:
    """A route update, as converge makes it when cloud settings change: the relay carries its cloud spec."""
    route = router.ctx.route(plugin_id)
    relay = dataclasses.replace(route.relay, cloud=cloud(route.relay.cloud))
    router.ctx.set_route(dataclasses.replace(route, relay=relay))


async def test_unreachable_upstream_is_502(router):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    reroute(router, "chat", lambda cloud: CloudSpec(f"http://user:pw@127.0.0.1:{dead}", cloud.api_key,
                                                    cloud.timeout_s))
    r = await router.client.post("/v1/plugins/chat/run", json=CHAT, headers=router.page())
    assert r.status_code == 502
    assert r.json()["error"]["upstream"] == f"http://127.0.0.1:{dead}/v1/chat/completions"  # no userinfo
    assert "pw" not in r.text


async def test_no_base_url_is_503(router):
    reroute(router, "chat", lambda cloud: CloudSpec(None, cloud.api_key, 5))
    r = await router.client.post("/v1/plugins/chat/run", json=CHAT, headers=router.page())
    assert r.status_code == 503 and "base_url" in r.json()["error"]["message"]


async def test_api_key_never_in_responses_state_or_metrics(router):
    for path in ("chat", "broken", "hang"):
        r = await router.client.post(f"/v1/plugins/{path}/run", json=CHAT, headers=router.page())
        assert API_KEY not in r.text
    for path in ("/api/state", "/metrics", "/api/plugins"):
        r = await router.client.get(path, headers=router.admin())
        assert r.status_code == 200 and API_KEY not in r.text
    assert "**********" in (await router.client.get("/api/state", headers=router.admin())).text



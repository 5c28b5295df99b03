"""POST /v1/plugins/{id}/run through a real router to real workers (and the example plugins)."""

from __future__ import annotations

import json


def sse_events(text: str) -> list[tuple[str, object]]:
    events = []
    for block in text.strip().split("\n\n"):
        kind, data = "message", None
        for line in block.splitlines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        events.append((kind, data))
    return events


async def test_sync_run_returns_the_value_as_json(router):
    r = await router.client.post("/v1/plugins/echo/run", json={"text": "hi"}, headers=router.page())
    assert r.status_code == 200 and r.json()["echo"] == {"text": "hi"}


async def test_generator_streams_sse(router):
    r = await router.client.post("/v1/plugins/counter/run", json={"n": 3}, headers=router.page())
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert sse_events(r.text) == [("message", {"i": 0}), ("message", {"i": 1}), ("message", {"i": 2})]


async def test_accept_event_stream_wraps_a_plain_result(router):
    r = await router.client.post("/v1/plugins/echo/run", json={"a": 1},
                                 headers=router.page(Accept="text/event-stream"))
    events = sse_events(r.text)
    assert len(events) == 1 and events[0][1]["echo"] == {"a": 1}


async def test_backend_raising_is_500_with_type_and_message(router):
    r = await router.client.post("/v1/plugins/raises/run", json={"text": "x"}, headers=router.page())
    assert r.status_code == 500
    assert r.json()["error"] == {"type": "ValueError", "message": "bad input: 'x'", "plugin": "raises"}
    ok = await router.client.post("/v1/plugins/raises/run", json={"ok": True}, headers=router.page())
    assert ok.status_code == 200


async def test_timeout_is_504(router):
    r = await router.client.post("/v1/plugins/sleepy/run", json={"sleep": 10}, headers=router.page())
    assert r.status_code == 504 and "0.5 s" in r.json()["error"]["message"]


async def test_unknown_plugin_and_bad_json(router):
    r = await router.client.post("/v1/plugins/nope/run", json={}, headers=router.page())
    assert r.status_code == 404 and "nope" in r.json()["error"]["message"]
    r = await router.client.post("/v1/plugins/echo/run", content=b"{not json", headers=router.page())
    assert r.status_code == 400 and r.json()["error"]["type"] == "bad_json"


async def test_word_count_example_plugin(router):
    text = "Plugins count words. Words are counted by plugins, and counting words is fun."
    r = await router.client.post("/v1/plugins/word-count/run", json={"text": text, "top": 2},
                                 headers=router.page())
    body = r.json()
    assert r.status_code == 200 and body["words"] == 13 and body["top_terms"] == ["words", "plugins"]
    assert body["reading_minutes"] == 0.1  # WORDS_PER_MINUTE=100 from [plugins.word-count].env


async def test_sentiment_example_plugin_reads_its_model(router):
    spec = next(w for w in router.ctx.desired.workers if w.plugin_id == "sentiment")
    assert spec.env_dict["SENTIMENT_LEXICON"].endswith("models/sentiment-lexicon-v1.tsv")
    r = await router.client.post("/v1/plugins/sentiment/run",
                                 json={"texts": ["what a wonderful, excellent day", "awful and terrible"]},
                                 headers=router.page())
    assert r.status_code == 200
    labels = [item["label"] for item in r.json()["results"]]
    assert labels == ["positive", "negative"]


async def test_error_inside_a_stream_is_an_sse_error_event(router):
    r = await router.client.post("/v1/plugins/counter/run", json={"n": "many"}, headers=router.page())
    assert r.status_code == 200
    (kind, data), = sse_events(r.text)
    assert kind == "error" and data["type"] == "ValueError" and data["plugin"] == "counter"

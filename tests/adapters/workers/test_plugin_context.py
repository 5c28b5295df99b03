"""``ctx`` as a plain value: built from an environment, topics qualified, publish handing frames to its sink."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiplugs.adapters.workers.plugin_context import Context, qualify_topic
from aiplugs.adapters.workers.protocol import HEADER


@pytest.mark.parametrize("topic, full", [
    ("done", "word-count/done"),
    ("word-count/done", "word-count/done"),
    ("word-count/progress/step", "word-count/progress/step"),
])
def test_topics_are_qualified_with_the_plugins_namespace(topic, full) -> None:
    assert qualify_topic("word-count", topic) == full


@pytest.mark.parametrize("topic", ["aiplugs/plan.applied", "other/done", "word-count/", "/done", "", "/", None,
                                   "word-counter/x"])
def test_other_namespaces_are_refused_naming_the_rule(topic) -> None:
    with pytest.raises(ValueError) as info:
        qualify_topic("word-count", topic)
    assert f"{topic!r}" in str(info.value)
    assert "publishes only under its own namespace 'word-count/<name>'" in str(info.value)


def test_context_from_env() -> None:
    ctx = Context.from_env({"AIPLUGS_PLUGIN_ID": "wc", "AIPLUGS_PLUGIN_VERSION": "1.0", "AIPLUGS_DATA_DIR": "/d",
                            "AIPLUGS_CACHE_DIR": "/c", "AIPLUGS_SETTINGS": '{"k": 1}',
                            "AIPLUGS_MODELS": '{"M": "/m/x.bin"}'}, sink=lambda frame: None, fallback_id="folder")
    assert (ctx.plugin_id, ctx.version, ctx.data_dir, ctx.cache_dir) == ("wc", "1.0", Path("/d"), Path("/c"))
    assert ctx.settings == {"k": 1} and ctx.models == {"M": Path("/m/x.bin")}
    assert ctx.log.name == "aiplugs.plugin.wc" and not ctx.log.propagate


def test_context_defaults() -> None:
    ctx = Context.from_env({}, sink=lambda frame: None, fallback_id="folder")
    assert (ctx.plugin_id, ctx.version, ctx.data_dir, ctx.cache_dir, ctx.settings, ctx.models) == (
        "folder", "0", None, None, {}, {})


@pytest.mark.parametrize("value, problem", [("{", "AIPLUGS_SETTINGS is not JSON"),
                                            ("[1]", "AIPLUGS_SETTINGS must be a JSON object, got list")])
def test_bad_settings_are_named(value, problem) -> None:
    with pytest.raises(ValueError, match=problem):
        Context.from_env({"AIPLUGS_SETTINGS": value}, sink=lambda frame: None, fallback_id="x")


def test_publish_hands_an_encoded_frame_to_the_sink() -> None:
    frames: list[bytes] = []
    ctx = Context.from_env({"AIPLUGS_PLUGIN_ID": "wc"}, sink=frames.append, fallback_id="x")
    data = {"n": [1, 2]}
    ctx.publish("counted", data)
    data["n"].append(3)  # published as it was at the call
    assert [json.loads(f[HEADER.size:]) for f in frames] == [
        {"id": 0, "kind": "publish", "topic": "wc/counted", "data": {"n": [1, 2]}}]
    with pytest.raises(ValueError, match="'wc/x': data is not JSON-serializable"):
        ctx.publish("x", {1, 2})
    with pytest.raises(ValueError, match="not JSON-serializable"):
        ctx.publish("x", float("nan"))
    assert len(frames) == 1


def test_repr_shows_setting_names_not_values() -> None:
    ctx = Context.from_env({"AIPLUGS_SETTINGS": '{"api_key": "sk-secret"}'}, sink=lambda f: None, fallback_id="x")
    assert "api_key" in repr(ctx) and "sk-secret" not in repr(ctx)

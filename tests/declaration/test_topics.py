"""Event topics: the full form of a subscription and which topics a pattern covers."""

from __future__ import annotations

import pytest

from aiplugs.declaration.topics import normalize_pattern, topic_matches, validate_topic


@pytest.mark.parametrize(("written", "full"), [
    ("done", "word-count/done"),
    ("word-count/done", "word-count/done"),
    ("summarize/*", "summarize/*"),
    ("aiplugs/plugin.ready", "aiplugs/plugin.ready"),
    ("aiplugs/*", "aiplugs/*"),
    ("*", "*"),
    ("page.loaded:v2", "word-count/page.loaded:v2"),
])
def test_subscriptions_normalize_to_full_form(written: str, full: str) -> None:
    assert normalize_pattern(written, "word-count") == full


@pytest.mark.parametrize(("written", "why"), [
    ("*done", "'*' may only be the whole pattern or follow the last '/' (got '*done')"),
    ("a/*/b", "'*' may only be the whole pattern or follow the last '/' (got 'a/*/b')"),
    ("a/b/c", "'b/c' is not a topic name"),
    ("/x", "'' is not a plugin id"),
    ("Word/*", "'Word' is not a plugin id (got 'Word/*')"),
    ("", "'' is not a topic name"),
])
def test_malformed_subscriptions_are_refused(written: str, why: str) -> None:
    with pytest.raises(ValueError) as info:
        normalize_pattern(written, "word-count")
    assert why in str(info.value)


@pytest.mark.parametrize(("pattern", "topic", "expected"), [
    ("*", "word-count/done", True),
    ("*", "aiplugs/plugin.ready", True),
    ("word-count/*", "word-count/done", True),
    ("word-count/*", "word-counter/done", False),  # a prefix of the id is another plugin
    ("word-count/*", "word-count/", False),
    ("word-count/*", "summarize/done", False),
    ("aiplugs/*", "aiplugs/plugin.ready", True),
    ("word-count/done", "word-count/done", True),
    ("word-count/done", "word-count/done2", False),
    ("word-count/done", "word-count/*", False),  # a topic is never a pattern
])
def test_topic_matches(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected


def test_validate_topic_wants_the_full_form() -> None:
    assert validate_topic("word-count/done") == "word-count/done"
    with pytest.raises(ValueError, match=r"a topic is <plugin-id>/<name> \(got 'done'\)"):
        validate_topic("done")
    with pytest.raises(ValueError, match="is not a topic name"):
        validate_topic("word-count/*")

"""Event topics plugins publish and subscribe to: ``<plugin-id>/<name>``, with ``aiplugs/...`` kept for the system.

A manifest's ``subscribes`` lists topics and patterns: an exact topic, ``<namespace>/*`` (everything one plugin, or
the system, publishes) or ``*`` (everything). A bare name means the plugin's own namespace, so ``"done"`` in
``word-count``'s manifest is ``word-count/done``. Normalizing happens once, when the manifest loads; the runtime
only ever compares full forms with :func:`topic_matches`.
"""

from __future__ import annotations

import re

__all__ = ["SYSTEM_NAMESPACE", "normalize_pattern", "topic_matches", "validate_topic"]

SYSTEM_NAMESPACE = "aiplugs"
_NAMESPACE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # a plugin id (manifest.PLUGIN_ID) or the system's
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


def validate_topic(topic: str) -> str:
    """``topic`` if it is a full ``<namespace>/<name>``; ValueError naming the bad part otherwise."""
    problem = _topic_problem(topic)
    if problem:
        raise ValueError(f"{problem} (got {topic!r})")
    return topic


def _topic_problem(topic: str) -> str | None:
    namespace, slash, name = topic.partition("/")
    if not slash:
        return "a topic is <plugin-id>/<name>"
    if not _NAMESPACE.fullmatch(namespace):
        return f"{namespace!r} is not a plugin id (a topic is <plugin-id>/<name>)"
    if not _NAME.fullmatch(name):
        return f"{name!r} is not a topic name: letters, digits and _ . : - , starting with a letter or digit"
    return None


def normalize_pattern(pattern: str, plugin_id: str) -> str:
    """The full form of one ``subscribes`` entry of plugin ``plugin_id``: ``done`` -> ``<plugin_id>/done``; ``*``,
    ``<namespace>/*`` and full topics stay as they are. ValueError for anything else (``a/*/b``, ``a*``, ``/x``)."""
    full = pattern if pattern == "*" or "/" in pattern else f"{plugin_id}/{pattern}"
    namespace, _, name = full.partition("/")
    if full == "*":
        problem = None
    elif name == "*":
        problem = None if _NAMESPACE.fullmatch(namespace) else f"{namespace!r} is not a plugin id"
    elif "*" in full:
        problem = "'*' may only be the whole pattern or follow the last '/'"
    else:
        problem = _topic_problem(full)
    if problem:
        raise ValueError(f"{problem} (got {pattern!r})")
    return full


def topic_matches(pattern: str, topic: str) -> bool:
    """Whether a normalized ``pattern`` covers ``topic``: ``*`` covers every topic, ``word-count/*`` every topic of
    word-count (not ``word-counter/x``), anything else only itself."""
    if pattern == "*":
        return True
    if pattern.endswith("/*"):
        prefix = pattern[:-1]
        return topic.startswith(prefix) and len(topic) > len(prefix)
    return pattern == topic

"""``ctx``: what a plugin's backend is told about itself, built once per worker process from its environment.

The planner puts everything in the worker's environment (``AIPLUGS_PLUGIN_ID``, ``AIPLUGS_PLUGIN_VERSION``,
``AIPLUGS_DATA_DIR``, ``AIPLUGS_CACHE_DIR``, ``AIPLUGS_SETTINGS``, ``AIPLUGS_MODELS``), so a backend that ignores
``ctx`` still finds it all in ``os.environ``. Standard library only (runs inside the worker, see harness.py).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from .protocol import encode_frame

__all__ = ["Context", "plugin_logger", "qualify_topic"]


def qualify_topic(plugin_id: str, topic: str) -> str:
    """The full topic a plugin publishes ``topic`` under: a bare ``name`` becomes ``<plugin-id>/name``, its own
    ``<plugin-id>/name`` stays; another namespace (another plugin's, ``aiplugs/…``) is refused, so subscribers can
    trust where an event came from.

    >>> qualify_topic("word-count", "done"), qualify_topic("word-count", "word-count/done")
    ('word-count/done', 'word-count/done')
    """
    rule = (f"a plugin publishes only under its own namespace '{plugin_id}/<name>' "
            f"(a bare name like 'done' becomes '{plugin_id}/done')")
    if not isinstance(topic, str) or not topic.strip("/"):
        raise ValueError(f"cannot publish to topic {topic!r}: {rule}")
    if "/" not in topic:
        return f"{plugin_id}/{topic}"
    namespace, _, name = topic.partition("/")
    if namespace != plugin_id or not name:
        raise ValueError(f"cannot publish to topic {topic!r}: {rule}")
    return topic


def plugin_logger(plugin_id: str) -> logging.Logger:
    """``aiplugs.plugin.<id>``, writing lines to stderr, which the manager copies into the worker's log."""
    log = logging.getLogger(f"aiplugs.plugin.{plugin_id}")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False  # the backend's own root logging setup must not print our lines twice
    return log


class Context:
    """The ``ctx`` argument of hooks, ``run``, tools, ``on_message`` and ``on_event``.

    ``publish`` hands an encoded frame to ``sink``, which must be safe to call from any thread (the harness's
    queues it on its event loop); it encodes in the caller, so a bad topic or data raises right there.
    """

    def __init__(self, *, plugin_id: str, version: str, data_dir: Path | None, cache_dir: Path | None,
                 settings: dict[str, Any], models: dict[str, Path], sink: Callable[[bytes], None]) -> None:
        self.plugin_id = plugin_id
        self.version = version
        self.data_dir = data_dir
        self.cache_dir = cache_dir
        self.settings = settings
        self.models = models
        self.log = plugin_logger(plugin_id)
        self._sink = sink

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, sink: Callable[[bytes], None], fallback_id: str) -> Context:
        """``fallback_id`` (the plugin folder's name) names a backend started without ``AIPLUGS_PLUGIN_ID``."""
        settings = _json_object(env, "AIPLUGS_SETTINGS")
        models = {str(key): Path(path) for key, path in _json_object(env, "AIPLUGS_MODELS").items()}
        return cls(plugin_id=env.get("AIPLUGS_PLUGIN_ID") or fallback_id,
                   version=env.get("AIPLUGS_PLUGIN_VERSION") or "0",
                   data_dir=Path(env["AIPLUGS_DATA_DIR"]) if env.get("AIPLUGS_DATA_DIR") else None,
                   cache_dir=Path(env["AIPLUGS_CACHE_DIR"]) if env.get("AIPLUGS_CACHE_DIR") else None,
                   settings=settings, models=models, sink=sink)

    def publish(self, topic: str, data: Any = None) -> None:
        """Sends ``data`` (JSON) on ``topic`` (see :func:`qualify_topic`) to whoever subscribed in the daemon;
        callable from async code and from sync code in any thread. ValueError for a foreign topic or data that is
        not JSON."""
        message = {"id": 0, "kind": "publish", "topic": qualify_topic(self.plugin_id, topic), "data": data}
        try:
            frame = encode_frame(message)
        except (TypeError, ValueError) as e:
            raise ValueError(f"cannot publish to {message['topic']!r}: data is not JSON-serializable: {e}") from None
        self._sink(frame)

    def __repr__(self) -> str:
        return (f"Context(plugin_id={self.plugin_id!r}, version={self.version!r}, data_dir={self.data_dir!r}, "
                f"cache_dir={self.cache_dir!r}, settings={sorted(self.settings)}, models={sorted(self.models)})")


def _json_object(env: Mapping[str, str], name: str) -> dict[str, Any]:
    try:
        value = json.loads(env.get(name) or "{}")
    except ValueError as e:
        raise ValueError(f"{name} is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value

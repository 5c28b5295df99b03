"""The router's per-plugin response cache (``[plugins.<id>] cache_ttl_s``, off by default) and the repeat counter
the cache suggestion rests on.

A call is keyed by its tool and the sha256 of its payload as canonical JSON, so ``{"a": 1, "b": 2}`` and
``{"b":2,"a":1}`` are one entry. Only a complete, successful, non-streaming answer is kept (never a stream, an
error or a refusal); each plugin's cache is bounded (``cache_max_entries``, least recently used out first) and
dropped whole when the plugin's route changes or one of its workers starts (new code or settings may answer
differently). Repeats are counted for every local plugin, cache or not: a call whose key was seen less than
``repeat_window_s`` before is a repeat — per minute, for the last few hours, in memory.

Without a cache the key only counts repeats, and is the cheap one when the request body is at hand
(``repeat_key``: the tool and a hash of the body's bytes) rather than the canonical JSON re-encoded, which cost
~10 % of the router's CPU per call (``benchmarks/bench_router.py``); two spellings of one payload then count as
two payloads, which a page sending the same call again does not do.
"""

from __future__ import annotations

import collections
import hashlib
import json
import threading
import time
from typing import Any, Callable

from ...events import EventBus
from ...events.catalogue import WORKER_STARTED
from ...plan import RouteSpec

__all__ = ["CacheKey", "RepeatCounter", "ResponseCache", "ResponseCaches", "payload_key", "repeat_key"]

CacheKey = str
MINUTES_KEPT = 180
SEEN_KEPT = 4096  # distinct keys remembered per plugin for repeat counting


def payload_key(tool: str, payload: Any) -> CacheKey:
    """``tool`` + sha256 of the payload's canonical JSON."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{tool}:{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()}"  # a lone \ud800 too


def repeat_key(tool: str, body: bytes) -> CacheKey:
    """``tool`` + a hash of the request body as sent: enough to tell a repeat (in memory, this process only)."""
    return f"{tool}~{hash(body) & 0xFFFFFFFFFFFFFFFF:x}"


class ResponseCache:
    """One plugin's answers: key → (expiry, JSON body), least recently used first out."""

    def __init__(self, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._entries: collections.OrderedDict[CacheKey, tuple[float, bytes]] = collections.OrderedDict()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self.clock():
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[1]

    def put(self, key: CacheKey, body: bytes) -> None:
        self._entries[key] = (self.clock() + self.ttl_s, body)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class RepeatCounter:
    """Calls and repeats of one plugin per wall-clock minute."""

    def __init__(self, window_s: float, clock: Callable[[], float], wall: Callable[[], float]) -> None:
        self.window_s = window_s
        self.clock, self.wall = clock, wall
        self._seen: collections.OrderedDict[CacheKey, float] = collections.OrderedDict()
        self.minutes: collections.OrderedDict[int, list[int]] = collections.OrderedDict()  # minute → [calls, repeats]

    def record(self, key: CacheKey) -> bool:
        now = self.clock()
        last = self._seen.pop(key, None)
        repeat = last is not None and now - last < self.window_s
        self._seen[key] = now
        if len(self._seen) > SEEN_KEPT:
            self._seen.popitem(last=False)
        minute = int(self.wall()) // 60 * 60
        counts = self.minutes.get(minute)
        if counts is None:
            counts = self.minutes[minute] = [0, 0]
            while len(self.minutes) > MINUTES_KEPT:
                self.minutes.popitem(last=False)
        counts[0] += 1
        counts[1] += repeat
        return repeat


class ResponseCaches:
    """The caches and repeat counters of every plugin the router serves (``app.state.caches``)."""

    def __init__(self, *, repeat_window_s: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.repeat_window_s = repeat_window_s
        self.clock, self.wall = clock, wall
        self._caches: dict[str, tuple[str, ResponseCache]] = {}  # plugin → (route config hash, cache)
        self._repeats: dict[str, RepeatCounter] = {}
        self._lock = threading.Lock()  # repeats are read from the daemon's autotune thread

    def watch(self, events: EventBus) -> Callable[[], None]:
        """Drops a plugin's answers whenever one of its workers starts; returns the function that stops it."""
        def listener(event: dict[str, Any]) -> None:
            if event["type"] == WORKER_STARTED:
                self.drop(event["data"]["plugin_id"])

        return events.listen(listener)

    def drop(self, plugin_id: str) -> None:
        self._caches.pop(plugin_id, None)

    def cache(self, route: RouteSpec) -> ResponseCache | None:
        """The plugin's cache, None when its route has none; a changed route starts an empty one."""
        if route.cache_ttl_s <= 0 or route.relay is not None:
            self._caches.pop(route.plugin_id, None)
            return None
        held = self._caches.get(route.plugin_id)
        if held is None or held[0] != route.config_hash:
            held = self._caches[route.plugin_id] = (
                route.config_hash, ResponseCache(route.cache_ttl_s, route.cache_max_entries, self.clock))
        return held[1]

    def lookup(self, route: RouteSpec, tool: str, payload: Any, body: bytes | None = None
               ) -> tuple[CacheKey, bytes | None]:
        """Counts the call (repeat or not) and returns its key with the cached answer, if any. ``body``: the
        payload's JSON as sent, for the cheap key when the plugin has no cache."""
        cache = self.cache(route)
        key = payload_key(tool, payload) if cache is not None or body is None else repeat_key(tool, body)
        with self._lock:
            counter = self._repeats.get(route.plugin_id)
            if counter is None:
                counter = self._repeats[route.plugin_id] = RepeatCounter(self.repeat_window_s, self.clock, self.wall)
            counter.record(key)
        return key, cache.get(key) if cache is not None else None

    def store(self, route: RouteSpec, key: CacheKey, body: bytes) -> None:
        cache = self.cache(route)
        if cache is not None:
            cache.put(key, body)

    def repeats(self, plugin_id: str) -> dict[int, tuple[int, int]]:
        """Minute → (calls, repeats) of the last hours."""
        with self._lock:
            counter = self._repeats.get(plugin_id)
            return {m: (c[0], c[1]) for m, c in counter.minutes.items()} if counter is not None else {}

    def stats(self, plugin_id: str) -> dict[str, int] | None:
        held = self._caches.get(plugin_id)
        if held is None:
            return None
        return {"entries": len(held[1]), "hits": held[1].hits, "misses": held[1].misses}

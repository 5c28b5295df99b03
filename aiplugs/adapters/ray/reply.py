"""The answer of one call to a Ray replica, with the same shape and errors as a worker process's ``Reply``.

Frames arrive as JSON text from ``PluginReplica.call`` (a streaming Serve call): ``publish`` frames go to
``on_publish`` on the way; ``result`` / ``stream`` answers; ``error`` is the backend's exception. Ray's own
failures become the worker errors the router knows: a replica that died during the call is ``WorkerGone`` (502),
no replica to take it ``WorkerUnavailable`` (503), no answer within ``timeout_s`` ``WorkerTimeout`` (504, and the
call is cancelled in the replica).
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from typing import Any, AsyncIterator, Callable

from ..workers.errors import BackendError, WorkerError, WorkerGone, WorkerTimeout, WorkerUnavailable

__all__ = ["CallCounters", "RayReply", "ray_error"]

GONE = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError", "NodeDiedError",
        "OwnerDiedError")
UNAVAILABLE = ("BackPressureError", "DeploymentUnavailableError")


class CallCounters:
    """One plugin's call counts and latencies (what ``stats`` reports)."""

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.latencies_ms: collections.deque[float] = collections.deque(maxlen=1024)

    def finished(self, ok: bool, started: float) -> None:
        self.requests += 1
        if not ok:
            self.errors += 1
        self.latencies_ms.append((time.monotonic() - started) * 1000)


def ray_error(e: BaseException, plugin_id: str) -> WorkerError:
    """A Ray exception as the worker error the router answers with."""
    names = {c.__name__ for c in type(e).__mro__}
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
    if names & set(GONE):
        return WorkerGone(f"plugin {plugin_id!r}: the replica died during the call ({first})", plugin_id=plugin_id)
    if names & set(UNAVAILABLE):
        return WorkerUnavailable(f"plugin {plugin_id!r} has no replica to take the call ({first})",
                                 plugin_id=plugin_id)
    return WorkerUnavailable(f"plugin {plugin_id!r}: Ray could not serve the call: {type(e).__name__}: {first}",
                             plugin_id=plugin_id)


class RayReply:
    """A single ``value``, or (``streaming``) items to iterate with ``async for``. ``timeout`` bounds the wait
    for the first answer and then for each next item, as with worker processes."""

    def __init__(self, plugin_id: str, gen: Any, timeout: float, started: float, counters: CallCounters,
                 on_publish: Callable[[str, str, Any], None], timeout_s: float) -> None:
        self.plugin_id = plugin_id
        self._gen = gen
        self._timeout = timeout
        self._timeout_s = timeout_s
        self._started = started
        self._counters = counters
        self._on_publish = on_publish
        self._done = False
        self.streaming = False
        self.value: Any = None

    @classmethod
    async def open(cls, plugin_id: str, gen: Any, *, timeout: float, started: float, counters: CallCounters,
                   on_publish: Callable[[str, str, Any], None], timeout_s: float) -> RayReply:
        reply = cls(plugin_id, gen, timeout, started, counters, on_publish, timeout_s)
        try:
            first = await reply._next(timeout - (time.monotonic() - started))
        except BaseException:
            reply._finish(ok=False)
            raise
        reply.streaming = first["kind"] == "stream"
        reply.value = first.get("value")
        if not reply.streaming:
            reply._finish(ok=True)
        return reply

    async def _next(self, timeout: float) -> dict[str, Any]:
        """The next answering frame (publish frames are handed on); errors as WorkerErrors."""
        while True:
            try:
                text = await asyncio.wait_for(self._gen.__anext__(), max(timeout, 0.001))
            except TimeoutError:
                self._cancel()
                raise WorkerTimeout(f"plugin {self.plugin_id!r} did not answer within {self._timeout_s:g} s "
                                    "(timeout_s)", plugin_id=self.plugin_id) from None
            except StopAsyncIteration:
                raise WorkerGone(f"plugin {self.plugin_id!r}: the replica ended the call without an answer",
                                 plugin_id=self.plugin_id) from None
            except WorkerError:
                raise
            except Exception as e:
                raise ray_error(e, self.plugin_id) from None
            frame = json.loads(text)
            kind = frame.get("kind")
            if kind == "publish":
                self._on_publish(self.plugin_id, frame.get("topic"), frame.get("data"))
                continue
            if kind == "error":
                error = BackendError(self.plugin_id, str(frame.get("type")), str(frame.get("message")))
                if error.type_name == "NoSuchTool":
                    error.status = 404
                raise error
            return frame

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items()

    async def _items(self) -> AsyncIterator[Any]:
        if not self.streaming:
            yield self.value
            return
        ok = False
        try:
            while True:
                frame = await self._next(self._timeout)
                if frame["kind"] == "end":
                    ok = True
                    return
                yield frame.get("value")
        finally:
            if not ok:
                self._cancel()
            self._finish(ok)

    async def aclose(self) -> None:
        """Gives up on an unfinished stream (cancels it in the replica)."""
        if not self._done:
            self._cancel()
            self._finish(ok=False)

    def _cancel(self) -> None:
        try:
            self._gen.cancel()
        except Exception:
            pass

    def _finish(self, ok: bool) -> None:
        if self._done:
            return
        self._done = True
        self._counters.finished(ok, self._started)

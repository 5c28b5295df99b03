"""The answer of one call to a worker: a single value, or items of a stream, with the call's bookkeeping."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, AsyncIterator

from .callstats import failure_key
from .channel import Call
from .errors import BackendError, WorkerGone, WorkerTimeout

if TYPE_CHECKING:
    from .pool import Pool
    from .process import WorkerProcess

__all__ = ["Reply", "next_frame"]


async def next_frame(pool: Pool, call: Call, timeout: float) -> dict[str, Any]:
    """The next frame of ``call``; the worker's error, its death or the timeout as a WorkerError."""
    plugin_id = pool.spec.plugin_id
    try:
        frame = await call.next(max(timeout, 0.001))
    except TimeoutError:
        raise WorkerTimeout(f"plugin {plugin_id!r} did not answer within {pool.spec.timeout_s:g} s (timeout_s)",
                            plugin_id=plugin_id) from None
    kind = frame.get("kind")
    if kind == "error":
        error = BackendError(plugin_id, str(frame.get("type")), str(frame.get("message")))
        if error.type_name == "NoSuchTool":
            error.status = 404  # the caller named a tool this backend does not have
        raise error
    if kind == "closed":
        raise WorkerGone(f"plugin {plugin_id!r}: the worker exited during the call", plugin_id=plugin_id,
                         stderr_tail=tuple(pool.tail)[-10:])
    return frame


class Reply:
    """A single ``value``, or (``streaming``) items to iterate with ``async for``. A single value also comes
    with ``text``, its JSON as the worker sent it (compact, UTF-8: what Starlette's JSONResponse would render),
    when the frame carried it apart; None otherwise.

    ``timeout`` bounds the wait for the first answer and then for each next item, so long streams live on as
    long as they keep producing.
    """

    def __init__(self, pool: Pool, worker: WorkerProcess, call: Call, first: dict[str, Any], timeout: float,
                 started: float, contended: bool = False) -> None:
        self._pool, self._worker, self._call = pool, worker, call
        self._contended = contended
        self.streaming = first.get("kind") == "stream"
        self.value = first.get("value")
        self.text: bytes | None = first.get("text")
        self._timeout = timeout
        self._started = started
        self._done = not self.streaming
        if self._done:
            self._finish(ok=True)

    @classmethod
    async def open(cls, pool: Pool, worker: WorkerProcess, op: str, fields: dict[str, Any], timeout: float,
                   started: float) -> Reply:
        assert worker.channel is not None
        try:
            call = worker.channel.open(op, **fields)
        except (TypeError, ValueError) as e:
            raise BackendError(pool.spec.plugin_id, "TypeError", f"payload is not JSON serializable: {e}") from None
        contended = pool.stats.began(worker.outstanding)
        worker.outstanding += 1
        try:
            first = await next_frame(pool, call, timeout - (time.monotonic() - started))
        except BaseException as e:
            call.close()
            worker.outstanding -= 1
            worker.calls += 1
            pool.requests += 1
            pool.errors += 1
            pool.stats.ended(time.monotonic() - started, worker.outstanding, failure_key(e), contended)
            raise
        return cls(pool, worker, call, first, timeout, started, contended)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items()

    async def _items(self) -> AsyncIterator[Any]:
        if not self.streaming:
            yield self.value
            return
        ok, failure = False, None
        try:
            while True:
                frame = await next_frame(self._pool, self._call, self._timeout)
                if frame["kind"] == "end":
                    ok = True
                    return
                yield frame.get("value")
        except BaseException as e:
            failure = e
            raise
        finally:
            self._finish(ok, failure)

    async def aclose(self) -> None:
        """Gives up on an unfinished stream (cancels it in the worker)."""
        if not self._done:
            self._finish(ok=False)

    def _finish(self, ok: bool, failure: BaseException | None = None) -> None:
        if self._done and self._worker is None:
            return
        self._done = True
        self._call.close()
        self._worker.outstanding -= 1
        self._worker.calls += 1
        self._pool.requests += 1
        if not ok:
            self._pool.errors += 1
        elapsed = time.monotonic() - self._started
        self._pool.latencies_ms.append(elapsed * 1000)
        self._pool.stats.ended(elapsed, self._worker.outstanding, None if ok else failure_key(failure),
                               self._contended)
        self._worker = None  # type: ignore[assignment]

"""Sync code whose outcome the harness hands back to its loop: publishes before answering, a contextvar that
must not leak from one call into the next, a raise, a slow call to give up on, and a sync tool returning a
coroutine (awaited by the loop)."""

import asyncio
import contextvars
import threading
import time

seen = contextvars.ContextVar("seen", default=None)


def run(payload, ctx):
    for i in range(payload.get("n", 1)):
        ctx.publish("before", {"k": payload["k"], "i": i})
    prior = seen.get()
    seen.set(payload["k"])
    return {"k": payload["k"], "prior": prior, "thread": threading.current_thread().name}


def fails(payload):
    raise KeyError("missing")


def slow(payload):
    time.sleep(payload["s"])
    return "late"


async def _later(value):
    await asyncio.sleep(0)
    return value


def deferred(payload):
    return _later({"deferred": payload})


def big(payload, ctx):
    """A value far bigger than the socket takes at once, after a publish just as big: the thread's own write
    stops part way and the loop writes the rest before anything else."""
    text = payload["c"] * payload["size"]
    ctx.publish("before", {"k": payload["k"], "i": 0, "pad": text})
    return {"k": payload["k"], "text": text}


async def big_async(payload):
    """The same from the loop, which writes while threads answer."""
    return {"k": payload["k"], "text": payload["c"] * payload["size"]}

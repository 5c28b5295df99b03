"""run plus named tools of each kind; a private helper, an imported function, a class and hooks are no tools."""

import asyncio
import os
import threading
from os.path import join  # noqa: F401  imported, so not a tool


def run(payload):
    return {"tool": "run", "payload": payload}


def shout(payload):
    return {"text": payload["text"].upper(), "pid": os.getpid(), "thread": threading.current_thread().name}


async def add(payload):
    await asyncio.sleep(0)
    return {"sum": payload["a"] + payload["b"]}


def count(payload):
    for i in range(payload["n"]):
        yield {"i": i}


async def acount(payload):
    for i in range(payload["n"]):
        await asyncio.sleep(0)
        yield {"i": i, "async": True}


def whoami(payload, ctx):
    return {"plugin_id": ctx.plugin_id, "version": ctx.version, "payload": payload}


async def awhoami(payload, ctx):
    return {"plugin_id": ctx.plugin_id, "async": True}


def _private(payload):
    return "not for pages"


class Model:
    def __call__(self, payload):
        return "not a tool either"


def init(ctx):
    pass


def on_event(event):
    pass


def uninstall(ctx):
    pass

"""One backend exercising the whole plugin contract, for both worker backends (process and ray)."""

import asyncio
import os
import time
from pathlib import Path

SEEN = {"init": 0, "events": []}


def init(ctx):
    SEEN["init"] += 1


def shutdown(ctx):
    (Path(ctx.data_dir) / f"shutdown-{os.getpid()}").write_text("bye")


def run(payload):
    return {"echo": payload, "pid": os.getpid()}


async def async_echo(payload):
    await asyncio.sleep(0)
    return {"async": payload}


def count(payload):
    yield from range(payload["n"])


async def acount(payload):
    for i in range(payload["n"]):
        await asyncio.sleep(0)
        yield {"i": i}


def fail(payload):
    raise ValueError(f"boom: {payload}")


def slow(payload):
    time.sleep(payload["s"])
    return "late"


def not_json(payload):
    return {1, 2}


def whoami(payload, ctx):
    return {"pid": os.getpid(), "plugin": ctx.plugin_id, "version": ctx.version, "settings": ctx.settings,
            "init": SEEN["init"], "cwd": os.getcwd(), "data_dir": str(ctx.data_dir),
            "secret": os.environ.get("CONTRACT_PARENT_SECRET"), "passed": os.environ.get("CONTRACT_PASSED")}


def model(payload, ctx):
    path = ctx.models["CONTRACT_MODEL"]
    return {"path": str(path), "env": os.environ.get("CONTRACT_MODEL"), "text": Path(path).read_text()}


def announce(payload, ctx):
    ctx.publish("done", {"n": payload})
    return "announced"


def on_event(event):
    SEEN["events"].append(event["type"])


def events(payload):
    return list(SEEN["events"])


def where(payload, ctx):
    return {"file": __file__, "cwd": os.getcwd(), "data_dir": str(ctx.data_dir), "cache_dir": str(ctx.cache_dir),
            "model": str(ctx.models.get("CONTRACT_MODEL"))}


def log_line(payload, ctx):
    ctx.log.info("a line for the log: %s", payload)
    print("printed:", payload, flush=True)
    return True

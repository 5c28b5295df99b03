"""Notes its hooks and calls in <data_dir>/order.txt as "<what> <pid>" lines: init (sync), run, shutdown (async)."""

import os
import time


def _note(ctx, what):
    with open(ctx.data_dir / "order.txt", "a", encoding="utf-8") as handle:
        handle.write(f"{what} {os.getpid()}\n")


def init(ctx):
    time.sleep(0.3)  # slow enough that a call sent before init finished would be noted first
    _note(ctx, "init")


def run(payload, ctx):
    _note(ctx, "run")
    return {"pid": os.getpid()}


async def shutdown(ctx):
    _note(ctx, "shutdown")

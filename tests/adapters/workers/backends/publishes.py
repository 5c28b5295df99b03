"""Publishes from sync code (a worker thread, and a thread of its own), from async code, and tries forbidden
topics and data, catching what ctx.publish raises."""

import asyncio
import threading


def burst(payload, ctx):
    for i in range(payload["n"]):
        ctx.publish("tick", {"i": i})
    return {"thread": threading.current_thread().name}


def from_own_thread(payload, ctx):
    thread = threading.Thread(target=lambda: [ctx.publish("thread", i) for i in range(3)])
    thread.start()
    thread.join()
    return "joined"


async def aburst(payload, ctx):
    for i in range(payload["n"]):
        if i % 2:
            await asyncio.sleep(0)
        ctx.publish(f"{ctx.plugin_id}/tock", {"i": i})  # the last one right before the answer
    return "async"


def forbidden(payload, ctx):
    refused = {}
    for topic in payload["topics"]:
        try:
            ctx.publish(topic, 1)
        except ValueError as e:
            refused[topic] = str(e)
    try:
        ctx.publish("not-json", {"x": object()})
    except ValueError as e:
        refused["not-json"] = str(e)
    return refused


def run(payload):
    return payload

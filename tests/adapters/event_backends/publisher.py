"""Publishes n events from a tool."""


def burst(payload, ctx):
    for i in range(payload["n"]):
        ctx.publish(payload.get("name", "tick"), {"i": i})
    return payload["n"]


def run(payload):
    return payload

"""Keeps every event it receives; run() returns them."""

SEEN = []


def on_event(event, ctx):
    SEEN.append({"type": event["type"], "source": event["source"], "data": event["data"], "me": ctx.plugin_id})


def run(payload):
    return SEEN

"""on_event(event, ctx), sync: remembers what it saw; run tells; a "boom" event raises."""

SEEN = []


def on_event(event, ctx):
    if event["type"] == "boom":
        raise RuntimeError("cannot handle boom")
    SEEN.append({"event": event, "plugin_id": ctx.plugin_id})


def run(payload):
    return SEEN

"""Keeps every event it receives; run() returns them (type, source, data)."""

SEEN = []


def on_event(event):
    SEEN.append({"type": event["type"], "source": event["source"], "data": event["data"]})


def run(payload):
    return SEEN

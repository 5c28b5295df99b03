"""A subscriber that takes its time with each event."""

import time

SEEN = []


def on_event(event):
    time.sleep(0.2)
    SEEN.append(event["data"])


def run(payload):
    return SEEN

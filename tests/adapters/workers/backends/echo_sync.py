"""Sync run (served in a thread) plus a WebSocket handler; reports its pid so tests can tell workers apart."""

import os
import threading
import time


def run(payload):
    if isinstance(payload, dict) and payload.get("sleep"):
        time.sleep(float(payload["sleep"]))
    return {"echo": payload, "pid": os.getpid(), "thread": threading.current_thread().name}


def on_message(message, client_id):
    return {"client_id": client_id, "echo": message, "pid": os.getpid()}

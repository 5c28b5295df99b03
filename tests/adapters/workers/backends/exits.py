"""Exits the whole process on request: the supervisor must restart it."""

import os


def run(payload):
    if payload.get("exit"):
        os._exit(7)
    return {"pid": os.getpid()}

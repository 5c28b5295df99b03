"""Calls sys.exit(3) on request: the worker must end with code 3, as a process would."""

import os
import sys


def run(payload):
    if payload.get("exit"):
        sys.exit(3)
    return {"pid": os.getpid()}

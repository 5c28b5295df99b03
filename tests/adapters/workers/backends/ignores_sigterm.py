"""Ignores SIGTERM, so only the SIGKILL after the grace period can stop it."""

import os
import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)


def run(payload):
    return {"pid": os.getpid()}

"""Takes INIT_SLEEP seconds in init, as a backend loading a model would: the worker is "coming" meanwhile."""

import os
import time


def init(ctx):
    time.sleep(float(os.environ.get("INIT_SLEEP", "0.5")))


def run(payload):
    return {"pid": os.getpid()}

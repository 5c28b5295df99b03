"""Burns CPU on request, in the worker itself or in a child process it spawns (to measure a worker's whole tree)."""

import os
import subprocess
import sys
import threading
import time

BURN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end:\n    pass\n"


def run(payload):
    if payload.get("child"):  # a child that burns; reaped by a thread so it never lingers as a zombie
        child = subprocess.Popen([sys.executable, "-c", BURN.format(seconds=float(payload["child"]))])
        threading.Thread(target=child.wait, daemon=True).start()
        return {"pid": os.getpid(), "child": child.pid}
    end = time.process_time() + float(payload.get("seconds", 0.5))
    while time.process_time() < end:
        pass
    return {"pid": os.getpid()}

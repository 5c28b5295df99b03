"""Starts a grandchild process, to check that stop kills the whole process group."""

import os
import subprocess
import sys

CHILD = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])


def run(payload):
    return {"pid": os.getpid(), "child": CHILD.pid}

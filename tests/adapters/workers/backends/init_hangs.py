"""An init hook that starts a child and then never returns: the start must fail at the hook timeout, and no
process may be left."""

import os
import subprocess
import sys
import time


def init(ctx):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    (ctx.data_dir / "pids").write_text(f"{os.getpid()} {child.pid}")
    time.sleep(3600)


def run(payload):
    return payload

"""A shutdown hook that never returns: stop must still end within its grace period."""

import os
import time


def shutdown(ctx):
    (ctx.data_dir / "shutdown-started").write_text(str(os.getpid()))
    time.sleep(3600)


def run(payload):
    return {"pid": os.getpid()}

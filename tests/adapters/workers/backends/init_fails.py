"""An init hook that raises: the worker must never count as started."""

import os


def init(ctx):
    (ctx.data_dir / "pid").write_text(str(os.getpid()))
    raise ValueError(f"weights missing in {ctx.cache_dir}")


def run(payload):
    return payload

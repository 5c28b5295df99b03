"""Shows what ctx holds, logs through ctx.log, and answers WebSocket messages with ctx as third argument."""

import os


def run(payload, ctx):
    ctx.log.info("ctx for %s at %s", ctx.plugin_id, ctx.version)
    return {"plugin_id": ctx.plugin_id, "version": ctx.version, "data_dir": str(ctx.data_dir),
            "cache_dir": str(ctx.cache_dir), "settings": ctx.settings,
            "models": {key: str(path) for key, path in ctx.models.items()},
            "model_types": sorted({type(path).__name__ for path in ctx.models.values()}),
            "dir_types": [type(ctx.data_dir).__name__, type(ctx.cache_dir).__name__],
            "cwd": os.getcwd(), "log": ctx.log.name}


def on_message(message, client_id, ctx):
    return {"client_id": client_id, "echo": message, "plugin_id": ctx.plugin_id}

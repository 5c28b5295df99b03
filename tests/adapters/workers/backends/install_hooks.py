"""install / uninstall hooks, steered by settings["mode"]: "ok" writes and removes files, "fail" raises, "hang"
starts a child and sleeps."""

import json
import os
import subprocess
import sys
import time


def install(ctx):
    print(f"installing {ctx.plugin_id} {ctx.version}")
    mode = ctx.settings.get("mode", "ok")
    if mode == "fail":
        raise RuntimeError("cannot fetch the vocabulary")
    if mode == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        (ctx.data_dir / "child.pid").write_text(str(child.pid))
        time.sleep(3600)
    ctx.publish("installed", {"version": ctx.version})  # nobody listens: logged, not delivered
    (ctx.data_dir / "installed.json").write_text(json.dumps(
        {"cwd": os.getcwd(), "version": ctx.version, "cache_dir": str(ctx.cache_dir)}))


async def uninstall(ctx):
    (ctx.data_dir / "installed.json").unlink()
    print(f"uninstalled {ctx.plugin_id}")


def run(payload):
    return payload

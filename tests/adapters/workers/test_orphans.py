"""kill -9 of the process that owns a WorkerManager leaves no worker alive: they notice and exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from aiplugs.util.procs import pid_alive

from .conftest import BACKENDS

OWNER = textwrap.dedent("""
    import asyncio, json, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from workers.conftest import backend_spec
    from aiplugs.adapters.workers import WorkerManager

    async def main():
        manager = WorkerManager(Path({state!r}))
        for index in range(2):
            await manager.start(backend_spec("echo_sync", count=2), index)
        await manager.start(backend_spec("sleeps"), 0)
        pids = [w.pid for w in manager.observe()[0]]
        print(json.dumps(pids), flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
""")


def test_sigkill_of_the_owner_leaves_no_worker(tmp_path: Path) -> None:
    script = OWNER.format(tests=str(BACKENDS.parents[1]), state=str(tmp_path / "state"))
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = owner.stdout.readline()  # type: ignore[union-attr]
        pids = json.loads(line)
        assert len(pids) == 3 and all(pid_alive(p) for p in pids)
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
            time.sleep(0.05)
        assert not any(pid_alive(p) for p in pids), "workers survived their owner"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()

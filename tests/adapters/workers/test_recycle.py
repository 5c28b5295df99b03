"""max_calls_per_worker against real worker processes: after N calls a worker is replaced — the new process
starts first, the old one finishes what it holds — and no call is lost or cut short."""

from __future__ import annotations

import asyncio
import dataclasses

from aiplugs.util.procs import pid_alive

from ...support import wait_for_async
from .conftest import start_all


async def test_a_worker_is_replaced_after_its_calls_without_losing_one(manager, make_spec, bus):
    spec = dataclasses.replace(make_spec("echo_async"), max_calls_per_worker=4)
    await start_all(manager, spec)
    first = manager.stats("echo-async")["pids"][0]
    # 4 slow calls fill the first worker; the 4th starts its replacement while all four are still running
    held = [asyncio.create_task(manager.call("echo-async", {"i": i, "sleep": 1.0})) for i in range(4)]
    await wait_for_async(lambda: manager.stats("echo-async")["pids"] != [first], timeout=30)
    second = manager.stats("echo-async")["pids"][0]
    more = [await manager.call("echo-async", {"i": 10 + i}) for i in range(3)]  # served by the new process
    results = await asyncio.gather(*held)
    assert [r["echo"]["i"] for r in results] == [0, 1, 2, 3] and {r["pid"] for r in results} == {first}
    assert {r["pid"] for r in more} == {second} != {first}
    await wait_for_async(lambda: not pid_alive(first), timeout=15)  # drained, then stopped
    # the exit is seen before the recycler, which awaits it, says so: wait for its word
    await wait_for_async(lambda: any(e.type == "worker.stopped" for e in bus.history()), timeout=15)
    assert manager.recycler.recycled == 1
    workers, history = manager.observe()
    assert [(w.index, w.pid, w.alive) for w in workers] == [(0, second, True)]  # the plan sees one slot, as before
    assert history[0].restarts == 0 and history[0].failures == ()  # a recycle is no crash and no restart
    stopped = [e for e in bus.history() if e.type == "worker.stopped"]
    assert [e.data["pid"] for e in stopped] == [first]


async def test_without_a_limit_workers_are_never_recycled(manager, make_spec):
    spec = make_spec("echo_async")
    await start_all(manager, spec)
    pids = {(await manager.call("echo-async", {"i": i}))["pid"] for i in range(12)}
    assert len(pids) == 1 and manager.recycler.recycled == 0


async def test_closing_the_manager_during_a_replacement_leaves_no_process(manager, make_spec):
    spec = dataclasses.replace(make_spec("echo_async"), max_calls_per_worker=1)
    await start_all(manager, spec)
    first = manager.stats("echo-async")["pids"][0]
    call = asyncio.create_task(manager.call("echo-async", {"sleep": 5}))
    await asyncio.sleep(0.05)  # the replacement is starting
    await manager.close()
    call.cancel()
    await asyncio.gather(call, return_exceptions=True)
    assert not pid_alive(first)
    import psutil

    ours = [p for p in psutil.Process().children() if str(spec.entry) in " ".join(p.cmdline())]
    assert ours == []  # neither the old worker nor its half-started replacement

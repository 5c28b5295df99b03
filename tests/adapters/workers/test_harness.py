"""The harness's direct path for sync code (a thread that writes its plain answer to the channel itself, other
outcomes handed back to the loop) against a real worker: answers after the call's own publishes, whole frames when
answers are bigger than the socket takes at once and the loop writes at the same time, no contextvar leaking
between calls, raises and awaitables reported as ``invoke`` would, and a call given up on leaving the worker
serving."""

from __future__ import annotations

import asyncio

import pytest

from aiplugs.adapters.workers import BackendError, WorkerManager, WorkerTimeout


async def test_concurrent_sync_calls_answer_after_their_own_publishes(tmp_path, make_spec):
    published: list[tuple[int, int]] = []
    mgr = WorkerManager(tmp_path / "state", grace_s=2.0,
                        on_publish=lambda plugin, topic, data: published.append((data["k"], data["i"])))
    try:
        await mgr.start(make_spec("handover"), 0)

        async def one(k: int) -> dict:
            answer = await mgr.call("handover", {"k": k, "n": 3})
            assert [i for kk, i in published if kk == k] == [0, 1, 2]  # all of them, before the answer
            return answer

        answers = await asyncio.gather(*(one(k) for k in range(60)))
        assert [a["k"] for a in answers] == list(range(60))
        assert all(a["prior"] is None for a in answers)  # each call ran in a fresh copy of the context
        assert all(a["thread"] != "MainThread" for a in answers)
    finally:
        await mgr.close()


async def test_big_answers_from_threads_and_the_loop_arrive_whole_and_in_order(tmp_path, make_spec):
    published: dict[int, list[int]] = {}
    mgr = WorkerManager(tmp_path / "state", grace_s=2.0,
                        on_publish=lambda plugin, topic, data: published.setdefault(data["k"], []).append(data["i"]))
    try:
        await mgr.start(make_spec("handover"), 0)

        async def one(k: int) -> None:
            size = (k % 4) * 700_000 + 10  # up to ~2 MB: the socket takes a part, the loop writes the rest
            c = "abcdefghé"[k % 9]
            if k % 3 == 2:  # answered by the loop (an async tool) while threads write theirs
                answer = await mgr.call("handover", {"k": k, "size": size, "c": c}, tool="big_async")
            else:
                answer = await mgr.call("handover", {"k": k, "size": size, "c": c}, tool="big")
                assert published[k] == [0]  # its publish came first
            assert answer == {"k": k, "text": c * size}

        await asyncio.gather(*(one(k) for k in range(24)))
        assert (await mgr.call("handover", {"k": 1}))["k"] == 1  # the channel is still in step
    finally:
        await mgr.close()


async def test_raises_awaitables_and_given_up_calls(tmp_path, make_spec):
    mgr = WorkerManager(tmp_path / "state", grace_s=2.0)
    try:
        await mgr.start(make_spec("handover"), 0)
        with pytest.raises(BackendError) as raised:
            await mgr.call("handover", {}, tool="fails")
        assert raised.value.type_name == "KeyError" and "missing" in raised.value.message
        assert await mgr.call("handover", [1], tool="deferred") == {"deferred": [1]}
        with pytest.raises(WorkerTimeout):
            await mgr.call("handover", {"s": 0.5}, tool="slow", timeout=0.1)
        await asyncio.sleep(0.6)  # the slow call's outcome arrives after it was given up on: dropped
        assert (await mgr.call("handover", {"k": 1}))["k"] == 1
        assert mgr.stats("handover")["ready"] == 1
    finally:
        await mgr.close()

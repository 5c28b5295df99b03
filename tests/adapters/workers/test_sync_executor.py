import asyncio
import concurrent.futures
import threading
import time

import pytest

from aiplugs.adapters.workers.sync_executor import SyncExecutor


def _wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return predicate()


def test_results_and_exceptions_come_back_through_the_futures() -> None:
    executor = SyncExecutor()
    try:
        assert executor.submit(pow, 2, 10).result(5) == 1024
        assert executor.submit(lambda *, x: x * 3, x=7).result(5) == 21
        with pytest.raises(ZeroDivisionError):
            executor.submit(lambda: 1 / 0).result(5)
        assert list(executor.map(str.upper, ["a", "b", "c"])) == ["A", "B", "C"]
    finally:
        executor.shutdown()


def test_a_burst_of_short_calls_runs_on_one_thread() -> None:
    executor = SyncExecutor(patience=1.0)  # nothing waits a second: no second thread is called for
    try:
        futures = [executor.submit(threading.get_ident) for _ in range(500)]
        threads = {f.result(5) for f in futures}
        assert len(threads) == 1
        assert threading.get_ident() not in threads
        assert executor.threads == 1
        # later bursts reuse the parked thread
        assert {f.result(5) for f in [executor.submit(threading.get_ident) for _ in range(100)]} == threads
        assert executor.threads == 1
    finally:
        executor.shutdown()


def test_a_call_queued_behind_a_blocked_one_gets_a_thread_after_patience() -> None:
    executor = SyncExecutor(patience=0.01)
    release = threading.Event()
    try:
        blocked = executor.submit(release.wait, 30)
        assert _wait_until(blocked.running)
        started = time.monotonic()
        quick = executor.submit(lambda: "done")
        assert quick.result(5) == "done"  # not after the blocked call: that one still waits
        assert not blocked.done()
        assert time.monotonic() - started < 2
        assert executor.threads == 2
        release.set()
        assert blocked.result(5) is True
    finally:
        release.set()
        executor.shutdown()


def test_threads_stay_within_max_threads() -> None:
    executor = SyncExecutor(max_threads=2, patience=0.005)
    gate = threading.Event()
    running = []
    lock = threading.Lock()

    def hold(i: int) -> int:
        with lock:
            running.append(i)
        gate.wait(30)
        return i

    try:
        futures = [executor.submit(hold, i) for i in range(3)]
        assert _wait_until(lambda: len(running) == 2)
        time.sleep(0.1)  # well past patience: the third still waits, there is no third thread
        assert running == [0, 1] and executor.threads == 2
        gate.set()
        assert [f.result(5) for f in futures] == [0, 1, 2]
        assert executor.threads == 2
    finally:
        gate.set()
        executor.shutdown()


def test_a_cancelled_call_does_not_run() -> None:
    executor = SyncExecutor(max_threads=1)
    release = threading.Event()
    ran = []
    try:
        first = executor.submit(release.wait, 30)
        assert _wait_until(first.running)
        second = executor.submit(ran.append, "second")
        assert second.cancel()
        third = executor.submit(ran.append, "third")
        release.set()
        third.result(5)
        assert ran == ["third"] and second.cancelled()
    finally:
        release.set()
        executor.shutdown()


def test_shutdown_finishes_queued_calls_then_refuses_new_ones() -> None:
    executor = SyncExecutor(max_threads=1)
    release = threading.Event()
    first = executor.submit(release.wait, 30)
    rest = [executor.submit(lambda i=i: i) for i in range(5)]
    threading.Timer(0.05, release.set).start()
    executor.shutdown(wait=True)
    assert first.result(0) is True and [f.result(0) for f in rest] == list(range(5))
    assert executor.threads == 0
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(print)


def test_shutdown_can_cancel_what_has_not_started() -> None:
    executor = SyncExecutor(max_threads=1)
    release = threading.Event()
    first = executor.submit(release.wait, 30)
    assert _wait_until(first.running)
    queued = [executor.submit(lambda: None) for _ in range(3)]
    executor.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in queued)
    release.set()
    assert first.result(5) is True
    assert _wait_until(lambda: executor.threads == 0)


def test_it_serves_as_the_loops_default_executor() -> None:
    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        executor = SyncExecutor(thread_name_prefix="asyncio")
        loop.set_default_executor(executor)  # asyncio takes only a ThreadPoolExecutor
        here = threading.get_ident()
        there = await asyncio.to_thread(threading.get_ident)
        name = await loop.run_in_executor(None, lambda: threading.current_thread().name)
        assert name.startswith("asyncio_")
        return here, there

    here, there = asyncio.run(main())  # asyncio.run shuts the default executor down at the end
    assert here != there


def test_max_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SyncExecutor(max_threads=0)
    assert isinstance(SyncExecutor(), concurrent.futures.ThreadPoolExecutor)

"""RayInstance: this process's connection to Ray — a local instance aiplugs starts and owns, or a cluster it joins.

``ray.init`` is process-wide, so there is one instance per daemon. An owned instance's head processes (GCS,
raylet) are started with "die with my parent thread" (Linux ``PR_SET_PDEATHSIG``): ``ray.init`` runs in a thread of
its own that lives exactly as long as the instance, and the instance dies with the daemon however it ends. Stopping
it shuts Serve and Ray down, then waits for every process of its tree and kills what lingers, so ``down`` leaves no
Ray process behind. A cluster (``address``) is only disconnected from: aiplugs never stops what it did not start.

Serve is started without HTTP proxies: the router reaches replicas through deployment handles only.

Joining a cluster is bounded: ``ray.init`` retries an address that does not answer for many minutes, so the
address is probed first (nothing listening → a clear error at once), and the whole connect gets
``CONNECT_TIMEOUT_S``. The thread all Ray calls run in is a daemon thread: a connect that never returns is left
behind without holding up the daemon's exit, and the next apply tries again with a new instance.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import queue
import socket
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import psutil

from ...plan.placement import ray_where

__all__ = ["RayInstance"]

log = logging.getLogger(__name__)
LINGER_S = 5.0  # how long Ray's processes get to exit after shutdown before they are killed
CONNECT_TIMEOUT_S = 60.0  # starting a local instance or joining a cluster, at most
PROBE_TIMEOUT_S = 5.0


class RayInstance:
    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 namespace: str = "aiplugs") -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.namespace = namespace
        self.started = False
        self.session_dir: str | None = None
        self._thread: _OneThread | None = None
        self._heads: list[int] = []  # pids of the head processes ray.init started (owned instance)

    @property
    def owned(self) -> bool:
        return self.address is None

    @property
    def where(self) -> str:
        return ray_where(self.address)

    def matches(self, address: str | None, num_cpus: int | None) -> bool:
        return self.address == address and (address is not None or self.num_cpus == num_cpus)

    async def start(self, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        if not self.started:
            await asyncio.to_thread(self.start_sync, timeout_s)

    def start_sync(self, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        """``start`` for callers without an event loop (a test session, a benchmark). Raises ``ConnectionError``
        when nothing answers at the cluster's address, ``TimeoutError`` when Ray does not come up in time."""
        if self.started:
            return
        if not self.owned:
            probe(self.address)  # type: ignore[arg-type]
        self._thread = _OneThread("aiplugs-ray")
        started = time.monotonic()
        try:
            self._thread.submit(self._init).result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            self._thread.abandon()  # stuck inside ray.init: a daemon thread, it does not hold up our exit
            self._thread = None
            raise TimeoutError(f"Ray did not come up within {timeout_s:.0f} s ({self.where})") from None
        except BaseException:
            self._thread.shutdown()
            self._thread = None
            raise
        self.started = True
        log.info("%s: Ray %s in %.1f s (session %s)", self.where, "started" if self.owned else "connected",
                 time.monotonic() - started, self.session_dir)

    def _init(self) -> None:
        import ray
        from ray import serve

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home from a local tool
        before = {p.pid for p in psutil.Process().children()}
        if self.owned:
            ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False,
                     namespace=self.namespace, logging_level=logging.WARNING)
            self._heads = [p.pid for p in psutil.Process().children() if p.pid not in before]
        else:
            ray.init(address=self.address, log_to_driver=False, namespace=self.namespace,
                     logging_level=logging.WARNING)
        try:
            self.session_dir = ray._private.worker._global_node.get_session_dir_path()  # type: ignore[attr-defined]
        except Exception:
            self.session_dir = None
        serve.start(proxy_location="Disabled")

    async def stop(self) -> None:
        if self.started:
            await asyncio.to_thread(self.stop_sync)

    def stop_sync(self) -> None:
        if not self.started or self._thread is None:
            return
        thread, self._thread = self._thread, None
        tree = self._tree()
        try:
            thread.submit(self._shutdown).result()
        finally:
            thread.shutdown()
            self.started = False
        if tree:
            _reap(tree, LINGER_S)

    def _shutdown(self) -> None:
        import ray
        from ray import serve

        if self.owned:
            try:
                serve.shutdown()
            except Exception:  # Ray going down takes Serve with it
                log.warning("serve.shutdown failed", exc_info=True)
        ray.shutdown()

    def _tree(self) -> list[psutil.Process]:
        """The owned instance's processes, now (workers and agents are their descendants)."""
        found = []
        for pid in self._heads:
            try:
                head = psutil.Process(pid)
                found += [head, *head.children(recursive=True)]
            except psutil.Error:
                continue
        return found


def _reap(processes: list[psutil.Process], timeout: float) -> None:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=2.0)


def probe(address: str) -> None:
    """Raises ``ConnectionError`` when nothing accepts a TCP connection at a cluster's ``host:port`` (``ray://`` or
    a GCS address). ``auto`` (the cluster this machine's Ray reports) is left to ``ray.init``."""
    if address == "auto":
        return
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is no number
        host, port = None, None
    if not host or not port:
        raise ConnectionError(f"{address!r} is no host:port (ray://host:10001, host:6379 or auto)")
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as e:
        raise ConnectionError(f"nothing answers at {host}:{port} ({e.strerror or e})") from None


class _OneThread:
    """One daemon thread running submitted calls in order: the thread ``ray.init`` runs in lives as long as the
    instance (its head processes die with it), and a call stuck forever does not keep the process alive."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None] = \
            queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._calls.put((fn, future))
        return future

    def shutdown(self) -> None:
        """Runs what was submitted, then ends the thread (waits for it)."""
        self._calls.put(None)
        self._thread.join()

    def abandon(self) -> None:
        """Ends the thread whenever its current call returns, without waiting."""
        self._calls.put(None)

    def _run(self) -> None:
        while (item := self._calls.get()) is not None:
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                future.set_exception(e)

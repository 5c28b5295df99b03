"""RayInstance: this process's connection to Ray — a local instance aiplugs starts and owns, or a cluster it joins.

``ray.init`` is process-wide, so there is one instance per daemon. An owned instance's head processes (GCS,
raylet) are started with "die with my parent thread" (Linux ``PR_SET_PDEATHSIG``): ``ray.init`` runs in a thread of
its own that lives exactly as long as the instance, and the instance dies with the daemon however it ends. Stopping
it shuts Serve and Ray down, then waits for every process of its tree and kills what lingers, so ``down`` leaves no
Ray process behind. A cluster (``address``) is only disconnected from: aiplugs never stops what it did not start.

Serve is started without HTTP proxies: the router reaches replicas through deployment handles only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import time

import psutil

from ...plan.placement import ray_where

__all__ = ["RayInstance"]

log = logging.getLogger(__name__)
LINGER_S = 5.0  # how long Ray's processes get to exit after shutdown before they are killed


class RayInstance:
    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 namespace: str = "aiplugs") -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.namespace = namespace
        self.started = False
        self.session_dir: str | None = None
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._heads: list[int] = []  # pids of the head processes ray.init started (owned instance)

    @property
    def owned(self) -> bool:
        return self.address is None

    @property
    def where(self) -> str:
        return ray_where(self.address)

    def matches(self, address: str | None, num_cpus: int | None) -> bool:
        return self.address == address and (address is not None or self.num_cpus == num_cpus)

    async def start(self) -> None:
        if not self.started:
            await asyncio.to_thread(self.start_sync)

    def start_sync(self) -> None:
        """``start`` for callers without an event loop (a test session, a benchmark)."""
        if self.started:
            return
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="aiplugs-ray")
        started = time.monotonic()
        self._thread.submit(self._init).result()
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
            thread.shutdown(wait=True)
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

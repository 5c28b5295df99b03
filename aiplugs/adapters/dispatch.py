"""WorkerDispatcher: one ``WorkerBackend`` in front of the two real ones, routing each plugin to the backend its
``WorkerSpec`` names (``process`` by default, ``ray`` for ``backend = "ray"``).

RunningSystem and the router hold only this: they start, call and observe workers without knowing where they
run. The Ray backend is built on the first ray-backed start, so a system with no plugin on Ray never imports Ray.
A plugin moved from one backend to the other is stopped on the old one as the plan's replace actions start it on
the new one (its config hash changed with the move).
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable, Mapping

from ..plan import ObservedPlugin, ObservedWorker, WorkerSpec
from ..plan.placement import Backend
from .backend import Answer, WorkerBackend
from .workers import WorkerManager
from .workers.protocol import Encoded

__all__ = ["WorkerDispatcher"]


class WorkerDispatcher:
    def __init__(self, process: WorkerManager, *, ray_factory: Callable[[], WorkerBackend] | None = None) -> None:
        """``ray_factory`` builds the Ray backend when the first plugin on Ray starts (default: ``RayBackend``
        with the process backend's state dir and events)."""
        self.process = process
        self._ray_factory = ray_factory
        self.ray: WorkerBackend | None = None
        self._where: dict[str, Backend] = {}  # plugin id -> the backend its workers run on
        self._ready = asyncio.Condition()

    # ---- what the owner sets, passed on to both backends ----------------------------------------------------

    @property
    def on_change(self) -> Callable[[], None]:
        return self.process.on_change

    @on_change.setter
    def on_change(self, value: Callable[[], None]) -> None:
        for backend in self._backends():
            backend.on_change = value

    @property
    def on_publish(self) -> Callable[[str, str, Any], None]:
        return self.process.on_publish

    @on_publish.setter
    def on_publish(self, value: Callable[[str, str, Any], None]) -> None:
        for backend in self._backends():
            backend.on_publish = value

    @property
    def parent_env(self) -> Mapping[str, str] | None:
        """Where ``pass_env`` variables come from (None: this process's environment)."""
        return self.process.parent_env

    @parent_env.setter
    def parent_env(self, value: Mapping[str, str] | None) -> None:
        self.process.parent_env = value
        if self.ray is not None:
            self.ray.parent_env = value  # type: ignore[attr-defined]

    def _backends(self) -> list[WorkerBackend]:
        return [self.process, *([self.ray] if self.ray is not None else [])]

    # ---- routing ---------------------------------------------------------------------------------------------

    def backend_of(self, plugin_id: str) -> Backend:
        """Where the plugin's workers run (``process`` for one never started)."""
        return self._where.get(plugin_id, "process")

    def _for(self, plugin_id: str) -> WorkerBackend:
        if self._where.get(plugin_id) == "ray" and self.ray is not None:
            return self.ray
        return self.process

    def _ray(self) -> WorkerBackend:
        if self.ray is None:
            if self._ray_factory is not None:
                self.ray = self._ray_factory()
            else:
                from .ray import RayBackend

                self.ray = RayBackend(self.process.state_dir, events=self.process.events)
            self.ray.on_change = self.process.on_change
            self.ray.on_publish = self.process.on_publish
            self.ray.parent_env = self.process.parent_env  # type: ignore[attr-defined]
        return self.ray

    async def _place(self, spec: WorkerSpec) -> WorkerBackend:
        """The backend for ``spec``; the plugin's slots on the other backend stop first (a move)."""
        old = self._where.get(spec.plugin_id)
        if old is not None and old != spec.backend:
            await self._stop_all(spec.plugin_id, self._for(spec.plugin_id))
        self._where[spec.plugin_id] = spec.backend
        return self._ray() if spec.backend == "ray" else self.process

    async def _stop_all(self, plugin_id: str, backend: WorkerBackend) -> None:
        indexes = [w.index for w in backend.observe()[0] if w.plugin_id == plugin_id]
        await asyncio.gather(*(backend.stop(plugin_id, i) for i in indexes))

    # ---- start / scale / stop --------------------------------------------------------------------------------

    async def start(self, spec: WorkerSpec, index: int) -> None:
        await (await self._place(spec)).start(spec, index)
        await self._notify()

    async def restart(self, spec: WorkerSpec, index: int) -> None:
        await (await self._place(spec)).restart(spec, index)
        await self._notify()

    async def stop(self, plugin_id: str, index: int) -> None:
        backend = self._for(plugin_id)
        await backend.stop(plugin_id, index)
        if not backend.has(plugin_id):
            self._where.pop(plugin_id, None)

    def forget_failures(self, plugin_id: str | None = None) -> None:
        for backend in self._backends():
            backend.forget_failures(plugin_id)

    async def run_hook(self, spec: WorkerSpec, hook: Any) -> None:
        """install / uninstall run once, on this machine, in a process (also for plugins on Ray)."""
        await self.process.run_hook(spec, hook)

    async def close(self) -> None:
        """Stops every worker; the Ray backend also stops a Ray instance it started (never a cluster)."""
        try:
            await self.process.close()
        finally:
            if self.ray is not None:
                await self.ray.close()
            self._where.clear()

    # ---- call / stream ---------------------------------------------------------------------------------------

    async def request(self, plugin_id: str, payload: Any, *, timeout: float | None = None, op: str = "run",
                      client_id: str | None = None, tool: str | None = None) -> Answer:
        backend = self._for(plugin_id)
        if type(payload) is Encoded and backend is not self.process:  # its JSON text is for the process channel
            payload = payload.value
        return await backend.request(plugin_id, payload, timeout=timeout, op=op, client_id=client_id, tool=tool)

    async def call(self, plugin_id: str, payload: Any, *, timeout: float | None = None,
                   tool: str | None = None) -> Any:
        """The result of ``run(payload)`` (or of ``tool``); a streaming result comes back as the list of its items."""
        answer = await self.request(plugin_id, payload, timeout=timeout, tool=tool)
        if not answer.streaming:
            return answer.value
        return [item async for item in answer]

    async def stream(self, plugin_id: str, payload: Any, *, timeout: float | None = None,
                     tool: str | None = None) -> AsyncIterator[Any]:
        """The items of a streaming ``run`` (or ``tool``); a plain result is one item."""
        answer = await self.request(plugin_id, payload, timeout=timeout, tool=tool)
        try:
            async for item in answer:
                yield item
        finally:
            await answer.aclose()

    async def message(self, plugin_id: str, client_id: str, message: Any, *, timeout: float | None = None,
                      tool: str | None = None) -> Answer:
        """A WebSocket message for ``on_message`` (or the named tool)."""
        return await self.request(plugin_id, message, timeout=timeout, op="message", client_id=client_id, tool=tool)

    async def deliver(self, plugin_id: str, event: dict[str, Any], *, timeout: float | None = None) -> None:
        await self._for(plugin_id).deliver(plugin_id, event, timeout=timeout)

    # ---- observe ---------------------------------------------------------------------------------------------

    def observe(self) -> tuple[tuple[ObservedWorker, ...], tuple[ObservedPlugin, ...]]:
        workers: list[ObservedWorker] = []
        plugins: list[ObservedPlugin] = []
        for backend in self._backends():
            seen, history = backend.observe()
            workers += seen
            plugins += history
        return tuple(workers), tuple(plugins)

    def stats(self, plugin_id: str) -> dict[str, Any] | None:
        return self._for(plugin_id).stats(plugin_id)

    def has(self, plugin_id: str) -> bool:
        return self._for(plugin_id).has(plugin_id)

    def serving(self, plugin_id: str) -> bool:
        return self._for(plugin_id).serving(plugin_id)

    async def wait_serving(self, plugin_id: str, timeout: float) -> bool:
        """Waits until some worker of the plugin is ready (it need not have started yet); False after ``timeout``.
        (A Ray replica Serve replaced by itself is noticed within a poll.)"""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._ready:
            while not self.serving(plugin_id):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                try:
                    await asyncio.wait_for(self._ready.wait(), min(remaining, 0.25))
                except TimeoutError:
                    pass
        return True

    async def _notify(self) -> None:
        async with self._ready:
            self._ready.notify_all()

    def __getattr__(self, name: str) -> Any:
        """What only the process backend offers (CPU and memory of worker processes, recycling, telemetry
        switches): asked of it directly. Plugins on Ray report those through Ray."""
        if name in ("process", "ray", "_where", "_ready", "_ray_factory"):
            raise AttributeError(name)  # not set yet (during __init__)
        return getattr(self.process, name)

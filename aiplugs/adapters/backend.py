"""The worker backend seam: how the runtime and the router talk to wherever a plugin's backend.py runs.

Two implementations: ``process`` (``workers.WorkerManager``: processes on this machine, the default) and ``ray``
(``ray.RayBackend``: replicas of a Ray Serve deployment). ``dispatch.WorkerDispatcher`` routes each plugin to the
one its ``WorkerSpec`` names and is itself a ``WorkerBackend``, so nothing above the seam knows which one runs.

The protocol, verb by verb:

- **start / scale / stop** — ``start(spec, i)``, ``restart(spec, i)``, ``stop(plugin_id, i)``: the plan's worker
  actions, slot by slot. Scaling is starting or stopping slots (``+ worker x#1 (scale 1→2)``); a backend that
  counts replicas rather than processes (Ray) turns the slots it holds into a replica count. Each returns once
  the slot serves (or raises a ``WorkerError``), and never decides anything by itself.
- **call / stream** — ``request(plugin_id, payload, op=, tool=, client_id=)`` returns an ``Answer`` once the
  first answer arrived: one ``value``, or ``streaming`` items. ``deliver`` hands an event to ``on_event``.
  Errors are the ``workers.errors`` classes with their HTTP statuses, the same from every backend.
- **observe** — ``observe()`` → (``ObservedWorker`` per slot, ``ObservedPlugin`` history per plugin), cheap and
  synchronous (the plan reads it); ``stats(plugin_id)`` the call counters for status and ``/metrics``;
  ``serving`` / ``has`` for the call path.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable, Protocol, runtime_checkable

from ..plan import ObservedPlugin, ObservedWorker, WorkerSpec

__all__ = ["Answer", "WorkerBackend"]


@runtime_checkable
class Answer(Protocol):
    """The answer of one call: a single ``value``, or (``streaming``) items for ``async for``."""

    streaming: bool
    value: Any

    def __aiter__(self) -> AsyncIterator[Any]: ...

    async def aclose(self) -> None:
        """Gives up on an unfinished stream."""


@runtime_checkable
class WorkerBackend(Protocol):
    # Set by the owner: called when a worker changed by itself (time to look again), and for each ctx.publish
    # of a backend as (plugin id, "<plugin-id>/<name>", data).
    on_change: Callable[[], None]
    on_publish: Callable[[str, str, Any], None]

    # start / scale / stop
    async def start(self, spec: WorkerSpec, index: int) -> None: ...
    async def restart(self, spec: WorkerSpec, index: int) -> None: ...
    async def stop(self, plugin_id: str, index: int) -> None: ...
    def forget_failures(self, plugin_id: str | None = None) -> None: ...
    async def close(self) -> None: ...

    # call / stream
    async def request(self, plugin_id: str, payload: Any, *, timeout: float | None = None, op: str = "run",
                      client_id: str | None = None, tool: str | None = None) -> Answer: ...
    async def deliver(self, plugin_id: str, event: dict[str, Any], *, timeout: float | None = None) -> None: ...

    # observe
    def observe(self) -> tuple[tuple[ObservedWorker, ...], tuple[ObservedPlugin, ...]]: ...
    def stats(self, plugin_id: str) -> dict[str, Any] | None: ...
    def has(self, plugin_id: str) -> bool: ...
    def serving(self, plugin_id: str) -> bool: ...

"""What the router serves from: the desired state, the worker manager, the event bus, tokens and daemon hooks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

from ...events import EventBus
from ...plan import DesiredState
from ..workers import WorkerManager

__all__ = ["Controller", "RouterContext"]


class Controller(Protocol):
    """The daemon's control surface, served on the admin-token routes."""

    async def status(self) -> dict[str, Any]: ...

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]: ...

    async def down(self) -> dict[str, Any]: ...

    async def restart(self, plugin_id: str) -> dict[str, Any]: ...

    async def pull_models(self, keys: list[str]) -> dict[str, Any]: ...


@dataclass
class RouterContext:
    desired: DesiredState  # replaced on re-apply (ctx.desired = new); every request reads the current one
    workers: WorkerManager
    events: EventBus
    admin_token: str
    page_token: str
    control: Controller | None = None
    before_call: Callable[[str], Awaitable[None]] | None = None  # daemon hook: lazy models / lazy pool start
    state: Callable[[], dict[str, Any]] | None = None  # observed state for /api/state
    proxy: Any = None  # the running ProxyServer (for /proxy.pac and the proxy's counters), None while stopped

    def secrets(self) -> tuple[str, ...]:
        """Values that must never leave the process in a response, event or metric."""
        values = [self.admin_token, self.page_token]
        key = self.desired.cloud.api_key
        if key is not None and key.get_secret_value():
            values.append(key.get_secret_value())
        return tuple(v for v in values if v)

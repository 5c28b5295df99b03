"""What the router serves from: its routes (switched by converge), the worker manager, tokens and the daemon.

The routing table holds only converged units: a plugin appears once its workers or relay are in place and
changes when its route is updated — never straight from a new declaration. ``desired`` is the last applied
declaration, for the informational endpoints only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Protocol

from ...events import EventBus
from ...plan import DesiredState, RouteSpec
from ..workers import WorkerManager

if TYPE_CHECKING:
    from ..dispatch import WorkerDispatcher
    from ..plugin_events import PluginEvents

__all__ = ["Controller", "RouterContext"]

DEFAULT_MAX_BODY = 10 * 1024 * 1024


class Controller(Protocol):
    """The daemon's control surface, served on the admin-token routes."""

    # the environment of the last apply: the dashboard applies its edits of aiplugs.toml with it, as install jobs do
    env: dict[str, str]

    async def status(self) -> dict[str, Any]: ...

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]: ...

    async def down(self) -> dict[str, Any]: ...

    async def restart(self, plugin_id: str) -> dict[str, Any]: ...

    async def pull_models(self, keys: list[str]) -> dict[str, Any]: ...

    # install jobs (installs.py); an error may carry its HTTP ``status`` (404 unknown job, 409 wrong state)
    async def start_install(self, body: dict[str, Any]) -> dict[str, Any]: ...

    async def install_jobs(self) -> dict[str, Any]: ...

    async def install_job(self, job_id: str) -> dict[str, Any]: ...

    async def cancel_install(self, job_id: str) -> dict[str, Any]: ...

    async def retry_install(self, job_id: str) -> dict[str, Any]: ...


@dataclass
class RouterContext:
    workers: WorkerManager | WorkerDispatcher  # the daemon's: processes or Ray replicas, per plugin
    events: EventBus
    admin_token: str
    page_token: str
    control: Controller | None = None
    # On the call path of a lazy plugin: ask for its workers and wait (the daemon runs a reconcile pass)
    demand: Callable[[str], Awaitable[None]] | None = None
    proxy: Any = None  # the running ProxyServer (for /proxy.pac and the proxy's counters), None while stopped
    max_body_bytes: int = DEFAULT_MAX_BODY
    routes: dict[str, RouteSpec] = field(default_factory=dict)
    desired: DesiredState | None = None  # the last applied declaration: /api/state and /metrics read it
    # events between plugins and pages (WS /v1/events/ws, /metrics); None: this router has no event hub
    plugin_events: PluginEvents | None = None

    def set_route(self, route: RouteSpec) -> None:
        self.routes = {**self.routes, route.plugin_id: route}  # one assignment: readers see old or new

    def remove_route(self, plugin_id: str) -> None:
        self.routes = {k: v for k, v in self.routes.items() if k != plugin_id}

    def route(self, plugin_id: str) -> RouteSpec | None:
        return self.routes.get(plugin_id)

    def match_patterns(self) -> tuple[str, ...]:
        """Every content-script pattern of the routed plugins: the pages that may call them directly (CORS)."""
        return tuple(dict.fromkeys(p for route in self.routes.values() for p in route.matches))

    def secrets(self) -> tuple[str, ...]:
        """Values that must never leave the process in a response, event or metric."""
        values = [self.admin_token, self.page_token]
        for route in self.routes.values():
            key = route.relay.cloud.api_key if route.relay is not None else None
            if key is not None and key.get_secret_value():
                values.append(key.get_secret_value())
        if self.desired is not None:
            values.extend(self.desired.secret_values)  # writeOnly plugin settings
        return tuple(dict.fromkeys(v for v in values if v))

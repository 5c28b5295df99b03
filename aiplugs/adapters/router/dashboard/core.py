"""The dashboard's one object: the router context it reads, what it remembers of the event bus, the messages
waiting for the page after an action, and rendering with the router's secrets masked."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from starlette.requests import Request
from starlette.responses import HTMLResponse

from ....errors import AiplugsError
from ....events.catalogue import CATALOGUE
from ..context import Controller, RouterContext
from .forms import Flash
from .recorder import Recorder
from .render import page

__all__ = ["Dashboard", "NoDaemon"]


class NoDaemon(AiplugsError):
    """This router runs without a daemon (tests, embedding): there is nothing to control."""


class Dashboard:
    def __init__(self, ctx: RouterContext, recorder: Recorder | None = None) -> None:
        """``recorder``: one already following ``ctx.events`` (routes.py starts it with the router)."""
        self.ctx = ctx
        self.recorder = recorder if recorder is not None else Recorder().attach(ctx.events)
        self.flash = Flash()

    @property
    def control(self) -> Controller:
        if self.ctx.control is None:
            raise NoDaemon("this router runs without a daemon: there is nothing to control")
        return self.ctx.control

    async def status(self) -> dict[str, Any] | None:
        """The daemon's status report (``/api/status``), None without a daemon."""
        return await self.ctx.control.status() if self.ctx.control is not None else None

    async def config_path(self) -> Path:
        """The aiplugs.toml the daemon applied (its status says which)."""
        status = await self.control.status()
        if not status.get("config"):
            raise AiplugsError("the daemon does not say which aiplugs.toml it applied")
        return Path(status["config"])

    async def plugin_ids(self) -> list[str]:
        """Every plugin the daemon knows (enabled or not); the routed ones without a daemon."""
        status = await self.status()
        return [p["id"] for p in status.get("plugins", ())] if status is not None else sorted(self.ctx.routes)

    def render(self, request: Request, template: str, data: Mapping[str, Any], status: int = 200) -> HTMLResponse:
        message = self.flash.take(request)
        extra = {"message": {"level": message.level, "text": message.text} if message else None,
                 "daemon": self.ctx.control is not None, "events": sorted(CATALOGUE)}
        return page(request, template, {**data, **extra}, secrets=self.ctx.secrets(), status=status)

"""uvicorn embedded in the caller's running asyncio loop (the daemon's), bound to loopback.

We bind the socket ourselves so a taken port is an AiplugsError here rather than uvicorn's ``sys.exit(1)``, run
without lifespan (nothing can fail at startup), leave the process's logging and signal handlers alone (the
daemon owns SIGTERM/SIGINT), and give open SSE/WebSocket connections a short grace period on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any, Iterator

from ...errors import AiplugsError
from ...util.lean_import import without_init
from .app import create_app
from .context import RouterContext

__all__ = ["RouterServer"]


def _uvicorn() -> Any:
    """uvicorn's Server and Config without its package ``__init__``, which imports its command line (click,
    watchfiles, multiprocessing: ~2 MB of the daemon's memory) that an embedded server never runs."""
    without_init("uvicorn", {"Config": "uvicorn.config", "Server": "uvicorn.server"})
    import uvicorn.config
    import uvicorn.server

    return uvicorn


def _server_class() -> Any:
    uvicorn = _uvicorn()

    class EmbeddedServer(uvicorn.server.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # the embedding process owns its signals
            yield

    return EmbeddedServer


class RouterServer:
    def __init__(self, ctx: RouterContext, *, graceful_s: float = 3.0) -> None:
        self.ctx = ctx
        self.app = create_app(ctx)
        self.graceful_s = graceful_s
        self.host: str | None = None
        self.port: int | None = None
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> None:
        """Returns once listening on ``host:port`` (port 0: any free port, then see ``self.port``)."""
        uvicorn = _uvicorn()

        if self._task is not None:
            raise AiplugsError("router already started")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # inherited by accepted connections; without it keep-alive requests stall ~40 ms (Nagle + delayed ACK)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((host, port))
            sock.listen(2048)
        except OSError as e:
            sock.close()
            raise AiplugsError(f"router cannot listen on {host}:{port}: {e.strerror or e}; "
                               "pick another [api] port or port_range") from None
        sock.setblocking(False)
        self.host, self.port = host, sock.getsockname()[1]
        config = uvicorn.config.Config(self.app, lifespan="off", log_config=None, access_log=False,
                                log_level="warning", ws="wsproto", http="httptools",
                                timeout_graceful_shutdown=self.graceful_s, server_header=False,
                                proxy_headers=False, ws_max_size=self.ctx.max_body_bytes)
        self._server = _server_class()(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]),
                                                            name="aiplugs-router")
        while not self._server.started:
            if self._task.done():
                error = self._task.exception() if not self._task.cancelled() else None
                sock.close()
                raise AiplugsError(f"router failed to start on {host}:{self.port}: {error!r}")
            await asyncio.sleep(0.01)
        # "router.started" is the owner's to publish (the daemon knows when the whole API is up)

    async def stop(self) -> None:
        if self._task is None:
            return
        await self.app.state.connections.close_all()
        await self.app.state.event_sockets.close_all()
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.graceful_s + 5)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
        except (asyncio.CancelledError, Exception):
            pass
        await self.app.state.relay.close()
        self._task = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"http://{host}:{self.port}"

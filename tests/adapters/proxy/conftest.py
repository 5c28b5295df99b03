"""Fixtures for the proxy tests: spec builders, a real aiohttp origin and the stand-in router."""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest

from aiplugs.plan import EndpointSpec, ProxySpec, ScriptSpec

from .servers import Server, start_app


def script(plugin_id: str, *matches: str, js: tuple[str, ...] = ("content.js",), css: tuple[str, ...] = (),
           run_at: str = "document_idle", all_frames: bool = False, exclude: tuple[str, ...] = ()) -> ScriptSpec:
    return ScriptSpec(plugin_id, matches, exclude, js, css, run_at, all_frames)


def make_spec(*scripts: ScriptSpec, csp: str = "amend", intercept: str = "matched",
              passthrough: tuple[str, ...] = ()) -> ProxySpec:
    return ProxySpec(EndpointSpec("127.0.0.1", None, (8080, 8180)), csp, intercept, passthrough,  # type: ignore[arg-type]
                     tuple(scripts))


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    """``await serve(app, ssl=None)``: runs an aiohttp app on 127.0.0.1:<free port> until the test ends."""
    started: list[Server] = []

    async def start(app: Any, ssl: Any = None) -> Server:
        server = await start_app(app, ssl=ssl)
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        await server.close()


@pytest.fixture
def plugin_dirs(tmp_path: Path) -> dict[str, Path]:
    """Asset folders for the stand-in router: plugin ``p1`` with content.js and content.css."""
    folder = tmp_path / "p1"
    folder.mkdir()
    (folder / "content.js").write_text("document.documentElement.dataset.p1 = 'ran';\n")
    (folder / "content.css").write_text("html { --p1: 1; }\n")
    return {"p1": folder}

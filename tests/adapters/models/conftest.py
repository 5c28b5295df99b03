"""A real HTTP origin on 127.0.0.1 (aiohttp in its own thread, so sync tests and subprocesses can use it too)
that serves with or without Range, throttles, drops the connection or stalls mid-body, redirects, requires auth,
and counts requests and body bytes; plus helpers to declare models and a moto S3 server."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from aiplugs.plan import ModelSpec


@dataclass
class Served:
    data: bytes
    ranges: bool = True  # honour Range (else answer 200 with the whole body)
    throttle: float | None = None  # bytes per second
    drops: list[int] = field(default_factory=list)  # per request: close the connection after this many bytes
    stalls: list[int] = field(default_factory=list)  # per request: stop sending (hang) after this many bytes
    auth: str | None = None  # required Authorization header value
    etag: str | None = '"v1"'
    content_length: int | None = None  # lie about Content-Length (None: the truth)
    swap: tuple[bytes, str] | None = None  # after the first request: new content and ETag


class Origin:
    def __init__(self) -> None:
        self.files: dict[str, Served] = {}
        self.redirects: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []
        self.bytes_sent = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._runner: web.AppRunner | None = None

    # -- declaration ---------------------------------------------------------------------------------------
    def serve(self, path: str, data: bytes, **options: Any) -> str:
        self.files[path] = Served(data, **options)
        return self.url(path)

    def redirect(self, path: str, location: str) -> str:
        self.redirects[path] = location
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    # -- server ----------------------------------------------------------------------------------------------
    def start(self) -> Origin:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._runner is not None
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append({"path": request.path, "headers": dict(request.headers), "method": request.method})
        if request.path in self.redirects:
            return web.Response(status=302, headers={"Location": self.redirects[request.path]})
        served = self.files.get(request.path)
        if served is None:
            return web.Response(status=404, text="not found")
        if served.auth is not None and request.headers.get("Authorization") != served.auth:
            return web.Response(status=401, text="unauthorized")
        data, start, status = served.data, 0, 200
        if served.swap is not None and len(self.hits(request.path)) > 1:
            served.data, served.etag = served.swap
            served.swap = None
            data = served.data
        headers = {"Accept-Ranges": "bytes"} if served.ranges else {}
        if served.etag:
            headers["ETag"] = served.etag
        rng = request.headers.get("Range")
        if_range = request.headers.get("If-Range")
        if rng and served.ranges and rng.startswith("bytes=") and rng.endswith("-") and (
                if_range is None or if_range == served.etag):
            start = int(rng[6:-1])
            if start >= len(data):
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        headers["Content-Length"] = str(served.content_length if served.content_length is not None else len(body))
        resp = web.StreamResponse(status=status, headers=headers)
        await resp.prepare(request)
        if request.method == "HEAD":
            return resp
        drop = served.drops.pop(0) if served.drops else None
        stall = served.stalls.pop(0) if served.stalls else None
        sent, chunk = 0, 64 * 1024
        while sent < len(body):
            piece = body[sent:sent + chunk]
            for limit in (drop, stall):
                if limit is not None and sent + len(piece) > limit:
                    piece = piece[: max(limit - sent, 0)]
            if piece:
                await resp.write(piece)
                self.bytes_sent += len(piece)
                sent += len(piece)
            if drop is not None and sent >= drop:
                await asyncio.sleep(0.3)  # let the client read what was sent before the connection goes
                assert request.transport is not None
                request.transport.close()
                return resp
            if stall is not None and sent >= stall:
                await asyncio.sleep(3600)
            if served.throttle:
                await asyncio.sleep(len(piece) / served.throttle)
        await resp.write_eof()
        return resp


@pytest.fixture
def origin():
    server = Origin().start()
    yield server
    server.stop()


@pytest.fixture
def origin2():
    server = Origin().start()
    yield server
    server.stop()


def spec(models_dir: Path, url: str, data: bytes, *, filename: str = "model.bin", size: int | None | str = "auto",
         sha256: str | None = None, lazy: bool = False) -> ModelSpec:
    """A ModelSpec as spec.py would build it for one plugin ``p`` declaring key ``MODEL``."""
    return ModelSpec(
        filename=filename, url=url, sha256=sha256 or hashlib.sha256(data).hexdigest(),
        size=len(data) if size == "auto" else size,  # type: ignore[arg-type]
        path=models_dir / filename, keys=("MODEL",), used_by=("p",), lazy=lazy,
    )


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "models", tmp_path / "state"


def blob(n: int, seed: int = 1) -> bytes:
    """Deterministic bytes (so a subprocess can rebuild the same content)."""
    return random.Random(seed).randbytes(n)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch):
    """moto's S3 server on loopback; yields its endpoint URL. Credentials are dummies."""
    from moto.server import ThreadedMotoServer

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def pythonpath_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("AWS_ENDPOINT_URL", None)
    return env


async def provision(store, model):
    """A model made ready the way aiplugs does it: the plan's model action, carried out through the store."""
    from aiplugs.runtime.models import pull

    return (await pull(store, [model]))[0]

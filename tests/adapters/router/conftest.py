"""A real router on 127.0.0.1:<free port> over a real project (example plugins + test plugins) with real workers,
and a real OpenAI-compatible upstream (aiohttp) for the cloud relay."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest
from aiohttp import web

from aiplugs.events import EventBus
from aiplugs.adapters.plugin_events import PluginEvents
from aiplugs.adapters.router import RouterContext, RouterServer
from aiplugs.plan import DesiredState, RouteSpec, load_desired_state
from aiplugs.adapters.workers import WorkerManager

REPO = Path(__file__).resolve().parents[3]
BACKENDS = REPO / "tests" / "adapters" / "workers" / "backends"
OWN_BACKENDS = Path(__file__).resolve().parent / "backends"
ITEMS_SCHEMA = {"type": "object", "required": ["items"],
                "properties": {"items": {"type": "array", "items": {
                    "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}}
TOOLBOX_TOOLS = [
    {"name": "run", "description": "echoes an object", "input_schema": {"type": "object"}},
    {"name": "label", "description": "joins the item names", "input_schema": ITEMS_SCHEMA},
    {"name": "words", "description": "streams the words of a text",
     "input_schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}},
    {"name": "announce", "description": "publishes data under toolbox/<name>"},
    {"name": "ghost", "description": "declared, but backend.py has no such function"},
]
API_KEY = "sk-test-relay-secret-0123456789"
ADMIN = "admin-token-for-tests"
PAGE = "page-token-for-tests"


def _local(plugin_id: str, backend: str, plugins: Path, source: Path = BACKENDS, **extra: Any) -> None:
    """A local plugin running ``source/<backend>.py``; ``extra`` adds manifest keys (tools, subscribes, ...)."""
    folder = plugins / plugin_id
    folder.mkdir(parents=True)
    shutil.copy(source / f"{backend}.py", folder / "backend.py")
    (folder / "content.js").write_text(f"window.{plugin_id.replace('-', '_')} = 1;\n")
    (folder / "secret.txt").write_text("not declared, never served\n")
    manifest = {"manifest_version": 3, "id": plugin_id, "name": plugin_id, "version": "1.0.0",
                "description": f"test plugin {plugin_id}",
                "inference": {"default_mode": "local", "local_entry": "backend.py"},
                "content_scripts": [{"matches": [f"https://{plugin_id}.example/*"], "js": ["content.js"]}], **extra}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _cloud(plugin_id: str, path: str, plugins: Path) -> None:
    folder = plugins / plugin_id
    folder.mkdir(parents=True)
    manifest = {"manifest_version": 3, "id": plugin_id, "name": plugin_id, "version": "1.0.0",
                "description": f"cloud plugin {plugin_id}",
                "inference": {"default_mode": "cloud", "local_entry": None, "cloud_path": path,
                              "cloud_model": "test-model"},
                "content_scripts": []}
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    """OpenAI-compatible chat completions (JSON and streaming), plus ``/hang`` and ``/fail``."""
    seen: list[dict[str, Any]] = []

    async def chat(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        body = await request.json()
        seen.append(body)
        text = body["messages"][-1]["content"].upper()
        if not body.get("stream"):
            return web.json_response({"id": "c1", "object": "chat.completion", "model": body["model"],
                                      "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                   "finish_reason": "stop"}]})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for word in text.split():
            chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": word}}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await asyncio.sleep(0.05)
        await response.write(b"data: [DONE]\n\n")
        return response

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(60)
        return web.json_response({})

    async def fail(request: web.Request) -> web.Response:
        return web.json_response({"error": "internal meltdown"}, status=500)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/hang", hang)
    app.router.add_post("/fail", fail)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
def project_dir(tmp_path: Path, upstream: str) -> Path:
    root = tmp_path / "project"
    plugins = root / "plugins"
    plugins.mkdir(parents=True)
    for name in ("word-count", "sentiment"):
        shutil.copytree(REPO / "plugins" / name, plugins / name, ignore=shutil.ignore_patterns("__pycache__"))
    _local("echo", "echo_sync", plugins)
    _local("counter", "count_gen", plugins)
    _local("raises", "raises", plugins)
    _local("sleepy", "sleeps", plugins)
    _local("toolbox", "toolbox", plugins, OWN_BACKENDS, tools=TOOLBOX_TOOLS)
    _local("listener", "recorder", plugins, OWN_BACKENDS, subscribes=["toolbox/*"], page_events=True)
    _local("deaf", "recorder", plugins, OWN_BACKENDS, subscribes=["toolbox/*"])
    _cloud("chat", "/v1/chat/completions", plugins)
    _cloud("hang", "/hang", plugins)
    _cloud("broken", "/fail", plugins)
    (root / "aiplugs.toml").write_text(
        'plugins_dir = "plugins"\nmodels_dir = "models"\nstate_dir = ".aiplugs"\n'
        "[api]\nmax_body_bytes = 65536\n"
        f'[cloud]\nbase_url = "{upstream}"\ntimeout_s = 5\n'
        "[plugins.sleepy]\ntimeout_s = 0.5\n[plugins.hang]\ntimeout_s = 0.5\n"
        "[plugins.word-count]\nenv = { WORDS_PER_MINUTE = \"100\" }\n"
    )
    (root / "models").mkdir()
    return root


@pytest.fixture
def desired(project_dir: Path) -> DesiredState:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AIPLUGS_") and k not in ("SYSTEM_API_KEY", "CLOUD_BASE_URL")}
    _, state = load_desired_state(project_dir / "aiplugs.toml", env={**env, "AIPLUGS_CLOUD__API_KEY": API_KEY})
    model = next(m for m in state.models if m.filename == "sentiment-lexicon-v1.tsv")
    shutil.copy(REPO / "plugins" / "sentiment" / "data" / "lexicon-v1.tsv", model.path)
    return state


@dataclass
class Router:
    url: str
    port: int
    ctx: RouterContext
    server: RouterServer
    client: httpx.AsyncClient

    def page(self, **extra: str) -> dict[str, str]:
        return {"X-AIPlugs-Token": PAGE, **extra}

    def admin(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN}", **extra}

    def ws_url(self, plugin_id: str, client_id: str, token: str = PAGE) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/plugins/{plugin_id}/ws?client_id={client_id}&token={token}"

    def events_url(self, token: str = PAGE) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/events/ws?token={token}"


class Provisioner:
    """Stands in for the daemon on the call path: ``demand`` starts a lazy plugin's workers (the daemon does it
    through a reconcile pass); the other control routes answer 503 until a test sets a controller."""

    def __init__(self, manager: WorkerManager, desired: DesiredState) -> None:
        self.manager, self.desired = manager, desired
        self.demanded: list[str] = []
        self._lock = asyncio.Lock()  # one pass at a time, as the daemon's reconciler

    async def demand(self, plugin_id: str) -> None:
        self.demanded.append(plugin_id)
        spec = self.desired.worker(plugin_id)
        async with self._lock:
            for index in range(spec.count):
                if not self.manager.serving(plugin_id):
                    await self.manager.start(spec, index)


def lazy(route: RouteSpec) -> RouteSpec:
    plugin = dataclasses.replace(route.plugin, provision="lazy") if route.relay is None else route.plugin
    return dataclasses.replace(route, plugin=plugin)


@pytest.fixture
async def router(desired: DesiredState, tmp_path: Path) -> AsyncIterator[Router]:
    """Every plugin routed, local ones as lazy: their workers start on the first call, through ``demand``."""
    bus = EventBus()
    manager = WorkerManager(desired.state_dir, events=bus, grace_s=3.0)
    hub = PluginEvents(manager.deliver, manager.wait_serving, events=bus)  # wired as the daemon wires it
    manager.on_publish = lambda plugin_id, topic, data: hub.emit(topic, data, source=plugin_id)
    hub.set_plugins(desired.plugins)
    ctx = RouterContext(workers=manager, events=bus, admin_token=ADMIN, page_token=PAGE, desired=desired,
                        max_body_bytes=desired.max_body_bytes, plugin_events=hub)
    ctx.demand = Provisioner(manager, desired).demand
    for route in desired.routes:
        ctx.set_route(lazy(route))
    server = RouterServer(ctx, graceful_s=1.0)
    await server.start("127.0.0.1", 0)
    client = httpx.AsyncClient(base_url=server.url, timeout=20)
    try:
        yield Router(server.url, server.port, ctx, server, client)  # type: ignore[arg-type]
    finally:
        await client.aclose()
        await server.stop()
        await hub.close()
        await manager.close()

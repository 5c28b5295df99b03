"""The real router app (guard, API, dashboard) over a small real project, served in-process through httpx's ASGI
transport; the daemon behind it is a stand-in that answers like one and records what it was asked to do."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest

from aiplugs.adapters.router import RouterContext, create_app
from aiplugs.adapters.workers import WorkerManager
from aiplugs.events import EventBus
from aiplugs.plan import load_desired_state

ADMIN = "dashboard-admin-token-0123456789"
PAGE = "dashboard-page-token-0123456789"
PORT = 5999
BASE = f"http://127.0.0.1:{PORT}"
OWN = {"Origin": BASE}
CONFIG = """# the declaration of the dashboard tests
[api]
port = 5999

[plugins.echo]
# echo stays on: base needs it
workers = 1  # one is plenty

[plugins.base]
enabled = true
"""


def plugin(root: Path, plugin_id: str, dependencies: list[str] | None = None) -> None:
    folder = root / "plugins" / plugin_id
    folder.mkdir(parents=True)
    (folder / "backend.py").write_text("def run(payload):\n    return payload\n")
    (folder / "manifest.json").write_text(json.dumps({
        "manifest_version": 3, "id": plugin_id, "name": plugin_id.title(), "version": "1.0.0",
        "dependencies": dependencies or [],
        "inference": {"default_mode": "local", "local_entry": "backend.py"},
        "tools": [{"name": "run", "description": f"{plugin_id} echoes"}],
        "content_scripts": [{"matches": [f"https://{plugin_id}.example/*"], "js": ["c.js"]}]}))
    (folder / "c.js").write_text("")


@dataclass
class StandInDaemon:
    """The Controller calls the dashboard makes, answered from canned data."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    secret_in_status: str = ""

    async def status(self) -> dict[str, Any]:
        return {
            "format_version": "2", "healthy": False,
            "daemon": {"pid": 4242, "started_at": time.time() - 90, "uptime_s": 90.0},
            "api": {"host": "127.0.0.1", "port": PORT}, "proxy": {"host": "127.0.0.1", "port": 8099},
            "ca_cert": None, "pac_url": f"{BASE}/proxy.pac", "config": str(self.root / "aiplugs.toml"),
            "plugins": [
                {"id": "base", "name": "Base", "version": "1.0.0", "mode": "local", "state": "ready",
                 "workers_desired": 1, "workers_ready": 1, "worker_pids": [11], "restarts": 0, "last_error": None,
                 "stderr_tail": [], "needs": []},
                {"id": "echo", "name": "Echo", "version": "1.0.0", "mode": "local", "state": "failed",
                 "workers_desired": 1, "workers_ready": 0, "worker_pids": [], "restarts": 3,
                 "last_error": f"boom with {self.secret_in_status}", "stderr_tail": ["Traceback", "boom"],
                 "needs": []},
            ],
            "models": [{"key": "LEXICON", "keys": ["LEXICON"], "filename": "lexicon.tsv",
                        "path": str(self.root / "models" / "lexicon.tsv"), "size": None, "state": "missing",
                        "used_by": ["echo"], "lazy": False}],
            "conditions": [{"type": "Converged", "ok": True, "reason": "converged", "since": time.time()}],
        }

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("apply", body))
        return {"ok": True, "failures": []}

    async def restart(self, plugin_id: str) -> dict[str, Any]:
        self.calls.append(("restart", plugin_id))
        return {"ok": True, "plugin": plugin_id}

    async def pull_models(self, keys: list[str]) -> dict[str, Any]:
        self.calls.append(("pull", keys))
        return {"ok": True, "paths": []}

    async def install_jobs(self) -> dict[str, Any]:
        return {"jobs": [{"job_id": "j1", "state": "failed", "request": {"uri": "https://pkgs.example/x.zip"},
                          "plugin_id": "x", "version": "1.0.0", "bytes": 10, "total": 10, "error": "nope",
                          "note": None, "retry_of": None, "created_at": time.time(), "started_at": time.time()}]}

    async def start_install(self, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("install", body))
        return {"job_id": "j2", "job": {}}

    async def cancel_install(self, job_id: str) -> dict[str, Any]:
        self.calls.append(("cancel", job_id))
        return {}

    async def retry_install(self, job_id: str) -> dict[str, Any]:
        self.calls.append(("retry", job_id))
        return {"job_id": "j3", "job": {}}


@dataclass
class Dash:
    client: httpx.AsyncClient
    daemon: StandInDaemon
    ctx: RouterContext
    root: Path
    app: Any

    async def sign_in(self) -> None:
        answer = await self.client.get("/login", params={"token": ADMIN})
        assert answer.status_code == 303, answer.text


@pytest.fixture
async def dash(tmp_path: Path) -> AsyncIterator[Dash]:
    plugin(tmp_path, "echo")
    plugin(tmp_path, "base", ["echo"])
    (tmp_path / "models").mkdir()
    (tmp_path / "aiplugs.toml").write_text(CONFIG)
    _, desired = load_desired_state(tmp_path / "aiplugs.toml", env={})
    daemon = StandInDaemon(tmp_path)
    ctx = RouterContext(workers=WorkerManager(desired.state_dir), events=EventBus(), admin_token=ADMIN,
                        page_token=PAGE, control=daemon)  # a daemon leaves ctx.desired unset too
    for route in desired.routes:  # as converge leaves them: the plugins "serve" (no workers run here)
        ctx.set_route(route)
    app = create_app(ctx)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield Dash(client, daemon, ctx, tmp_path, app)

"""One plugin on Ray, one on worker processes, end to end: the real CLI applies (the daemon starts and owns a local
Ray instance), a page in real headless Chromium goes through the aiplugs proxy and its content scripts call both
plugins through the same-origin API path, status and /metrics show the replicas, and ``down`` leaves no Ray
process behind.

The steps run in order against one system (module-scoped), as a person would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
import pytest_asyncio
from aiohttp import web

from ..support import free_port, pid_alive, wait_for
from .conftest import launch_chromium, start_app

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

BACKEND = """
import os


def run(payload):
    return {"pid": os.getpid(), "ppid": os.getppid(), "echo": payload}
"""
SCRIPT = """
window.aiplugs.call("%(id)s", {page: location.pathname}).then(function (r) {
  document.documentElement.setAttribute("data-%(id)s", JSON.stringify(r));
}, function (e) { document.documentElement.setAttribute("data-%(id)s", "error: " + e.message); });
"""
PLUGINS = ("on-ray", "on-procs")
SESSION = re.compile(r"session_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_\d+_\d+")


def write_project(root: Path, api_port: int, proxy_port: int) -> Path:
    for plugin_id in PLUGINS:
        folder = root / "plugins" / plugin_id
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps({
            "manifest_version": 3, "id": plugin_id, "name": plugin_id, "version": "1.0.0",
            "inference": {"default_mode": "local", "local_entry": "backend.py"},
            "content_scripts": [{"matches": ["*://localhost/*"], "js": ["content.js"], "run_at": "document_end"}]}))
        (folder / "backend.py").write_text(BACKEND)
        (folder / "content.js").write_text(SCRIPT % {"id": plugin_id})
    (root / "models").mkdir()
    config = root / "aiplugs.toml"
    config.write_text(f"""plugins_dir = "plugins"

[api]
port = {api_port}

[proxy]
port = {proxy_port}

[ray]
num_cpus = 2

[plugins.on-ray]
backend = "ray"

[plugins.on-ray.resources]
num_cpus = 0.5

[plugins.on-procs]
workers = 1
""")
    return config


class System:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.state_dir = root / ".aiplugs"
        self.api_port, self.proxy_port = free_port(), free_port()
        self.config = write_project(root, self.api_port, self.proxy_port)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("AIPLUGS_") and k not in ("SYSTEM_API_KEY", "CLOUD_BASE_URL")}
        self.origin: Any = None
        self.browser: Any = None

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-c", "import sys; from aiplugs.cli import main; sys.exit(main())",
               "-c", str(self.config), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self.env, cwd=self.root,
                              stdin=subprocess.DEVNULL)

    def status(self) -> dict[str, Any]:
        return json.loads(self.cli("status", "--json").stdout)

    def plugin(self, plugin_id: str) -> dict[str, Any]:
        return next(p for p in self.status()["plugins"] if p["id"] == plugin_id)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(tmp_path_factory) -> Any:
    made = System(tmp_path_factory.mktemp("ray-e2e"))

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><html><head><meta charset=utf-8><title>p</title></head>"
                                 "<body><p>two plugins</p></body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/page", page)
    made.origin = await start_app(app, host="localhost")
    try:
        yield made
    finally:
        made.cli("down", timeout=120)
        pid_file = made.state_dir / "daemon.pid"
        if pid_file.exists() and pid_alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        await made.origin.close()
        shutil.rmtree(made.root, ignore_errors=True)


async def test_apply_plans_where_each_plugin_runs_and_converges(system: System) -> None:
    result = system.cli("apply", "--auto-approve")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "+ worker on-ray#0  (start, ray: local)" in result.stdout
    assert "+ worker on-procs#0  (start)" in result.stdout
    on_ray, on_procs = system.plugin("on-ray"), system.plugin("on-procs")
    assert on_ray["state"] == on_procs["state"] == "ready", (on_ray, on_procs)
    assert on_ray["runs_on"] == "ray: local" and on_procs["runs_on"] == "process"
    assert [r["state"] for r in on_ray["replicas"]] == ["RUNNING"] and len(on_ray["worker_pids"]) == 1
    text = system.cli("status").stdout
    assert "on ray: local: 1 running" in text


async def test_a_page_through_the_proxy_calls_both(system: System) -> None:
    daemon = system.status()["daemon"]["pid"]
    async with launch_chromium(("127.0.0.1", system.proxy_port)) as browser:
        page = await browser.new_page()
        seen: list[str] = []
        page.on("response", lambda r: seen.append(f"{r.status} {r.url}"))
        page.on("console", lambda m: seen.append(f"console {m.type}: {m.text}"))
        response = await page.goto(f"http://localhost:{system.origin.port}/page")
        assert response is not None and response.ok
        answers = {}
        for plugin_id in PLUGINS:
            try:
                await page.wait_for_function(f"document.documentElement.hasAttribute('data-{plugin_id}')",
                                             timeout=30_000)
            except Exception:
                raise AssertionError(f"{plugin_id} did not answer the page: {seen}\n{await page.content()}") from None
            raw = await page.evaluate(f"document.documentElement.getAttribute('data-{plugin_id}')")
            assert not raw.startswith("error"), (plugin_id, raw)
            answers[plugin_id] = json.loads(raw)
    assert answers["on-procs"]["echo"] == answers["on-ray"]["echo"] == {"page": "/page"}
    assert answers["on-procs"]["ppid"] == daemon  # a worker process of the daemon
    replica = psutil.Process(answers["on-ray"]["pid"])
    assert answers["on-ray"]["pid"] == system.plugin("on-ray")["worker_pids"][0]
    assert replica.ppid() != daemon and "ServeReplica" in " ".join(replica.cmdline())  # a replica in Ray


async def test_metrics_show_the_replicas_and_both_plugins(system: System) -> None:
    from aiplugs.client import DaemonClient

    client = DaemonClient.find(system.state_dir)
    text = client.request("GET", "/metrics")
    assert 'aiplugs_ray_replicas{plugin="on-ray",state="RUNNING"} 1.0' in text
    assert 'aiplugs_workers_ready{plugin="on-ray"} 1.0' in text
    assert 'aiplugs_workers_ready{plugin="on-procs"} 1.0' in text


async def test_down_leaves_no_ray_process_behind(system: System) -> None:
    daemon = psutil.Process(system.status()["daemon"]["pid"])
    tree = daemon.children(recursive=True)
    sessions = {m.group(0) for p in tree for m in [SESSION.search(" ".join(_cmdline(p)))] if m}
    assert len(sessions) == 1, sessions  # the daemon's own Ray instance
    (session,) = sessions
    ray_processes = [p for p in psutil.process_iter() if session in " ".join(_cmdline(p))]
    assert len(ray_processes) >= 3  # gcs, raylet, workers...
    result = system.cli("down", timeout=120)
    assert result.returncode == 0 and "Stopped" in result.stdout, result.stdout + result.stderr
    wait_for(lambda: not pid_alive(daemon.pid), timeout=30)
    wait_for(lambda: not any(pid_alive(p.pid) for p in [*tree, *ray_processes]), timeout=30, interval=0.5)
    left = [p.pid for p in psutil.process_iter() if session in " ".join(_cmdline(p)) and pid_alive(p.pid)]
    assert left == []


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []

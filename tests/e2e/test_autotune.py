"""Suggestions and autoscaling end to end: a real daemon samples real workers of a slow backend under concurrent
calls ([metrics] and [autotune] windows shortened in aiplugs.toml). The fixed-count plugin gets a scale-up
suggestion, `aiplugs suggest apply` edits the file (comments intact) and it runs 2 workers, the history has the
entry, `revert` restores the file and the count; the plugin declared with a range is scaled by the daemon itself,
its file untouched, status saying why."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from ..support import free_port, pid_alive, wait_for

pytestmark = pytest.mark.e2e

BACKEND = ("import time\n\n\ndef run(payload):\n    time.sleep(float(payload.get('sleep', 0.1)))\n"
           "    return {'ok': True}\n")


def config_text() -> str:
    return f"""# a project for the autotune test — this comment must survive every edit
[api]
port = {free_port()}

[proxy]
port = {free_port()}

[metrics]
sample_s = 0.5

[autotune]                      # short windows, so a test sees what a team sees in minutes
interval_s = 1
min_samples = 1
sustained = 0.5
scale_up_window_s = 10
scale_up_utilization = 0.5
scale_up_contended_pct = 20
target_utilization = 0.4
scale_down_utilization = 0.05
scale_down_window_s = 3600      # no scale-down while the test runs
cooldown_s = 3600
verify_after_s = 2

[plugins.slow]
workers = 1                     # fixed: only a person changes it

[plugins.elastic]
workers = {{ min = 1, max = 3 }}  # the daemon picks
"""


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "aiplugs.toml"
        self.state_dir = root / ".aiplugs"
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("AIPLUGS_") and k not in ("SYSTEM_API_KEY", "CLOUD_BASE_URL")}
        for plugin_id in ("slow", "elastic"):
            folder = root / "plugins" / plugin_id
            folder.mkdir(parents=True)
            (folder / "backend.py").write_text(BACKEND)
            (folder / "content.js").write_text("void 0;\n")
            (folder / "manifest.json").write_text(json.dumps({
                "manifest_version": 3, "id": plugin_id, "name": plugin_id, "version": "1.0.0",
                "inference": {"default_mode": "local", "local_entry": "backend.py", "models": []},
                "content_scripts": [{"matches": [f"*://{plugin_id}.example/*"], "js": ["content.js"]}]}))
        self.config.write_text(config_text())

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-c", "import sys; from aiplugs.cli import main; sys.exit(main())",
               "-c", str(self.config), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**self.env, "NO_COLOR": "1"},
                              cwd=self.root, stdin=subprocess.DEVNULL)

    def json(self, *args: str) -> Any:
        result = self.cli(*args, "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    def plugin(self, plugin_id: str) -> dict[str, Any]:
        status = json.loads(self.cli("status", "--json").stdout)
        return next(p for p in status["plugins"] if p["id"] == plugin_id)


class Load:
    """``clients`` threads per plugin, each calling it back to back until stopped."""

    def __init__(self, project: Project, plugins: tuple[str, ...], clients: int = 4) -> None:
        from aiplugs.client import DaemonClient

        client = DaemonClient.find(project.state_dir)
        assert client is not None
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.calls = 0

        def work(plugin_id: str) -> None:
            while not self.stop.is_set():
                try:
                    client.call(plugin_id, {"sleep": 0.1}, timeout=30)
                    self.calls += 1
                except Exception as e:  # noqa: BLE001 - reported by the test
                    self.failures.append(f"{plugin_id}: {e}")

        self.threads = [threading.Thread(target=work, args=(p,), daemon=True) for p in plugins for _ in range(clients)]
        for thread in self.threads:
            thread.start()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory):
    proj = Project(tmp_path_factory.mktemp("autotune"))
    result = proj.cli("apply", "--auto-approve")
    assert result.returncode == 0, result.stdout + result.stderr
    yield proj
    proj.cli("down", timeout=60)
    pid_file = proj.state_dir / "daemon.pid"
    if pid_file.exists() and pid_alive(int(pid_file.read_text())):
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


@pytest.fixture(scope="module")
def load(project: Project):
    """Calls keep coming for the whole module: suggestions stand while the load lasts, and applying or reverting
    one under load must not lose a call."""
    running = Load(project, ("slow", "elastic"))
    yield running
    running.close()


def test_slow_backend_under_load_gets_a_scale_up_suggestion_and_a_range_scales_itself(project: Project,
                                                                                      load: Load) -> None:
    original = project.config.read_text()

    def scale_up() -> dict[str, Any] | None:
        listing = project.json("suggest", "list", "--now")
        return next((s for s in listing["suggestions"] if s["rule"] == "scale-up" and s["plugin"] == "slow"), None)

    suggestion = wait_for(scale_up, timeout=90, interval=1.0)
    wait_for(lambda: project.plugin("elastic")["workers_ready"] == 2, timeout=60, interval=1.0)
    assert load.failures == [] and load.calls > 0
    assert suggestion["change"] == {"plugin": "slow", "setting": "workers", "old": 1, "new": 2}
    assert "+workers = 2" in suggestion["diff"] and suggestion["evidence"]["thresholds"]
    elastic = project.plugin("elastic")
    assert elastic["workers_desired"] == 2 and elastic["autoscale"]["reason"].startswith("1 → 2: ")
    assert "autoscaled 1-3: 2" in project.cli("status").stdout
    assert project.config.read_text() == original  # the daemon scaled the range without touching the file
    plan = project.cli("plan")
    assert plan.returncode == 0 and "elastic" not in plan.stdout, plan.stdout  # `plan` knows the daemon's count
    standing = project.json("suggest", "list")["suggestions"]
    assert not any(s["plugin"] == "elastic" and s["rule"].startswith("scale") for s in standing)  # the range's own
    # every call sent the same payload: the cache rule noticed, for both
    assert {s["plugin"] for s in standing if s["rule"] == "cache"} == {"slow", "elastic"}
    from aiplugs.notebook import Session

    view = Session(project.config, env=project.env).suggestions()  # the notebook sees the same
    assert suggestion["id"] in {s["id"] for s in view.suggestions} and "scale slow up" in view._repr_html_()


def test_suggest_apply_edits_the_file_and_runs_two_workers_then_revert_restores_both(project: Project,
                                                                                      load: Load) -> None:
    original = project.config.read_text()
    listing = project.json("suggest", "list")
    suggestion = next(s for s in listing["suggestions"] if s["plugin"] == "slow" and s["rule"] == "scale-up")
    shown = project.cli("suggest", "apply", suggestion["id"], "--yes")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "+workers = 2" in shown.stdout and f"Applied {suggestion['id']}" in shown.stdout
    edited = project.config.read_text()
    assert edited == original.replace("[plugins.slow]\nworkers = 1                     # fixed",
                                      "[plugins.slow]\nworkers = 2                     # fixed")
    assert "# a project for the autotune test — this comment must survive every edit" in edited
    slow = project.plugin("slow")
    assert (slow["workers_desired"], slow["workers_ready"], len(slow["worker_pids"])) == (2, 2, 2)
    (entry,) = project.json("suggest", "history")["history"]
    assert entry["suggestion"]["id"] == suggestion["id"] and entry["hash_before"] != entry["hash_after"]
    assert entry["metrics_before"]["calls"] > 0
    verified = wait_for(lambda: project.json("suggest", "history")["history"][0]["verdict"], timeout=30)
    assert verified in ("improved", "no effect", "worse")

    reverted = project.cli("suggest", "revert", suggestion["id"], "--yes")
    assert reverted.returncode == 0, reverted.stdout + reverted.stderr
    assert project.config.read_text() == original
    wait_for(lambda: project.plugin("slow")["workers_ready"] == 1, timeout=30)
    assert project.plugin("slow")["workers_desired"] == 1
    assert project.json("suggest", "history")["history"][0]["reverted_at"] is not None
    load.close()
    assert load.failures == []  # scaling up and back down under load lost no call

"""Metrics of the whole system, end to end: a real daemon samples real workers (``[metrics] sample_s`` short),
``aiplugs top`` reads it, and the history at ``/api/metrics/{plugin}`` survives ``down`` + ``apply``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ..support import free_port, pid_alive, wait_for

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "aiplugs.toml"
        self.state_dir = root / ".aiplugs"
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("AIPLUGS_") and k not in ("SYSTEM_API_KEY", "CLOUD_BASE_URL")}
        self.config.write_text(f"""
[api]
port = {free_port()}

[proxy]
port = {free_port()}

[metrics]
sample_s = 0.3

[plugins.word-count]
workers = 1

[plugins.sentiment]
enabled = false

[plugins.summarize]
enabled = false
""")

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-c", "import sys; from aiplugs.cli import main; sys.exit(main())",
               "-c", str(self.config), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**self.env, "NO_COLOR": "1"},
                              cwd=self.root, stdin=subprocess.DEVNULL)

    def client(self):  # -> DaemonClient
        from aiplugs.client import DaemonClient

        client = DaemonClient.find(self.state_dir)
        assert client is not None
        return client


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("metrics")
    shutil.copytree(REPO / "plugins", root / "plugins", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "models").mkdir()
    proj = Project(root)
    result = proj.cli("apply", "--auto-approve")
    assert result.returncode == 0, result.stdout + result.stderr
    yield proj
    proj.cli("down", timeout=60)
    pid_file = root / ".aiplugs" / "daemon.pid"
    if pid_file.exists() and pid_alive(int(pid_file.read_text())):
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


def calls_in_history(project: Project) -> int:
    return project.client().metrics("word-count", since="1h")["summary"]["calls"]


def test_top_once_json_shows_the_calls_of_the_interval(project: Project) -> None:
    client = project.client()
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            client.call("word-count", {"text": "one two three"})

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    try:
        result = project.cli("top", "--once", "--json", "--interval", "1")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["interval_s"] > 0.5
    row = next(p for p in report["plugins"] if p["id"] == "word-count")
    assert (row["workers"], row["slots"]) == (1, 1)
    assert row["rps"] > 0 and row["calls"] > 0 and row["p50_ms"] is not None and row["p95_ms"] >= row["p50_ms"]
    assert row["errors"] == 0 and row["error_pct"] == 0.0
    assert row["rss_bytes"] > 1024 * 1024 and row["cpu_pct"] >= 0


def test_top_without_a_terminal_prints_plain_frames(project: Project) -> None:
    result = project.cli("top", "-n", "2", "--interval", "0.2")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert result.stdout.count("PLUGIN") == 2 and result.stdout.count("word-count") == 2
    assert "REQ/S" in result.stdout and "P95 MS" in result.stdout


def test_the_scrape_has_worker_metrics(project: Project) -> None:
    client = project.client()
    client.call("word-count", {"text": "a b"})
    assert 'aiplugs_worker_calls_total{plugin="word-count"}' in _scrape(client)
    wait_for(lambda: 'aiplugs_worker_resident_memory_bytes{plugin="word-count",worker="0"}' in _scrape(client))


def _scrape(client) -> str:
    conn = client._connection(10)
    conn.request("GET", "/metrics", headers=client.headers(accept="text/plain"))
    try:
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def test_the_history_survives_a_daemon_restart(project: Project) -> None:
    client = project.client()
    for _ in range(5):
        client.call("word-count", {"text": "one two"})
    seen = wait_for(lambda: calls_in_history(project) >= 5 and calls_in_history(project))
    old_pid = client.pid
    assert project.cli("down").returncode == 0
    result = project.cli("apply", "--auto-approve")
    assert result.returncode == 0, result.stdout + result.stderr
    client = project.client()
    assert client.pid != old_pid
    assert calls_in_history(project) >= seen  # what the old daemon wrote is still there
    client.call("word-count", {"text": "after the restart"})
    wait_for(lambda: calls_in_history(project) >= seen + 1)
    points = client.metrics("word-count", since="10m", step="1m")["points"]
    assert points and all(p["time"] % 60 == 0 for p in points)

"""The user's loop, end to end: the real CLI, a real daemon, real workers, a real proxy and a real origin.

The steps run in order against one system (module-scoped), as a person would: apply → use → change → heal → down.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ..support import free_port, pid_alive, wait_for

REPO = Path(__file__).resolve().parents[2]
PAGE = (b"<!doctype html><html><head><meta charset=\"utf-8\"><title>Demo</title></head>"
        b"<body><p>This is a great and wonderful demo page with lovely words.</p></body></html>")
DATA = json.dumps({"n": 1, "items": list(range(50))}).encode()




class _Origin(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        body, kind = (DATA, "application/json") if self.path.startswith("/data") else (PAGE, "text/html; charset=utf-8")
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def origin():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "aiplugs.toml"
        self.state_dir = root / ".aiplugs"
        self.api_port, self.proxy_port = free_port(), free_port()
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("AIPLUGS_") and k not in ("SYSTEM_API_KEY", "CLOUD_BASE_URL")}

    def write_config(self, word_count_workers: int = 1, sentiment: str = "", extra: str = "") -> None:
        self.config.write_text(f"""
[api]
port = {self.api_port}

[proxy]
port = {self.proxy_port}

[plugins.word-count]
workers = {word_count_workers}

[plugins.sentiment]
{sentiment}

[plugins.summarize]
enabled = false
{extra}
""")

    def cli(self, *args: str, timeout: float = 180, check: bool = False) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-c", "import sys; from aiplugs.cli import main; sys.exit(main())",
               "-c", str(self.config), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self.env,
                                cwd=self.root, stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise AssertionError(f"aiplugs {' '.join(args)} → {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def status(self) -> dict:
        result = self.cli("status", "--json")
        data = json.loads(result.stdout)
        data["_rc"] = result.returncode
        return data

    def pids(self, plugin_id: str) -> list[int]:
        plugin = next(p for p in self.status()["plugins"] if p["id"] == plugin_id)
        return plugin["worker_pids"]

    def via_proxy(self, method: str, url: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy_port, timeout=30)
        conn.request(method, url, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data






@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("lifecycle")
    shutil.copytree(REPO / "plugins", root / "plugins")
    (root / "models").mkdir()
    # In this project word-count matches 127.0.0.1 pages and sentiment matches only localhost, so a rule change
    # that adds 127.0.0.1 to sentiment is visible on the same page.
    manifest = root / "plugins" / "sentiment" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["content_scripts"][0]["matches"] = ["http://localhost/*"]
    manifest.write_text(json.dumps(data, indent=2))
    proj = Project(root)
    proj.write_config()
    yield proj
    proj.cli("down", timeout=60)
    for pid_file in root.glob(".aiplugs/daemon.pid"):
        pid = int(pid_file.read_text())
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_apply_cold_converges_and_reports_addresses(project):
    result = project.cli("apply", "--auto-approve", check=True)
    assert "+ worker word-count#0" in result.stdout
    assert "Apply complete" in result.stdout
    assert f"127.0.0.1:{project.proxy_port}" in result.stdout
    assert "CA cert:" in result.stdout
    status = project.status()
    assert status["_rc"] == 0 and status["healthy"], status
    assert status["api"] == {"host": "127.0.0.1", "port": project.api_port}
    assert status["proxy"]["port"] == project.proxy_port
    assert Path(status["ca_cert"]).is_file()
    by_id = {p["id"]: p for p in status["plugins"]}
    assert by_id["word-count"]["state"] == "ready" and len(by_id["word-count"]["worker_pids"]) == 1
    assert by_id["sentiment"]["workers_ready"] == 1
    assert by_id["summarize"]["state"] == "disabled"
    model = status["models"][0]
    assert model["state"] == "ready"
    digest = hashlib.sha256(Path(model["path"]).read_bytes()).hexdigest()
    assert digest == "aea74e73e8abad84711fc4673de992b6ab30be903a6affe573a5cb12890c50d7"


def test_page_through_proxy_is_injected_and_data_untouched(project, origin):
    status, headers, body = project.via_proxy("GET", f"http://127.0.0.1:{origin}/article",
                                              headers={"Accept": "text/html"})
    assert status == 200
    assert b"word-count" in body and len(body) > len(PAGE)
    assert b"wonderful demo page" in body
    assert headers.get("cache-control") == "no-store"
    status, _, data = project.via_proxy("GET", f"http://127.0.0.1:{origin}/data.json",
                                        headers={"Accept": "application/json"})
    assert status == 200 and data == DATA


def test_plugins_answer_directly_and_same_origin(project, origin):
    from aiplugs.client import DaemonClient

    client = DaemonClient.find(project.state_dir)
    assert client is not None
    assert client.call("word-count", {"text": "one two three"})["words"] == 3
    assert client.call("sentiment", {"text": "great wonderful lovely"})["label"] == "positive"
    token = (project.state_dir / "page.token").read_text().strip()
    status, _, body = project.via_proxy(
        "POST", f"http://127.0.0.1:{origin}/__aiplugs__/v1/plugins/word-count/run",
        body=json.dumps({"text": "a b c d"}).encode(),
        headers={"Content-Type": "application/json", "X-AIPlugs-Token": token})
    assert status == 200, body
    assert json.loads(body)["words"] == 4


def test_reapply_without_changes_touches_nothing(project):
    before = project.status()
    result = project.cli("apply", "--auto-approve", check=True)
    assert "No changes." in result.stdout
    after = project.status()
    assert after["daemon"]["pid"] == before["daemon"]["pid"]
    assert [p["worker_pids"] for p in after["plugins"]] == [p["worker_pids"] for p in before["plugins"]]
    assert after["proxy"] == before["proxy"] and after["api"] == before["api"]


def test_settings_change_restarts_only_that_plugin(project):
    before = project.status()
    word_pids, sentiment_pids = project.pids("word-count"), project.pids("sentiment")
    project.write_config(sentiment="settings = { threshold = 0.3 }")
    plan = project.cli("plan", "--json", check=True)
    kinds = {a["unit"]: a["kind"] for a in json.loads(plan.stdout)["actions"]}
    assert kinds["worker sentiment#0"] == "replace" and kinds["worker word-count#0"] == "noop"
    project.cli("apply", "--auto-approve", check=True)
    after = project.status()
    assert project.pids("word-count") == word_pids
    assert project.pids("sentiment") != sentiment_pids and not any(pid_alive(p) for p in sentiment_pids)
    assert after["daemon"]["pid"] == before["daemon"]["pid"]


def test_match_pattern_change_hot_swaps_rules(project, origin):
    daemon_pid = project.status()["daemon"]["pid"]
    _, _, body = project.via_proxy("GET", f"http://127.0.0.1:{origin}/a", headers={"Accept": "text/html"})
    assert b"sentiment" not in body
    manifest = project.root / "plugins" / "sentiment" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["content_scripts"][0]["matches"].append("http://127.0.0.1/*")
    manifest.write_text(json.dumps(data, indent=2))
    result = project.cli("apply", "--auto-approve", check=True)
    assert "~ rules" in result.stdout
    _, _, body = project.via_proxy("GET", f"http://127.0.0.1:{origin}/a", headers={"Accept": "text/html"})
    assert b"sentiment" in body
    status = project.status()
    assert status["daemon"]["pid"] == daemon_pid and status["proxy"]["port"] == project.proxy_port


def test_scale_up_and_down_leaves_others_alone(project):
    sentiment_pids = project.pids("sentiment")
    first = project.pids("word-count")
    project.write_config(word_count_workers=3, sentiment="settings = { threshold = 0.3 }")
    project.cli("apply", "--auto-approve", check=True)
    three = project.pids("word-count")
    assert len(three) == 3 and three[0] == first[0]
    project.write_config(word_count_workers=1, sentiment="settings = { threshold = 0.3 }")
    project.cli("apply", "--auto-approve", check=True)
    assert project.pids("word-count") == first
    wait_for(lambda: not any(pid_alive(p) for p in three[1:]), timeout=15)
    assert project.pids("sentiment") == sentiment_pids


def test_killed_worker_is_restarted_by_the_daemon(project):
    (victim,) = project.pids("word-count")
    os.kill(victim, signal.SIGKILL)

    def restarted():
        pids = project.pids("word-count")
        plugin = next(p for p in project.status()["plugins"] if p["id"] == "word-count")
        return pids and victim not in pids and plugin["state"] == "ready"

    wait_for(restarted, timeout=30, interval=0.5)


def test_deleted_model_is_reprovisioned(project):
    model = Path(project.status()["models"][0]["path"])
    model.unlink()
    wait_for(lambda: model.exists(), timeout=30, interval=0.5)
    assert hashlib.sha256(model.read_bytes()).hexdigest().startswith("aea74e73")
    wait_for(lambda: project.status()["models"][0]["state"] == "ready", timeout=15)


def test_corrupted_model_is_reprovisioned(project):
    model = Path(project.status()["models"][0]["path"])
    good = model.read_bytes()
    model.write_bytes(good.replace(b"great", b"awful", 1))  # same size, different content
    wait_for(lambda: model.read_bytes() == good, timeout=30, interval=0.5)
    wait_for(lambda: project.status()["models"][0]["state"] == "ready", timeout=15)


def test_a_held_apply_lock_makes_the_second_apply_wait_then_fail_naming_the_holder(project):
    from aiplugs.store.locks import ApplyLock

    with ApplyLock(project.state_dir, timeout=5):
        started = time.monotonic()
        result = project.cli("apply", "--auto-approve", "--lock-timeout", "1")
        waited = time.monotonic() - started
    assert result.returncode == 1
    assert f"pid {os.getpid()}" in result.stderr
    assert waited >= 1.0


def test_two_concurrent_applies_both_succeed_one_after_the_other(project):
    cmd = [sys.executable, "-c", "import sys; from aiplugs.cli import main; sys.exit(main())",
           "-c", str(project.config), "apply", "--auto-approve"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=project.env,
                              stdin=subprocess.DEVNULL) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs


def test_bad_config_on_reapply_keeps_the_system_running(project):
    before = project.status()
    good = project.config.read_text()
    project.config.write_text(good.replace("workers = 1", "workers = -1", 1))
    try:
        result = project.cli("apply", "--auto-approve")
        assert result.returncode == 1
        assert "plugins.word-count.workers: must be >= 0 (got -1)" in result.stderr
        assert "aiplugs.toml:" in result.stderr
    finally:
        project.config.write_text(good)
    after = project.status()
    assert after["healthy"]
    assert [p["worker_pids"] for p in after["plugins"]] == [p["worker_pids"] for p in before["plugins"]]


def test_disabling_a_plugin_stops_its_workers_and_rules(project, origin):
    pids = project.pids("sentiment")
    project.write_config(sentiment="enabled = false")
    project.cli("apply", "--auto-approve", check=True)
    by_id = {p["id"]: p for p in project.status()["plugins"]}
    assert by_id["sentiment"]["state"] == "disabled"
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=15)
    _, _, body = project.via_proxy("GET", f"http://127.0.0.1:{origin}/a", headers={"Accept": "text/html"})
    assert b"sentiment" not in body


def test_down_stops_everything_and_keeps_models_and_ca(project):
    status = project.status()
    daemon_pid = status["daemon"]["pid"]
    worker_pids = [pid for p in status["plugins"] for pid in p["worker_pids"]]
    result = project.cli("down", check=True)
    assert "Stopped" in result.stdout
    assert not pid_alive(daemon_pid)
    assert not any(pid_alive(p) for p in worker_pids)
    assert project.cli("status").returncode == 4
    assert Path(status["ca_cert"]).is_file()
    assert any((project.root / "models").iterdir())
    assert not (project.state_dir / "daemon.pid").exists()

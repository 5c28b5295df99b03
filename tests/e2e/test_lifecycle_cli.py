"""Lifecycle commands one at a time, each on its own fresh project: foreground mode, the confirmation prompt,
JSON output, logs, the event stream during apply, and a daemon killed with SIGKILL."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

from ..support import pid_alive, wait_for
from .test_lifecycle import REPO, Project

CLI = [sys.executable, "-c", "import sys; from aiplugs.cli import main; sys.exit(main())"]


@pytest.fixture
def project(tmp_path):
    import shutil

    shutil.copytree(REPO / "plugins", tmp_path / "plugins")
    proj = Project(tmp_path)
    proj.write_config()
    yield proj
    proj.cli("down", timeout=60)


def test_foreground_runs_until_ctrl_c_and_exits_zero(project):
    proc = subprocess.Popen([*CLI, "-c", str(project.config), "apply", "--foreground"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=project.env, stdin=subprocess.DEVNULL)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any("Running in the foreground" in line for line in lines), timeout=60)
        status = project.status()
        assert status["healthy"] and status["daemon"]["pid"] == proc.pid
        workers = [pid for p in status["plugins"] for pid in p["worker_pids"]]
        assert workers
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not any(pid_alive(p) for p in workers)
    assert project.cli("status").returncode == 4


def test_interactive_apply_asks_and_a_no_changes_nothing(project):
    leader, follower = pty.openpty()
    proc = subprocess.Popen([*CLI, "-c", str(project.config), "apply"], stdin=follower, stdout=follower,
                            stderr=follower, env=project.env, close_fds=True)
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"Apply these changes?" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1)
            if ready:
                seen += os.read(leader, 4096)
        assert b"Apply these changes?" in seen, seen
        os.write(leader, b"no\n")
        assert proc.wait(timeout=30) == 1
        while True:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                break
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    assert b"nothing was changed" in seen
    assert project.cli("status").returncode == 4
    assert not (project.root / ".aiplugs" / "daemon.pid").exists()


def test_apply_json_logs_and_events(project):
    result = project.cli("apply", "--json", check=True)
    data = json.loads(result.stdout)
    assert data["format_version"] == "1" and data["ok"] is True
    assert data["plan"]["changes_present"] is True
    assert data["status"]["healthy"] is True
    assert {p["id"] for p in data["status"]["plugins"]} >= {"word-count", "sentiment"}

    logs = project.cli("logs", check=True)
    assert "aiplugs daemon" in logs.stdout
    worker_logs = project.cli("logs", "word-count", check=True)
    assert worker_logs.returncode == 0
    missing = project.cli("logs", "no-such-plugin")
    assert missing.returncode == 1 and "no logs for plugin" in missing.stderr

    from aiplugs.client import DaemonClient

    client = DaemonClient.find(project.state_dir)
    events: list[dict] = []

    def listen() -> None:
        for event in client.events(timeout=60):
            events.append(event)
            if event["type"] in ("apply.finished", "apply.failed"):
                return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(0.5)
    project.write_config(word_count_workers=2)
    project.cli("apply", "--auto-approve", check=True)
    listener.join(timeout=30)
    kinds = [e["type"] for e in events]
    assert "apply.planned" in kinds and "apply.finished" in kinds
    assert "worker.started" in kinds


def test_sigkilled_daemon_leaves_no_worker_behind(project):
    project.cli("apply", "--auto-approve", check=True)
    status = project.status()
    daemon_pid = status["daemon"]["pid"]
    workers = [pid for p in status["plugins"] for pid in p["worker_pids"]]
    assert workers
    os.kill(daemon_pid, signal.SIGKILL)
    wait_for(lambda: not any(pid_alive(p) for p in workers), timeout=15)
    assert project.cli("status").returncode == 4
    # the next apply starts afresh on the same ports
    project.cli("apply", "--auto-approve", check=True)
    assert project.status()["api"]["port"] == project.api_port


def test_lazy_plugin_pulls_its_model_and_starts_on_the_first_call(project):
    project.write_config(sentiment='provision = "lazy"')
    result = project.cli("apply", "--auto-approve", check=True)
    assert "+ model" not in result.stdout and "+ worker sentiment" not in result.stdout
    status = project.status()
    by_id = {p["id"]: p for p in status["plugins"]}
    assert status["healthy"] and by_id["sentiment"]["worker_pids"] == []
    model = next(m for m in status["models"] if m["filename"] == "sentiment-lexicon-v1.tsv")
    assert model["lazy"] and not os.path.exists(model["path"])

    from aiplugs.client import DaemonClient

    client = DaemonClient.find(project.state_dir)
    assert client.call("sentiment", {"text": "awful terrible"})["label"] == "negative"
    assert os.path.exists(model["path"])
    assert len(project.pids("sentiment")) == 1
    # a second apply sees the running lazy pool as converged
    assert "No changes." in project.cli("apply", "--auto-approve", check=True).stdout


def test_cloud_plugin_relays_with_the_legacy_env_key_and_never_leaks_it(project):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[dict] = []

    class Upstream(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": "short summary"}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = "sk-test-" + "q" * 24
    project.env.update({"CLOUD_BASE_URL": f"http://127.0.0.1:{server.server_address[1]}",
                        "SYSTEM_API_KEY": secret})
    project.config.write_text(project.config.read_text().replace("enabled = false", "enabled = true"))
    try:
        result = project.cli("apply", "--auto-approve", check=True)
        assert "+ route summarize  (relay to cloud /v1/chat/completions)" in result.stdout
        from aiplugs.client import DaemonClient

        client = DaemonClient.find(project.state_dir)
        reply = client.call("summarize", {"messages": [{"role": "user", "content": "hello"}]})
        assert reply["choices"][0]["message"]["content"] == "short summary"
        assert seen and seen[0]["path"] == "/v1/chat/completions" and seen[0]["auth"] == f"Bearer {secret}"
        everything = [result.stdout, result.stderr, project.cli("status", "--json").stdout,
                      project.cli("config").stdout, project.cli("logs").stdout,
                      (project.state_dir / "state.json").read_text()]
        assert not any(secret in text for text in everything)
        assert "**********" in project.cli("config").stdout
    finally:
        server.shutdown()


def test_a_large_daemon_log_is_rotated_when_the_daemon_starts(project):
    from aiplugs.client import DAEMON_LOG_MAX

    logs = project.state_dir / "logs"
    logs.mkdir(parents=True)
    (logs / "daemon.log").write_bytes(b"old line\n" * (DAEMON_LOG_MAX // 9 + 1))
    project.cli("apply", "--auto-approve", check=True)
    assert (logs / "daemon.log.1").stat().st_size > DAEMON_LOG_MAX
    assert (logs / "daemon.log").stat().st_size < DAEMON_LOG_MAX
    assert "aiplugs daemon" in project.cli("logs", check=True).stdout


def test_logs_follow_prints_new_daemon_lines_until_ctrl_c(project):
    project.cli("apply", "--auto-approve", check=True)
    proc = subprocess.Popen([*CLI, "-c", str(project.config), "logs", "-f", "-n", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=project.env, stdin=subprocess.DEVNULL)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    try:
        time.sleep(1.0)  # let it reach the end of the log before anything new is written
        model = next(m for m in project.status()["models"] if m["filename"] == "sentiment-lexicon-v1.tsv")
        os.unlink(model["path"])  # the reconcile loop notices, logs and re-provisions it
        wait_for(lambda: any("+ model sentiment-lexicon-v1.tsv" in line for line in lines), timeout=30)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_auto_ports_stay_the_same_across_a_restart(project):
    import socket

    from ..support import free_port

    def busy(port: int) -> socket.socket:
        sock = socket.socket()
        sock.bind(("127.0.0.1", port))
        sock.listen()
        return sock

    api_low, proxy_low = free_port(), free_port()
    blockers = [busy(api_low), busy(proxy_low)]  # the first ports of each range are taken during the first apply
    text = project.config.read_text()
    text = text.replace(f"port = {project.api_port}", f"port_range = [{api_low}, {api_low + 30}]")
    text = text.replace(f"port = {project.proxy_port}", f"port_range = [{proxy_low}, {proxy_low + 30}]")
    project.config.write_text(text)
    try:
        project.cli("apply", "--auto-approve", check=True)
        first = project.status()
    finally:
        for sock in blockers:
            sock.close()
    assert first["api"]["port"] != api_low and first["proxy"]["port"] != proxy_low
    project.cli("down", check=True)
    project.cli("apply", "--auto-approve", check=True)  # the first ports of each range are free now
    second = project.status()
    assert second["api"] == first["api"] and second["proxy"] == first["proxy"]


def test_wait_timeout_fails_clearly_and_the_daemon_finishes_anyway(project):
    backend = project.root / "plugins" / "word-count" / "backend.py"
    backend.write_text("import time\ntime.sleep(4)\n" + backend.read_text())  # slow to become ready
    result = project.cli("apply", "--auto-approve", "--wait-timeout", "1")
    assert result.returncode == 1
    assert "not converged within 1s (--wait-timeout)" in result.stderr and "aiplugs status" in result.stderr
    wait_for(lambda: project.status()["healthy"], timeout=60, interval=0.5)

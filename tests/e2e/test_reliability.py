"""Nobody is left stuck or blind: a damaged state file, a killed daemon, crash-looping plugins — with the real CLI,
a real daemon and real worker processes (one fresh project per test)."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest

from ..support import pid_alive, wait_for
from .test_lifecycle import REPO, Project

CRASH_AFTER_START = '''
import os, sys, threading, time

def _later():
    time.sleep(0.4)
    print("fatal: the model server went away", file=sys.stderr, flush=True)
    os._exit(5)

threading.Thread(target=_later, daemon=True).start()

def run(payload):
    return payload
'''
SPAWNS_CHILD = '''
import subprocess, sys

CHILD = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])

def run(payload):
    return {"child": CHILD.pid}
'''


def add_plugin(project: Project, plugin_id: str, backend: str) -> None:
    folder = project.root / "plugins" / plugin_id
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({
        "manifest_version": 3, "id": plugin_id, "name": plugin_id, "version": "1.0.0",
        "inference": {"default_mode": "local", "local_entry": "backend.py"},
        "content_scripts": [{"matches": [f"*://{plugin_id}.test/*"], "js": ["content.js"]}]}))
    (folder / "backend.py").write_text(backend)
    (folder / "content.js").write_text("1;\n")


@pytest.fixture
def project(tmp_path):
    shutil.copytree(REPO / "plugins", tmp_path / "plugins")
    proj = Project(tmp_path)
    proj.write_config()
    yield proj
    proj.cli("down", timeout=60)


def plugin(status: dict, plugin_id: str) -> dict:
    return next(p for p in status["plugins"] if p["id"] == plugin_id)


def test_a_damaged_state_file_still_lets_a_person_see_and_stop_the_daemon(project):
    project.cli("apply", "--auto-approve", check=True)
    pid = project.status()["daemon"]["pid"]
    state = project.state_dir / "state.json"
    state.write_bytes(state.read_bytes()[:300])  # cut short, as by a full disk
    status = project.status()  # found through daemon.json
    assert status["daemon"]["pid"] == pid
    wait_for(lambda: project.status()["_rc"] == 0, timeout=20)  # models verified again, healthy
    # the daemon rewrites its own record (and keeps the damaged file aside)
    wait_for(lambda: _recorded_pid(state) == pid, timeout=15)
    assert (project.state_dir / "state.json.broken").exists()
    state.write_bytes(b"\xff\xfe not utf-8")
    down = project.cli("down")
    assert down.returncode == 0 and f"pid {pid}" in down.stdout and "Traceback" not in down.stderr
    wait_for(lambda: not pid_alive(pid), timeout=15)
    assert project.cli("status").returncode == 4


@pytest.mark.parametrize("damage", ["not utf-8", "a folder"])
def test_commands_never_show_a_traceback_for_a_damaged_state_file(project, damage):
    state = project.state_dir / "state.json"
    project.state_dir.mkdir(parents=True)
    if damage == "a folder":
        state.mkdir()
    else:
        state.write_bytes(b"\x80\x81\x82")
    for args in (("plan",), ("status",), ("down",), ("models", "list")):
        result = project.cli(*args)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        assert result.returncode in (0, 2, 4), (args, result.returncode, result.stderr)
    applied = project.cli("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert json.loads(state.read_text())["daemon"]["pid"] == project.status()["daemon"]["pid"]


def test_a_sigkilled_daemon_takes_what_backends_started_along(project):
    add_plugin(project, "spawner", SPAWNS_CHILD)
    project.cli("apply", "--auto-approve", check=True)
    status = project.status()
    daemon, worker = status["daemon"]["pid"], plugin(status, "spawner")["worker_pids"][0]
    children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == worker]
    assert children and all(pid_alive(c) for c in children)
    os.kill(daemon, signal.SIGKILL)
    try:
        wait_for(lambda: not pid_alive(worker) and not any(pid_alive(c) for c in children), timeout=30)
    except AssertionError:  # say who outlived the daemon, and in which process group (the worker leads its own)
        alive = {pid: _stat(pid) for pid in (worker, *children) if pid_alive(pid)}
        raise AssertionError(f"still running after the daemon was killed: {alive} (worker {worker})") from None


def _stat(pid: int) -> str:
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return f"state {fields[0]} ppid {fields[1]} pgid {fields[2]}"
    except OSError:
        return "gone"


def _recorded_pid(state) -> int | None:
    try:
        return json.loads(state.read_bytes())["daemon"]["pid"]
    except (ValueError, KeyError, TypeError):
        return None


def _ppid(pid: int) -> int | None:
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def test_status_shows_why_a_plugin_keeps_crashing_and_counts_every_restart(project):
    add_plugin(project, "crasher", CRASH_AFTER_START)
    project.cli("apply", "--auto-approve")
    row = wait_for(lambda: (r := plugin(project.status(), "crasher"))["state"] == "failed" and r, timeout=90)
    assert row["restarts"] >= 5  # every start after the first counts, like systemd's NRestarts
    assert "exited with code 5" in row["last_error"]  # the real exit code
    assert any("the model server went away" in line for line in row["stderr_tail"])
    text = project.cli("status").stdout
    assert "| fatal: the model server went away" in text
    assert plugin(project.status(), "word-count")["state"] == "ready"  # the others are unaffected

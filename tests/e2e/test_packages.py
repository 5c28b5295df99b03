"""Plugin packages, done when: the real CLI packs word-count, a local HTTP origin serves it, and with the plugin's
folder gone `plugins install` declares it (comments kept), the daemon installs and pins it, and it answers calls;
then it is listed, disabled and enabled, updated from its release index, and removed without a trace. The same
install works from an S3 server (moto's).

The steps of the first part run in order against one system (module-scoped), as a person would.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import tomllib
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ..support import free_port, pid_alive, wait_for

REPO = Path(__file__).resolve().parents[2]


class _Files(SimpleHTTPRequestHandler):
    gets: list[str] = []  # the paths fetched, in order: a package is downloaded once per install

    def do_GET(self) -> None:
        _Files.gets.append(self.path)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


class Project:
    """A copy of the shipped aiplugs.toml and plugins/ with free fixed ports, driven through the real CLI."""

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.root, self.config, self.state_dir = root, root / "aiplugs.toml", root / ".aiplugs"
        shutil.copytree(REPO / "plugins", root / "plugins", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (root / "models").mkdir()
        (root / "dist").mkdir()
        self.api_port, self.proxy_port = free_port(), free_port()
        text = (REPO / "aiplugs.toml").read_text()
        self.shipped = text
        text = text.replace("port_range = [5000, 5100]", f"port = {self.api_port}\nport_range = [5000, 5100]", 1)
        text = text.replace("port_range = [8080, 8180]", f"port = {self.proxy_port}\nport_range = [8080, 8180]", 1)
        self.config.write_text(text)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("AIPLUGS_", "AWS_")) and k not in ("SYSTEM_API_KEY", "CLOUD_BASE_URL")}
        self.env.update(env or {})

    def cli(self, *args: str, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-c", "import sys; from aiplugs.cli import main; sys.exit(main())", *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self.env, cwd=self.root,
                                stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise AssertionError(f"aiplugs {' '.join(args)} → {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def pack(self, folder: Path) -> dict:
        return json.loads(self.cli("plugins", "pack", str(folder), "-o", "dist", "--json").stdout)

    def status(self) -> dict:
        return json.loads(self.cli("status", "--json", check=False).stdout)

    def plugin(self, plugin_id: str) -> dict | None:
        return next((p for p in self.status().get("plugins", []) if p["id"] == plugin_id), None)

    def table(self, plugin_id: str) -> dict | None:
        return tomllib.loads(self.config.read_text()).get("plugins", {}).get(plugin_id)

    def locked(self, plugin_id: str) -> dict | None:
        path = self.root / "aiplugs.lock"
        return tomllib.loads(path.read_text()).get("plugins", {}).get(plugin_id) if path.exists() else None

    def call(self, plugin_id: str, payload: dict) -> tuple[int, dict]:
        token = (self.state_dir / "page.token").read_text().strip()
        conn = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=30)
        conn.request("POST", f"/v1/plugins/{plugin_id}/run", body=json.dumps(payload).encode(),
                     headers={"Content-Type": "application/json", "X-AIPlugs-Token": token})
        response = conn.getresponse()
        body = response.read()
        conn.close()
        return response.status, json.loads(body)

    def close(self) -> None:
        self.cli("down", timeout=60, check=False)
        for pid_file in self.root.glob(".aiplugs/daemon.pid"):
            pid = int(pid_file.read_text())
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


def comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#") or " # " in line]


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """A local HTTP origin serving a folder (``files``): packages and a release index."""
    files = tmp_path_factory.mktemp("origin")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Files, directory=str(files)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield files, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def project(tmp_path_factory, origin):
    files, base = origin
    proj = Project(tmp_path_factory.mktemp("packages"))
    manifest = proj.root / "plugins" / "word-count" / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "update_url": f"{base}/index.json"}, indent=2))
    yield proj
    proj.close()


@pytest.fixture(scope="module")
def packed(project, origin) -> dict:
    """word-count 1.0.0, packed by the CLI and served; its folder then removed, so only the package provides it."""
    files, base = origin
    result = project.pack(project.root / "plugins" / "word-count")
    shutil.copy(result["path"], files)
    shutil.move(project.root / "plugins" / "word-count", project.root / "word-count-src")
    return {**result, "url": f"{base}/{Path(result['path']).name}"}


def test_install_from_http(project, packed):
    assert packed["version"] == "1.0.0" and len(packed["sha256"]) == 64
    result = project.cli("plugins", "install", packed["url"], "--yes")
    assert "sees pages on:    *.wikipedia.org, localhost, 127.0.0.1" in result.stdout
    # inspected by the CLI, installed by the daemon's apply: one download, kept between them
    assert _Files.gets.count("/" + Path(packed["path"]).name) == 1, _Files.gets
    assert not list((project.state_dir / "packages" / ".downloads").glob("_inspect-*"))
    assert "Apply complete" in result.stdout
    assert project.table("word-count") == {"workers": 1, "source": packed["url"], "sha256": packed["sha256"]}
    assert comments(project.config.read_text()) == comments(project.shipped)  # every comment of the file kept
    lock = project.locked("word-count")
    assert (lock["sha256"], lock["version"], lock["source"]) == (packed["sha256"], "1.0.0", packed["url"])
    status = project.status()
    assert status["healthy"], status
    assert project.plugin("word-count")["state"] == "ready"
    code, body = project.call("word-count", {"text": "one two three"})
    assert code == 200 and body["words"] == 3


def test_installing_again_is_a_no_op(project, packed):
    before, pid = project.config.read_bytes(), project.status()["daemon"]["pid"]
    result = project.cli("plugins", "install", packed["url"], "--yes")
    assert "is already installed. Nothing to do." in result.stdout
    assert project.config.read_bytes() == before and project.status()["daemon"]["pid"] == pid


def test_list_shows_the_package_running(project, packed):
    rows = json.loads(project.cli("plugins", "list", "--json").stdout)["plugins"]
    row = next(r for r in rows if r["id"] == "word-count")
    assert (row["source"], row["version"], row["state"], row["sha256"]) == (packed["url"], "1.0.0", "ready",
                                                                            packed["sha256"])


def test_disable_and_enable(project, packed):
    pids = project.plugin("word-count")["worker_pids"]
    project.cli("plugins", "disable", "word-count")
    assert project.table("word-count")["enabled"] is False
    assert project.plugin("word-count")["state"] == "disabled"
    wait_for(lambda: not any(pid_alive(p) for p in pids))
    project.cli("plugins", "enable", "word-count")
    assert project.plugin("word-count")["state"] == "ready"
    assert project.call("word-count", {"text": "a b"})[1]["words"] == 2


def test_outdated_and_update_from_the_release_index(project, packed, origin):
    files, base = origin
    newer = project.root / "build" / "word-count"
    shutil.copytree(project.root / "word-count-src", newer)
    manifest = json.loads((newer / "manifest.json").read_text())
    (newer / "manifest.json").write_text(json.dumps({**manifest, "version": "1.1.0"}))
    v110 = project.pack(newer)
    shutil.copy(v110["path"], files)
    (files / "index.json").write_text(json.dumps([
        {"version": "1.0.0", "url": Path(packed["path"]).name, "sha256": packed["sha256"]},
        {"version": "1.1.0", "url": "word-count-1.1.0.zip", "sha256": v110["sha256"]},
        {"version": "2.0.0rc1", "url": "word-count-2.0.0rc1.zip", "sha256": "0" * 64}]))
    found = json.loads(project.cli("plugins", "outdated", "--json").stdout)["plugins"]
    assert [(c["plugin_id"], c["current"], c["latest"]["version"], c["update_available"]) for c in found] == [
        ("word-count", "1.0.0", "1.1.0", True)]
    assert "1.1.0 available" in project.cli("plugins", "list").stdout  # from the cache
    result = project.cli("plugins", "update", "--yes")
    assert "word-count 1.0.0 → 1.1.0" in result.stdout and "Apply complete" in result.stdout
    assert _Files.gets.count("/word-count-1.1.0.zip") == 1, _Files.gets
    table = project.table("word-count")
    assert (table["source"], table["sha256"]) == (f"{base}/word-count-1.1.0.zip", v110["sha256"])
    assert project.locked("word-count")["version"] == "1.1.0"
    assert project.plugin("word-count")["state"] == "ready"
    row = next(r for r in json.loads(project.cli("plugins", "list", "--json").stdout)["plugins"]
               if r["id"] == "word-count")
    assert (row["version"], row["update_available"]) == ("1.1.0", None)


def test_remove_leaves_no_trace(project):
    pids = project.plugin("word-count")["worker_pids"]
    assert pids and (project.state_dir / "packages" / "word-count").is_dir()
    data = project.state_dir / "data" / "word-count"
    assert data.is_dir()  # its workers' cwd, made before they started
    (data / "notes.txt").write_text("kept by the plugin")
    result = project.cli("plugins", "remove", "word-count", "--yes", "--purge")
    assert "-[plugins.word-count]" in result.stdout
    assert project.table("word-count") is None and "[plugins.word-count]" not in project.config.read_text()
    assert project.locked("word-count") is None
    assert not (project.state_dir / "packages" / "word-count").exists()
    assert not (project.state_dir / "data" / "word-count").exists()
    wait_for(lambda: not any(pid_alive(p) for p in pids))
    assert project.plugin("word-count") is None and project.status()["healthy"]
    assert comments(project.config.read_text()) == comments(project.shipped)


def test_detached_install_is_a_daemon_job(project, packed):
    """--detach hands the install to the daemon's job queue (``POST /api/installs``) and prints the job's id."""
    from aiplugs.client import DaemonClient

    result = project.cli("plugins", "install", packed["url"], "--yes", "--detach")
    job = result.stdout.split("Install job ", 1)[1].split()[0]
    client = DaemonClient.find(project.state_dir)
    done = wait_for(lambda: (j := client.request("GET", f"/api/installs/{job}"))["state"] in ("succeeded", "failed")
                    and j, timeout=60)
    assert done["state"] == "succeeded", done
    assert project.table("word-count")["sha256"] == packed["sha256"]
    assert project.plugin("word-count")["state"] == "ready"
    project.cli("plugins", "remove", "word-count", "--yes")
    assert project.table("word-count") is None


@pytest.fixture
def s3_env(monkeypatch):
    """moto's S3 server on loopback, and the environment a CLI (and the daemon it starts) reaches it with."""
    from moto.server import ThreadedMotoServer

    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # for the uploading client in this process
    yield env
    server.stop()


def test_install_from_s3(tmp_path, s3_env):
    import fsspec

    proj = Project(tmp_path / "s3project", env=s3_env)
    try:
        result = proj.pack(proj.root / "plugins" / "word-count")
        fs = fsspec.filesystem("s3", skip_instance_cache=True)
        fs.mkdir("plugin-packages")
        fs.put(result["path"], "plugin-packages/word-count-1.0.0.zip")
        shutil.rmtree(proj.root / "plugins" / "word-count")
        url = "s3://plugin-packages/word-count-1.0.0.zip"
        seen = json.loads(proj.cli("plugins", "inspect", url, "--json").stdout)
        assert (seen["id"], seen["sha256"]) == ("word-count", result["sha256"])
        proj.cli("plugins", "install", url, "--yes")
        assert proj.table("word-count")["source"] == url
        assert proj.locked("word-count")["sha256"] == result["sha256"]
        assert proj.plugin("word-count")["state"] == "ready"
        assert proj.call("word-count", {"text": "x y z w"})[1]["words"] == 4
    finally:
        proj.close()

"""Install jobs end to end: a real daemon (spawned through ``Session.apply``), plugin packages built with ``pack``
and served by a local HTTP server, the real client talking to the real router.

The steps share one system (module-scoped) and run in order: install → refuse a wrong sha256 → retry a failure
once its cause is fixed → cancel a slow download → a plugin that cannot start (the edit taken back) → the same
version with other content, a broken upgrade rolled back, force → a restart that finds a job cut short → the token.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import threading
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from aiplugs.adapters.packages import Packed, pack
from aiplugs.client import DaemonClient
from aiplugs.client.errors import DaemonError
from aiplugs.client.feed import watch
from aiplugs.declaration.lockfile import lock_path, read_lock

from ..support import free_port, pid_alive, wait_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SLOW_SIZE = 8 * 1024 * 1024  # bytes the slow route promises; it sends 16 KiB every 20 ms


class _Packages(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    requests: list[str] = []  # paths asked for, in order
    slow_started = threading.Event()
    slow_aborted = threading.Event()

    def do_GET(self):  # noqa: N802 - http.server's naming
        name = self.path.rsplit("/", 1)[-1]
        self.requests.append(self.path)
        if self.path.startswith("/slow/"):
            return self._trickle()
        body = self.files.get(name)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(SLOW_SIZE))
        self.end_headers()
        self.slow_started.set()
        try:
            for _ in range(SLOW_SIZE // 16384):
                self.wfile.write(b"\0" * 16384)
                self.wfile.flush()
                time.sleep(0.02)
        except OSError:  # the client went away: the download was stopped
            self.slow_aborted.set()

    def log_message(self, *args):
        pass


def build_package(root: Path, plugin_id: str, *, version: str = "1.0.0", backend: str | None = None) -> Packed:
    """A copy of the shipped word-count plugin under another id, packed as a zip."""
    folder = root / "src" / f"{plugin_id}-{version}"
    shutil.copytree(REPO / "plugins" / "word-count", folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(id=plugin_id, name=plugin_id, version=version)
    manifest["content_scripts"][0]["matches"] = [f"*://{plugin_id}.example/*"]
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if backend is not None:
        (folder / "backend.py").write_text(backend)
    served = root / "served" / f"{plugin_id}-{version}-{len(list(root.glob('src/*')))}"
    served.mkdir(parents=True)
    return pack(folder, served)


class System:
    def __init__(self, root: Path, server: ThreadingHTTPServer) -> None:
        from aiplugs import Session

        self.root, self.config, self.state_dir = root, root / "aiplugs.toml", root / ".aiplugs"
        self.base = f"http://127.0.0.1:{server.server_address[1]}"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AIPLUGS_") and k not in ("SYSTEM_API_KEY", "CLOUD_BASE_URL")}
        self.session = Session(self.config, env=env)

    @property
    def client(self) -> DaemonClient:
        client = self.session.client()
        assert client is not None, "no daemon runs"
        return client

    def serve(self, packed: Packed) -> str:
        name = f"{packed.sha256[:8]}-{packed.path.name}"
        _Packages.files[name] = packed.path.read_bytes()
        return f"{self.base}/pkg/{name}"

    def finished(self, job_id: str, timeout: float = 90) -> dict:
        return wait_for(lambda: (job := self.client.install_job(job_id))["state"] in
                        ("succeeded", "failed", "cancelled") and job, timeout=timeout)

    def leftovers(self) -> list[str]:
        """Temp and staging files under <state_dir>/packages, and archives fetched under the scratch name."""
        return sorted(str(p) for p in (self.state_dir / "packages").rglob("*")
                      if p.name.endswith((".part", ".tmp")) or ".staging" in p.name
                      or (p.parent.name == ".downloads" and p.name.startswith("_install")))


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Packages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = tmp_path_factory.mktemp("installs") / "project"
    root.mkdir()
    shutil.copytree(REPO / "plugins", root / "plugins", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (root / "models").mkdir()
    text = (REPO / "aiplugs.toml").read_text()  # the shipped file, comments and all
    text = text.replace("[api]\n", f"[api]\nport = {free_port()}\n", 1).replace(
        "[proxy]\n", f"[proxy]\nport = {free_port()}\n", 1)
    (root / "aiplugs.toml").write_text(text)
    sys_ = System(root, server)
    outcome = sys_.session.apply(progress=False)
    assert outcome is not None and outcome.ok, outcome
    yield sys_
    sys_.session.down()
    pid_file = sys_.state_dir / "daemon.pid"
    if pid_file.exists() and pid_alive(int(pid_file.read_text())):
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
    server.shutdown()


def test_a_job_fetches_verifies_declares_applies_and_the_plugin_answers(system, tmp_path):
    packed = build_package(tmp_path, "word-tally")
    url = system.serve(packed)
    before = system.config.read_text()
    events: list[dict] = []
    with watch(system.client, events.append):
        started = system.client.install(url)
        job = system.finished(started["job_id"])
        wait_for(lambda: any(e["data"].get("state") == "succeeded" for e in events if e["type"] == "install.state"))
    assert started["job"]["state"] == "queued" and started["job"]["request"]["uri"] == url
    assert job["state"] == "succeeded", job
    assert (job["plugin_id"], job["version"], job["sha256"]) == ("word-tally", "1.0.0", packed.sha256)
    assert job["bytes"] == job["total"] == packed.size and job["error"] is None
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]
    mine = [e["data"] for e in events if e["type"] == "install.state" and e["data"]["job_id"] == job["job_id"]]
    assert list(dict.fromkeys(d["state"] for d in mine)) == \
        ["queued", "fetching", "verifying", "unpacking", "activating", "succeeded"]
    assert mine[-1]["plugin_id"] == "word-tally" and mine[-1]["bytes"] == packed.size

    after = system.config.read_text()
    assert after.startswith(before.rstrip("\n")), "every line of the shipped file (its comments too) stays as it was"
    assert tomllib.loads(after)["plugins"]["word-tally"] == {"source": url, "sha256": packed.sha256}
    locked = read_lock(lock_path(system.config)).plugins["word-tally"]
    assert (locked.source, locked.version, locked.sha256, locked.size) == (url, "1.0.0", packed.sha256, packed.size)
    assert system.client.call("word-tally", {"text": "one two three"})["words"] == 3
    assert _Packages.requests.count(url.removeprefix(system.base)) == 1, "apply's install reused the job's download"
    assert system.leftovers() == []
    assert system.client.install_jobs()[0]["job_id"] == job["job_id"]

    again = system.finished(system.client.install(url)["job_id"])  # the same content: nothing to change
    assert again["state"] == "succeeded" and again["note"].startswith("already installed"), again
    assert system.config.read_text() == after
    assert [j["job_id"] for j in system.client.install_jobs()[:2]] == [again["job_id"], job["job_id"]]


def test_a_wrong_sha256_fails_with_both_hashes_and_changes_nothing(system, tmp_path):
    packed = build_package(tmp_path, "word-wrong")
    url = system.serve(packed)
    before = system.config.read_text()
    wrong = "0123456789abcdef" * 4
    job = system.finished(system.client.install(url, sha256=wrong)["job_id"])
    assert job["state"] == "failed", job
    assert wrong in job["error"] and packed.sha256 in job["error"], job["error"]
    assert job["plugin_id"] is None and job["sha256"] is None
    assert system.config.read_text() == before
    assert "word-wrong" not in read_lock(lock_path(system.config)).plugins
    assert system.leftovers() == []


def test_retry_of_a_failed_job_is_a_new_job_linked_to_it(system, tmp_path):
    packed = build_package(tmp_path, "word-late")
    url = f"{system.base}/pkg/{packed.sha256[:8]}-{packed.path.name}"  # not served yet: 404
    first = system.finished(system.client.install(url, plugin_id="word-late")["job_id"])
    assert first["state"] == "failed" and "404" in first["error"], first
    with pytest.raises(DaemonError) as refused:
        system.client.retry_install(system.client.install_jobs()[0]["job_id"] + "-nope")
    assert refused.value.status == 404
    system.serve(packed)
    retried = system.client.retry_install(first["job_id"])
    assert retried["job_id"] != first["job_id"] and retried["job"]["retry_of"] == first["job_id"]
    second = system.finished(retried["job_id"])
    assert second["state"] == "succeeded", second
    assert second["retry_of"] == first["job_id"] and second["request"]["id"] == "word-late"
    assert system.client.install_job(first["job_id"])["state"] == "failed"  # the first attempt stays as it ended
    with pytest.raises(DaemonError) as conflict:
        system.client.retry_install(second["job_id"])
    assert conflict.value.status == 409


def test_cancel_stops_a_slow_download_and_leaves_nothing_behind(system):
    before = system.config.read_text()
    downloads = system.state_dir / "packages" / ".downloads"
    job_id = system.client.install(f"{system.base}/slow/big.zip")["job_id"]
    job = wait_for(lambda: (j := system.client.install_job(job_id))["bytes"] > 0 and j)
    assert job["state"] == "fetching" and job["total"] == SLOW_SIZE
    assert [p.name for p in downloads.glob("_install.pkg.*.part")], "the download writes a temp file"
    cancelled = system.client.cancel_install(job_id)
    assert cancelled["state"] == "cancelled" and cancelled["finished_at"] is not None
    assert system.leftovers() == []
    assert _Packages.slow_aborted.wait(10), "the server saw the download stop"
    assert system.config.read_text() == before
    with pytest.raises(DaemonError) as late:
        system.client.cancel_install(job_id)
    assert late.value.status == 409


def test_a_plugin_that_cannot_start_fails_the_job_and_the_edit_is_taken_back(system, tmp_path):
    packed = build_package(tmp_path, "word-broken", backend="raise ImportError('no such luck')\n")
    before = system.config.read_text()
    job = system.finished(system.client.install(system.serve(packed))["job_id"])
    assert job["state"] == "failed", job
    assert "worker word-broken#0" in job["error"] and "no such luck" in job["error"], job["error"]
    assert "aiplugs.toml was restored and applied again" in job["error"]
    assert job["plugin_id"] == "word-broken" and job["sha256"] == packed.sha256
    assert system.config.read_text() == before
    assert "word-broken" not in read_lock(lock_path(system.config)).plugins
    assert not (system.state_dir / "packages" / "word-broken").exists()
    status = system.client.status()
    assert "word-broken" not in [p["id"] for p in status["plugins"]] and status["healthy"], status


def test_the_same_version_with_other_content_needs_force_and_a_broken_upgrade_rolls_back(system, tmp_path):
    before = system.config.read_text()
    backend = (REPO / "plugins" / "word-count" / "backend.py").read_text()
    other = build_package(tmp_path, "word-tally", backend=backend + "\n# other content, same version\n")
    refused = system.finished(system.client.install(system.serve(other))["job_id"])
    assert refused["state"] == "failed" and "force" in refused["error"] and other.sha256 in refused["error"]
    assert system.config.read_text() == before
    broken = build_package(tmp_path, "word-tally", version="2.0.0", backend="raise ImportError('v2 is broken')\n")
    job = system.finished(system.client.install(system.serve(broken))["job_id"])
    assert job["state"] == "failed" and "v2 is broken" in job["error"], job
    assert system.config.read_text() == before  # back to 1.0.0, which the store kept
    assert read_lock(lock_path(system.config)).plugins["word-tally"].version == "1.0.0"
    assert system.client.call("word-tally", {"text": "still counting"})["words"] == 2
    forced = system.finished(system.client.install(system.serve(other), force=True)["job_id"])
    assert forced["state"] == "succeeded" and forced["sha256"] == other.sha256, forced
    assert tomllib.loads(system.config.read_text())["plugins"]["word-tally"]["sha256"] == other.sha256


def test_a_job_cut_short_by_a_stop_is_failed_as_interrupted_at_the_next_start(system):
    done = system.client.install_jobs()
    system.session.down()
    path = system.state_dir / "installs.json"
    data = json.loads(path.read_text())
    running = next(j for j in data["jobs"] if j["job_id"] == done[0]["job_id"])
    running.update(state="fetching", finished_at=None, error=None)
    path.write_text(json.dumps(data))
    outcome = system.session.apply(progress=False)
    assert outcome is not None and outcome.ok, outcome
    job = system.client.install_job(running["job_id"])
    assert job["state"] == "failed" and job["error"] == "interrupted (the daemon stopped)", job
    assert [j["job_id"] for j in system.client.install_jobs()] == [j["job_id"] for j in done]
    on_disk = {j["job_id"]: j for j in json.loads(path.read_text())["jobs"]}
    assert on_disk[running["job_id"]]["state"] == "failed"


def test_the_routes_need_the_admin_token(system):
    client = system.client
    for method, path in [("GET", "/api/installs"), ("POST", "/api/installs"),
                         ("POST", f"/api/installs/{client.install_jobs()[0]['job_id']}/cancel")]:
        conn = http.client.HTTPConnection(client.host, client.port, timeout=10)
        headers = {"Host": f"{client.host}:{client.port}", "X-AIPlugs-Token": client.page_token or ""}
        conn.request(method, path, body=b'{"uri": "x"}' if method == "POST" else None, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status == 401, (method, path)

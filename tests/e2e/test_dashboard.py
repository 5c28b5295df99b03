"""The web dashboard, end to end: a real daemon (started by the real CLI) serving the shipped plugins plus a slow
one, Debian's Chromium driven by Playwright, and a local HTTP origin serving a plugin package.

The steps share one system (module-scoped) and run in order, as a person would: open the URL `aiplugs dashboard`
prints, see the plugins ready, disable and enable one, install a package through the form, follow a worker's log,
read the metrics, apply a suggestion produced by load; every page is photographed into the test's temp dir, every
page and response is scanned for secrets, and a foreign Origin or Host is refused.
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
import tomllib
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from aiplugs.adapters.packages import pack

from ..support import free_port, pid_alive, trickle_url, wait_for
from .conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SECRETS = {"SYSTEM_API_KEY": "sk-dashboard-cloud-key-5f1e2d", "AIPLUGS_PLUGINS__SLOW__SETTINGS__API_TOKEN":
           "slow-write-only-secret-77aa"}
SLOW_BACKEND = '''import time


def run(payload, ctx):
    if payload.get("mark"):
        ctx.log.info("served %s", payload["mark"])
    time.sleep(float(payload.get("sleep", 0)))
    return {"ok": True}
'''
TUNING = """
[plugins.big-model]
provision = "lazy"

[metrics]
sample_s = 0.3

[autotune]
interval_s = 1
min_samples = 1
sustained = 0.3
scale_up_window_s = 60
scale_up_utilization = 0.05    # a minute's row holds idle seconds too: a few busy ones must count
target_utilization = 0.02
scale_down_utilization = 0.01
"""


MODEL = bytes(range(256)) * 8192  # 2 MiB, served slowly so its download can be watched
MODEL_CHUNK, MODEL_PAUSE_S = 64 * 1024, 0.05


class _Files(SimpleHTTPRequestHandler):
    """The served folder, and ``/model.bin`` trickled out in chunks."""

    hits: list[str] = []  # the paths asked for

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        _Files.hits.append(self.path)
        if self.path != "/model.bin":
            return super().do_GET()
        self.send_response(200)
        self.send_header("Content-Length", str(len(MODEL)))
        self.end_headers()
        for start in range(0, len(MODEL), MODEL_CHUNK):
            self.wfile.write(MODEL[start:start + MODEL_CHUNK])
            self.wfile.flush()
            time.sleep(MODEL_PAUSE_S)
        return None

    def log_message(self, *args: object) -> None:
        pass


class System:
    """A copy of the shipped aiplugs.toml (comments and all) and plugins, plus the slow plugin, on free ports."""

    def __init__(self, root: Path, shots: Path, origin: str) -> None:
        self.root, self.config, self.state_dir, self.shots, self.origin = root, root / "aiplugs.toml", \
            root / ".aiplugs", shots, origin
        shutil.copytree(REPO / "plugins", root / "plugins", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        slow = root / "plugins" / "slow"
        slow.mkdir()
        (slow / "backend.py").write_text(SLOW_BACKEND)
        (slow / "manifest.json").write_text(json.dumps({
            "manifest_version": 3, "id": "slow", "name": "Slow", "version": "1.0.0",
            "inference": {"default_mode": "local", "local_entry": "backend.py"},
            "settings_schema": {"type": "object", "properties": {"api_token": {"type": "string", "writeOnly": True}}},
            "content_scripts": [{"matches": ["https://slow.example/*"], "js": ["c.js"]}]}))
        (slow / "c.js").write_text("")
        big = root / "plugins" / "big-model"  # lazy: its model downloads when asked (Models page)
        big.mkdir()
        (big / "backend.py").write_text("def run(payload):\n    return {}\n")
        (big / "manifest.json").write_text(json.dumps({
            "manifest_version": 3, "id": "big-model", "name": "Big model", "version": "1.0.0",
            "inference": {"default_mode": "local", "local_entry": "backend.py", "models": [{
                "key": "BIG_MODEL", "filename": "big-model.bin", "source_url": f"{origin}/model.bin",
                "sha256": hashlib.sha256(MODEL).hexdigest(), "size": len(MODEL)}]},
            "content_scripts": [{"matches": ["https://big.example/*"], "js": ["c.js"]}]}))
        (big / "c.js").write_text("")
        (root / "models").mkdir()
        self.api_port, self.proxy_port = free_port(), free_port()
        text = (REPO / "aiplugs.toml").read_text()
        text = text.replace("port_range = [5000, 5100]", f"port = {self.api_port}\nport_range = [5000, 5100]", 1)
        text = text.replace("port_range = [8080, 8180]", f"port = {self.proxy_port}\nport_range = [8080, 8180]", 1)
        self.config.write_text(text + TUNING)
        self.shipped = self.config.read_text()
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("AIPLUGS_") and k not in ("SYSTEM_API_KEY", "CLOUD_BASE_URL")}
        self.env.update(SECRETS)
        self.base = f"http://127.0.0.1:{self.api_port}"

    def cli(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-c", "import sys; from aiplugs.cli import main; sys.exit(main())",
               "-c", str(self.config), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self.env, cwd=self.root,
                                stdin=subprocess.DEVNULL)
        assert result.returncode == 0, f"aiplugs {' '.join(args)} → {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    def token(self, name: str) -> str:
        return (self.state_dir / name).read_text().strip()

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
                ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=60)
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        answer = conn.getresponse()
        payload = answer.read()
        conn.close()
        return answer.status, payload

    def api(self, path: str) -> Any:
        status, body = self.request("GET", path, headers={"Authorization": f"Bearer {self.token('admin.token')}"})
        assert status == 200, (status, body)
        return json.loads(body)

    def call(self, plugin: str, payload: dict) -> int:
        status, _ = self.request("POST", f"/v1/plugins/{plugin}/run", payload,
                                 {"X-AIPlugs-Token": self.token("page.token")})
        return status

    def state(self, plugin: str) -> str | None:
        return next((p["state"] for p in self.api("/api/status")["plugins"] if p["id"] == plugin), None)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    served = tmp_path_factory.mktemp("served")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Files, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = tmp_path_factory.mktemp("dashboard") / "project"
    root.mkdir()
    sys_ = System(root, tmp_path_factory.mktemp("dashboard-screenshots"), f"http://127.0.0.1:{server.server_port}")
    sys_.served = served  # type: ignore[attr-defined]
    sys_.cli("apply", "--auto-approve")
    yield sys_
    subprocess.run([sys.executable, "-c", "import sys; from aiplugs.cli import main; sys.exit(main())", "-c",
                    str(sys_.config), "down"], env=sys_.env, cwd=root, capture_output=True, timeout=60)
    pid_file = sys_.state_dir / "daemon.pid"
    if pid_file.exists() and pid_alive(int(pid_file.read_text())):
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
    server.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS))
        yield launched
        launched.close()


@pytest.fixture
def page(system: System, browser: Any) -> Iterator[Any]:
    """A fresh browser context signed in through the URL `aiplugs dashboard --print` prints."""
    context = browser.new_context()
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    tab.goto(system.cli("dashboard", "--print").stdout.strip())
    tab.wait_for_url(f"{system.base}/")
    yield tab
    context.close()


def shot(system: System, tab: Any, name: str) -> None:
    tab.screenshot(path=str(system.shots / f"{name}.png"), full_page=True)


def test_the_dashboard_command_prints_a_sign_in_url(system: System) -> None:
    shown = json.loads(system.cli("dashboard", "--json").stdout)
    assert shown["dashboard"] == f"{system.base}/"
    assert shown["url"] == f"{system.base}/login#token={system.token('admin.token')}"
    assert system.cli("dashboard", "--print").stdout.strip() == shown["url"]


def test_signing_in_leaves_no_token_behind_and_the_plugins_are_ready(system: System, page: Any) -> None:
    admin = system.token("admin.token")
    assert page.url == f"{system.base}/" and admin not in page.content()
    cookie = next(c for c in page.context.cookies() if c["name"] == f"aiplugs_session_{system.api_port}")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and admin not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads it
    page.go_back()
    assert admin not in page.url  # the history entry holds no token either
    page.goto(f"{system.base}/")
    page.wait_for_selector("#ca-fingerprint")
    assert f"127.0.0.1:{system.proxy_port}" in page.inner_text("main")
    shot(system, page, "overview")
    page.click("nav >> text=Plugins")
    for plugin in ("word-count", "sentiment", "slow"):
        page.wait_for_selector(f'tr[data-plugin="{plugin}"][data-state="ready"]')
    assert page.get_attribute('tr[data-plugin="summarize"]', "data-state") == "disabled"
    shot(system, page, "plugins")
    page.click("nav >> text=Models")
    page.wait_for_selector('tr[data-model="sentiment-lexicon-v1.tsv"] .badge.ready')
    shot(system, page, "models")


def test_without_a_session_the_dashboard_refuses_and_shows_nothing(system: System, browser: Any) -> None:
    context = browser.new_context()
    tab = context.new_page()
    answer = tab.goto(f"{system.base}/ui/plugins")
    assert answer.status == 401 and "aiplugs dashboard" in tab.content()
    for data in ("word-count", "sentiment", str(system.root)):
        assert data not in tab.content()
    shot(system, tab, "refused")
    context.close()


def test_disable_and_enable_a_plugin_keeps_the_comments(system: System, page: Any) -> None:
    page.goto(f"{system.base}/ui/plugins")
    page.click("#disable-sentiment")
    page.wait_for_selector('.message.ok >> text=Disabled sentiment')
    page.wait_for_selector('tr[data-plugin="sentiment"][data-state="disabled"]')
    assert tomllib.loads(system.config.read_text())["plugins"]["sentiment"]["enabled"] is False
    page.click("#enable-sentiment")
    page.wait_for_selector('.message.ok >> text=Enabled sentiment')
    page.wait_for_selector('tr[data-plugin="sentiment"][data-state="ready"]')  # live: the events bring it
    text = system.config.read_text()
    assert tomllib.loads(text)["plugins"]["sentiment"]["enabled"] is True
    comments = [line for line in system.shipped.splitlines() if line.lstrip().startswith("#") or " # " in line]
    assert comments and all(line in text.splitlines() for line in comments)


def test_a_model_download_shows_its_progress_live(system: System, page: Any) -> None:
    row = 'tr[data-model="big-model.bin"]'
    page.goto(f"{system.base}/ui/models")
    page.wait_for_selector(f"{row} .badge.missing")
    # The form's POST returns once the model is in place; until then this page stays and events move its bar.
    # What the bar shows is kept in sessionStorage, which outlives the navigation the answer brings.
    page.evaluate("""setInterval(() => {
        const bar = document.querySelector('progress[data-model="big-model.bin"]');
        if (bar) sessionStorage.setItem('bars', (sessionStorage.getItem('bars') || '') + bar.value + '/' + bar.max + ' ');
    }, 50)""")
    page.click(f"{row} button", no_wait_after=True)
    page.wait_for_selector(".message.ok >> text=big-model.bin is in the model store", timeout=120_000)
    page.wait_for_selector(f"{row} .badge.ready")
    seen = [tuple(map(int, bar.split("/"))) for bar in page.evaluate("sessionStorage.getItem('bars')").split()]
    assert {total for _, total in seen} == {len(MODEL)}
    assert any(0 < done < total for done, total in seen), seen  # part of the way: it moved while it ran
    shot(system, page, "models-downloaded")


def test_install_a_package_through_the_form(system: System, page: Any, tmp_path: Path) -> None:
    folder = tmp_path / "hello-pkg"
    shutil.copytree(REPO / "plugins" / "word-count", folder, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(id="hello-pkg", name="Hello package")
    manifest["content_scripts"][0]["matches"] = ["*://hello.example/*"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    packed = pack(folder, system.served)  # type: ignore[attr-defined]
    url = f"{system.origin}/{packed.path.name}"
    page.goto(f"{system.base}/ui/installs")
    page.fill("#uri", url)
    page.click("#inspect")
    permissions = page.inner_text("#permissions")
    assert "sees pages on:" in permissions and "hello.example" in permissions and packed.sha256 in permissions
    shot(system, page, "installs-inspect")
    page.click("#install")
    row = page.wait_for_selector("tr[data-job]")
    job = row.get_attribute("data-job")
    page.wait_for_selector(f'tr[data-job="{job}"][data-state="succeeded"]', timeout=120_000)  # no reload: events
    assert tomllib.loads(system.config.read_text())["plugins"]["hello-pkg"]["sha256"] == packed.sha256
    # the job installed the download the inspection kept: the package was fetched once
    assert _Files.hits.count(f"/{packed.path.name}") == 1
    page.wait_for_selector("#remove-hello-pkg")
    shot(system, page, "installs")
    page.click("#remove-hello-pkg")
    page.wait_for_selector(".message.ok >> text=Removed hello-pkg")
    assert "hello-pkg" not in tomllib.loads(system.config.read_text())["plugins"]


def test_cancel_and_retry_an_install_job_by_its_buttons(system: System, page: Any) -> None:
    admin = {"Authorization": f"Bearer {system.token('admin.token')}"}
    before = system.config.read_text()
    with trickle_url("slow-pkg.zip") as url:  # a download that never ends by itself
        status, body = system.request("POST", "/api/installs", {"uri": url, "id": "slow-pkg"}, admin)
        assert status == 202, body
        job = json.loads(body)["job_id"]
        page.goto(f"{system.base}/ui/installs")
        row = f'tr[data-job="{job}"]'
        page.wait_for_selector(f'{row}[data-state="fetching"]')
        first = page.inner_text(f'[data-job-text="{job}"]')
        # the bytes move on the page, by events, without a reload (the page's CSP refuses wait_for_function's eval)
        wait_for(lambda: page.inner_text(f'[data-job-text="{job}"]') != first, timeout=30, interval=0.2)
        shot(system, page, "installs-fetching")
        page.click(f"#cancel-{job}")
        page.wait_for_selector(f".message.ok >> text=Install job {job} cancelled.")
        page.wait_for_selector(f'{row}[data-state="cancelled"]')
        page.click(f"#retry-{job}")
        again = page.wait_for_selector(".message.ok >> text=retries").inner_text().split()[2]
        assert again != job
        page.wait_for_selector(f'tr[data-job="{again}"] >> text=retries {job}')
        page.wait_for_selector(f'tr[data-job="{again}"][data-state="fetching"]')
        page.click(f"#cancel-{again}")
        page.wait_for_selector(f'tr[data-job="{again}"][data-state="cancelled"]')
    states = {j["job_id"]: j["state"] for j in system.api("/api/installs")["jobs"]}
    assert states[job] == states[again] == "cancelled"
    assert system.config.read_text() == before  # a cancelled install leaves aiplugs.toml as it was
    assert not (system.state_dir / "packages" / "slow-pkg").exists()


def test_follow_a_log_line_written_by_a_worker(system: System, page: Any) -> None:
    page.goto(f"{system.base}/ui/logs?source=slow")
    page.wait_for_selector("#live-status >> text=Following")
    first = uuid.uuid4().hex
    assert system.call("slow", {"mark": first}) == 200
    page.wait_for_selector(f"#log li >> text=served {first}")
    page.click("#pause")
    held = uuid.uuid4().hex
    assert system.call("slow", {"mark": held}) == 200
    wait_for(lambda: held in (system.state_dir / "logs" / "slow-0.log").read_text())
    page.click("#pause")  # resume: what came meanwhile shows
    page.wait_for_selector(f"#log li >> text=served {held}")
    page.fill("#q", first)
    shown = page.locator("#log li:visible")
    shown.first.wait_for()
    assert all(first in line for line in shown.all_inner_texts())
    shot(system, page, "logs")


def test_a_suggestion_from_load_is_applied_and_lands_in_the_history(system: System, page: Any) -> None:
    def loaded_until_suggested() -> dict | None:
        """Six callers at once on one worker (contended, busy), as long as no scale-up is suggested; every payload
        differs, so no cache suggestion competes."""
        calls = [{"sleep": 0.2, "n": uuid.uuid4().hex} for _ in range(12)]
        assert set(pool.map(lambda payload: system.call("slow", payload), calls)) == {200}
        return next((s for s in system.api("/api/suggestions")["suggestions"]
                     if s["plugin"] == "slow" and s["rule"] == "scale-up"), None)

    with ThreadPoolExecutor(6) as pool:
        found = wait_for(loaded_until_suggested, timeout=120, interval=0.5)
    page.goto(f"{system.base}/ui/metrics?plugin=slow&range=15m")
    page.wait_for_selector("#figure-rps polyline, #figure-rps circle")
    shot(system, page, "metrics")
    page.goto(f"{system.base}/ui/suggestions")
    page.wait_for_selector(f'[id="suggestion-{found["id"]}"] .diff-add')
    shot(system, page, "suggestions")
    page.click(f'[id="apply-{found["id"]}"]')
    page.wait_for_selector(f".message.ok >> text=Applied suggestion {found['id']}")
    page.wait_for_selector("#h-history ~ article .badge.applied")
    assert tomllib.loads(system.config.read_text())["plugins"]["slow"]["workers"] == found["change"]["new"]
    wait_for(lambda: system.state("slow") == "ready")
    shot(system, page, "suggestions-history")
    page.click("#revert-1")
    page.wait_for_selector(".message.ok >> text=Reverted suggestion 1")
    page.wait_for_selector("#h-history ~ article .badge.reverted")
    assert tomllib.loads(system.config.read_text())["plugins"].get("slow", {}).get("workers", 1) == 1


def test_a_foreign_origin_or_host_is_refused(system: System, page: Any) -> None:
    session = next(c for c in page.context.cookies() if c["name"].startswith("aiplugs_session_"))
    cookie = {"Cookie": f"{session['name']}={session['value']}"}
    before = system.config.read_text()
    for origin in ("http://127.0.0.1:1", system.origin, "https://evil.example", "null"):
        status, body = system.request("POST", "/ui/plugins/word-count/disable", headers={**cookie, "Origin": origin})
        assert status == 403 and b"word-count" not in body, (origin, status)
    status, _ = system.request("POST", "/ui/plugins/word-count/disable", headers=cookie)  # no Origin at all
    assert status == 403
    status, body = system.request("GET", "/ui/plugins", headers={**cookie, "Host": f"evil.example:{system.api_port}"})
    assert status == 403 and b"word-count" not in body
    # a page on another local origin (same site: SameSite lets the cookie go) posting a form to the dashboard
    attack = system.served / "attack.html"  # type: ignore[attr-defined]
    attack.write_text(f'<form method="post" action="{system.base}/ui/plugins/word-count/disable"></form>'
                      '<script>document.forms[0].submit()</script>')
    with page.expect_response(lambda r: r.url.endswith("/ui/plugins/word-count/disable")) as posted:
        page.goto(f"{system.origin}/attack.html")
    assert posted.value.status == 403
    assert system.config.read_text() == before and system.state("word-count") == "ready"


def test_without_javascript_the_pages_read_and_the_forms_work(system: System, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False)
    tab = context.new_page()
    tab.goto(f"{system.base}/login")  # no script to read a fragment: the token is typed into the form
    tab.fill("#token", system.token("admin.token"))
    tab.click("#login-form button")
    tab.wait_for_url(f"{system.base}/")
    assert tab.query_selector("#ca-fingerprint") is not None
    tab.goto(f"{system.base}/ui/plugins")
    assert tab.query_selector('tr[data-plugin="word-count"][data-state="ready"]') is not None
    tab.goto(f"{system.base}/ui/logs?source=word-count")
    assert "word-count ready" in tab.inner_text("#log")  # its init hook's line, rendered on the server
    tab.goto(f"{system.base}/ui/plugins")
    tab.click("#restart-word-count")
    tab.wait_for_selector(".message.ok >> text=Restarted word-count")
    shot(system, tab, "plugins-without-javascript")
    context.close()


def test_pages_reflow_at_200_percent_follow_dark_mode_and_work_by_keyboard(system: System, browser: Any) -> None:
    # 640 CSS pixels on a 1280-pixel screen: what 200 % zoom leaves a page
    context = browser.new_context(viewport={"width": 640, "height": 900}, device_scale_factor=2, color_scheme="dark")
    tab = context.new_page()
    tab.goto(system.cli("dashboard", "--print").stdout.strip())
    tab.wait_for_url(f"{system.base}/")
    for path in ("/", "/ui/plugins", "/ui/models", "/ui/installs", "/ui/logs", "/ui/metrics?plugin=slow",
                 "/ui/suggestions"):
        tab.goto(f"{system.base}{path}")
        wide = tab.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert wide <= 0, f"{path} scrolls sideways at 200 % zoom ({wide}px)"
    tab.goto(f"{system.base}/ui/plugins")
    shot(system, tab, "plugins-200-percent-dark")
    background = tab.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)", background  # the dark palette
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.className") == "skip"
    for _ in range(40):  # real buttons: reachable with Tab alone
        tab.keyboard.press("Tab")
        if tab.evaluate("document.activeElement.id") == "restart-word-count":
            break
    else:
        raise AssertionError("Tab never reached the restart button of word-count")
    tab.keyboard.press("Enter")
    tab.wait_for_selector(".message.ok >> text=Restarted word-count")
    context.close()


def test_no_page_or_response_shows_a_secret(system: System, page: Any) -> None:
    secrets = [system.token("admin.token"), system.token("page.token"), *SECRETS.values()]
    seen: list[tuple[str, str]] = []

    def record(response: Any) -> None:
        if "text/event-stream" not in (response.headers.get("content-type") or ""):
            try:
                seen.append((response.url, response.text()))
            except Exception:  # noqa: BLE001 - a redirect has no body to read
                pass

    page.on("response", record)
    paths = ["/", "/ui/plugins", "/ui/models", "/ui/installs", "/ui/logs", "/ui/logs?source=slow",
             "/ui/logs?source=word-count", "/ui/metrics?plugin=slow", "/ui/suggestions", "/api/status",
             "/api/events?follow=0", "/api/suggestions/history", "/ui/static/dashboard.js", "/login"]
    for path in paths:
        page.goto(f"{system.base}{path}")
        page.wait_for_load_state("load")
        seen.append((path, page.content()))
    assert len(seen) >= len(paths)
    for where, text in seen:
        for secret in secrets:
            assert secret not in text, f"{where} shows a secret"

"""``aiplugs browser`` and PAC routing against a real daemon, real local origins and Debian's Chromium.

The origins use names (``shop.test`` matched by a plugin, ``other.test`` matched by none): Chromium never asks a
PAC file about loopback addresses, and a real person's sites are names too. The proxy reaches ``shop.test``
through ``proxy.hosts``; Chromium reaches ``other.test`` directly through ``--host-resolver-rules``.
"""

from __future__ import annotations

import http.server
import json
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from ..support import free_port, wait_for
from .conftest import CHROMIUM

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-c", "import sys; from aiplugs.cli import main; sys.exit(main())"]
PAGE = b"<!doctype html><html><head><meta charset=utf-8><title>shop</title></head><body><p>%s</p></body></html>"
CONTENT_JS = """
document.documentElement.dataset.hello = "ran";
window.aiplugs.call("hello", {name: "page"}).then(function (r) {
  document.documentElement.dataset.call = r.greeting;
});
"""
HEADLESS = ["--browser-arg=--headless=new", "--browser-arg=--disable-gpu",
            "--browser-arg=--disable-background-networking", "--browser-arg=--disable-component-update",
            "--browser-arg=--disable-sync"]


class Origin:
    """A threaded HTTP(S) server on 127.0.0.1 answering every GET with a small page naming its path."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                body = PAGE % f"origin page {self.path}".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class System:
    def __init__(self, root: Path, origin_ca) -> None:
        self.root = root
        self.config = root / "aiplugs.toml"
        self.api_port, self.proxy_port = free_port(), free_port()
        plugin = root / "plugins" / "hello"
        plugin.mkdir(parents=True)
        (plugin / "manifest.json").write_text(json.dumps({
            "manifest_version": 3, "id": "hello", "name": "Hello", "version": "1.0.0",
            "inference": {"default_mode": "local", "local_entry": "backend.py"},
            "content_scripts": [{"matches": ["*://shop.test/*"], "js": ["content.js"], "run_at": "document_end"}]}))
        (plugin / "backend.py").write_text("def run(payload):\n    return {'greeting': 'hi ' + payload['name']}\n")
        (plugin / "content.js").write_text(CONTENT_JS)
        self.config.write_text(f"""
[api]
port = {self.api_port}

[proxy]
port = {self.proxy_port}
hosts = {{"shop.test" = "127.0.0.1"}}
upstream_ca = "{origin_ca.ca_cert}"
""")
        import os

        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AIPLUGS_")}

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, "-c", str(self.config), *args], capture_output=True, text=True,
                              timeout=timeout, env=self.env, cwd=self.root, stdin=subprocess.DEVNULL)

    def counters(self) -> dict[str, float]:
        token = (self.root / ".aiplugs" / "admin.token").read_text().strip()
        request = urllib.request.Request(f"http://127.0.0.1:{self.api_port}/metrics",
                                         headers={"Authorization": f"Bearer {token}"})
        text = urllib.request.urlopen(request, timeout=10).read().decode()
        return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                if line.startswith("aiplugs_proxy_")}

    def profiles(self) -> list[Path]:
        folder = self.root / ".aiplugs" / "browser"
        return sorted(folder.iterdir()) if folder.exists() else []


@pytest.fixture(scope="module")
def system(tmp_path_factory, origin_ca):
    shop = Origin(origin_ca.server_context())
    other = Origin()
    root = tmp_path_factory.mktemp("browser-cmd")
    sys_ = System(root, origin_ca)
    sys_.shop, sys_.other = shop, other
    yield sys_
    sys_.cli("down", timeout=60)
    shop.close()
    other.close()


def dump_dom(system: System, url: str, *extra: str) -> subprocess.CompletedProcess:
    """``aiplugs browser URL`` with headless Chromium printing the page's DOM once it settled, then exiting."""
    return system.cli("browser", url, "--browser", CHROMIUM, "--auto-approve", *HEADLESS,
                      "--browser-arg=--dump-dom", "--browser-arg=--virtual-time-budget=15000", *extra, timeout=180)


def test_starts_the_system_and_shows_the_plugin_on_an_https_page(system):
    assert system.cli("status").returncode == 4  # nothing runs yet
    url = f"https://shop.test:{system.shop.port}/article"
    result = dump_dom(system, url)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "starting it first" in result.stderr
    assert "origin page /article" in result.stdout
    assert 'data-hello="ran"' in result.stdout and 'data-call="hi page"' in result.stdout, result.stdout[:2000]
    assert system.profiles() == []  # the throwaway profile is gone
    assert system.cli("status").returncode == 0


def test_unmatched_hosts_never_reach_the_proxy(system):
    before = system.counters()
    url = f"http://other.test:{system.other.port}/plain"
    result = dump_dom(system, url, "--browser-arg=--host-resolver-rules=MAP other.test 127.0.0.1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "origin page /plain" in result.stdout and "data-aiplugs" not in result.stdout
    assert system.counters() == before  # no request, no tunnel: the PAC sent it DIRECT

    matched = dump_dom(system, f"https://shop.test:{system.shop.port}/again")
    assert 'data-hello="ran"' in matched.stdout
    after = system.counters()
    assert after["aiplugs_proxy_tunnels_total"] > before["aiplugs_proxy_tunnels_total"]
    assert after["aiplugs_proxy_injected_pages_total"] == before["aiplugs_proxy_injected_pages_total"] + 1


def test_all_sends_unmatched_hosts_through_the_proxy_too(system):
    before = system.counters()
    result = system.cli("browser", "--all", f"http://127.0.0.1:{system.other.port}/x", "--browser", CHROMIUM,
                        *HEADLESS, "--browser-arg=--dump-dom", "--browser-arg=--virtual-time-budget=5000",
                        timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "origin page /x" in result.stdout
    assert system.counters()["aiplugs_proxy_requests_total"] > before["aiplugs_proxy_requests_total"]


def test_ctrl_c_closes_the_browser_and_removes_the_profile(system):
    proc = subprocess.Popen([*CLI, "-c", str(system.config), "browser", "--browser", CHROMIUM, *HEADLESS,
                             f"https://shop.test:{system.shop.port}/"], env=system.env, cwd=system.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        profile = wait_for(lambda: system.profiles(), timeout=60)[0]
        browsers = wait_for(lambda: [p for p in psutil.process_iter(["cmdline"])
                                     if f"--user-data-dir={profile}" in (p.info["cmdline"] or [])], timeout=60)
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not profile.exists()
    wait_for(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in browsers), timeout=20)


def test_pac_is_served_without_a_token_and_follows_the_rules(system):
    pac = urllib.request.urlopen(f"http://127.0.0.1:{system.api_port}/proxy.pac", timeout=10)
    assert pac.headers["Content-Type"] == "application/x-ns-proxy-autoconfig"
    text = pac.read().decode()
    assert f'"PROXY 127.0.0.1:{system.proxy_port}"' in text and '"shop.test": 1' in text
    status = json.loads(system.cli("status", "--json").stdout)
    assert status["pac_url"] == f"http://127.0.0.1:{system.api_port}/proxy.pac"
    forged = urllib.request.Request(f"http://127.0.0.1:{system.api_port}/proxy.pac", headers={"Host": "evil.test"})
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(forged, timeout=10)
    assert denied.value.code == 403

"""Page loads on a host no plugin matches, in a real browser: direct, through aiplugs' PAC setup, and through the
proxy for everything (``aiplugs browser --all``), side by side in the same run.

The browser is headless Debian Chromium (Playwright, ``/usr/bin/chromium``), one instance per setup, all three up
at once and used in turn, so drift on a shared machine hits each alike: in rounds whose orders are balanced (each
setup first, and right after each other one, equally often; ``_common.rounds``), with this process's garbage
collected between rounds, never during a timed load. Every load is a new tab in the browser's one long-lived
context, as a person opens pages (the PAC script is fetched once per context, ``FindProxyForURL`` runs per request;
the page is ``no-store``) of ``https://other.test:<port>/page`` from a local TLS origin in its own process; Chromium
maps ``other.test`` to 127.0.0.1 (``--host-resolver-rules``) and the proxy does too (``[proxy] hosts``), because
Chromium never sends a loopback address to a proxy. The daemon is the shipped example, started through ``aiplugs apply``.

- **PAC** (``--proxy-pac-url`` = the daemon's ``/proxy.pac``, as ``aiplugs browser`` starts it): the PAC answers
  ``DIRECT`` for a host no plugin matches, so the page must load as fast as direct. Goal: p50 <= 1.05x direct.
  The proxy's tunnel counter is read before and after the PAC browser's first loads (before the proxied
  browser starts): a PAC load that reached the proxy fails the run.
- **all** (``--proxy-server``, as ``aiplugs browser --all``): the proxy tunnels the unmatched host (CONNECT, no
  decryption). Reported, no goal: what the PAC setup saves.

    python benchmarks/bench_pac.py [--quick]
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    client_env, collector_between_rounds, example_project, print_table, rounds, self_signed, summary, write_json)
from benchmarks.bench_footprint import CLI  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
HOST = "other.test"
GOAL = 1.05
SETUPS = ("direct", "pac", "all")

ORIGIN = r"""
import http.server, ssl, sys
page = (b"<!doctype html><html><head><meta charset=utf-8><title>other</title></head><body>"
        + b"<p>an unmatched page with some text on it</p>" * 400 + b"</body></html>")

class Page(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(page)
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def _tunnels(api_port: int, token: str) -> float:
    request = urllib.request.Request(f"http://127.0.0.1:{api_port}/metrics",
                                     headers={"Authorization": f"Bearer {token}"})
    text = urllib.request.urlopen(request, timeout=10).read().decode()
    return sum(float(line.split()[1]) for line in text.splitlines()
               if line.startswith("aiplugs_proxy_tunnels_total"))


def _load_ms(context: Any, url: str) -> float:
    """One navigation in a new tab of ``context``, timed to its ``load`` event."""
    page = context.new_page()
    try:
        start = time.perf_counter()
        response = page.goto(url, wait_until="load", timeout=30_000)
        ms = (time.perf_counter() - start) * 1000
        if response is None or response.status != 200:
            raise RuntimeError(f"{url} answered {response and response.status}")
        return ms
    finally:
        page.close()


def measure(loads: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="aiplugs-bench-pac-"))
    self_signed(work, (HOST,))
    origin = subprocess.Popen([sys.executable, "-c", ORIGIN, str(work / "cert.pem"), str(work / "key.pem")],
                              stdout=subprocess.PIPE, text=True)
    config = example_project(work / "project", {HOST: "127.0.0.1"})
    run = lambda *args: subprocess.run([*CLI, "-c", str(config), *args], cwd=config.parent, env=client_env(),  # noqa: E731
                                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    try:
        url = f"https://{HOST}:{int(origin.stdout.readline())}/page"  # type: ignore[union-attr]
        applied = run("apply", "--auto-approve")
        if applied.returncode != 0:
            raise RuntimeError(f"aiplugs apply failed:\n{applied.stdout[-2000:]}\n{applied.stderr[-2000:]}")
        status = json.loads((lambda out: out[out.index("{"):])(run("status", "--json").stdout))
        api_port, proxy = status["api"]["port"], status["proxy"]
        token = (config.parent / ".aiplugs" / "admin.token").read_text().strip()
        common = ["--ignore-certificate-errors", f"--host-resolver-rules=MAP {HOST} 127.0.0.1"]
        args = {"direct": common, "pac": [*common, f"--proxy-pac-url={status['pac_url']}"],
                "all": [*common, f"--proxy-server=http://{proxy['host']}:{proxy['port']}"]}
        times: dict[str, list[float]] = {name: [] for name in SETUPS}
        with sync_playwright() as pw:
            launch = lambda name: pw.chromium.launch(  # noqa: E731
                executable_path=CHROMIUM, headless=True, args=args[name]).new_context(ignore_https_errors=True)
            browsers = {}
            try:
                # Warm the direct and PAC browsers (and the PAC fetch) before timing; until then the proxy must
                # not see one tunnel. The proxied browser starts only after that check: Chromium's own background
                # requests at start would go through its proxy and count.
                before = _tunnels(api_port, token)
                for name in ("direct", "pac"):
                    browsers[name] = launch(name)
                    for _ in range(3):
                        _load_ms(browsers[name], url)
                tunnels_by_pac = _tunnels(api_port, token) - before
                browsers["all"] = launch("all")
                for _ in range(3):
                    _load_ms(browsers["all"], url)
                order = rounds(SETUPS)  # each setup first, and after each other one, equally often
                with collector_between_rounds() as between:
                    for i in range(loads):
                        for name in order(i):
                            times[name].append(_load_ms(browsers[name], url))
                        between()
            finally:
                for context in browsers.values():
                    context.browser.close()
        tunnels_by_all = _tunnels(api_port, token)
    finally:
        run("down")
        origin.kill()
        origin.wait()
        shutil.rmtree(work, ignore_errors=True)
    return digest(times, tunnels_by_pac, tunnels_by_all, loads)


def digest(times: dict[str, list[float]], tunnels_by_pac: float, tunnels_total: float, loads: int) -> dict[str, Any]:
    """Load times per setup → p50/p99, the two ratios against direct and the verdict (no side effects)."""
    stats = {name: summary(values) for name, values in times.items()}
    direct = stats["direct"]["p50"]
    result = {
        "loads": loads, "url_host": HOST, **{f"{name}_ms": stats[name] for name in SETUPS},
        "pac_ratio": stats["pac"]["p50"] / direct, "all_ratio": stats["all"]["p50"] / direct,
        "pac_vs_all_ratio": stats["pac"]["p50"] / stats["all"]["p50"],
        "pac_loads_through_proxy": tunnels_by_pac, "proxy_tunnels_total": tunnels_total,
        "goal": {"pac_ratio": GOAL},
    }
    result["goal_met"] = result["pac_ratio"] <= GOAL and tunnels_by_pac == 0 and tunnels_total > 0
    return result


def run(quick: bool = False) -> dict[str, Any]:
    return measure(loads=30 if quick else 100)


def report(result: dict[str, Any]) -> None:
    rows = [{"setup": name, "p50 ms": result[f"{name}_ms"]["p50"], "p99 ms": result[f"{name}_ms"]["p99"],
             "mean ms": result[f"{name}_ms"]["mean"],
             "/ direct": result[f"{name}_ms"]["p50"] / result["direct_ms"]["p50"]} for name in SETUPS]
    print_table(f"page load of an unmatched https host in Chromium, {result['loads']} tabs each", rows)
    print(f"\nPAC / direct: {result['pac_ratio']:.3f}x (goal <= {GOAL}); --all / direct: {result['all_ratio']:.3f}x; "
          f"PAC loads that reached the proxy: {result['pac_loads_through_proxy']:.0f} (goal 0)")
    print(f"goals met: {result['goal_met']}")


def main(argv: list[str]) -> int:
    result = run(quick="--quick" in argv)
    report(result)
    print(f"wrote {write_json('pac', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


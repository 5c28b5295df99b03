"""An idle daemon leaves out what no one asked for yet: the web dashboard (Jinja2 and its modules) loads on the
first dashboard request, the package installer on the first install, ``filelock`` not at all (store/flock.py),
``jsonschema`` on the first call of a tool with an input schema (the manifests' plain schemas are checked without
it), ``fsspec`` not for models whose source is a local path (the example's are), ``packaging.requirements`` only
for plugins with requirements, prometheus_client's text exposition (and the HTTP servers its module imports) on the
first scrape of ``/metrics``, tomlkit (value positions, edits of ``aiplugs.toml``) with the first error to point at
or suggestion to preview, and the ``websockets`` library not at all (the router speaks WebSocket through
``wsproto``, which mitmproxy loads anyway).

A real daemon of the shipped example, started by ``aiplugs apply`` with ``-X importtime`` on (PYTHONPROFILEIMPORTTIME):
its log lists every module as it is imported, so the test reads what the daemon imported and when."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

IDLE_ABSENT = ("jinja2", "markupsafe", "aiplugs.adapters.router.dashboard.render", "aiplugs.runtime._install_steps",
               "aiplugs.runtime.installs", "filelock", "jsonschema", "referencing", "rpds", "fsspec",
               "packaging.requirements", "aiplugs.adapters.packages", "tarfile", "websockets",
               "prometheus_client.exposition", "wsgiref", "http.server", "urllib.request", "tomlkit",
               "aiplugs.declaration.edit", "pyparsing.core")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def imported(log: Path) -> set[str]:
    """The modules ``-X importtime`` reported in the daemon's log so far."""
    found = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)\s*$", log.read_text(errors="replace"), re.M)
    return set(found)


@pytest.fixture
def daemon(project: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> Iterator[Path]:
    config = project / "aiplugs.toml"
    text = config.read_text()
    text = text.replace("port_range = [5000, 5100]", f"port = {_free_port()}", 1)
    text = text.replace("port_range = [8080, 8180]", f"port = {_free_port()}", 1)
    config.write_text(text)
    env = {"PYTHONPROFILEIMPORTTIME": "1"}
    applied = run_cli("-c", str(config), "apply", "--auto-approve", cwd=project, env=env, timeout=240)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    try:
        yield project
    finally:
        run_cli("-c", str(config), "down", cwd=project, env=env, timeout=120)


def get(project: Path, path: str, body: dict[str, Any] | None = None) -> tuple[int, str, str]:
    """GET ``path`` with the admin token, or POST ``body`` as JSON with the page token."""
    state = project / ".aiplugs"
    port = int(re.findall(r"^port = (\d+)", (project / "aiplugs.toml").read_text(), re.M)[0])  # [api] comes first
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    if body is None:
        token = (state / "admin.token").read_text().strip()
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}", "Accept": "text/html"})
    else:
        token = (state / "page.token").read_text().strip()
        conn.request("POST", path, json.dumps(body), {"X-AIPlugs-Token": token, "Content-Type": "application/json"})
    answer = conn.getresponse()
    body = answer.read().decode("utf-8", "replace")
    conn.close()
    return answer.status, answer.getheader("Content-Type") or "", body


def test_an_idle_daemon_loads_the_dashboard_on_its_first_request(daemon: Path) -> None:
    log = daemon / ".aiplugs" / "logs" / "daemon.log"
    before = imported(log)
    assert "aiplugs.runtime.daemon" in before or "aiplugs.runtime.system" in before, "no importtime lines in the log"
    assert {"mitmproxy.master", "aiplugs.adapters.router.dashboard.routes"} <= before  # serving, routes in place
    assert not set(IDLE_ABSENT) & before, sorted(set(IDLE_ABSENT) & before)
    assert re.search(r"aiplugs daemon \d+: api on 127\.0\.0\.1:\d+ \(uvloop\)", log.read_text())  # its loop
    # the daemon owns its process: what the first apply built is out of the collector's reach (settle_heap)
    frozen = re.findall(r"first apply done: (\d+) objects kept out of garbage collection", log.read_text())
    assert len(frozen) == 1 and int(frozen[0]) > 10_000, frozen  # mitmproxy, the router, ... (~87,000)

    status, kind, body = get(daemon, "/")
    assert status == 200 and kind.startswith("text/html"), (status, kind, body[:500])
    assert "word-count" in body  # the overview of the running daemon
    after = imported(log)
    # (a module imported through importlib.import_module gets no line of its own, its imports do)
    assert {"jinja2", "aiplugs.adapters.router.dashboard.core", "aiplugs.adapters.router.dashboard.views"} <= after

    status, kind, body = get(daemon, "/ui/plugins")  # the next pages are served by the same dashboard
    assert status == 200 and "sentiment" in body
    status, _, _ = get(daemon, "/ui/static/dashboard.css")
    assert status == 200

    assert not {"jsonschema", "fsspec"} & imported(log)  # the dashboard does not need them either


def test_an_idle_daemon_loads_jsonschema_on_the_first_tool_call(daemon: Path) -> None:
    log = daemon / ".aiplugs" / "logs" / "daemon.log"
    assert (daemon / "models" / "sentiment-lexicon-v1.tsv").is_file()  # pulled from the plugin folder, no fsspec
    assert not set(IDLE_ABSENT) & imported(log), sorted(set(IDLE_ABSENT) & imported(log))

    status, _, body = get(daemon, "/v1/plugins/word-count/run", {"text": "one two three"})
    assert status == 200 and json.loads(body)["words"] == 3, (status, body)
    assert "jsonschema" in imported(log)  # the tool's validator, compiled on its first call
    status, _, body = get(daemon, "/v1/plugins/word-count/run", {"text": 3})
    assert status == 422 and json.loads(body)["error"]["type"] == "invalid_input", (status, body)
    assert "fsspec" not in imported(log)


def test_an_idle_daemon_loads_the_metrics_exposition_on_the_first_scrape(daemon: Path) -> None:
    log = daemon / ".aiplugs" / "logs" / "daemon.log"
    assert "prometheus_client.metrics" in imported(log)  # the router's series exist from the start
    assert not set(IDLE_ABSENT) & imported(log), sorted(set(IDLE_ABSENT) & imported(log))

    status, kind, body = get(daemon, "/metrics")
    assert status == 200 and kind.startswith("text/plain; version="), (status, kind)
    assert 'aiplugs_workers_ready{plugin="word-count"}' in body, body[:2000]
    assert "prometheus_client.exposition" in imported(log)
    assert "websockets" not in imported(log)

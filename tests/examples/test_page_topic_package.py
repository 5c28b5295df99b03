"""page-topic published as a package, end to end: packed with aiplugs' own ``pack``, served by a local HTTP origin,
declared by URL in a fresh project, and ``aiplugs apply`` installs it, pins it in aiplugs.lock, provisions its model
through the model store (sha256-checked), builds its numpy environment from the package registry and starts its
worker there; calls through the daemon and a page in a real browser then get the topic.

The steps run in order against one system (module-scoped), as a person would.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import tomllib
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ..e2e.conftest import launch_chromium
from ..support import pid_alive
from .test_page_topic import PLUGIN, new_project

pytestmark = pytest.mark.e2e

COOKING = ("Whisk two eggs with a spoon of sugar, fold in the flour and melted butter, then bake the batter in a "
           "hot oven until the cake is golden.")
PROGRAMMING = "The function parses the JSON response and raises an exception when a field is missing; fix the bug."
# A site's navigation with more finance words than the article has cooking words: read whole, the page is finance.
NAV = ["Stock market", "Interest rates", "Bonds", "Investors", "Bank loans", "Dividends", "Mortgage", "Savings",
       "Shares", "Inflation", "Credit", "Debt", "Funds", "Tax", "Pension", "Budget", "Earnings", "Exchange rate",
       "Revenue", "Portfolio", "Retirement", "Loans", "Insurance", "Economy"]
STORY = ("A lemon cake for Sunday", COOKING,
         "Squeeze the lemons, simmer the juice with sugar and spoon the warm syrup over the cake before serving.")
ARTICLE = ('<!doctype html><html><head><meta charset="utf-8"><title>Lemon cake</title></head><body><nav>'
           + "".join(f'<li><a href="/{i}">{item}</a></li>' for i, item in enumerate(NAV))
           + f"</nav><article><h1>{STORY[0]}</h1><p>{STORY[1]}</p><p>{STORY[2]}</p></article></body></html>")


class _Files(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory):
    """A local HTTP origin serving a folder (``files``): the package and a page."""
    files = tmp_path_factory.mktemp("origin")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Files, directory=str(files)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield files, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, origin):
    """page-topic 1.0.0 packed and served, declared by URL, and ``apply`` run once: the project, the package, the
    URL and apply's output."""
    from aiplugs.adapters.packages import pack

    files, base = origin
    packed = pack(PLUGIN, files)
    url = f"{base}/{packed.path.name}"
    project = new_project(tmp_path_factory.mktemp("page-topic") / "project")
    project.write_config(extra=f'\n[plugins.page-topic]\nsource = "{url}"\n')
    try:
        applied = project.cli("apply", "--auto-approve", timeout=600, check=True)  # numpy comes from the registry
        yield {"project": project, "packed": packed, "url": url, "applied": applied}
    finally:
        project.cli("down", timeout=60)
        for pid_file in project.state_dir.glob("daemon.pid"):
            if pid_alive(pid := int(pid_file.read_text())):
                os.kill(pid, signal.SIGKILL)



def test_apply_installs_the_package_its_model_and_its_environment(system) -> None:
    project, packed, url = system["project"], system["packed"], system["url"]
    assert (packed.plugin_id, packed.version, packed.path.name) == ("page-topic", "1.0.0", "page-topic-1.0.0.zip")
    assert f"+ package page-topic  (install from {url})" in system["applied"].stdout
    assert "Apply complete" in system["applied"].stdout
    status = project.status()
    assert status["healthy"], status
    row = next(p for p in status["plugins"] if p["id"] == "page-topic")
    assert row["state"] == "ready" and row["workers_ready"] == 1 and row["python_env"]
    python = project.state_dir / "envs" / row["python_env"] / "bin" / "python"
    assert subprocess.run([python, "-c", "import numpy"], timeout=60).returncode == 0  # built from requirements

    lock = tomllib.loads((project.root / "aiplugs.lock").read_text())["plugins"]["page-topic"]
    assert (lock["source"], lock["version"], lock["sha256"], lock["size"]) == (url, "1.0.0", packed.sha256,
                                                                               packed.size)
    wanted = json.loads((PLUGIN / "manifest.json").read_text())["inference"]["models"][0]
    assert lock["models"] == {wanted["filename"]: wanted["sha256"]}
    model = next(m for m in status["models"] if m["filename"] == wanted["filename"])
    assert model["state"] == "ready"
    assert hashlib.sha256(Path(model["path"]).read_bytes()).hexdigest() == wanted["sha256"]


def test_calls_through_the_daemon_name_the_topic(system) -> None:
    from aiplugs.client import DaemonClient

    client = DaemonClient.find(system["project"].state_dir)
    reply = client.call("page-topic", {"text": COOKING})
    assert reply["topic"] == "cooking" and sum(reply["scores"].values()) == pytest.approx(1.0, abs=1e-3)
    batch = client.call("page-topic", {"texts": [PROGRAMMING, COOKING]})
    assert [r["topic"] for r in batch["results"]] == ["programming", "cooking"]


async def test_a_page_through_the_proxy_shows_its_topic(system, origin) -> None:
    """The content script reads the article (not the navigation, whose words name other topics) and shows the badge."""
    from aiplugs.client import DaemonClient

    whole = DaemonClient.find(system["project"].state_dir).call("page-topic", {"text": " ".join([*NAV, *STORY])})
    assert whole["topic"] == "finance"  # so a cooking badge means the script left the navigation out
    files, base = origin
    (files / "lemon-cake.html").write_text(ARTICLE)
    async with launch_chromium(("127.0.0.1", system["project"].proxy_port)) as browser:
        page = await browser.new_page()
        response = await page.goto(f"{base}/lemon-cake.html")
        assert response is not None and response.ok
        badge = page.locator("#aiplugs-page-topic")
        await badge.wait_for(timeout=20_000)
        assert await badge.get_attribute("data-topic") == "cooking"
        assert (await badge.text_content()).startswith("Topic: cooking · ")
        assert await page.evaluate("document.documentElement.dataset.aiplugsPageTopic") == "cooking"


def test_apply_again_changes_nothing_and_down_stops_it(system) -> None:
    project = system["project"]
    assert "No changes." in project.cli("apply", "--auto-approve", timeout=120, check=True).stdout
    assert "Stopped the aiplugs daemon" in project.cli("down", timeout=60, check=True).stdout

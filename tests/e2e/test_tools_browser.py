"""Named tools and page events in real headless Chromium: browser -> aiplugs proxy -> a local origin, and the page's
content scripts -> the same-origin API path -> the real router -> real worker processes and the event hub.

A content script streams a tool's items onto its page (``aiplugs.stream(..., {tool})``), another listens to a
topic its backend publishes from a tool the page calls (``aiplugs.on``), and a third shows the field path of a
422. One system per module; each test opens its own page.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from aiplugs.adapters.plugin_events import PluginEvents
from aiplugs.adapters.proxy import ProxyServer
from aiplugs.adapters.router import RouterContext, RouterServer
from aiplugs.adapters.workers import WorkerManager
from aiplugs.events import EventBus
from aiplugs.plan import load_desired_state

from .conftest import launch_chromium, start_app

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

ADMIN, PAGE = "admin-e2e", "page-e2e"
BACKEND = '''
import time


def run(payload):
    return payload


def words(payload):
    for i, word in enumerate(payload["text"].split()):
        if i:
            time.sleep(0.2)  # items apart in time: the page must see them arrive one by one
        yield {"i": i, "word": word}


def announce(payload, ctx):
    ctx.publish("news", {"headline": payload["headline"]})
    return "announced"


def label(payload):
    return ", ".join(item["name"] for item in payload["items"])
'''
STREAM_JS = """
var list = document.createElement("ol");
list.id = "items";
document.body.appendChild(list);
window.aiplugs.stream("toolbox", {text: "alpha beta gamma delta"}, function (e) {
  var li = document.createElement("li");
  li.textContent = e.data.word;
  li.setAttribute("data-at", String(performance.now()));
  list.appendChild(li);
}, {tool: "words"}).then(function (last) {
  document.documentElement.dataset.done = JSON.stringify(last);
}, function (e) { document.documentElement.dataset.done = "error: " + e.message; });
"""
EVENTS_JS = """
window.aiplugs.on("toolbox/news", function (ev) {
  var p = document.createElement("p");
  p.className = "news";
  p.textContent = ev.data.headline;
  p.setAttribute("data-event", JSON.stringify({type: ev.type, source: ev.source, time: typeof ev.time}));
  document.body.appendChild(p);
});
// our own publish comes back once the subscriptions before it are in force: then ask the backend to publish
var off = window.aiplugs.on("toolbox/ready", function () {
  off();
  window.aiplugs.call("toolbox", {headline: "Backend says hello"}, {tool: "announce"}).then(function (r) {
    document.documentElement.dataset.announced = JSON.stringify(r);
  });
});
window.aiplugs.publish("toolbox/ready", {});
"""
INVALID_JS = """
window.aiplugs.call("toolbox", {items: [{name: "a"}, {name: "b"}, {name: 3}]}, {tool: "label"}).then(function (r) {
  document.documentElement.dataset.invalid = "accepted: " + JSON.stringify(r);
}, function (e) {
  var p = document.createElement("p");
  p.id = "invalid";
  p.textContent = e.message;
  p.setAttribute("data-status", String(e.status));
  p.setAttribute("data-errors", JSON.stringify(e.errors));
  document.body.appendChild(p);
});
"""
SCRIPTS = {"stream": STREAM_JS, "events": EVENTS_JS, "invalid": INVALID_JS}
MANIFEST = {
    "manifest_version": 3, "id": "toolbox", "name": "Toolbox", "version": "1.0.0",
    "inference": {"default_mode": "local", "local_entry": "backend.py"},
    "tools": [
        {"name": "words", "description": "streams the words of a text",
         "input_schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}},
        {"name": "announce", "description": "publishes toolbox/news",
         "input_schema": {"type": "object", "required": ["headline"],
                          "properties": {"headline": {"type": "string"}}}},
        {"name": "label", "description": "joins item names", "input_schema": {
            "type": "object", "properties": {"items": {"type": "array", "items": {
                "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}}},
    ],
    "content_scripts": [{"matches": [f"*://localhost/{name}*"], "js": [f"{name}.js"], "run_at": "document_end"}
                        for name in SCRIPTS],
}


def write_project(root: Path) -> Path:
    folder = root / "plugins" / "toolbox"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(MANIFEST))
    (folder / "backend.py").write_text(BACKEND)
    for name, code in SCRIPTS.items():
        (folder / f"{name}.js").write_text(code)
    (root / "models").mkdir()
    config = root / "aiplugs.toml"
    config.write_text('plugins_dir = "plugins"\nmodels_dir = "models"\nstate_dir = ".aiplugs"\n')
    return config


def origin_app() -> web.Application:
    async def page(request: web.Request) -> web.Response:
        body = f"<!doctype html><html><head><meta charset=utf-8><title>{request.path}</title></head><body></body></html>"
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    for name in SCRIPTS:
        app.router.add_get(f"/{name}", page)
    return app


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(tmp_path_factory) -> Any:
    root = tmp_path_factory.mktemp("project")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIPLUGS_")}
    _, desired = load_desired_state(write_project(root), env=env)
    bus = EventBus()
    manager = WorkerManager(desired.state_dir, events=bus, grace_s=3.0)
    hub = PluginEvents(manager.deliver, manager.wait_serving, events=bus)  # wired as the daemon wires it
    manager.on_publish = lambda plugin_id, topic, data: hub.emit(topic, data, source=plugin_id)
    hub.set_plugins(desired.plugins)
    ctx = RouterContext(workers=manager, events=bus, admin_token=ADMIN, page_token=PAGE, desired=desired,
                        max_body_bytes=desired.max_body_bytes, plugin_events=hub)
    router = RouterServer(ctx, graceful_s=1.0)
    proxy = None
    origin = await start_app(origin_app(), host="localhost")
    try:
        for spec in desired.workers:
            for index in range(spec.count):
                await manager.start(spec, index)
        for route in desired.routes:
            ctx.set_route(route)
        await router.start("127.0.0.1", 0)
        proxy = ProxyServer(desired.proxy, confdir=tmp_path_factory.mktemp("confdir"),
                            api_address=("127.0.0.1", router.port), page_token=PAGE)  # type: ignore[arg-type]
        await proxy.start("127.0.0.1", 0)
        async with launch_chromium(proxy.address) as browser:
            context = await browser.new_context()
            yield {"origin": f"http://localhost:{origin.port}", "context": context, "hub": hub, "router": router}
            await context.close()
    finally:
        if proxy is not None:
            await proxy.stop()
        await origin.close()
        await router.stop()
        await hub.close()
        await manager.close()
        shutil.rmtree(root, ignore_errors=True)


async def open_page(system, path: str):
    page = await system["context"].new_page()
    response = await page.goto(system["origin"] + path)
    assert response is not None and response.ok, path
    return page


async def test_a_streaming_tool_renders_each_item_as_it_arrives(system) -> None:
    page = await open_page(system, "/stream")
    await page.wait_for_function("document.documentElement.dataset.done !== undefined", timeout=15_000)
    assert json.loads(await page.evaluate("document.documentElement.dataset.done")) == {"i": 3, "word": "delta"}
    items = await page.locator("#items li").all()
    assert [await li.text_content() for li in items] == ["alpha", "beta", "gamma", "delta"]
    times = [float(await li.get_attribute("data-at")) for li in items]
    assert times[-1] - times[0] >= 400  # streamed through proxy and router, not buffered until the end (~600 ms)
    await page.close()


def page_subscriptions(system) -> list[str]:
    return [name for name in system["hub"].stats() if name.startswith("page#")]


async def test_a_page_renders_what_its_backend_publishes(system) -> None:
    page = await open_page(system, "/events")
    news = page.locator("p.news")
    await news.wait_for(timeout=15_000)
    assert await news.text_content() == "Backend says hello"
    assert json.loads(await news.get_attribute("data-event")) == {"type": "toolbox/news", "source": "toolbox",
                                                                  "time": "number"}
    assert await page.evaluate("document.documentElement.dataset.announced") == '"announced"'
    assert len(page_subscriptions(system)) == 1  # one socket for the page, whatever it listens to
    await page.close()


async def test_the_page_resubscribes_when_its_socket_reconnects(system) -> None:
    page = await open_page(system, "/events")
    await page.locator("p.news").wait_for(timeout=15_000)
    before = set(page_subscriptions(system))
    await system["router"].app.state.event_sockets.close_all()  # as a router restart would
    deadline = asyncio.get_running_loop().time() + 15
    while not set(page_subscriptions(system)) - before:
        assert asyncio.get_running_loop().time() < deadline, "the page did not reconnect"
        await asyncio.sleep(0.05)
    await page.evaluate('window.aiplugs.call("toolbox", {headline: "Still here"}, {tool: "announce"})')
    await page.locator("p.news").nth(1).wait_for(timeout=15_000)
    assert await page.locator("p.news").all_text_contents() == ["Backend says hello", "Still here"]
    await page.close()


async def test_a_422_shows_the_field_path_on_the_page(system) -> None:
    page = await open_page(system, "/invalid")
    invalid = page.locator("#invalid")
    await invalid.wait_for(timeout=15_000)
    assert await invalid.text_content() == "items[2].name: must be of type string (got 3)"
    assert await invalid.get_attribute("data-status") == "422"
    assert json.loads(await invalid.get_attribute("data-errors")) == [
        {"path": "items[2].name", "message": "must be of type string (got 3)"}]
    await page.close()

"""GET /v1/plugins/{id}/assets/{path}: only declared content scripts, never outside the plugin folder."""

from __future__ import annotations

import os


async def test_declared_js_and_css_are_served(router):
    r = await router.client.get("/v1/plugins/word-count/assets/content.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert "aiplugs-word-count" in r.text and r.headers["x-content-type-options"] == "nosniff"
    r = await router.client.get("/v1/plugins/word-count/assets/content.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")


async def test_undeclared_and_traversal_are_404(router):
    for path in ("secret.txt", "backend.py", "manifest.json", "../word-count/content.js", "..%2f..%2faiplugs.toml",
                 "%2e%2e/%2e%2e/aiplugs.toml"):
        r = await router.client.get(f"/v1/plugins/echo/assets/{path}")
        # a literal ../ is normalised away by the client into another (token-protected) route
        assert r.status_code in ((401, 404) if path.startswith("../") else (404,)), path
    r = await router.client.get("/v1/plugins/nope/assets/content.js")
    assert r.status_code == 404


async def test_symlink_out_of_the_folder_is_404(router, tmp_path):
    plugin_dir = router.ctx.desired.plugin("echo").dir
    outside = tmp_path / "outside.js"
    outside.write_text("stolen")
    os.replace(plugin_dir / "content.js", plugin_dir / "real.js")
    os.symlink(outside, plugin_dir / "content.js")
    r = await router.client.get("/v1/plugins/echo/assets/content.js")
    assert r.status_code == 404 and "stolen" not in r.text


async def test_raw_dot_dot_path_is_not_normalised_into_a_file(router):
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(f"GET /v1/plugins/echo/assets/../../../aiplugs.toml HTTP/1.1\r\nHost: 127.0.0.1:{router.port}\r\n"
                 "Connection: close\r\n\r\n".encode())
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert response.startswith(b"HTTP/1.1 404") and b"plugins_dir" not in response

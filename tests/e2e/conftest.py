"""Generic fixtures for end-to-end tests: real HTTP/HTTPS origins, a test CA, and headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``) driven by Playwright for Python. Two things make a browser really go
through a local proxy for local origins: ``<-loopback>`` in the bypass list (Chromium bypasses proxies for
localhost/127.0.0.1 by default) and QUIC off (so HTTPS is never tried over UDP around the proxy).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest

from tests.adapters.proxy.servers import OriginCA, Server, StandInRouter, make_test_ca, start_app

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "OriginCA", "Server", "StandInRouter", "launch_chromium", "start_app"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--proxy-bypass-list=<-loopback>"]


@pytest.fixture(scope="session")
def origin_ca(tmp_path_factory: pytest.TempPathFactory) -> OriginCA:
    """A CA (and a leaf for localhost, 127.0.0.1 and *.test) for HTTPS origins; not the proxy's CA."""
    return make_test_ca(tmp_path_factory.mktemp("origin-ca"))


@asynccontextmanager
async def launch_chromium(proxy: tuple[str, int] | None = None, **launch: Any) -> AsyncIterator[Any]:
    """A headless Chromium (Playwright ``Browser``), through ``proxy`` when given."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        options: dict[str, Any] = {"executable_path": CHROMIUM, "headless": True, "args": list(CHROMIUM_ARGS)}
        if proxy is not None:
            options["proxy"] = {"server": f"http://{proxy[0]}:{proxy[1]}", "bypass": "<-loopback>"}
        options.update(launch)
        browser = await pw.chromium.launch(**options)
        try:
            yield browser
        finally:
            await browser.close()

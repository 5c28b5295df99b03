"""RouterServer: embedded in the running loop, clear error on a taken port, clean stop."""

from __future__ import annotations

import socket

import httpx
import pytest

from aiplugs.errors import AiplugsError
from aiplugs.adapters.router import RouterServer


async def test_taken_port_is_an_aiplugs_error(router):
    other = RouterServer(router.ctx)
    with pytest.raises(AiplugsError, match=f"cannot listen on 127.0.0.1:{router.port}"):
        await other.start("127.0.0.1", router.port)


async def test_stop_frees_the_port_and_start_again(router):
    port = router.port
    await router.server.stop()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))  # free again
    again = RouterServer(router.ctx)
    await again.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{again.url}/api/health")).status_code == 200
    finally:
        await again.stop()


async def test_the_same_server_object_restarts_after_stop(router):
    await router.server.stop()
    await router.server.start("127.0.0.1", 0)
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{router.server.url}/v1/plugins/echo/run", json={"x": 1},
                              headers=router.page())
        assert r.status_code == 200 and r.json()["echo"] == {"x": 1}

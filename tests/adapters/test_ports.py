"""Port picking against real sockets on 127.0.0.1 (ephemeral ports only)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from ..support import free_port

from aiplugs.errors import AiplugsError
from aiplugs.adapters.ports import is_free, pick_port
from aiplugs.plan import EndpointSpec


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]




def test_is_free(busy_port: int) -> None:
    assert not is_free("127.0.0.1", busy_port)
    assert is_free("127.0.0.1", free_port())


def test_fixed_port_is_returned_as_is(busy_port: int) -> None:
    assert pick_port(EndpointSpec("127.0.0.1", busy_port, (1, 2))) == busy_port


def test_previous_port_is_kept_while_free() -> None:
    port = free_port()
    spec = EndpointSpec("127.0.0.1", None, (port - 5, port + 5))
    assert pick_port(spec, previous=port) == port
    assert pick_port(spec, previous=port, avoid=frozenset({port})) != port


def test_busy_or_out_of_range_previous_falls_back_to_range(busy_port: int) -> None:
    spec = EndpointSpec("127.0.0.1", None, (busy_port, busy_port + 20))
    chosen = pick_port(spec, previous=busy_port)
    assert chosen != busy_port and busy_port < chosen <= busy_port + 20
    assert is_free("127.0.0.1", chosen)
    assert pick_port(spec, previous=1) != 1


def test_exhausted_range_says_what_to_do(busy_port: int) -> None:
    spec = EndpointSpec("127.0.0.1", None, (busy_port, busy_port))
    with pytest.raises(AiplugsError, match=f"no free port on 127.0.0.1 in {busy_port}-{busy_port}"):
        pick_port(spec)
    port = free_port()
    with pytest.raises(AiplugsError):
        pick_port(EndpointSpec("127.0.0.1", None, (port, port)), avoid=frozenset({port}))

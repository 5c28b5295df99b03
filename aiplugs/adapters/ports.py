"""Choosing listening ports: a fixed port, or the first free one in a range, kept stable across restarts."""

from __future__ import annotations

import errno
import socket

from ..errors import AiplugsError
from ..plan import EndpointSpec

__all__ = ["is_free", "pick_port"]


def is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def pick_port(spec: EndpointSpec, previous: int | None = None, avoid: frozenset[int] = frozenset()) -> int:
    """The fixed port; else ``previous`` while it is still in range and free; else the first free in range."""
    if spec.port is not None:
        return spec.port
    low, high = spec.port_range
    if previous is not None and low <= previous <= high and previous not in avoid and is_free(spec.host, previous):
        return previous
    for port in range(low, high + 1):
        if port not in avoid and is_free(spec.host, port):
            return port
    raise AiplugsError(f"no free port on {spec.host} in {low}-{high}; widen port_range or set a fixed port")

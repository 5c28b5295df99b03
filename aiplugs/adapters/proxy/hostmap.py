"""``proxy.hosts``: connect to another address for some host names, like ``/etc/hosts`` for the proxy alone.

Develop a plugin against a local server under the real site's name (``{"shop.example" = "127.0.0.1"}``): the
browser asks for ``shop.example``, the page keeps its name (Host header, TLS SNI, certificate checks), and only the
TCP connection goes elsewhere. A plain mitmproxy addon on the ``server_connect`` and ``requestheaders`` hooks;
it must come before the injection addon.
"""

from __future__ import annotations

from typing import Iterable

__all__ = ["HostMap"]


class HostMap:
    def __init__(self, hosts: Iterable[tuple[str, str]] = ()) -> None:
        self.set_hosts(hosts)

    def set_hosts(self, hosts: Iterable[tuple[str, str]]) -> None:
        self.hosts = {name.lower().rstrip("."): address for name, address in hosts}  # one assignment: hot swap

    def server_connect(self, data) -> None:
        server = data.server
        if server.address is None:
            return
        host, port = server.address
        address = self.hosts.get(str(host).lower().rstrip("."))
        if address is None:
            return
        if server.sni is None:
            server.sni = host  # TLS still names the site, not the address
        server.address = (address, port)

    def requestheaders(self, flow) -> None:
        """Inside a decrypted tunnel mitmproxy names the request's host after the connection's address; put the
        site's name back (before the injection addon reads it), so rules, logs and CSP origins see the site."""
        request, name = flow.request, flow.server_conn.sni
        if name and self.hosts.get(name.lower().rstrip(".")) == request.host:
            request.host = name

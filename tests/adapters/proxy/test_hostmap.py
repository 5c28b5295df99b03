"""proxy.hosts: the HostMap addon with mitmproxy's own test flows (no network)."""

from __future__ import annotations

from mitmproxy.proxy import server_hooks
from mitmproxy.test import tflow

from aiplugs.adapters.proxy.hostmap import HostMap


def connect(hostmap: HostMap, address: tuple[str, int], sni: str | None = None):
    flow = tflow.tflow()
    flow.server_conn.address = address
    flow.server_conn.sni = sni
    hostmap.server_connect(server_hooks.ServerConnectionHookData(flow.server_conn, flow.client_conn))
    return flow


def test_mapped_names_connect_elsewhere_and_keep_their_name_for_tls() -> None:
    hostmap = HostMap([("shop.test", "127.0.0.1")])
    flow = connect(hostmap, ("Shop.Test.", 8443))
    assert flow.server_conn.address == ("127.0.0.1", 8443)
    assert flow.server_conn.sni == "Shop.Test."
    kept = connect(hostmap, ("shop.test", 443), sni="shop.test")
    assert kept.server_conn.sni == "shop.test" and kept.server_conn.address == ("127.0.0.1", 443)


def test_other_names_are_left_alone_and_swaps_are_whole() -> None:
    hostmap = HostMap([("shop.test", "127.0.0.1")])
    assert connect(hostmap, ("example.org", 443)).server_conn.address == ("example.org", 443)
    hostmap.set_hosts([("example.org", "10.0.0.5")])
    assert connect(hostmap, ("shop.test", 443)).server_conn.address == ("shop.test", 443)
    assert connect(hostmap, ("example.org", 443)).server_conn.address == ("10.0.0.5", 443)


def test_a_request_in_a_mapped_tunnel_gets_the_site_name_back() -> None:
    hostmap = HostMap([("shop.test", "127.0.0.1")])
    flow = tflow.tflow()
    flow.server_conn.sni = "shop.test"
    flow.request.host, flow.request.port = "127.0.0.1", 8443
    hostmap.requestheaders(flow)
    assert flow.request.host == "shop.test"
    other = tflow.tflow()
    other.server_conn.sni = "example.org"
    other.request.host = "127.0.0.1"
    hostmap.requestheaders(other)
    assert other.request.host == "127.0.0.1"

"""The proxy auto-config file (``GET /proxy.pac``): only hosts some enabled plugin can match go to the proxy.

A browser set to this PAC file sends every other connection ``DIRECT``: sites no plugin cares about never touch
aiplugs (no decryption, no extra hop, nothing to break), and ``proxy.passthrough`` hosts stay direct too. A
``*://*/*`` or ``<all_urls>`` pattern (or ``everything=True``, ``aiplugs browser --all``) sends every host except
the passthrough ones through the proxy. The router's own address is always DIRECT.

The script is plain ES5 with no PAC helper functions (``shExpMatch`` and friends), so any JavaScript engine can
evaluate it, and it does no DNS lookups: deciding never waits on the network.
"""

from __future__ import annotations

import json
from typing import Iterable, NamedTuple

from ...plan import ProxySpec

__all__ = ["HostSets", "MEDIA_TYPE", "host_sets", "pac_script"]

MEDIA_TYPE = "application/x-ns-proxy-autoconfig"

_TEMPLATE = """\
// aiplugs proxy auto-config: hosts an enabled plugin can match go through the aiplugs proxy, all else DIRECT.
var AIPLUGS_PROXY = {proxy};
var AIPLUGS_SELF = {self};
var AIPLUGS_ALL = {all};
var AIPLUGS_HOSTS = {hosts};
var AIPLUGS_DOMAINS = {domains};
var AIPLUGS_DIRECT_HOSTS = {direct_hosts};
var AIPLUGS_DIRECT_DOMAINS = {direct_domains};

function aiplugsListed(host, hosts, domains) {{
  if (Object.prototype.hasOwnProperty.call(hosts, host)) return true;
  for (var i = 0; i < domains.length; i++) {{
    var d = domains[i];
    if (host === d || host.slice(-d.length - 1) === "." + d) return true;
  }}
  return false;
}}

function FindProxyForURL(url, host) {{
  host = host.toLowerCase().replace(/\\.$/, "");
  if (host.charAt(0) === "[") host = host.slice(1, -1);
  if (!AIPLUGS_PROXY || (AIPLUGS_SELF && url.indexOf(AIPLUGS_SELF) === 0)) return "DIRECT";
  if (aiplugsListed(host, AIPLUGS_DIRECT_HOSTS, AIPLUGS_DIRECT_DOMAINS)) return "DIRECT";
  if (AIPLUGS_ALL || aiplugsListed(host, AIPLUGS_HOSTS, AIPLUGS_DOMAINS)) return AIPLUGS_PROXY;
  return "DIRECT";
}}
"""


class HostSets(NamedTuple):
    everything: bool
    hosts: tuple[str, ...]  # exact names
    domains: tuple[str, ...]  # a name and all its subdomains


def _bare(pattern: str) -> str:
    pattern = pattern.strip().lower().rstrip(".")
    return pattern[1:-1] if pattern.startswith("[") and pattern.endswith("]") else pattern


def host_sets(patterns: Iterable[str]) -> HostSets:
    """``*``, ``*.example.com`` and ``example.com`` host patterns, split into what the script looks up."""
    everything, hosts, domains = False, set(), set()
    for pattern in map(_bare, patterns):
        if pattern in ("*", ""):
            everything = True
        elif pattern.startswith("*."):
            domains.add(pattern[2:])
        else:
            hosts.add(pattern)
    return HostSets(everything, tuple(sorted(hosts)), tuple(sorted(domains)))


def _hostport(address: tuple[str, int]) -> str:
    return f"[{address[0]}]:{address[1]}" if ":" in address[0] else f"{address[0]}:{address[1]}"


def pac_script(spec: ProxySpec | None, proxy: tuple[str, int] | None, *, everything: bool = False,
               api: tuple[str, int] | None = None) -> str:
    """The PAC file for ``spec``'s rules; with no running proxy (``None``) every host is DIRECT.

    ``api``: the router's own address, always DIRECT (its pages are never a plugin's to touch)."""
    matched = host_sets(spec.rule_set().intercept_hosts if spec is not None else ())
    direct = host_sets(spec.passthrough if spec is not None else ())
    address = f"PROXY {_hostport(proxy)}" if proxy is not None else None
    return _TEMPLATE.format(
        proxy=json.dumps(address),
        self=json.dumps(f"http://{_hostport(api)}/" if api else None),
        all=json.dumps(everything or matched.everything),
        hosts=json.dumps(dict.fromkeys(matched.hosts, 1)),
        domains=json.dumps(list(matched.domains)),
        direct_hosts=json.dumps(dict.fromkeys(direct.hosts, 1)),
        direct_domains=json.dumps(list(direct.domains)),
    )

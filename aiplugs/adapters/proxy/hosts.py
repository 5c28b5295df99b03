"""Interception scope: which TLS connections mitmproxy decrypts, as its ``allow_hosts`` / ``ignore_hosts``.

mitmproxy tests each regex with ``re.search`` against ``"host:port"`` strings (the CONNECT target, the TLS SNI,
the Host header and the resolved peer address), so every regex here is anchored on both ends and names a port.

- ``intercept = "matched"``: allow exactly the hosts that some plugin pattern able to match ``https`` URLs names.
  No such host means decrypting nothing, which needs a regex that never matches: an empty ``allow_hosts`` would
  mean "allow everything" to mitmproxy.
- ``intercept = "all"``, or a ``<all_urls>`` / ``*://*/*`` pattern: no allow list.
- ``passthrough``: ``ignore_hosts``, which mitmproxy applies after the allow list, so passthrough always wins.

mitmproxy also tests the resolved peer address, so a plugin pattern on an IP literal (``https://127.0.0.1/*``)
decrypts every host name that resolves to that address. Name-based patterns never match an address.
"""

from __future__ import annotations

import re
from typing import Iterable, NamedTuple

from ...plan import ProxySpec
from ...declaration.rules import MatchPattern

__all__ = ["HostFilter", "Scope", "host_regex", "scope_for"]

NEVER = r"(?!)"


def _normalize(host_pattern: str) -> str:
    pattern = host_pattern.strip().lower().rstrip(".")
    if pattern.startswith("[") and pattern.endswith("]"):  # IPv6 literal: mitmproxy writes hosts bare
        pattern = pattern[1:-1]
    return pattern


def host_regex(host_pattern: str) -> str:
    """``*.example.com`` -> a regex over ``host:port`` matching example.com and its subdomains, any port."""
    pattern = _normalize(host_pattern)
    if pattern in ("*", ""):
        return r"^.*:\d+$"
    if pattern.startswith("*."):
        return rf"^(?:[^:]+\.)?{re.escape(pattern[2:])}:\d+$"
    return rf"^{re.escape(pattern)}:\d+$"


class HostFilter:
    """The same host patterns, for the addon's own checks on a bare host name."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(_normalize(p) for p in patterns if p.strip())
        self._any = "*" in self.patterns
        self._exact = {p for p in self.patterns if not p.startswith("*.")}
        self._suffixes = tuple(p[2:] for p in self.patterns if p.startswith("*."))

    def __contains__(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if self._any or host in self._exact:
            return True
        return any(host == s or host.endswith("." + s) for s in self._suffixes)

    def __bool__(self) -> bool:
        return bool(self.patterns)


class Scope(NamedTuple):
    allow_hosts: tuple[str, ...]
    ignore_hosts: tuple[str, ...]


def tls_hosts(spec: ProxySpec) -> tuple[str, ...]:
    """Host patterns of every ``matches`` pattern that can match an https URL (http flows are seen anyway)."""
    hosts = set()
    for script in spec.scripts:
        for text in script.matches:
            pattern = MatchPattern(text)
            if "https" in pattern.schemes:
                hosts.add(pattern.host_pattern())
    return tuple(sorted(hosts))


def _one(regexes: list[str]) -> tuple[str, ...]:
    """All alternatives in one regex: mitmproxy searches every entry for every connection and compiles them
    through ``re``'s small cache, so thousands of separate entries would be recompiled per connection."""
    return (f"(?:{'|'.join(regexes)})",) if regexes else ()


def scope_for(spec: ProxySpec) -> Scope:
    ignore = _one([host_regex(p) for p in spec.passthrough if p.strip()])
    if spec.intercept == "all":
        return Scope((), ignore)
    hosts = tls_hosts(spec)
    if "*" in hosts:
        return Scope((), ignore)
    return Scope(_one([host_regex(h) for h in hosts]) or (NEVER,), ignore)

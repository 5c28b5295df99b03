"""Match patterns (Chrome MV3 grammar) and compiled rule sets.

A pattern is ``<scheme>://<host><path>`` or ``<all_urls>``::

    *://*.example.com/docs/*?q=*
    ^^^ scheme: * (= http and https), http or https
        ^^^^^^^^^^^^^ host: *, *.suffix (also matches the bare suffix) or an exact name; optional :port or :*
                     ^^^^^^^^^^^^^^ path glob: * matches any run, the query string is part of the path

Everything but ``*`` is literal. A pattern without a port matches every port, as in Chrome.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple
from urllib.parse import urlsplit

__all__ = ["MatchPattern", "PatternError", "RuleSet", "ScriptRule"]

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
ALL_URLS = "<all_urls>"
_HOST_CHARS = re.compile(r"^[a-z0-9\-._~%!$&'()+,;=\[\]:]+$")


class PatternError(ValueError):
    """A match pattern that does not follow the grammar; the message names the pattern and the fault."""

    def __init__(self, pattern: str, problem: str) -> None:
        super().__init__(f"invalid match pattern {pattern!r}: {problem}")
        self.pattern = pattern
        self.problem = problem


class _Url(NamedTuple):
    scheme: str
    host: str
    port: int
    path: str  # path plus "?query" when there is one; never the fragment


def split_url(url: str) -> _Url | None:
    """The parts a pattern looks at, or None for URLs no pattern can match (other schemes, no host)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or not parts.hostname:
        return None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return _Url(scheme, _norm_host(parts.hostname), port or DEFAULT_PORTS[scheme], path)


def _norm_host(host: str) -> str:
    """Lower case, no trailing dot, IPv6 literals in brackets (as patterns write them; urlsplit drops them)."""
    host = host.lower().rstrip(".")
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclass(frozen=True)
class MatchPattern:
    """One match pattern. ``MatchPattern("*://*.example.com/*").matches("https://a.example.com/x")`` is True."""

    pattern: str
    schemes: tuple[str, ...] = field(init=False, compare=False)
    host: str = field(init=False, compare=False)  # "" = any host
    subdomains: bool = field(init=False, compare=False)
    port: int | None = field(init=False, compare=False)  # None = any port
    path: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        schemes, host, subdomains, port, path = _parse(self.pattern)
        set_ = object.__setattr__
        set_(self, "schemes", schemes)
        set_(self, "host", host)
        set_(self, "subdomains", subdomains)
        set_(self, "port", port)
        set_(self, "path", path)

    @functools.cached_property
    def _path_re(self) -> re.Pattern[str]:
        """Compiled on first use: validating a manifest parses every pattern but need not compile them."""
        return re.compile(_glob_to_regex(self.path), re.DOTALL)

    @property
    def all_hosts(self) -> bool:
        return self.host == ""

    def matches(self, url: str) -> bool:
        parts = split_url(url)
        return parts is not None and self._matches(parts)

    def _matches(self, url: _Url) -> bool:
        if url.scheme not in self.schemes:
            return False
        if self.port is not None and url.port != self.port:
            return False
        if not self.matches_host(url.host):
            return False
        return self._path_re.fullmatch(url.path) is not None

    def matches_host(self, host: str) -> bool:
        host = _norm_host(host)
        if self.all_hosts or host == self.host:
            return True
        return self.subdomains and host.endswith("." + self.host)

    def host_pattern(self) -> str:
        """The host part alone: ``*``, ``*.example.com`` or ``example.com``."""
        if self.all_hosts:
            return "*"
        return f"*.{self.host}" if self.subdomains else self.host

    def to_regex(self) -> str:
        """A regex over ``scheme://host[:port]/path?query`` usable from both Python and JavaScript."""
        if self.all_hosts:
            host = r"[^/:?#]+"
        else:
            host = re.escape(self.host)
            if self.subdomains:
                host = rf"(?:[^/:?#]+\.)?{host}"
        alternatives = []
        for scheme in self.schemes:
            if self.port is None:
                port = r"(?::\d+)?"
            elif self.port == DEFAULT_PORTS[scheme]:
                port = rf"(?::{self.port})?"
            else:
                port = rf":{self.port}"
            alternatives.append(f"{scheme}://{host}{port}")
        return f"^(?:{'|'.join(alternatives)}){_glob_to_regex(self.path)}$"

    def __str__(self) -> str:
        return self.pattern


def _glob_to_regex(glob: str) -> str:
    return ".*".join(re.escape(piece) for piece in glob.split("*"))


def _parse(pattern: str) -> tuple[tuple[str, ...], str, bool, int | None, str]:
    if not isinstance(pattern, str):
        raise PatternError(repr(pattern), "a pattern must be a string")
    if pattern == ALL_URLS:
        return SCHEMES, "", False, None, "/*"
    scheme, sep, rest = pattern.partition("://")
    if not sep:
        raise PatternError(pattern, "missing '://' after the scheme (or use '<all_urls>')")
    if scheme == "*":
        schemes = SCHEMES
    elif scheme in SCHEMES:
        schemes = (scheme,)
    elif scheme.lower() in SCHEMES:
        raise PatternError(pattern, f"scheme must be lower case, got {scheme!r}")
    else:
        raise PatternError(pattern, f"scheme must be '*', 'http' or 'https', got {scheme!r}")
    slash = rest.find("/")
    if slash < 0:
        raise PatternError(pattern, "missing path: add '/*' to match every path")
    authority, path = rest[:slash], rest[slash:]
    host, port = _parse_authority(pattern, authority)
    subdomains = False
    if host == "*":
        host = ""
    elif host.startswith("*."):
        host, subdomains = host[2:], True
    if "*" in host:
        raise PatternError(pattern, "'*' in the host must be the whole host or a leading '*.'")
    host = host.lower()  # host names are case-insensitive; browsers lower-case them in patterns too
    if host and (not _HOST_CHARS.match(host) or ".." in host or host.startswith(".")):
        raise PatternError(pattern, f"invalid host {host!r}")
    return schemes, host.lower(), subdomains, port, path


def _parse_authority(pattern: str, authority: str) -> tuple[str, int | None]:
    if not authority:
        raise PatternError(pattern, "missing host")
    if "@" in authority:
        raise PatternError(pattern, "user info ('@') is not allowed in a pattern")
    if authority.startswith("["):  # IPv6 literal
        end = authority.find("]")
        if end < 0:
            raise PatternError(pattern, "unterminated IPv6 address")
        host, rest = authority[: end + 1], authority[end + 1 :]
    else:
        host, colon, port_text = authority.partition(":")
        rest = colon + port_text
    if not rest or rest == ":*":
        return host, None
    if not rest.startswith(":") or not rest[1:].isdigit():
        raise PatternError(pattern, f"invalid port {rest[1:]!r}: use a number or '*'")
    port = int(rest[1:])
    if not 0 < port < 65536:
        raise PatternError(pattern, f"port {port} out of range 1-65535")
    return host, port


@dataclass(frozen=True)
class ScriptRule:
    """One content-script entry of one plugin: it applies where any ``matches`` and no ``exclude_matches`` match."""

    plugin_id: str
    matches: tuple[MatchPattern, ...]
    exclude_matches: tuple[MatchPattern, ...] = ()

    def applies(self, url: str) -> bool:
        parts = split_url(url)
        return parts is not None and self._applies(parts)

    def _applies(self, url: _Url) -> bool:
        return any(p._matches(url) for p in self.matches) and not any(
            p._matches(url) for p in self.exclude_matches
        )


class RuleSet:
    """Rules of every enabled plugin, indexed by host so one URL costs one pass over its candidates.

    ``plugins_for(url)`` answers "which plugins match this URL" (in rule order, each once);
    ``intercept_hosts`` answers "which hosts must be decrypted" for ``proxy.intercept = "matched"``.
    """

    def __init__(self, rules: Iterable[ScriptRule]) -> None:
        self.rules: tuple[ScriptRule, ...] = tuple(rules)
        self._exact: dict[str, list[int]] = {}
        self._suffix: dict[str, list[int]] = {}
        self._any: list[int] = []
        for index, rule in enumerate(self.rules):
            for pattern in rule.matches:
                if pattern.all_hosts:
                    bucket = self._any
                elif pattern.subdomains:
                    bucket = self._suffix.setdefault(pattern.host, [])
                else:
                    bucket = self._exact.setdefault(pattern.host, [])
                if index not in bucket:
                    bucket.append(index)

    def _candidates(self, host: str) -> list[int]:
        found = set(self._any)
        found.update(self._exact.get(host, ()))
        if self._suffix:
            labels = host.split(".")
            for i in range(len(labels)):
                found.update(self._suffix.get(".".join(labels[i:]), ()))
        return sorted(found)

    def plugins_for(self, url: str) -> tuple[str, ...]:
        parts = split_url(url)
        if parts is None:
            return ()
        seen: dict[str, None] = {}
        for index in self._candidates(parts.host):
            rule = self.rules[index]
            if rule.plugin_id not in seen and rule._applies(parts):
                seen[rule.plugin_id] = None
        return tuple(seen)

    def indices_for(self, url: str) -> tuple[int, ...]:
        """Positions in ``rules`` of every rule that applies to ``url`` (the URL is parsed once)."""
        parts = split_url(url)
        if parts is None:
            return ()
        return tuple(i for i in self._candidates(parts.host) if self.rules[i]._applies(parts))

    def host_indices(self, host: str) -> tuple[int, ...]:
        """Positions in ``rules`` of the rules that can apply to some URL on ``host``."""
        return tuple(self._candidates(_norm_host(host)))

    def rules_for_host(self, host: str) -> tuple[ScriptRule, ...]:
        """Rules that can apply to some URL on ``host`` (what a page loader needs to know)."""
        return tuple(self.rules[i] for i in self.host_indices(host))

    def can_match_host(self, host: str) -> bool:
        return bool(self._candidates(_norm_host(host)))

    @property
    def intercept_hosts(self) -> tuple[str, ...]:
        """Sorted host patterns (``*``, ``*.example.com``, ``example.com``) some rule can match."""
        hosts = {p.host_pattern() for rule in self.rules for p in rule.matches}
        return tuple(sorted(hosts))

    def __len__(self) -> int:
        return len(self.rules)

"""The injection addon: a plain mitmproxy addon that splices the page loader into matched documents.

Per flow, in hook order:

- ``requestheaders``: ``/__aiplugs__/<rest>`` on an intercepted host is re-targeted to the router
  (``http://<api>/<rest>``, WebSockets included) and never reaches the origin. A document navigation to a URL some
  plugin matches loses its conditional headers (a 304 would reuse an uninjected or stale copy). Request bodies
  are streamed.
- ``responseheaders``: the decision. A pending document whose response can carry the loader gets its headers
  changed (CSP amended or stripped, no caching, no length: ``page_headers``) and streams through a ``Splice``, which
  puts the loader in as the head passes (``splice.py``: a page it cannot splice goes out as the origin sent it).
  Everything else streams through untouched (``response.stream = True``). Nothing is ever buffered whole.
- ``response``: the end of a page: counts it, reports a page that failed to decode.

The addon reads one immutable ``InjectConfig`` per flow; ``set_config()`` swaps it in one assignment, so a hot rule
swap never affects a flow half-way and never needs a restart.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Literal, Mapping

from ...events import NULL_BUS, EventBus
from ...events.catalogue import PROXY_INJECT_FAILED
from ...util.redact import redact_url
from ...declaration.rules import RuleSet
from ...plan import ProxySpec
from . import csp as csp_mod
from .classify import API_PREFIX, api_rest, classify_request, classify_response
from .hosts import HostFilter
from .loader import CompiledEntry, LoaderEntry, SnippetTemplate, compile_entry, loader_asset
from .splice import Splice

__all__ = ["InjectConfig", "Injector", "page_headers"]

logger = logging.getLogger(__name__)

CSP_HEADERS = ("content-security-policy", "content-security-policy-report-only")
_META_KEY = "aiplugs.inject"
_API_KEY = "aiplugs.api"


@dataclass(frozen=True)
class InjectConfig:
    """Everything the addon needs, frozen: built from a ProxySpec, swapped whole on hot reload."""

    rules: RuleSet
    entries: tuple[CompiledEntry, ...]  # index-aligned with rules.rules
    all_frames: tuple[bool, ...]
    csp: Literal["amend", "strip", "keep"]
    intercept_all: bool
    passthrough: HostFilter
    api_address: tuple[str, int] | None
    token: str
    version: str
    # host -> its rendered snippet; filled as pages are injected, dropped with this config on a rule swap
    _snippets: dict[str, SnippetTemplate] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_spec(cls, spec: ProxySpec, *, api_address: tuple[str, int] | None, token: str,
                  version: str) -> InjectConfig:
        # rule_set() keeps spec.scripts' order, so a rule's index in rules.rules is its entry's index too
        return cls(spec.rule_set(), tuple(compile_entry(s) for s in spec.scripts),
                   tuple(s.all_frames for s in spec.scripts), spec.csp, spec.intercept == "all",
                   HostFilter(spec.passthrough), api_address, token, version)

    def intercepts(self, host: str) -> bool:
        """Whether aiplugs acts on this host at all (plain-HTTP flows of every host reach the addon)."""
        if host in self.passthrough:
            return False
        return self.intercept_all or self.rules.can_match_host(host)

    def host_entries(self, host: str) -> list[LoaderEntry]:
        """The loader entries a page on ``host`` needs, each with only the patterns that can match that host."""
        return [self.entries[i].for_host(host) for i in self.rules.host_indices(host)]

    def snippet_for(self, host: str) -> SnippetTemplate:
        """The loader snippet of pages on ``host``, rendered once (bounded: a proxy may see many hosts)."""
        template = self._snippets.get(host)
        if template is None:
            if len(self._snippets) >= 4096:
                self._snippets.clear()
            template = self._snippets[host] = SnippetTemplate(
                self.host_entries(host), token=self.token, version=self.version,
                api_port=self.api_address[1] if self.api_address else 0)
        return template

    def matches(self, url: str, *, frame: bool) -> bool:
        """Whether some entry applies to this URL (in a frame: some entry with ``all_frames``)."""
        applying = self.rules.indices_for(url)
        return any(self.all_frames[i] for i in applying) if frame else bool(applying)


def page_headers(headers: Mapping[str, list[str]], *, csp: Literal["amend", "strip", "keep"], nonce: str | None,
                 origin: str) -> tuple[dict[str, list[str] | None], bool]:
    """The header changes of a page that gets the loader (name -> new values, None: remove), decided from its
    headers alone since they go out before the body; and whether its CSP header requires Trusted Types.

    ``headers`` maps lower-case names to all their values. Pure."""
    new: dict[str, list[str] | None] = {}
    trusted_types = False
    if csp == "amend":
        assert nonce is not None
        for name in CSP_HEADERS:
            values = headers.get(name)
            if not values:
                continue
            results = [csp_mod.amend_header(v, nonce=nonce, origin=origin) for v in values]
            if name == "content-security-policy":
                trusted_types = trusted_types or any(r.trusted_types for r in results)
            if any(r.changed for r in results):
                new[name] = [r.text for r in results]
    elif csp == "strip":
        for name in (*CSP_HEADERS, "x-frame-options"):
            if name in headers:
                new[name] = None
    # No stale uninjected copies, and no copy that outlives the page token or the rules; the length changes.
    new.update({"cache-control": ["no-store"], "etag": None, "last-modified": None, "expires": None,
                "content-md5": None, "content-length": None})
    return new, trusted_types


class Injector:
    """The mitmproxy addon. ``set_config(config)`` hot-swaps the rules; flows in flight keep the config they began with."""

    def __init__(self, config: InjectConfig, events: EventBus = NULL_BUS) -> None:
        self.config = config
        self.events = events
        self.injected = 0
        self.failed = 0
        self.requests = 0  # HTTP requests seen (decrypted or plain)
        self.tunnels = 0  # CONNECT requests (every HTTPS connection through the proxy, decrypted or not)

    def set_config(self, config: InjectConfig) -> None:
        # Not named "update": that is a mitmproxy hook (called with a list of flows).
        self.config = config

    def http_connect(self, flow) -> None:
        self.tunnels += 1

    def requestheaders(self, flow) -> None:
        self.requests += 1
        config = self.config
        request = flow.request
        host = request.host
        if config.api_address is not None and (host, request.port) == config.api_address:
            request.stream = True  # the router's own pages: never a plugin's to touch
            return
        if request.path.startswith(API_PREFIX) and config.intercepts(host):
            if request.path == API_PREFIX + loader_asset().path:
                self._serve_loader(flow)
                return
            self._route_to_api(flow, config)
            return
        request.stream = True
        navigation = classify_request(request.method, request.headers)
        if navigation == "other" or not config.intercepts(host):
            return
        if not config.matches(request.url, frame=navigation == "frame"):
            return
        flow.metadata[_META_KEY] = config
        request.headers.pop("if-none-match", None)
        request.headers.pop("if-modified-since", None)

    def _serve_loader(self, flow) -> None:
        """The page loader that every injected page's bootstrap asks for, answered here (no router round trip,
        and it works while the router restarts); its name carries its hash, so browsers may cache it forever."""
        from mitmproxy import http

        asset = loader_asset()
        body = asset.body if flow.request.method != "HEAD" else b""
        flow.response = http.Response.make(200, body, dict(asset.headers))
        if flow.request.method == "HEAD":
            flow.response.headers["content-length"] = str(len(asset.body))

    def _route_to_api(self, flow, config: InjectConfig) -> None:
        request = flow.request
        flow.metadata[_API_KEY] = True
        if config.api_address is None:
            from mitmproxy import http

            flow.response = http.Response.make(503, b'{"error": {"message": "the aiplugs router is not running"}}',
                                               {"content-type": "application/json"})
            return
        api_host, api_port = config.api_address
        rest = api_rest(request.path) or "/"
        request.scheme = "http"
        request.host = api_host
        request.port = api_port
        request.path = rest
        request.host_header = f"{api_host}:{api_port}"
        # The origin's cookies and credentials are none of the router's business.
        request.headers.pop("cookie", None)
        request.headers.pop("authorization", None)
        request.stream = True

    def responseheaders(self, flow) -> None:
        """The decision: a matched document whose response can carry the loader streams through a ``Splice``;
        everything else streams through untouched. Either way nothing is buffered."""
        response = flow.response
        config = flow.metadata.pop(_META_KEY, None)
        if config is None:
            response.stream = True
            return
        request = flow.request
        verdict = classify_response(request.method, response.status_code, response.headers)
        if not verdict.inject:
            response.stream = True
            return
        from mitmproxy.net.http.url import hostport

        origin = f"{request.scheme}://{hostport(request.scheme, request.host, request.port)}"
        nonce = secrets.token_urlsafe(18) if config.csp == "amend" else None
        headers = {name: list(values) for name in (*CSP_HEADERS, "x-frame-options")
                   if (values := response.headers.get_all(name))}
        changes, trusted_types = page_headers(headers, csp=config.csp, nonce=nonce, origin=origin)
        for name, values in changes.items():
            if values is None:
                response.headers.pop(name, None)
            else:
                response.headers.set_all(name, values)
        # The new length is not known before the end: HTTP/1.1 gets chunks; HTTP/2 and 3 frame the body
        # themselves; an HTTP/1.0 client, or an HTTP/1.0 answer (no chunks in 1.0), ends with the connection.
        if request.http_version == "HTTP/1.1" and response.http_version != "HTTP/1.0" \
                and "chunked" not in response.headers.get("transfer-encoding", "").lower():
            response.headers["transfer-encoding"] = "chunked"
        response.stream = Splice(verdict.coding, snippet=config.snippet_for(request.host).render, xml=verdict.xml,
                                 csp=config.csp, nonce=nonce, origin=origin, trusted_types=trusted_types)

    def response(self, flow) -> None:
        """The end of a spliced page: counted, and a page that failed to decode reported."""
        splice = flow.response.stream if flow.response is not None else None
        if not isinstance(splice, Splice):
            return
        if splice.injected:
            self.injected += 1
            flow.metadata["aiplugs.injected"] = splice.reason
        if splice.error is not None:
            self._failed(flow, splice.error)

    def _failed(self, flow, error: Exception) -> None:
        """A spliced page that did not decode (before the decision it went out untouched, after it cut short)."""
        self.failed += 1
        logger.warning("aiplugs: page %s did not decode: %s", flow.request.url, error)
        self.events.publish(PROXY_INJECT_FAILED, url=redact_url(flow.request.pretty_url), error=str(error))

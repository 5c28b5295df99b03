"""The injection addon: a plain mitmproxy addon that splices the page loader into matched documents.

Per flow, in hook order:

- ``requestheaders``: ``/__aiplugs__/<rest>`` on an intercepted host is re-targeted to the router
  (``http://<api>/<rest>``, WebSockets included) and never reaches the origin. A document navigation to a URL some
  plugin matches loses its conditional headers (a 304 would reuse an uninjected or stale copy). Request bodies
  are streamed.
- ``responseheaders``: the decision. Only a pending document whose response can be spliced stays buffered;
  everything else is streamed (``response.stream = True``): never buffered, never touched.
- ``response``: decode, splice the loader, amend/strip CSP, fix caching and length, re-encode. Any failure leaves
  the response exactly as the origin sent it.

The addon reads one immutable ``InjectConfig`` per flow; ``set_config()`` swaps it in one assignment, so a hot rule
swap never affects a flow half-way and never needs a restart.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from typing import Literal

from ...events import NULL_BUS, EventBus
from ...events.catalogue import PROXY_INJECT_FAILED
from ...util.redact import redact_url
from ...declaration.rules import RuleSet
from ...plan import ProxySpec
from . import csp as csp_mod
from .classify import API_PREFIX, ResponseVerdict, api_rest, classify_request, classify_response
from .encoding import decode, encode
from .hosts import HostFilter
from .html import Edit, apply_edits, attr_value_edit, meta_csp_content, scan_head
from .loader import CompiledEntry, LoaderEntry, SnippetTemplate, compile_entry, loader_asset

__all__ = ["InjectConfig", "Injector", "PageResult", "inject_page"]

logger = logging.getLogger(__name__)

CSP_HEADERS = ("content-security-policy", "content-security-policy-report-only")
_META_KEY = "aiplugs.inject"
_API_KEY = "aiplugs.api"
# Compressed body bytes from which decoding runs off the event loop (an identity page costs one copy: never).
THREAD_THRESHOLD = 128 * 1024


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


@dataclass(frozen=True)
class PageResult:
    body: bytes  # the new raw (re-encoded) body
    headers: dict[str, list[str] | None]  # header name -> new values (None: remove)
    nonce: str | None
    reason: str


def inject_page(raw: bytes, headers: dict[str, list[str]], verdict: ResponseVerdict, *, origin: str,
                config: InjectConfig, host: str, nonce: str | None = None) -> PageResult | None:
    """The injected page, or None when the page must be left alone. Pure: no flow, no I/O.

    ``headers`` maps lower-case names to all their values.
    """
    assert verdict.coding is not None
    body = decode(raw, verdict.coding)
    scan = scan_head(body, xml=verdict.xml)
    if scan.insert_at is None:
        return None
    new_headers: dict[str, list[str] | None] = {}
    edits: list[Edit] = []
    trusted_types = False
    if config.csp == "amend":
        nonce = nonce or secrets.token_urlsafe(18)
        for name in CSP_HEADERS:
            values = headers.get(name)
            if not values:
                continue
            results = [csp_mod.amend_header(v, nonce=nonce, origin=origin) for v in values]
            if name == "content-security-policy":
                trusted_types = trusted_types or any(r.trusted_types for r in results)
            if any(r.changed for r in results):
                new_headers[name] = [r.text for r in results]
        for tag in scan.meta_csp:
            result = csp_mod.amend_header(meta_csp_content(tag), nonce=nonce, origin=origin)
            trusted_types = trusted_types or result.trusted_types
            if result.changed and (edit := attr_value_edit(tag, "content", result.text)) is not None:
                edits.append(edit)
    else:
        nonce = None
        if config.csp == "strip":
            for name in (*CSP_HEADERS, "x-frame-options"):
                if name in headers:
                    new_headers[name] = None
            edits.extend(Edit(tag.start, tag.end, b"") for tag in scan.meta_csp)
    edits.append(Edit(scan.insert_at, scan.insert_at, config.snippet_for(host).render(nonce, trusted_types)))
    new_raw = encode(apply_edits(body, edits), verdict.coding)
    # No stale uninjected copies, and no copy that outlives the page token or the rules.
    new_headers.update({"cache-control": ["no-store"], "etag": None, "last-modified": None, "expires": None,
                        "content-md5": None})
    if "transfer-encoding" not in headers or "content-length" in headers:
        new_headers["content-length"] = [str(len(new_raw))]
    return PageResult(new_raw, new_headers, nonce, scan.reason)


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
        response = flow.response
        config = flow.metadata.get(_META_KEY)
        if config is None:
            response.stream = True
            return
        verdict = classify_response(flow.request.method, response.status_code, response.headers)
        if not verdict.inject:
            del flow.metadata[_META_KEY]
            response.stream = True
            return
        flow.metadata[_META_KEY] = (config, verdict)

    def response(self, flow):
        """Splices the loader. Big compressed bodies are decoded in a worker thread (zlib, brotli and zstd release
        the GIL) so one large page never stalls other connections; mitmproxy awaits the coroutine returned then."""
        pending = flow.metadata.pop(_META_KEY, None)
        if not isinstance(pending, tuple) or flow.response is None or flow.error or flow.response.stream:
            return None  # (stream: mitmproxy switched a page past its size cap to streaming; it is sent already)
        config, verdict = pending
        response, request = flow.response, flow.request
        raw = response.raw_content
        if raw is None:
            return None
        headers = {}
        for name in (*CSP_HEADERS, "x-frame-options", "transfer-encoding", "content-length"):
            values = response.headers.get_all(name)
            if values:
                headers[name] = list(values)
        from mitmproxy.net.http.url import hostport

        origin = f"{request.scheme}://{hostport(request.scheme, request.host, request.port)}"
        args = (raw, headers, verdict)
        kwargs = {"origin": origin, "config": config, "host": request.host}
        if verdict.coding != "identity" and len(raw) >= THREAD_THRESHOLD:
            return self._splice_in_thread(flow, args, kwargs)
        try:
            result = inject_page(*args, **kwargs)
        except Exception as e:  # a page we cannot parse or decode is passed on untouched
            self._failed(flow, e)
            return None
        self._apply(flow, result)
        return None

    async def _splice_in_thread(self, flow, args, kwargs) -> None:
        try:
            result = await asyncio.to_thread(inject_page, *args, **kwargs)
        except Exception as e:
            self._failed(flow, e)
            return
        self._apply(flow, result)

    def _failed(self, flow, error: Exception) -> None:
        self.failed += 1
        logger.warning("aiplugs: not injecting %s: %s", flow.request.url, error)
        self.events.publish(PROXY_INJECT_FAILED, url=redact_url(flow.request.pretty_url), error=str(error))

    def _apply(self, flow, result: PageResult | None) -> None:
        if result is None:
            return
        response = flow.response
        response.raw_content = result.body
        for name, values in result.headers.items():
            if values is None:
                response.headers.pop(name, None)
            else:
                response.headers.set_all(name, values)
        flow.metadata["aiplugs.injected"] = result.reason
        self.injected += 1

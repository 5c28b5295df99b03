"""The page loader in two parts: a tiny inline bootstrap per page, and one cacheable loader script for all pages.

The inline ``<script>`` (``bootstrap.js`` plus a per-page config, ASCII only, with the CSP nonce) carries the page
token, the API port and the compiled rules of every content-script entry that can match the page's host, so SPA
navigations inside the page can be re-matched without asking the proxy. It loads the rest of the page API
(``loader.js``) from ``/__aiplugs__/loader.<hash>.js``, which the proxy answers itself with immutable caching: the
name changes whenever the file does, so a browser fetches it once per origin and version, and a page carries
~1 KB instead of ~7 KB of inline code. The same nonce (or ``'strict-dynamic'``, or the same-origin API path that
``csp.py`` adds for ``'unsafe-inline'`` lists) allows it; under Trusted Types its URL goes through the aiplugs
policy.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable, NamedTuple

from ...declaration.rules import MatchPattern
from ...plan import ScriptSpec

__all__ = ["API_BASE", "CompiledEntry", "LoaderAsset", "LoaderEntry", "SnippetTemplate", "bootstrap_source",
           "compile_entry", "loader_asset", "loader_config", "snippet"]

API_BASE = "/__aiplugs__"
_JS_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_JS_UNSAFE = re.compile("[<>&\u2028\u2029]")

LoaderEntry = dict[str, Any]


class LoaderAsset(NamedTuple):
    """The loader script as the proxy serves it."""

    path: str  # under the API prefix: "loader.<hash>.js"
    body: bytes
    headers: tuple[tuple[str, str], ...]


def _squeeze(name: str) -> str:
    """A JS file of this package with whole-line comments and indentation dropped."""
    text = resources.files(__package__).joinpath(name).read_text(encoding="ascii")
    lines = [line.strip() for line in text.splitlines()]
    body = "\n".join(line for line in lines if line and not line.startswith("//"))
    if "</script" in body.lower() or "]]>" in body:
        raise AssertionError(f"{name} must not contain '</script' or ']]>'")
    return body


@lru_cache(maxsize=1)
def loader_source() -> str:
    """``loader.js`` as served (comments and indentation dropped)."""
    return _squeeze("loader.js")


@lru_cache(maxsize=1)
def loader_asset() -> LoaderAsset:
    """The loader's bytes, content-hashed name and headers: cache it forever, it never changes under that name."""
    body = loader_source().encode("ascii")
    digest = hashlib.sha256(body).hexdigest()[:16]
    headers = (("content-type", "text/javascript; charset=utf-8"),
               ("cache-control", "public, max-age=31536000, immutable"),
               ("x-content-type-options", "nosniff"), ("etag", f'"{digest}"'))
    return LoaderAsset(f"loader.{digest}.js", body, headers)


@lru_cache(maxsize=1)
def bootstrap_source() -> str:
    """``bootstrap.js`` pointing at this loader's hashed name; ``/*CONFIG*/`` is left for the page's config."""
    digest = loader_asset().path[len("loader."):-len(".js")]
    return _squeeze("bootstrap.js").replace("/*HASH*/", digest)


class CompiledEntry:
    """One content-script entry, compiled once per rule swap: each pattern with its regex (valid in JS too).

    A page gets only the patterns that can match its own host (``for_host``): a page never leaves its host
    without a new document (and a new loader), so the others could never apply — and a plugin with hundreds of
    patterns adds a few bytes to each page, not all of them."""

    __slots__ = ("base", "excludes", "matches")

    def __init__(self, script: ScriptSpec) -> None:
        self.matches = tuple((p, p.to_regex()) for p in map(MatchPattern, script.matches))
        self.excludes = tuple((p, p.to_regex()) for p in map(MatchPattern, script.exclude_matches))
        self.base = {"id": script.plugin_id, "js": list(script.js), "css": list(script.css),
                     "run": script.run_at, "all": script.all_frames}

    def for_host(self, host: str) -> LoaderEntry:
        return {**self.base, "m": [rx for p, rx in self.matches if p.matches_host(host)],
                "x": [rx for p, rx in self.excludes if p.matches_host(host)]}


def compile_entry(script: ScriptSpec) -> CompiledEntry:
    return CompiledEntry(script)


def loader_config(entries: Iterable[LoaderEntry], *, token: str, api_port: int, version: str,
                  nonce: str | None, trusted_types: bool) -> dict[str, Any]:
    """The page's config. Inlined into every page, so it is compact: each distinct regex once in ``rx`` (plugins
    often share patterns such as an opt-out exclude), entries naming them by index, defaults (run at
    document_idle, no css, no excludes, not all frames) left out."""
    table: dict[str, int] = {}
    scripts = []
    for entry in entries:
        compact = {"id": entry["id"], "js": entry["js"], "m": [table.setdefault(rx, len(table)) for rx in entry["m"]]}
        if entry["run"] != "document_idle":
            compact["run"] = entry["run"]
        if entry["x"]:
            compact["x"] = [table.setdefault(rx, len(table)) for rx in entry["x"]]
        if entry["css"]:
            compact["css"] = entry["css"]
        if entry["all"]:
            compact["all"] = True
        scripts.append(compact)
    return {"v": version, "token": token, "port": api_port, "base": API_BASE, "nonce": nonce,
            "tt": trusted_types, "rx": list(table), "scripts": scripts}


def to_js_literal(value: Any) -> str:
    """JSON that is safe inside an inline script in HTML and XHTML: ASCII, no ``<``, ``>`` or ``&``."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return _JS_UNSAFE.sub(lambda m: _JS_ESCAPES[m.group()], text)


def snippet(config: dict[str, Any]) -> bytes:
    """The ``<script>`` element to splice in. The CDATA comments keep it well-formed in XHTML pages."""
    nonce = config.get("nonce")
    attr = f' nonce="{nonce}"' if nonce else ""
    code = bootstrap_source().replace("/*CONFIG*/", to_js_literal(config))
    return f'<script{attr} data-aiplugs="loader">//<![CDATA[\n{code}\n//]]></script>'.encode("ascii")


class SnippetTemplate:
    """``snippet()`` for one host, rendered once: per page only the nonce and the Trusted Types flag change, and
    re-encoding the rules as JSON for every page was most of the injection's own cost on small pages.

    ``render(nonce, trusted_types) == snippet(loader_config(entries, ..., nonce=nonce, trusted_types=...))``."""

    __slots__ = ("_after", "_before")
    _HOLE = '"nonce":null,"tt":false'  # where loader_config puts them; cannot occur inside a JSON string

    def __init__(self, entries: Iterable[LoaderEntry], *, token: str, api_port: int, version: str) -> None:
        literal = to_js_literal(loader_config(entries, token=token, api_port=api_port, version=version, nonce=None,
                                              trusted_types=False))
        code_before, code_after = bootstrap_source().split("/*CONFIG*/", 1)
        before, after = literal.split(self._HOLE, 1)
        self._before = f"{code_before}{before}"
        self._after = f"{after}{code_after}\n//]]></script>"

    def render(self, nonce: str | None, trusted_types: bool) -> bytes:
        attr = f' nonce="{nonce}"' if nonce else ""
        value = to_js_literal(nonce)
        tt = "true" if trusted_types else "false"
        return (f'<script{attr} data-aiplugs="loader">//<![CDATA[\n{self._before}"nonce":{value},"tt":{tt}'
                f"{self._after}").encode("ascii")

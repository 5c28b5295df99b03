"""The page loader snippet: ``loader.js`` plus a per-page config, as one ASCII-only inline ``<script>``.

The config carries the page token, the API port and the compiled rules of every content-script entry that can
match the page's host, so SPA navigations inside the page can be re-matched without asking the proxy.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable

from ...declaration.rules import MatchPattern
from ...plan import ScriptSpec

__all__ = ["API_BASE", "CompiledEntry", "LoaderEntry", "compile_entry", "loader_config", "snippet"]

API_BASE = "/__aiplugs__"
_JS_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_JS_UNSAFE = re.compile("[<>&\u2028\u2029]")

LoaderEntry = dict[str, Any]


@lru_cache(maxsize=1)
def loader_source() -> str:
    """``loader.js`` with whole-line comments and indentation dropped (it is inlined into every page)."""
    text = resources.files(__package__).joinpath("loader.js").read_text(encoding="ascii")
    lines = [line.strip() for line in text.splitlines()]
    body = "\n".join(line for line in lines if line and not line.startswith("//"))
    if "</script" in body.lower() or "]]>" in body:
        raise AssertionError("loader.js must not contain '</script' or ']]>'")
    return body


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
    return {"v": version, "token": token, "port": api_port, "base": API_BASE, "nonce": nonce,
            "tt": trusted_types, "scripts": list(entries)}


def to_js_literal(value: Any) -> str:
    """JSON that is safe inside an inline script in HTML and XHTML: ASCII, no ``<``, ``>`` or ``&``."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return _JS_UNSAFE.sub(lambda m: _JS_ESCAPES[m.group()], text)


def snippet(config: dict[str, Any]) -> bytes:
    """The ``<script>`` element to splice in. The CDATA comments keep it well-formed in XHTML pages."""
    nonce = config.get("nonce")
    attr = f' nonce="{nonce}"' if nonce else ""
    code = loader_source().replace("/*CONFIG*/", to_js_literal(config))
    return f'<script{attr} data-aiplugs="loader">//<![CDATA[\n{code}\n//]]></script>'.encode("ascii")

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

__all__ = ["API_BASE", "LoaderEntry", "compile_entry", "loader_config", "snippet"]

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


def compile_entry(script: ScriptSpec) -> LoaderEntry:
    """One content-script entry as the loader sees it: regexes (valid in JS too) and the assets to add."""
    return {
        "id": script.plugin_id,
        "m": [MatchPattern(p).to_regex() for p in script.matches],
        "x": [MatchPattern(p).to_regex() for p in script.exclude_matches],
        "js": list(script.js),
        "css": list(script.css),
        "run": script.run_at,
        "all": script.all_frames,
    }


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

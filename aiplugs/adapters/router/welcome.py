"""``GET /welcome``: the page ``aiplugs browser`` opens first — which plugins run and pages to try them on.

Public like ``/proxy.pac`` (the loopback ``Host`` rule still applies) and free of secrets: plugin names, their
descriptions and the hosts they match, nothing a matched page could not learn from the PAC file already.
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse

from ...declaration.rules import MatchPattern

__all__ = ["example_url", "welcome"]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>aiplugs</title>
<style>
:root {{ color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.5; }}
body {{ max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }}
code {{ font-size: 0.95em; }} li {{ margin: 0.3rem 0; }}
</style></head>
<body>
<h1>aiplugs is running</h1>
<p>This browser profile goes through the aiplugs proxy for the sites your plugins match, and trusts its CA for
them only. Every other site is loaded directly. Open a page a plugin matches to see it work:</p>
<ul>
{plugins}
</ul>
<p>Close this browser to throw the profile away. <code>aiplugs status</code> shows what runs;
<code>aiplugs logs PLUGIN -f</code> follows a plugin's backend.</p>
</body></html>
"""


def example_url(pattern: str) -> str | None:
    """A concrete URL that ``pattern`` matches, when one is easy to name (``*://*.example.org/wiki/*`` ->
    ``https://www.example.org/wiki/``); None for all-hosts patterns."""
    try:
        parsed = MatchPattern(pattern)
    except ValueError:
        return None
    if parsed.all_hosts:
        return None
    scheme = "https" if "https" in parsed.schemes else parsed.schemes[0]
    host = f"www.{parsed.host}" if parsed.subdomains else parsed.host
    port = f":{parsed.port}" if parsed.port else ""
    path = parsed.path.split("*", 1)[0] or "/"
    url = f"{scheme}://{host}{port}{path}"
    return url if parsed.matches(url) else None


def _item(plugin_id: str, name: str, description: str, patterns: list[str]) -> str:
    links = []
    for pattern in patterns:
        url = example_url(pattern)
        shown = html.escape(pattern)
        links.append(f'<a href="{html.escape(url)}"><code>{shown}</code></a>' if url else f"<code>{shown}</code>")
    where = ", ".join(links) or "no pages (it has no content scripts)"
    text = f" — {html.escape(description)}" if description else ""
    return f"<li><b>{html.escape(name)}</b> (<code>{html.escape(plugin_id)}</code>){text}<br>on {where}</li>"


async def welcome(request: Request) -> HTMLResponse:
    routes = request.app.state.ctx.routes
    items = [_item(r.plugin.id, r.plugin.name, r.plugin.description, list(r.matches)) for r in routes.values()]
    body = PAGE.format(plugins="\n".join(items) or "<li>No plugin is enabled.</li>")
    return HTMLResponse(body, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

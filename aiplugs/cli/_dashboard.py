"""Command: aiplugs dashboard — open the web dashboard of the running daemon, signed in.

The URL carries the admin token in its fragment (``/login#token=…``): a fragment is never sent to a server, and
the login page trades it for a session cookie and takes it out of the address bar before anything else. So the
printed URL (``--print``) is a key to this daemon: paste it into a browser, not into a chat.
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import quote

from ._common import add_config_option, daemon_client, print_json

__all__ = ["dashboard_url", "register"]


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "dashboard", help="open the web dashboard of the running system (signed in)",
        description="Open http://127.0.0.1:<api-port>/ in the default browser, signed in with the admin token "
        "(exchanged for a session cookie; the token does not stay in the browser). The daemon must be running "
        "(`aiplugs apply` starts it).")
    add_config_option(p)
    p.add_argument("--print", action="store_true",
                   help="print the sign-in URL instead of opening a browser (it holds the admin token)")
    p.add_argument("--json", action="store_true", help="print {url, dashboard, pid} as JSON; opens nothing")
    p.set_defaults(handler=cmd_dashboard)


def dashboard_url(host: str, port: int) -> str:
    """The dashboard's address; a wildcard bind is reached on loopback (the Host rule wants a loopback name)."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1" if host != "::" else "::1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def cmd_dashboard(args: argparse.Namespace) -> int:
    client = daemon_client(args)
    home = dashboard_url(client.host, client.port)
    sign_in = f"{home}login#token={quote(client.admin_token, safe='')}"
    if args.json:
        print_json({"format_version": "1", "url": sign_in, "dashboard": home, "pid": client.pid})
        return 0
    if args.print:
        print(sign_in)
        return 0
    import webbrowser

    if not webbrowser.open(sign_in):
        print(f"No browser could be started here. Open the dashboard at {home} with the URL "
              "`aiplugs dashboard --print` prints (it signs the browser in).", file=sys.stderr)
        return 1
    print(f"Opened the dashboard at {home} (signed in).")
    return 0

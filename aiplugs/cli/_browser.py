"""Command: aiplugs browser — a throwaway browser profile that goes through aiplugs and trusts its CA."""

from __future__ import annotations

import argparse
import sys

from ._common import add_config_option, load, print_json

__all__ = ["register"]


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "browser", help="open a browser that goes through aiplugs (throwaway profile, CA trusted for it only)",
        description="Start an installed browser on a fresh profile under <state_dir>/browser/ with its proxy set "
        "to aiplugs (by default the PAC file: only hosts a plugin matches use the proxy) and, for Chromium-family "
        "browsers, the aiplugs CA trusted for that profile only. Starts the system first when it is not running "
        "(as `aiplugs apply` does). Returns when the browser closes; Ctrl-C closes it; the profile is deleted.")
    add_config_option(p)
    p.add_argument("url", nargs="?", help="the page to open (default: the welcome page listing your plugins)")
    p.add_argument("--browser", metavar="NAME|PATH",
                   help="chromium, chrome, firefox or a path (default: the first Chromium-family browser found, "
                   "else Firefox)")
    p.add_argument("--all", action="store_true", help="send every host through the proxy, not only matched ones")
    p.add_argument("--browser-arg", action="append", default=[], metavar="ARG",
                   help="an extra argument for the browser (repeatable), e.g. --browser-arg=--incognito")
    p.add_argument("--keep-profile", action="store_true", help="keep the profile folder after the browser exits")
    p.add_argument("--print", action="store_true", help="print the command line instead of starting the browser")
    p.add_argument("--json", action="store_true", help="with --print: as JSON")
    p.add_argument("--auto-approve", action="store_true", help="when the system must start: do not ask")
    p.add_argument("--wait-timeout", type=float, default=600.0, metavar="S", help=argparse.SUPPRESS)
    p.add_argument("--lock-timeout", type=float, default=30.0, metavar="S", help=argparse.SUPPRESS)
    p.set_defaults(handler=cmd_browser)


def cmd_browser(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..adapters.browser import find_browser, launch, new_profile, plan_launch
    from ..client import DaemonClient
    from ..errors import AiplugsError
    from ._lifecycle import run_apply

    browser = find_browser(args.browser)
    _, desired = load(args)
    client = DaemonClient.find(desired.state_dir)
    if client is not None:
        status = client.status()
    else:
        print("aiplugs is not running; starting it first.", file=sys.stderr)
        apply_args = argparse.Namespace(auto_approve=args.auto_approve, json=False, wait_timeout=args.wait_timeout,
                                        lock_timeout=args.lock_timeout)
        code, status = run_apply(apply_args, desired)
        if code != 0 or status is None:
            return code or 1
    if not status.get("proxy") or not status.get("ca_cert"):
        raise AiplugsError("the proxy is not running (`aiplugs status` shows why)")
    api, proxy = status["api"], status["proxy"]
    url = args.url or f"http://{api['host']}:{api['port']}/welcome"
    profile = new_profile(desired.state_dir)
    plan = plan_launch(browser, url=url, profile=profile, ca_cert=Path(status["ca_cert"]),
                       pac_url=status.get("pac_url"), proxy=(proxy["host"], proxy["port"]), everything=args.all,
                       extra=args.browser_arg)
    for note in plan.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.print:
        profile.rmdir()
        if args.json:
            print_json({"browser": plan.browser.kind, "argv": list(plan.argv), "profile": str(plan.profile),
                        "files": plan.files, "notes": list(plan.notes)})
        else:
            import shlex

            print(shlex.join(plan.argv))
        return 0
    print(f"Opening {browser.path} on {url} (profile {profile}); close it or press Ctrl-C to end.", file=sys.stderr)
    code = launch(plan, ca_cert=Path(status["ca_cert"]), keep_profile=args.keep_profile)
    return 0 if code in (0, 130) or code < 0 else code

"""``aiplugs suggest [list|show ID|apply ID|reject ID|revert ID|history] [--json]``: the daemon's suggestions, each
with its evidence and the diff of aiplugs.toml it proposes; apply, reject, revert, and what applying did."""

from __future__ import annotations

import argparse

from ..errors import AiplugsError
from ._common import add_config_option, daemon_client, print_json

__all__ = ["register"]

ACTIONS = ("list", "show", "apply", "reject", "revert", "history")


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "suggest", help="suggestions from the metrics: evidence, a diff of aiplugs.toml; apply, reject, revert",
        description="Lists what the daemon suggests from each plugin's metrics (scale up or down, investigate "
        "errors, recycle leaking workers, cache repeated calls, a longer timeout), each with its evidence, the "
        "change to aiplugs.toml it proposes and the effect to expect. `apply ID` shows the diff, asks, edits "
        "aiplugs.toml (comments and layout kept) and applies it; the history records it and, after [autotune] "
        "verify_after_s, whether it improved things. `revert ID` undoes an applied one.")
    add_config_option(p)
    p.add_argument("action", nargs="?", choices=ACTIONS, default="list", help="what to do (default: list)")
    p.add_argument("id", nargs="?", help="a suggestion id (or a unique start of one); for revert also a history "
                   "number")
    p.add_argument("--json", action="store_true", help="print the daemon's answer as JSON")
    p.add_argument("-y", "--yes", action="store_true", help="apply or revert without asking")
    p.add_argument("--now", action="store_true", help="run the rules now instead of showing the last evaluation")
    p.set_defaults(handler=cmd_suggest)


def cmd_suggest(args: argparse.Namespace) -> int:
    from ..client.suggestions import format_entry, format_history, format_listing, format_suggestion

    if args.action in ("list", "history") and args.id:
        raise AiplugsError(f"`suggest {args.action}` takes no id")
    if args.action not in ("list", "history") and not args.id:
        raise AiplugsError(f"`suggest {args.action}` needs an id (see `aiplugs suggest list`)")
    client = daemon_client(args)
    if args.action == "list":
        listing = client.suggestions(evaluate=args.now)
        print_json(listing) if args.json else print(format_listing(listing))
        return 0
    if args.action == "history":
        entries = client.suggestion_history()
        print_json({"history": entries}) if args.json else print(format_history(entries))
        return 0
    if args.action == "show":
        found = client.suggestion(args.id)
        if args.json:
            print_json(found)
        else:
            print(format_suggestion(found["suggestion"]) if "suggestion" in found else format_entry(found["history"]))
        return 0
    if args.action == "reject":
        result = client.reject_suggestion(args.id)
        print_json(result) if args.json else print(
            f"Rejected {result['rejected']}: hidden for {result['hidden_for_s']:g}s.")
        return 0
    from ._plugins_shared import confirm

    if args.action == "apply":
        found = client.suggestion(args.id)
        if "suggestion" not in found:
            raise AiplugsError(f"{args.id} does not stand now (applied or gone); `aiplugs suggest history` lists "
                               "applied ones")
        suggestion = found["suggestion"]
        if not args.json:
            print(format_suggestion(suggestion))
        if not suggestion.get("diff"):
            raise AiplugsError(f"{suggestion['id']} proposes no change to apply")
        if not confirm(f"Edit {_config_name(args)} and apply?", args.yes):
            print("Nothing was changed.")
            return 1
        sha = client.suggestions().get("config_sha256")
        result = client.apply_suggestion(suggestion["id"], sha)
        return _report(args, result, f"Applied {suggestion['id']} (history #{result['entry']['id']}).")
    history = _applied(client.suggestion_history(), args.id)
    if not args.json:
        print(format_entry(history))
        print("\n" + history["diff"].rstrip("\n") + "\n(reversed)")
    if not confirm(f"Put the old value back in {_config_name(args)} and apply?", args.yes):
        print("Nothing was changed.")
        return 1
    result = client.revert_suggestion(str(history["id"]))
    return _report(args, result, f"Reverted #{result['reverted']} ({result['suggestion']}).")


def _applied(entries: list[dict], ref: str) -> dict:
    """A history entry by number, or the newest application of a suggestion id (or a unique start of one)."""
    if ref.isdigit():
        found = [e for e in entries if e["id"] == int(ref)]
    else:
        found = [e for e in entries if e["suggestion"]["id"] == ref] or \
            [e for e in entries if e["suggestion"]["id"].startswith(ref)]
    if not found:
        raise AiplugsError(f"{ref} was never applied: nothing to revert (`aiplugs suggest history` lists them)")
    return found[0]


def _report(args: argparse.Namespace, result: dict, done: str) -> int:
    apply = result.get("apply") or {}
    failures = apply.get("failures") or []
    if args.json:
        print_json(result)
    else:
        print(done)
        for failure in failures:
            print(f"  failed: {failure.get('unit')}: {failure.get('error')}")
    return 0 if not failures else 1


def _config_name(args: argparse.Namespace) -> str:
    from ..declaration.config import resolve_config_path

    return str(resolve_config_path(args.config))

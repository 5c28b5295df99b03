"""Commands over the declaration alone: init, validate, config, plan. None of them starts anything."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_config_option, add_locked_option, load, print_json, use_color

__all__ = ["register"]



def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("init", help="write a starter aiplugs.toml (and the example plugins); never overwrites",
                            description="Write a commented starter aiplugs.toml. With --examples, also copy the "
                            "example plugins into plugins/ beside it, so `aiplugs apply` runs them at once. "
                            "Refuses (and writes nothing) when any target exists.")
    p.add_argument("path", nargs="?", default="aiplugs.toml", help="where to write it (default ./aiplugs.toml)")
    p.add_argument("--examples", action="store_true", help="also copy the example plugins into plugins/")
    p.set_defaults(handler=cmd_init)

    p = commands.add_parser("validate", help="check aiplugs.toml, the environment and every manifest",
                            description="Check the declaration and report every problem with file:line:col "
                            "or field path. Exit 0 when valid, 1 otherwise. Writes nothing.")
    add_config_option(p)
    p.set_defaults(handler=cmd_validate)

    p = commands.add_parser("config", help="show the effective configuration and where each value came from",
                            description="Print every effective setting with its origin (default, "
                            "aiplugs.toml:line:col or env NAME). Secrets are masked.")
    add_config_option(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=cmd_config)

    p = commands.add_parser("plan", help="show what `apply` would change",
                            description="Compare the declaration with what runs (from .aiplugs/state.json and "
                            "cheap checks) and print the actions `apply` would take. Changes nothing.")
    add_config_option(p)
    p.add_argument("--json", action="store_true", help="print the plan as versioned JSON")
    p.add_argument("--detailed-exitcode", action="store_true",
                   help="exit 0 when there are no changes, 2 when there are, 1 on error")
    add_locked_option(p)
    p.set_defaults(handler=cmd_plan)


def cmd_init(args: argparse.Namespace) -> int:
    from ..declaration.starter import init_project

    result = init_project(Path(args.path), examples=args.examples)
    print(f"Wrote {result.config}.")
    for folder in result.plugins:
        print(f"Wrote {folder}/")
    if result.plugins:
        print("Run `aiplugs apply` to start them, then `aiplugs browser` to see them on a page.")
    else:
        print("Add plugins under plugins/ (or run `aiplugs init --examples` in an empty folder) and run "
              "`aiplugs plan`.")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    config, desired = load(args)
    n = len(desired.plugins)
    print(f"{config.path.name} is valid: {n} plugin{'s' if n != 1 else ''} enabled"
          f" ({', '.join(p.id for p in desired.plugins) or 'none'}), {len(desired.models)} model(s).")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    import json

    from ..declaration.settings import secret_setting_paths

    config, _ = load(args)
    rows = config.effective(hidden=secret_setting_paths(config))
    if args.json:
        print_json({"format_version": "1", "config_file": str(config.path),
                    "values": [{"path": p, "value": v, "origin": o} for p, v, o in rows]})
        return 0
    width = max(len(p) for p, _, _ in rows)
    shown = [(p, json.dumps(v, ensure_ascii=False)) for p, v, _ in rows]
    vwidth = min(max(len(v) for _, v in shown), 40)
    for (path, value), (_, _, origin) in zip(shown, rows):
        print(f"{path:<{width}}  {value:<{vwidth}}  {origin}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from ..client.planning import plan_for

    config, desired = load(args)
    plan = plan_for(desired)
    if args.json:
        print_json(plan.to_dict())
    else:
        print(plan.to_text(color=use_color()))
    return 2 if (args.detailed_exitcode and plan.changes_present) else 0

"""``plugins outdated`` (read the release indexes, cache what they say) and ``plugins update`` (move tables to the
newest releases, after showing what each one would be allowed to do)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any, Callable

from ..errors import AiplugsError
from ._common import print_json
from ._plugins_shared import config_path, confirm, run, save_and_apply, show_diff
from ._plugins_view import inspect_for_install

__all__ = ["cmd_outdated", "cmd_update"]


def _candidates(desired: Any, only: str | None) -> list[tuple[str, str, str]]:
    """(id, installed version, update_url) of every installed package with an update_url (or just ``only``)."""
    from ..declaration.manifest import load_manifest
    from ..declaration.packages import resolve_source

    found = []
    for package in desired.packages:
        if (only and package.plugin_id != only) or package.path is None:
            continue
        manifest = load_manifest(package.path, package.plugin_id).manifest
        if manifest.update_url:
            found.append((package.plugin_id, manifest.version, resolve_source(manifest.update_url, package.path)))
    if only and not found:
        package = next((p for p in desired.packages if p.plugin_id == only), None)
        why = ("is not installed from a package (no source in its table)" if package is None else
               "is not installed yet; `aiplugs apply` installs it" if package.path is None else
               "has no update_url in its manifest")
        raise AiplugsError(f"{only} {why}; there is nothing to check")
    return found


def _check(config: Any, desired: Any, only: str | None) -> list[Any]:
    from ..adapters.packages import check_update, write_checks

    async def all_of(candidates: list[tuple[str, str, str]]) -> list[Any]:
        return list(await asyncio.gather(*(check_update(pid, version, url) for pid, version, url in candidates)))

    checks = run(all_of(_candidates(desired, only)))
    write_checks(config.state_dir, checks)
    return checks


def cmd_outdated(args: argparse.Namespace) -> int:
    from ..plan import load_desired_state

    config, desired = load_desired_state(config_path(args))
    checks = _check(config, desired, args.plugin)
    if args.json:
        print_json({"format_version": "1", "plugins": [c.to_dict() for c in checks]})
    elif not checks:
        print("No installed package has an update_url in its manifest; there is nothing to check.")
    else:
        _print_checks(checks)
    return 1 if any(c.error for c in checks) else 0


def _print_checks(checks: list[Any]) -> None:
    table = [("ID", "INSTALLED", "NEWEST", "")]
    for c in checks:
        note = ("update available: `aiplugs plugins update " + c.plugin_id + "`" if c.update_available else
                "error" if c.error else "up to date")
        table.append((c.plugin_id, c.current, c.latest.version if c.latest else "-", note))
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    for r in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    for c in checks:
        if c.error:
            print(f"error: {c.error}", file=sys.stderr)


def cmd_update(args: argparse.Namespace) -> int:
    from ..declaration.edit import ConfigEdit
    from ..declaration.plugins import declare_package
    from ..plan import load_desired_state

    path = config_path(args)
    config, desired = load_desired_state(path)
    checks = _check(config, desired, args.plugin)
    for c in checks:
        if c.error:
            print(f"error: {c.error}", file=sys.stderr)
    todo = [c for c in checks if c.update_available]
    if not todo:
        print("Every checked package is at its newest release." if checks else
              "No installed package has an update_url in its manifest; there is nothing to update.")
        return 1 if any(c.error for c in checks) else 0
    edit = ConfigEdit.load(path)
    settles: list[Callable[[str | None], None]] = []
    approved = False
    try:
        for c in todo:
            seen = _release(c, config.state_dir, settles)
            print(f"\n{c.plugin_id} {c.current} → {c.latest.version} ({seen.source}, {seen.size} bytes)")
            print(seen.permissions())
            declare_package(edit, c.plugin_id, c.latest.url, c.latest.sha256)
        show_diff(edit)
        names = ", ".join(f"{c.plugin_id} {c.latest.version}" for c in todo)
        if not confirm(f"Update to {names} with these permissions?", args.yes):
            print("Nothing was changed.")
            return 1
        for c, settle in zip(todo, settles):  # the apply that follows installs these downloads, fetching nothing
            settle(c.plugin_id)
        approved = True
    finally:
        if not approved:
            for settle in settles:
                settle(None)
    return save_and_apply(args, edit)


def _release(check: Any, state_dir: Path, settles: list[Callable[[str | None], None]]) -> Any:
    """The newest release, fetched and verified against the index's sha256, is the package it claims to be; its
    download's ``settle`` (``inspect_for_install``) is appended to ``settles``."""
    from packaging.version import Version

    latest = check.latest
    seen, settle = inspect_for_install(latest.url, latest.sha256, state_dir)
    settles.append(settle)
    if seen.problems:
        raise AiplugsError(f"{check.plugin_id} {latest.version} ({seen.source}): its manifest is not valid: "
                           + "; ".join(seen.problems) + ". Nothing was changed.")
    if seen.plugin_id != check.plugin_id or Version(seen.version) != Version(latest.version):
        raise AiplugsError(f"{check.update_url} lists {latest.version} at {seen.source}, but that package is "
                           f"{seen.plugin_id} {seen.version}; the index is wrong. Nothing was changed.")
    return seen

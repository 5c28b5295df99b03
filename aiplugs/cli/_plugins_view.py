"""``plugins pack``, ``plugins inspect`` and ``plugins list``: commands that show, and change nothing declared."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Callable

from ._common import print_json
from ._plugins_shared import checked_sha256, config_path, facts, run

__all__ = ["cmd_inspect", "cmd_list", "cmd_pack", "inspect_for_install", "inspect_uri"]


def cmd_pack(args: argparse.Namespace) -> int:
    from ..adapters.packages import pack

    packed = pack(Path(args.folder), Path(args.output) if args.output else None, fmt=args.format)
    if args.json:
        print_json({"format_version": "1", "path": str(packed.path), "id": packed.plugin_id,
                    "version": packed.version, "sha256": packed.sha256, "size": packed.size,
                    "files": packed.file_count})
        return 0
    print(f"Packed {packed.plugin_id} {packed.version} ({packed.file_count} files) into {packed.path}")
    print(f"sha256: {packed.sha256}")
    print(f"size:   {packed.size} bytes")
    return 0


def inspect_uri(uri: str, sha256: str | None, state_dir: Path | None) -> Any:
    """The Inspection of ``uri`` (a path relative to the current folder made absolute), fetched into a temp folder
    of the state dir that is gone afterwards."""
    from ..adapters.packages import inspect_source
    from ..declaration.packages import resolve_source

    return run(inspect_source(resolve_source(uri, Path.cwd()), work_dir=state_dir, sha256=sha256))


def inspect_for_install(uri: str, sha256: str | None, state_dir: Path) -> tuple[Any, Callable[[str | None], None]]:
    """The Inspection of ``uri``, fetched into the project's package store under a stand-in name, and ``settle``
    for that download: ``settle(plugin_id)`` keeps it as that plugin's, where the install that follows (apply's,
    or the daemon's job) finds it verified and fetches nothing again; ``settle(None)`` drops it."""
    from ..adapters.packages import PackageError, PackageStore, inspect_archive
    from ..declaration.packages import resolve_source

    store = PackageStore(state_dir)
    source = resolve_source(uri, Path.cwd())
    stand_in = f"_inspect-{os.getpid()}"
    try:
        fetched = run(store.fetch(stand_in, source, sha256))
    except PackageError as e:  # said of the package, not of the stand-in name it was fetched under
        raise PackageError(f"{str(e).removeprefix(f'{stand_in}: ')}; nothing was changed") from None
    try:
        seen = inspect_archive(fetched.path, source=source, sha256=fetched.sha256)
    except BaseException:
        run(store.discard(fetched))
        raise

    def settle(plugin_id: str | None) -> None:
        run(store.keep_as(plugin_id, fetched) if plugin_id is not None else store.discard(fetched))

    return seen, settle


def _state_dir_if_any(args: argparse.Namespace) -> Path | None:
    """The project's state dir when there is a project here; else None (the system's temp folder is used)."""
    from ..declaration.config import load_config
    from ..errors import ConfigError

    try:
        config = load_config(args.config, require_file=False)
    except ConfigError:
        return None
    return config.state_dir if config.file_exists else None


def cmd_inspect(args: argparse.Namespace) -> int:
    seen = inspect_uri(args.uri, checked_sha256(args.sha256), _state_dir_if_any(args))
    if args.json:
        print_json(seen.to_dict())
    else:
        print(seen.to_text())
    return 1 if seen.problems else 0


def cmd_list(args: argparse.Namespace) -> int:
    from ..adapters.packages import read_checks
    from ..plan import load_desired_state

    config, desired = load_desired_state(config_path(args))
    checks = read_checks(config.state_dir)
    states = _daemon_states(config.state_dir)
    rows = []
    for plugin in facts(config, desired).values():
        check = checks.get(plugin.id)
        rows.append({"id": plugin.id, "version": plugin.version, "source": plugin.source,
                     "folder": str(plugin.folder) if plugin.folder else None, "enabled": plugin.enabled,
                     "state": _state(plugin, states), "sha256": plugin.sha256,
                     "update_available": _newer(check, plugin.version),
                     "checked_at": check.checked_at if check else None})
    if args.json:
        print_json({"format_version": "1", "daemon": bool(states), "plugins": rows})
        return 0
    _print_table(rows, config.root)
    return 0


def _state(plugin: Any, states: dict[str, str]) -> str:
    if plugin.id in states:
        return states[plugin.id]
    if not plugin.enabled:
        return "disabled"
    # no daemon runs, or it does not run this plugin yet: `aiplugs apply` starts it
    return "not installed" if not plugin.installed else "not running"


def _newer(check: Any, version: str | None) -> str | None:
    """The cached newest release's version when it is newer than what is declared now (an update since the check
    makes it stale, not wrong)."""
    from packaging.version import InvalidVersion, Version

    if check is None or check.latest is None or version is None:
        return None
    try:
        return check.latest.version if Version(check.latest.version) > Version(version) else None
    except InvalidVersion:
        return None


def _daemon_states(state_dir: Path) -> dict[str, str]:
    """Plugin states from the running daemon (a loopback call); {} when none runs."""
    from ..client import DaemonClient
    from ..client.errors import DaemonError

    client = DaemonClient.find(state_dir)
    if client is None:
        return {}
    try:
        return {p["id"]: p["state"] for p in client.status().get("plugins", [])}
    except DaemonError:
        return {}


def _print_table(rows: list[dict[str, Any]], root: Path) -> None:
    if not rows:
        print("No plugins. Install one with `aiplugs plugins install URI`.")
        return
    table = [("ID", "VERSION", "SOURCE", "STATE", "UPDATE")]
    for row in rows:
        where = row["source"] or (_relative(Path(row["folder"]), root) if row["folder"] else "-")
        table.append((row["id"], row["version"] or "?", where, row["state"],
                      f"{row['update_available']} available" if row["update_available"] else ""))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())


def _relative(path: Path, root: Path) -> str:
    try:
        return f"folder {path.relative_to(root)}"
    except ValueError:
        return f"folder {path}"

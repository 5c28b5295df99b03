"""``plugins install``, ``remove``, ``enable`` and ``disable``: decide from the declaration, show the edit of
aiplugs.toml, confirm, save it and apply. Nothing of a package runs before a person said yes."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

from ..errors import AiplugsError
from ._plugins_shared import (PluginFacts, checked_sha256, config_path, confirm, facts, save_and_apply, show_diff)
from ._plugins_view import inspect_for_install

__all__ = ["cmd_disable", "cmd_enable", "cmd_install", "cmd_remove"]

DATA_DIR = "data"  # <state_dir>/data/<id>/: a plugin's own files (its ctx.data_dir)


# ---- install -------------------------------------------------------------------------------------------------

def cmd_install(args: argparse.Namespace) -> int:
    from ..declaration.config import load_config

    path = config_path(args)
    # aiplugs.toml itself must be valid; the rest may not be yet (a table waiting for this very package)
    config = load_config(path)
    seen, settle = inspect_for_install(args.uri, checked_sha256(args.sha256), config.state_dir)
    kept: list[str] = []

    def keep(plugin_id: str) -> None:  # the person said yes: the install that follows uses this download
        settle(plugin_id)
        kept.append(plugin_id)

    try:
        return _install(args, path, config, seen, keep)
    finally:
        if not kept:
            settle(None)


def _install(args: argparse.Namespace, path: Path, config: Any, seen: Any, keep: Callable[[str], None]) -> int:
    """``plugins install`` once the package was fetched and inspected; ``keep(plugin_id)`` once a person approved."""
    from ..declaration.edit import ConfigEdit
    from ..declaration.packages import resolve_source
    from ..declaration.plugins import REFUSED, declare_package, install_verdict, written_source
    from ..plan.packages import current_declaration

    plugin_id = _checked_id(args, seen)
    current, installed = current_declaration(config, plugin_id)
    verdict = install_verdict(current, seen.version, seen.sha256, force=args.force)
    if verdict == "already-installed":
        how = "installed" if installed else "declared; `aiplugs apply` installs it"
        print(f"{plugin_id} {seen.version} (sha256 {seen.sha256[:12]}…) is already {how}. Nothing to do.")
        return 0
    if verdict in REFUSED:
        raise AiplugsError(_refusal(verdict, plugin_id, seen, current, config.plugins_dir / plugin_id))
    print(seen.to_text())
    if verdict != "install":
        print(_what_changes(verdict, current, seen, config.plugins_dir / plugin_id))
    if args.detach:
        if not confirm(f"Install {plugin_id} {seen.version} with these permissions?", args.yes):
            print("Nothing was changed.")
            return 1
        keep(plugin_id)
        return _detach(config.state_dir, resolve_source(args.uri, Path.cwd()), plugin_id, seen, args.force)
    edit = ConfigEdit.load(path)
    declare_package(edit, plugin_id, written_source(args.uri, path.parent, Path.cwd()), seen.sha256)
    show_diff(edit)
    if not confirm(f"Install {plugin_id} {seen.version} with these permissions?", args.yes):
        print("Nothing was changed.")
        return 1
    keep(plugin_id)
    return save_and_apply(args, edit)


def _checked_id(args: argparse.Namespace, seen: Any) -> str:
    if seen.problems:
        print(seen.to_text())
        raise AiplugsError(f"{seen.source}: its manifest is not valid ({len(seen.problems)} problem(s) above); "
                           "nothing was changed")
    if args.id is not None and args.id != seen.plugin_id:
        raise AiplugsError(f"--id {args.id!r} does not match the package's manifest id {seen.plugin_id!r}: an "
                           "installed package's manifest id must equal its [plugins.<id>] table. Leave --id out, "
                           f"or pass --id {seen.plugin_id}. Nothing was changed.")
    return str(seen.plugin_id)


def _what_changes(verdict: str, current: Any, seen: Any, folder: Path) -> str:
    if verdict == "update":
        return f"This replaces {seen.plugin_id} {current.version or '(version unknown)'} with {seen.version}."
    if verdict == "reinstall":
        return f"This replaces the content of {seen.plugin_id} {seen.version} (--force)."
    return f"This replaces the plugin folder {folder}, which stays on disk but is ignored (--force)."


def _refusal(verdict: str, plugin_id: str, seen: Any, current: Any, folder: Path) -> str:
    if verdict == "folder":
        return (f"{plugin_id} is the plugin folder {folder}; a package of that id would replace it (the folder "
                "would be ignored). Move the folder away first, or pass --force. Nothing was changed.")
    pinned = current.sha256[:12] + "…" if current.sha256 else "unknown"
    return (f"{plugin_id} {seen.version} is already declared with other content (sha256 {pinned}; this package "
            f"has {seen.sha256[:12]}…). The same version with different content is a re-release or a tampered "
            "package: ask its publisher, or pass --force to install it anyway. Nothing was changed.")


def _detach(state_dir: Path, uri: str, plugin_id: str, seen: Any, force: bool) -> int:
    """The daemon's install job (``POST /api/installs``) does the edit and the apply; we print its id. The sha256
    the person saw goes along, so the job installs exactly that."""
    from ..client import DaemonClient

    client = DaemonClient.find(state_dir)
    if client is None:
        raise AiplugsError(f"--detach needs a running daemon for {state_dir}, and none runs. Start one with "
                           "`aiplugs apply`, or install without --detach. Nothing was changed.")
    answer = client.request("POST", "/api/installs", {"uri": uri, "id": plugin_id, "sha256": seen.sha256,
                                                      "force": force})
    job = answer.get("job_id") if isinstance(answer, dict) else None
    if not job:
        raise AiplugsError(f"the daemon did not answer with a job id (got {answer!r}); is it older than this CLI?")
    print(f"Install job {job} queued in the daemon (pid {client.pid}); GET /api/installs/{job} shows how it goes.")
    return 0


# ---- remove ----------------------------------------------------------------------------------------------------

def cmd_remove(args: argparse.Namespace) -> int:
    from ..declaration.edit import ConfigEdit
    from ..declaration.plugins import undeclare
    from ..errors import did_you_mean
    from ..plan import load_desired_state

    path = config_path(args)
    config, desired = load_desired_state(path)
    pid, known = args.plugin, facts(config, desired)
    edit = ConfigEdit.load(path)
    if edit.get(("plugins", pid)) is None:
        raise AiplugsError(f"{path.name} has no [plugins.{pid}] table; nothing to remove" + did_you_mean(pid, known))
    plugin = known.get(pid)
    if plugin is not None and plugin.kind == "folder":
        raise AiplugsError(f"{pid} is not installed from a package: it is the folder {plugin.folder}, and it stays a "
                           f"plugin without its table. Delete that folder yourself, or `aiplugs plugins disable "
                           f"{pid}`. Nothing was changed.")
    _refuse_dependents(pid, known, "remove")
    undeclare(edit, pid)
    show_diff(edit)
    data = config.state_dir / DATA_DIR / pid
    extra = f" and delete its data folder {data}" if args.purge else ""
    if not confirm(f"Remove plugin {pid}{extra}?", args.yes):
        print("Nothing was changed.")
        return 1
    code = save_and_apply(args, edit)
    if code != 0:
        if args.purge:
            print(f"Apply did not complete; {data} was kept.", file=sys.stderr)
        return code
    if args.purge and data.exists():
        shutil.rmtree(data, ignore_errors=True)
        print(f"Deleted {data}." if not data.exists() else f"Could not delete all of {data}.")
    elif args.purge:
        print(f"{pid} had no data folder ({data}); nothing to purge.")
    print(f"Removed {pid}. Its models stay in the model store (`aiplugs models gc` removes unused ones).")
    return 0


def _refuse_dependents(pid: str, known: dict[str, PluginFacts], doing: str) -> None:
    from ..declaration.plugins import dependents

    users = dependents(pid, {p.id: p.dependencies for p in known.values() if p.enabled})
    if users:
        names = ", ".join(users)
        raise AiplugsError(f"cannot {doing} {pid}: the enabled plugin(s) {names} depend on it. Disable or remove "
                           f"{names} first. Nothing was changed.")


# ---- enable / disable ----------------------------------------------------------------------------------------

def cmd_enable(args: argparse.Namespace) -> int:
    return _set_enabled(args, True)


def cmd_disable(args: argparse.Namespace) -> int:
    return _set_enabled(args, False)


def _set_enabled(args: argparse.Namespace, enabled: bool) -> int:
    from ..declaration.edit import ConfigEdit
    from ..declaration.plugins import set_enabled
    from ..errors import did_you_mean
    from ..plan import load_desired_state

    path = config_path(args)
    config, desired = load_desired_state(path)
    pid, known, word = args.plugin, facts(config, desired), "enabled" if enabled else "disabled"
    if pid not in known:
        raise AiplugsError(f"no plugin {pid!r}" + did_you_mean(pid, known) + "; `aiplugs plugins list` shows them")
    origin = config.origin(f"plugins.{pid}.enabled")
    if origin.startswith("env "):
        raise AiplugsError(f"{pid}: enabled is set by the environment ({origin[4:]}), which overrides "
                           f"{path.name}; change or unset that variable instead. Nothing was changed.")
    if known[pid].enabled == enabled:
        print(f"{pid} is already {word}. Nothing to do.")
        return 0
    if not enabled:
        _refuse_dependents(pid, known, "disable")
    edit = ConfigEdit.load(path)
    set_enabled(edit, pid, enabled)
    show_diff(edit)
    return save_and_apply(args, edit)

"""What the ``plugins`` commands share: asking a person, saving an edit of aiplugs.toml and applying it, and the
facts about every plugin (where it comes from, its version, what it pins)."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Coroutine, TypeVar

from ..errors import AiplugsError

__all__ = ["PluginFacts", "checked_sha256", "config_path", "confirm", "facts", "manifest_version", "run",
           "save_and_apply", "show_diff"]

T = TypeVar("T")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def config_path(args: argparse.Namespace) -> Path:
    from ..declaration.config import resolve_config_path

    return resolve_config_path(args.config)


def checked_sha256(value: str | None) -> str | None:
    if value is None:
        return None
    if not _HEX64.fullmatch(value.strip()):
        raise AiplugsError(f"--sha256: must be 64 hex digits (a package's sha256), got {value!r}")
    return value.strip().lower()


def confirm(question: str, yes: bool) -> bool:
    """True with ``--yes``; else a person must type yes. Without a terminal there is nobody to ask: refused."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise AiplugsError(f"{question} — that needs a person's yes, and there is no terminal to ask on. Run it "
                           "in a terminal, or pass --yes to confirm ahead. Nothing was changed.")
    try:
        answer = input(f"\n{question} Only 'yes' is accepted: ")
    except EOFError:
        return False
    return answer.strip().lower() in ("yes", "y")


def show_diff(edit: Any) -> None:
    print(f"\nChanges to {edit.path}:")
    print(edit.diff().rstrip("\n"))


def save_and_apply(args: argparse.Namespace, edit: Any) -> int:
    """Writes the edit, reads the declaration again (an edit that does not validate is reverted, byte for byte),
    then applies it; the person already approved, so apply does not ask again. Returns apply's exit code."""
    from ..errors import ConfigError
    from ..plan import load_desired_state
    from ._lifecycle import run_apply

    before = edit.original
    edit.save()
    try:
        _, desired = load_desired_state(edit.path)
    except ConfigError:
        edit.replace_text(before)
        edit.save()
        print(f"The edit did not validate; {edit.path.name} was restored.", file=sys.stderr)
        raise
    print(f"Wrote {edit.path}.")
    options = argparse.Namespace(auto_approve=True, json=False, wait_timeout=args.wait_timeout, lock_timeout=30.0)
    code, _ = run_apply(options, desired)
    return code


@dataclass(frozen=True)
class PluginFacts:
    id: str
    kind: str  # "package" (declared with a source) or "folder" (a folder of plugins_dir)
    enabled: bool
    version: str | None  # None: a package not installed yet (or a manifest that does not load)
    source: str | None  # as aiplugs.toml holds it
    sha256: str | None  # what the declaration or aiplugs.lock pins
    installed: bool
    folder: Path | None  # where its manifest is
    dependencies: tuple[str, ...]


def facts(config: Any, desired: Any) -> dict[str, PluginFacts]:
    """Every plugin the declaration knows, by id: enabled and disabled, folders and packages (installed or not)."""
    from ..declaration.lockfile import lock_path, read_lock
    from ..declaration.packages import find_installed

    locked = read_lock(lock_path(config.path)).plugins
    specs = {p.id: p for p in desired.plugins}
    packages = {p.plugin_id: p for p in desired.packages}
    found = {}
    for pid in sorted(set(specs) | set(desired.disabled) | set(packages)):
        pconf = config.settings.plugins.get(pid)
        package, spec = packages.get(pid), specs.get(pid)
        sourced = pconf is not None and pconf.source is not None  # a package, even when disabled (not planned)
        pin = package.sha256 if package else (locked[pid].sha256 if sourced and pid in locked else None)
        installed = find_installed(config.state_dir, pid, pin) if sourced else None
        folder = spec.dir if spec else (installed.path if installed else None if sourced else config.plugins_dir / pid)
        version = spec.version if spec else manifest_version(folder, pid) if folder is not None else None
        if sourced and version is None and pid in locked and locked[pid].sha256 == pin:
            version = locked[pid].version
        found[pid] = PluginFacts(
            id=pid, kind="package" if sourced else "folder", enabled=pconf.enabled if pconf else True,
            version=version, source=pconf.source if sourced else None, sha256=pin,
            installed=not sourced or installed is not None, folder=folder,
            dependencies=spec.dependencies if spec else ())
    return found


def manifest_version(folder: Path, plugin_id: str) -> str | None:
    from ..declaration.manifest import load_manifest
    from ..errors import ConfigError

    try:
        return load_manifest(folder, plugin_id).manifest.version
    except (ConfigError, OSError):
        return None

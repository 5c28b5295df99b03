"""The plugins that come from packages (``[plugins.<id>] source = ...``): which content is wanted, whether it is
installed, and — when it is — the plugin as its installed manifest declares it.

A plugin whose package is not installed yet is *pending*: the plan installs it, and the next pass (the daemon
reads the declaration again) plans its workers and routes from the manifest that came with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from ..declaration.config import Config, PluginConfig
from ..declaration.lockfile import LOCK_FILE, LockedPlugin, LockFile, lock_path, read_lock
from ..declaration.manifest import LoadedPlugin, load_manifest
from ..declaration.packages import find_installed, resolve_source
from ..errors import ConfigError, Problem
from .desired import DesiredState, PackageSpec

if TYPE_CHECKING:
    from ..declaration.plugins import Current

__all__ = ["current_declaration", "lock_differences", "sourced_plugins"]


def sourced_plugins(config: Config, problems: list[Problem]) -> tuple[dict[str, LoadedPlugin],
                                                                      tuple[PackageSpec, ...],
                                                                      dict[str, LoadedPlugin]]:
    """Installed sourced plugins (loaded from their package), a PackageSpec for every enabled sourced plugin, and
    the *parked* ones: disabled sourced plugins whose pinned package is installed, loaded from it, so that what they
    would run in is kept (their Python environment). A disabled plugin's package is neither fetched nor removed, and
    one that does not load is left out without a problem (nothing checks a disabled plugin)."""
    try:
        locked: Mapping[str, LockedPlugin] = read_lock(lock_path(config.path)).plugins
    except ConfigError as e:
        problems.extend(e.problems)
        locked = {}
    loaded: dict[str, LoadedPlugin] = {}
    parked: dict[str, LoadedPlugin] = {}
    specs = []
    for plugin_id, pconf in sorted(config.settings.plugins.items()):
        if pconf.source is None:
            continue
        source = resolve_source(pconf.source, config.root)
        sha, pinned_by = _pinned(pconf, locked.get(plugin_id), source)
        package = find_installed(config.state_dir, plugin_id, sha)
        if not pconf.enabled:
            if package is not None:
                try:
                    parked[plugin_id] = load_manifest(package.path, plugin_id)
                except ConfigError:
                    pass
            continue
        if package is not None:
            try:
                loaded[plugin_id] = load_manifest(package.path, plugin_id)
            except ConfigError as e:
                problems.extend(e.problems)
        specs.append(PackageSpec(plugin_id, source, sha, pinned_by,  # type: ignore[arg-type]
                                 package.version if package else None, package.path if package else None,
                                 pconf.source))
    return loaded, tuple(specs), parked


def _pinned(pconf: PluginConfig, entry: LockedPlugin | None, source: str) -> tuple[str | None, str]:
    """The sha256 a sourced plugin is pinned to, and by what (None: whatever its source holds at first install)."""
    if pconf.sha256 is not None:
        return pconf.sha256, "aiplugs.toml"
    if entry is not None and entry.source in (pconf.source, source):
        return entry.sha256, "aiplugs.lock"
    return None, "first install"


def lock_differences(desired: DesiredState, lock: LockFile) -> list[str]:
    """Why ``apply --locked`` refuses: one line per sourced plugin the lock does not pin as declared, and per
    locked plugin no longer declared; [] when installing would not change ``aiplugs.lock``."""
    lines = []
    for package in desired.packages:
        entry = lock.plugins.get(package.plugin_id)
        if entry is None:
            lines.append(f"{package.plugin_id}: not in {LOCK_FILE}")
        elif entry.source not in (package.locked_source, package.source):
            lines.append(f"{package.plugin_id}: source {entry.source} locked, {package.locked_source} declared")
        elif package.sha256 is not None and package.sha256 != entry.sha256:
            lines.append(f"{package.plugin_id}: sha256 {entry.sha256[:12]}… locked, {package.sha256[:12]}… declared")
    declared = {p.plugin_id for p in desired.packages} | set(desired.disabled)
    lines += [f"{plugin_id}: locked but no longer declared" for plugin_id in sorted(set(lock.plugins) - declared)]
    return lines


def current_declaration(config: Config, plugin_id: str) -> tuple[Current | None, bool]:
    """What the declaration holds for ``plugin_id`` now — a package and what it pins, a plugin folder, or nothing —
    and whether that package is installed; from aiplugs.toml, aiplugs.lock and the state dir alone (what
    ``plugins install`` and the daemon's install jobs decide on)."""
    from ..declaration.plugins import Current  # the install decisions' vocabulary; a plan does not need it

    _, packages, _ = sourced_plugins(config, [])
    package = next((p for p in packages if p.plugin_id == plugin_id), None)
    if package is not None:
        try:
            entry = read_lock(lock_path(config.path)).plugins.get(plugin_id)
        except ConfigError:
            entry = None
        locked = entry.version if entry is not None and entry.sha256 == package.sha256 else None
        return Current("package", package.installed_version or locked, package.sha256), package.path is not None
    folder = config.plugins_dir / plugin_id
    if (folder / "manifest.json").is_file():
        try:
            version: str | None = load_manifest(folder, plugin_id).manifest.version
        except (ConfigError, OSError):
            version = None
        return Current("folder", version, None), True
    return None, False

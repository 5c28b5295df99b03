"""A plugin's ``[plugins.<id>.settings]`` checked against its manifest's ``settings_schema``: defaults filled in,
every violation at its ``aiplugs.toml:line:col`` (or ``env AIPLUGS_...``), secrets kept out of the file and out of
every message.

Settings arrive merged from the file and the environment by ``load_config`` (``AIPLUGS_PLUGINS__<ID>__SETTINGS__
<KEY>`` overrides ``[plugins.<id>.settings] <key>``, with origins); this module decides what they mean. Properties
marked ``"writeOnly": true`` are secrets: they may come only from the environment (an API key in a file ends up in
version control), and their values are masked wherever settings are shown.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Collection, Mapping, Sequence

from ..errors import ConfigError, Problem
from ..util.redact import MASK
from .config import Config
from .manifest import LoadedPlugin, Manifest, load_manifest, plugin_folders
from .packages import installed_packages
from .schemas import compiled, default_filled, field_errors
from .sources import FileValues, Origins, shown_path, split_origin

if TYPE_CHECKING:
    from .positions import KeyPath, Position

__all__ = ["NO_SOURCE", "ResolvedSettings", "SettingsSource", "redacted_settings", "resolve_plugin_settings",
           "resolve_settings", "secret_env_name", "secret_setting_paths", "settings_source"]


@dataclass(frozen=True)
class ResolvedSettings:
    """The settings a plugin's workers get (``values``, defaults filled in) and which of them are secrets (dotted
    keys inside the settings, ``"api_key"``, ``"auth.token"``)."""

    values: Mapping[str, Any] = field(default_factory=dict, hash=False)
    secrets: frozenset[str] = frozenset()

    def to_json(self) -> str:
        """What ``AIPLUGS_SETTINGS`` carries to the workers: secrets included, so never log it."""
        return json.dumps(self.values, sort_keys=True, separators=(",", ":"))


def redacted_settings(resolved: ResolvedSettings) -> dict[str, Any]:
    """A copy of the values safe to show: every secret that is set replaced by MASK."""
    shown = copy.deepcopy(dict(resolved.values))
    for dotted in resolved.secrets:
        *parents, last = dotted.split(".")
        node: Any = shown
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and last in node:
            node[last] = MASK
    return shown


@dataclass(frozen=True)
class SettingsSource:
    """Where one plugin's settings were written, by dotted key inside the table (``""`` is the table itself).

    ``origins``: where each effective value came from (``aiplugs.toml:5:11``, ``env AIPLUGS_...``), as
    ``Config.origins`` records them. ``written``: each key's position in the file, even where the environment
    overrides it, and for ``""`` the ``[plugins.<id>.settings]`` header (else ``[plugins.<id>]``'s), worked out
    from ``values`` (the file) on first use; ``plugin_id`` says which table is the plugin's."""

    file: str = "aiplugs.toml"
    origins: Origins = field(default_factory=Origins)
    values: FileValues | None = None
    plugin_id: str = ""

    @cached_property
    def written(self) -> dict[str, Position]:
        positions = self.values.positions if self.values is not None else {}
        table = ("plugins", self.plugin_id, "settings")
        written = {".".join(path[3:]): pos for path, pos in positions.items() if path[:3] == table}
        if "" not in written and ("plugins", self.plugin_id) in positions:
            written[""] = positions[("plugins", self.plugin_id)]
        return written

    @cached_property
    def _keys(self) -> frozenset[str]:
        return self.values.keys_under(("plugins", self.plugin_id, "settings")) if self.values else frozenset()

    def writes(self, dotted: str) -> bool:
        """Whether ``dotted`` is in ``written``; asked of the file's values first, so the positions are worked out
        only when the file does hold the key."""
        return dotted in self._keys and dotted in self.written

    def where(self, path: Sequence[str | int]) -> tuple[str, int | None, int | None]:
        """The position of the value at ``path``, else of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            dotted = ".".join(map(str, path[:end]))
            if dotted in self.origins:
                return split_origin(self.origins[dotted])
            if dotted in self.written:
                return (self.file, *self.written[dotted])
        return (self.file, None, None)

    def from_file(self, path: Sequence[str]) -> bool:
        """Whether the effective value at ``path`` is the file's: neither the environment nor an argument
        overrode it (or the table holding it)."""
        recorded = self.origins.recorded()  # None: the file's (its position is not needed to know that)
        for end in range(len(path), -1, -1):
            dotted = ".".join(path[:end])
            if dotted in recorded:
                origin = recorded[dotted]
                return origin is None or (not origin.startswith("env ") and origin != "argument")
        return False


NO_SOURCE = SettingsSource()


def secret_env_name(plugin_id: str, path: Sequence[str]) -> str:
    """The variable that carries a secret: ``AIPLUGS_PLUGINS__WORD_COUNT__SETTINGS__API_KEY``."""
    return "__".join(["AIPLUGS_PLUGINS", plugin_id.replace("-", "_").upper(), "SETTINGS", *(p.upper() for p in path)])


def resolve_settings(
    manifest: Manifest, settings: Mapping[str, Any], *, plugin_id: str | None = None,
    env: Mapping[str, str] | None = None, source: SettingsSource = NO_SOURCE,
) -> ResolvedSettings:
    """``settings`` (as ``load_config`` merged them) checked against ``manifest.settings_schema``, with schema
    defaults filled in; raises ConfigError with every problem. Without a schema the settings pass as they are.

    ``env``: the environment the settings were read from. A value the schema wants as a string is taken from it
    verbatim (``AIPLUGS_..._TOKEN=0123`` stays ``"0123"``; the environment source parses settings as JSON)."""
    pid = plugin_id or manifest.id
    schema = manifest.settings_schema
    if schema is None:
        return ResolvedSettings(copy.deepcopy(dict(settings)))
    secrets = manifest.secret_settings
    values = _raw_strings(copy.deepcopy(dict(settings)), schema, source, os.environ if env is None else env)
    problems: list[Problem] = []
    refused: set[KeyPath] = set()
    for path in secrets:
        dotted = ".".join(path)
        if source.writes(dotted):
            line, col = source.written[dotted]
            problems.append(Problem(source.file, f"keep secrets out of the file; set env {secret_env_name(pid, path)}"
                                                 " instead", _field(pid, path), line, col))
            if source.from_file(path):
                refused.add(path)
                _remove(values, path)
    values = default_filled(schema, values)

    def hidden(path: Sequence[str | int]) -> bool:  # a secret, inside one, or an object holding one
        return any(tuple(path[: len(s)]) == s or s[: len(path)] == tuple(path) for s in secrets)

    for path, message in field_errors(compiled(schema), values, hidden=hidden, noun="setting"):
        if tuple(path) in refused:
            continue  # already told to move it to the environment
        if tuple(path) in secrets and message == "required setting is missing":
            message = f"required secret is missing; set env {secret_env_name(pid, [str(p) for p in path])}"
        where, line, col = source.where(path)
        problems.append(Problem(where, message, _field(pid, path), line, col))
    if problems:
        raise ConfigError(problems)
    return ResolvedSettings(values, frozenset(".".join(p) for p in secrets))


def _field(plugin_id: str, path: Sequence[str | int]) -> str:
    return ".".join(["plugins", plugin_id, "settings", *map(str, path)])


def _remove(values: dict[str, Any], path: KeyPath) -> None:
    node: Any = values
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


def _raw_strings(values: dict[str, Any], schema: Mapping[str, Any], source: SettingsSource,
                 env: Mapping[str, str]) -> dict[str, Any]:
    """``values`` with each environment value the schema types as a string put back as the variable's text."""
    for dotted, origin in source.origins.recorded().items():
        name = origin[4:] if origin is not None and origin.startswith("env ") else None
        path = tuple(dotted.split(".")) if dotted else ()
        sub = _subschema(schema, path)
        if name is None or name not in env or not path or sub is None or sub.get("type") != "string":
            continue
        node: Any = values
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node and not isinstance(node[path[-1]], str):
            node[path[-1]] = env[name]
    return values


def _subschema(schema: Mapping[str, Any], path: KeyPath) -> Mapping[str, Any] | None:
    node: Any = schema
    for key in path:
        props = node.get("properties") if isinstance(node, Mapping) else None
        node = props.get(key) if isinstance(props, Mapping) else None
    return node if isinstance(node, Mapping) else None


# --- the declaration as a whole ----------------------------------------------------------------------------------


def settings_source(config: Config, plugin_id: str) -> SettingsSource:
    """One plugin's part of ``config``'s origins and of the file."""
    return SettingsSource(shown_path(config.path), config.origins.within(f"plugins.{plugin_id}.settings"),
                          config.origins.file, plugin_id)


def resolve_plugin_settings(
    config: Config, plugins: Mapping[str, LoadedPlugin], *, env: Mapping[str, str] | None = None
) -> tuple[dict[str, ResolvedSettings], list[Problem]]:
    """Settings of every plugin in ``plugins`` (pass the enabled ones), and the problems of all of them together.

    ``env``: the environment ``config`` was loaded with (default ``os.environ``)."""
    resolved: dict[str, ResolvedSettings] = {}
    problems: list[Problem] = []
    for pid in sorted(plugins):
        pconf = config.settings.plugins.get(pid)
        given = pconf.settings if pconf is not None else {}
        manifest = plugins[pid].manifest
        if manifest.settings_schema is None:
            resolved[pid] = ResolvedSettings(copy.deepcopy(dict(given)))
            continue
        try:
            resolved[pid] = resolve_settings(manifest, given, plugin_id=pid, env=env,
                                             source=settings_source(config, pid))
        except ConfigError as e:
            problems.extend(e.problems)
    return resolved, problems


def secret_setting_paths(config: Config, plugins: Collection[LoadedPlugin] | None = None) -> frozenset[str]:
    """Dotted paths (``plugins.<id>.settings.<key>``) of every secret setting, for ``Config.effective(hidden=)``.

    Without ``plugins``: the manifests of every plugin folder and every installed version of every package, enabled
    or not, so ``aiplugs config`` masks a secret whichever manifest declares it."""
    if plugins is None:
        plugins = _every_manifest(config)
    return frozenset(_field(p.id, path) for p in plugins for path in p.manifest.secret_settings)


def _every_manifest(config: Config) -> list[LoadedPlugin]:
    folders = [config.plugins_dir / name for name in sorted(plugin_folders(config.plugins_dir))]
    folders += [package.path for pid, pconf in sorted(config.settings.plugins.items()) if pconf.source is not None
                for package in installed_packages(config.state_dir, pid)]
    found = []
    for folder in folders:
        try:
            found.append(load_manifest(folder, plugin_id=None if folder.parent == config.plugins_dir else
                                       folder.parent.name))
        except ConfigError:
            continue  # reported by validation; an unreadable manifest declares no secrets to mask
    return found

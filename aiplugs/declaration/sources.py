"""Where setting values come from: the TOML file and the environment, each value with its origin.

Each source is a pydantic-settings source holding values read beforehand, plus the origin of each leaf:
``aiplugs.toml:14:11`` (value position in the file), ``env AIPLUGS_PROXY__PORT`` or ``env SYSTEM_API_KEY``.
pydantic-settings merges the values by priority; ``load_config`` merges the origins in the same order.
In environment names a plugin id's ``-`` is written ``_``; keys under ``env`` keep their case, everything else is
case-insensitive; values that look like JSON lists or objects (or any value under ``settings``) are parsed as JSON.

The file's positions are worked out when first asked for (``FileValues``): they take a second parse of the text by
tomlkit (``positions.locate``), which costs about as much as the rest of a load, and tomlkit's modules stay in
memory after. Error messages, ``Config.origin`` and ``aiplugs config`` ask; a load that finds no problem does not.
"""

from __future__ import annotations

import json
import re
import tomllib
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from ..errors import ConfigError, Problem

if TYPE_CHECKING:
    from .positions import KeyPath, Position

__all__ = [
    "DictSource",
    "ENV_PREFIX",
    "EnvSource",
    "FileValues",
    "LEGACY_ENV",
    "LegacyEnvSource",
    "Origin",
    "Origins",
    "TomlSource",
    "env_source",
    "leaves",
    "legacy_env_source",
    "merge_origins",
    "shown_path",
    "split_origin",
    "toml_source",
]

ENV_PREFIX = "AIPLUGS_"
LEGACY_ENV = {"SYSTEM_API_KEY": ("cloud", "api_key"), "CLOUD_BASE_URL": ("cloud", "base_url")}
Origin = str  # "default" | "aiplugs.toml:3:8" | "env AIPLUGS_PROXY__PORT" | "argument"


class FileValues:
    """One TOML file's values (``data``, as ``tomllib`` read them from ``text``) and, worked out on first use, the
    position of each key in it. ``shown``: the file as messages name it."""

    def __init__(self, shown: str, text: str = "", data: dict[str, Any] | None = None) -> None:
        self.shown = shown
        self.text = text
        self.data: dict[str, Any] = {} if data is None else data

    @cached_property
    def positions(self) -> dict[KeyPath, Position]:
        """``positions.locate`` of the text: every key path (tables and array elements too) at its 1-based line and
        column; ``{}`` where tomlkit cannot parse what tomllib did."""
        from .positions import locate  # tomlkit: only when a position is asked for

        return locate(self.text) if self.text else {}

    @cached_property
    def origins(self) -> dict[str, Origin]:
        """``aiplugs.toml:14:11`` for each leaf value, in ``leaves`` order (the file alone when it has no position)."""
        positions, origins = self.positions, {}
        for leaf in leaves(self.data):
            line, col = positions.get(leaf, positions.get(leaf[:1], (None, None)))
            origins[".".join(leaf)] = f"{self.shown}:{line}:{col}" if line else self.shown
        return origins

    def keys_under(self, table: KeyPath) -> frozenset[str]:
        """The dotted paths of every key the file writes inside ``table`` (tables and array elements too, as
        ``locate`` has them), relative to it; read from the values, so nothing is parsed again."""
        node: Any = self.data
        for key in table:
            node = node.get(key) if isinstance(node, dict) else None
        return frozenset(".".join(path) for path in _key_paths(node))


def _key_paths(node: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in children:
        yield (*prefix, str(key))
        yield from _key_paths(value, (*prefix, str(key)))


class Origins(Mapping[str, Origin]):
    """Origins merged like the values (``merge_origins``), in the same order.

    An origin in the file is looked up in its ``FileValues`` when it is read, so which keys have an origin, and which
    of them the environment or an argument set (``recorded``), is known without the file's positions. ``within``: the
    origins of one table, keyed relative to it."""

    def __init__(self, recorded: Mapping[str, Origin | None] | None = None, file: FileValues | None = None,
                 prefix: str = "") -> None:
        self._recorded = dict(recorded or {})  # None: the file's value, its position not looked up yet
        self._file = file
        self._prefix = prefix  # the table these keys are relative to ("" for the whole declaration)

    def __getitem__(self, key: str) -> Origin:
        origin = self._recorded[key]
        if origin is not None:
            return origin
        assert self._file is not None  # a None is recorded only for a file's keys
        return self._file.origins[f"{self._prefix}.{key}" if key and self._prefix else self._prefix or key]

    def __contains__(self, key: object) -> bool:
        return key in self._recorded

    def __iter__(self) -> Iterator[str]:
        return iter(self._recorded)

    def __len__(self) -> int:
        return len(self._recorded)

    @property
    def file(self) -> FileValues | None:
        """The file the values not set by the environment or an argument came from."""
        return self._file

    def recorded(self) -> Mapping[str, Origin | None]:
        """Each key's origin where the environment or an argument set it; None where the file did."""
        return MappingProxyType(self._recorded)

    def within(self, table: str) -> Origins:
        """The origins of ``table`` (as ``""``) and of every key below it, relative to it (``plugins.x.settings``:
        ``"threshold"``)."""
        cut = len(table) + 1
        inside = {key[cut:]: origin for key, origin in self._recorded.items()
                  if key == table or key.startswith(table + ".")}
        return Origins(inside, self._file, f"{self._prefix}.{table}" if self._prefix else table)


class DictSource(PydanticBaseSettingsSource):
    """A source whose values were read beforehand, with the origin of each leaf."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any], origins: dict[str, Origin]) -> None:
        super().__init__(settings_cls)
        self.data = data
        self._origins = origins

    @property
    def origins(self) -> Mapping[str, Origin]:
        return self._origins

    def recorded(self) -> dict[str, Origin | None]:
        """The origins as ``merge_origins`` takes them: None for a value whose position in the file is left for
        later."""
        return dict(self._origins)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.data


class TomlSource(DictSource):
    """``aiplugs.toml``; ``exists`` is False for a missing file that was allowed to be missing."""

    def __init__(self, settings_cls: type[BaseSettings], values: FileValues, exists: bool = True) -> None:
        super().__init__(settings_cls, values.data, {})
        self.values = values
        self.exists = exists

    @property
    def origins(self) -> Mapping[str, Origin]:
        return self.values.origins

    def recorded(self) -> dict[str, Origin | None]:
        return dict.fromkeys(".".join(leaf) for leaf in leaves(self.data))


class EnvSource(DictSource):
    """``AIPLUGS_<SECTION>__<KEY>`` variables."""


class LegacyEnvSource(DictSource):
    """``SYSTEM_API_KEY`` and ``CLOUD_BASE_URL``: below the ``AIPLUGS_`` names, above the file."""


def toml_source(settings_cls: type[BaseSettings], path: Path, *, require_file: bool = True) -> TomlSource:
    """The file's values; a missing file is an error unless ``require_file`` is False, then it holds none."""
    shown = shown_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if require_file:
            raise ConfigError([Problem(shown, "file not found (create one with `aiplugs init`)")]) from None
        return TomlSource(settings_cls, FileValues(shown), exists=False)
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as e:
        raise ConfigError([Problem(shown, f"cannot read: {e}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        from .positions import syntax_problem

        raise ConfigError([syntax_problem(e, shown)]) from None
    return TomlSource(settings_cls, FileValues(shown, text, data))


def env_source(settings_cls: type[BaseSettings], env: Mapping[str, str], plugin_ids: set[str]) -> EnvSource:
    """``plugin_ids`` map env names back to ids: ``WORD_COUNT`` is ``word-count``, unless a ``word_count`` exists."""
    data: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    by_env_id = {pid.replace("-", "_").lower(): pid for pid in plugin_ids}
    fields = set(settings_cls.model_fields)
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name == "AIPLUGS_CONFIG":
            continue
        parts = name[len(ENV_PREFIX) :].split("__")
        if parts[0].lower() not in fields or not all(parts):
            continue
        keys = [parts[0].lower()]
        if keys[0] == "plugins" and len(parts) > 1:
            keys.append(by_env_id.get(parts[1].lower(), parts[1].lower().replace("_", "-")))
            if len(parts) > 2:
                keys.append(parts[2].lower())
                case_kept = keys[2] == "env"
                keys.extend(p if case_kept else p.lower() for p in parts[3:])
        else:
            keys.extend(p.lower() for p in parts[1:])
        _put(data, keys, _env_value(env[name], in_settings="settings" in keys[2:3]))
        origins[".".join(keys)] = f"env {name}"
    return EnvSource(settings_cls, data, origins)


def legacy_env_source(settings_cls: type[BaseSettings], env: Mapping[str, str]) -> LegacyEnvSource:
    """The names aiplugs read before ``AIPLUGS_``; an empty value counts as unset."""
    data: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for name, keys in LEGACY_ENV.items():
        if env.get(name):
            _put(data, keys, env[name])
            origins[".".join(keys)] = f"env {name}"
    return LegacyEnvSource(settings_cls, data, origins)


def _env_value(text: str, in_settings: bool) -> Any:
    stripped = text.strip()
    if stripped[:1] in ("[", "{") or (in_settings and stripped):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return text
    return text


def _put(data: dict[str, Any], keys: list[str] | tuple[str, ...], value: Any) -> None:
    for key in keys[:-1]:
        nxt = data.setdefault(key, {})
        if not isinstance(nxt, dict):
            nxt = data[key] = {}
        data = nxt
    data[keys[-1]] = value


def merge_origins(sources: tuple[DictSource, ...], arguments: Mapping[str, Any]) -> Origins:
    """Origins merged like the values, ``sources`` highest priority first: a higher source's origin replaces a
    lower one's for the same key, and an argument also hides what the sources said below its key."""
    origins = {key: origin for source in reversed(sources) for key, origin in source.recorded().items()}
    for leaf in leaves(arguments):
        dotted = ".".join(leaf)
        origins = {k: o for k, o in origins.items() if k != dotted and not k.startswith(dotted + ".")}
        origins[dotted] = "argument"
    return Origins(origins, next((s.values for s in sources if isinstance(s, TomlSource)), None))


def split_origin(origin: Origin) -> tuple[str, int | None, int | None]:
    """``aiplugs.toml:3:8`` -> ("aiplugs.toml", 3, 8); any other origin names itself, without a position."""
    match = re.fullmatch(r"(.*):(\d+):(\d+)", origin)
    return (match[1], int(match[2]), int(match[3])) if match else (origin, None, None)


def leaves(data: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(data, dict) and data:
        return [leaf for key, value in data.items() for leaf in leaves(value, (*prefix, str(key)))]
    return [prefix] if prefix else []


def shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)

"""Plugin manifests (``plugins/<id>/manifest.json``, manifest_version 3): the document and loading plugin folders.

Its parts live beside it: what a backend needs to run in ``inference.py``, what a plugin offers and needs (tools,
dependencies, hooks) in ``interface.py``, its JSON Schemas in ``schemas.py``, event topics in ``topics.py``.
"""

from __future__ import annotations

import errno
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
)

from ..errors import ConfigError, Problem
from .inference import Inference, ModelRef, Python, safe_filename, safe_relative_path
from .interface import PLUGIN_ID, Dependency, Hooks, Tool
from .rules import MatchPattern, PatternError
from .schemas import KeyPath, secret_paths, settings_schema_problem
from .topics import SYSTEM_NAMESPACE, normalize_pattern
from .validation import problems_from_validation_error

__all__ = ["ContentScript", "Dependency", "Hooks", "Inference", "LoadedPlugin", "MAX_MANIFEST_BYTES",
           "MAX_PATTERNS_PER_PLUGIN", "Manifest", "ModelRef", "PLUGIN_ID", "Python", "Tool", "load_manifest",
           "load_plugins", "safe_filename", "safe_relative_path"]

# Limits that keep rule swaps quick and pages light (every proxied page carries its host's share of the rules).
MAX_MANIFEST_BYTES = 256 * 1024
MAX_PATTERNS_PER_PLUGIN = 1000
_FIRST_READ = 64 * 1024
RunAt = Literal["document_start", "document_end", "document_idle"]
# Release numbers like 1.2.0 are PEP 440 versions as they are: checked without packaging's parser (~2 ms of import
# and regex compiling at each start), which still judges every other spelling.
_PLAIN_VERSION = re.compile(r"[0-9]+(\.[0-9]+)*")


# The config of every model here: a constant, not a base model (one more model class to build at import)
_STRICT = ConfigDict(extra="forbid", frozen=True)


def _full_pattern(value: str, info: ValidationInfo) -> str:
    """A ``subscribes`` entry in full form; a bare name is in the plugin's own namespace."""
    # without a valid id the manifest fails anyway (that problem is reported): check the rest with a stand-in
    return normalize_pattern(value, info.data.get("id") or "plugin")


Subscription = Annotated[str, AfterValidator(_full_pattern)]


class ContentScript(BaseModel):
    model_config = _STRICT

    matches: tuple[str, ...] = Field(min_length=1)
    exclude_matches: tuple[str, ...] = ()
    js: tuple[str, ...] = ()
    css: tuple[str, ...] = ()
    run_at: RunAt = "document_idle"
    all_frames: bool = False

    @field_validator("matches", "exclude_matches")
    @classmethod
    def _patterns(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            try:
                MatchPattern(value)
            except PatternError as e:
                raise ValueError(str(e)) from None
        return values

    @field_validator("js", "css")
    @classmethod
    def _paths(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(safe_relative_path(v, "script path") for v in values)

    def patterns(self) -> tuple[MatchPattern, ...]:
        return tuple(MatchPattern(p) for p in self.matches)


class Manifest(BaseModel):
    """A plugin's manifest. In JSON ``dependencies`` holds ids or ``{id, version}``; here ``dependency_specs`` holds
    those and ``dependencies`` just the ids, which is what ordering and most callers want."""

    model_config = _STRICT

    manifest_version: Literal[3]
    id: str = Field(pattern=PLUGIN_ID)
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    dependency_specs: tuple[Dependency, ...] = Field(default=(), alias="dependencies")
    inference: Inference = Inference()
    content_scripts: tuple[ContentScript, ...] = ()
    python: Python = Python()
    update_url: str | None = Field(default=None, min_length=1,
                                   description="a JSON index of releases: [{version, url, sha256}]")
    tools: tuple[Tool, ...] = ()
    subscribes: tuple[Subscription, ...] = Field(default=(), description="topics and patterns, in full form")
    page_events: bool = Field(default=False, description="whether events pages publish may reach this plugin")
    hooks: Hooks = Hooks()
    settings_schema: dict[str, Any] | None = Field(default=None, description="JSON Schema of [plugins.<id>.settings]")

    @field_validator("version")
    @classmethod
    def _pep440(cls, value: str) -> str:
        if _PLAIN_VERSION.fullmatch(value):
            return value
        from packaging.version import InvalidVersion, Version

        try:
            Version(value)
        except InvalidVersion:
            raise ValueError(f"must be a version like 1.2.0 (PEP 440), got {value!r}") from None
        return value

    @field_validator("id")
    @classmethod
    def _not_system(cls, value: str) -> str:
        if value == SYSTEM_NAMESPACE:
            raise ValueError(f"{value!r} is reserved: its topics are the system's events")
        return value

    @field_validator("tools")
    @classmethod
    def _unique_tools(cls, tools: tuple[Tool, ...]) -> tuple[Tool, ...]:
        seen: dict[str, int] = {}
        for i, tool in enumerate(tools):
            if tool.name in seen:
                raise ValueError(f"tool {tool.name!r} is declared twice (tools.{seen[tool.name]} and tools.{i})")
            seen[tool.name] = i
        return tools

    @field_validator("subscribes")
    @classmethod
    def _distinct(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(values))

    @field_validator("settings_schema")
    @classmethod
    def _settings_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        problem = None if value is None else settings_schema_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)  # the JSON key, whether or not the caller asked for aliases
        return {("dependencies" if k == "dependency_specs" else k): v for k, v in data.items()}

    @property
    def dependencies(self) -> tuple[str, ...]:
        """The ids of the plugins this one needs, in manifest order."""
        return tuple(d.id for d in self.dependency_specs)

    @property
    def all_tools(self) -> tuple[Tool, ...]:
        """The declared tools plus ``run``, which every backend offers whether or not the manifest lists it."""
        return self.tools if any(t.name == "run" for t in self.tools) else (Tool(name="run"), *self.tools)

    @property
    def secret_settings(self) -> tuple[KeyPath, ...]:
        """Settings marked writeOnly in ``settings_schema``: they come from the environment only."""
        return secret_paths(self.settings_schema)



@dataclass(frozen=True)
class LoadedPlugin:
    manifest: Manifest
    dir: Path  # absolute
    manifest_path: Path

    @property
    def id(self) -> str:
        return self.manifest.id

    def file(self, relative: str) -> Path:
        return self.dir / relative


def _read(path: Path) -> bytes:
    """The manifest's bytes, refusing one past MAX_MANIFEST_BYTES before reading (or parsing) it."""
    with open(path, "rb") as handle:
        # A first read of 64 KiB covers any usual manifest; asking for the limit at once makes Python allocate
        # (and glibc mmap, then unmap) 256 KiB per file: a third of loading a small manifest.
        data = handle.read(_FIRST_READ)
        if len(data) == _FIRST_READ:
            data += handle.read(MAX_MANIFEST_BYTES + 1 - _FIRST_READ)
    if len(data) > MAX_MANIFEST_BYTES:
        raise ConfigError([Problem(str(path), f"manifest is larger than {MAX_MANIFEST_BYTES // 1024} KiB; keep it "
                                              "to a declaration (data and models belong in files beside it)")])
    return data


def _pattern_problems(manifest: Manifest, shown: str) -> list[Problem]:
    total = sum(len(s.matches) + len(s.exclude_matches) for s in manifest.content_scripts)
    if total <= MAX_PATTERNS_PER_PLUGIN:
        return []
    return [Problem(shown, f"{total} match patterns (matches and exclude_matches of all content scripts); at most "
                           f"{MAX_PATTERNS_PER_PLUGIN} per plugin — use wildcard hosts (*.example.com) or split the "
                           "plugin", "content_scripts")]


def load_manifest(plugin_dir: Path, plugin_id: str | None = None) -> LoadedPlugin:
    """Reads and validates one plugin folder; raises ConfigError listing every problem found.

    ``plugin_id``: the id the manifest must have (an installed package's folder is named after its version);
    by default the folder's name."""
    return _load_manifest(plugin_dir, plugin_id, None)


def _load_manifest(plugin_dir: Path, plugin_id: str | None, resolved: Path | None) -> LoadedPlugin:
    """``resolved``: ``plugin_dir.resolve()`` when the caller knows it already."""
    path = plugin_dir / "manifest.json"
    shown = str(path)
    try:
        raw = json.loads(_read(path))
    except FileNotFoundError:
        raise ConfigError([Problem(shown, "missing manifest.json")]) from None
    except json.JSONDecodeError as e:
        raise ConfigError([Problem(shown, f"invalid JSON: {e.msg}", line=e.lineno, col=e.colno)]) from None
    except UnicodeDecodeError as e:
        raise ConfigError([Problem(shown, f"manifest is not UTF-8: {e.reason}")]) from None
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(problems_from_validation_error(e, source=shown, model=Manifest)) from None
    problems = _pattern_problems(manifest, shown)
    if plugin_id is not None and manifest.id != plugin_id:
        problems.append(Problem(shown, f"must be {plugin_id!r}, the id aiplugs.toml installs it as (got "
                                       f"{manifest.id!r})", "id"))
    elif plugin_id is None and manifest.id != plugin_dir.name:
        problems.append(Problem(shown, f"must equal the folder name {plugin_dir.name!r} (got {manifest.id!r})", "id"))
    entry = manifest.inference.local_entry
    if manifest.inference.default_mode == "local" and entry and not (plugin_dir / entry).is_file():
        problems.append(Problem(shown, f"file not found: {entry}", "inference.local_entry"))
    for i, script in enumerate(manifest.content_scripts):
        for kind in ("js", "css"):
            for j, rel in enumerate(getattr(script, kind)):
                if not (plugin_dir / rel).is_file():
                    problems.append(Problem(shown, f"file not found: {rel}", f"content_scripts.{i}.{kind}.{j}"))
    if problems:
        raise ConfigError(problems)
    return LoadedPlugin(manifest, plugin_dir.resolve() if resolved is None else resolved, path)


def load_plugins(plugins_dir: Path, *, problems: list[Problem] | None = None) -> dict[str, LoadedPlugin]:
    """Every plugin folder under ``plugins_dir`` (sorted by id); all problems are reported together.

    With a ``problems`` list, problems are appended to it and the plugins that did load are returned, so a caller
    can report them together with problems of other stages.
    """
    plugins: dict[str, LoadedPlugin] = {}
    found: list[Problem] = []
    if not plugins_dir.is_dir():
        return plugins
    base = plugins_dir.resolve()  # once: a folder that is no link resolves to base / its name
    for entry in _plugin_entries(plugins_dir):
        child = plugins_dir / entry.name
        try:
            plugin = _load_manifest(child, None, child.resolve() if entry.is_symlink() else base / entry.name)
        except ConfigError as e:
            found.extend(e.problems)
            continue
        plugins[plugin.id] = plugin
    if problems is not None:
        problems.extend(found)
    elif found:
        raise ConfigError(found)
    return plugins


def plugin_folders(plugins_dir: Path) -> set[str]:
    """Names of the folders that look like plugins, whether or not their manifests load."""
    try:
        return {entry.name for entry in _plugin_entries(plugins_dir)}
    except OSError:
        return set()


def _plugin_entries(plugins_dir: Path) -> list[os.DirEntry[str]]:
    """The folders (or links to folders) in ``plugins_dir`` not named ``.*`` or ``_*``, sorted by name (as Path
    sorts them): ``iterdir`` and ``is_dir`` in one scandir, whose listing says each entry's type (only a link
    costs a stat), instead of a stat per entry."""
    with os.scandir(plugins_dir) as entries:
        return sorted((e for e in entries if not e.name.startswith((".", "_")) and _is_dir(e)), key=lambda e: e.name)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError as e:  # Path.is_dir's answer for a link that dangles or loops: not a folder
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP):
            return False
        raise

"""Plugin manifests (``plugins/<id>/manifest.json``, manifest_version 3): schema, loading, safe paths."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError, Problem
from .rules import MatchPattern, PatternError
from .validation import problems_from_validation_error

__all__ = ["ContentScript", "Inference", "LoadedPlugin", "MAX_MANIFEST_BYTES", "MAX_PATTERNS_PER_PLUGIN", "Manifest",
           "ModelRef", "Python", "load_manifest", "load_plugins"]

PLUGIN_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# Limits that keep rule swaps quick and pages light (every proxied page carries its host's share of the rules).
MAX_MANIFEST_BYTES = 256 * 1024
MAX_PATTERNS_PER_PLUGIN = 1000
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
Mode = Literal["local", "cloud"]
RunAt = Literal["document_start", "document_end", "document_idle"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def safe_relative_path(value: str, what: str) -> str:
    """A path that stays inside its folder: relative, forward slashes, no ``..``, no empty parts."""
    if not value or value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value) or "\\" in value:
        raise ValueError(f"{what} must be a relative path inside the plugin folder, got {value!r}")
    if any(part in ("..", "") for part in PurePosixPath(value).parts) or ".." in value.split("/"):
        raise ValueError(f"{what} must not contain '..', got {value!r}")
    return value


def safe_filename(value: str) -> str:
    """A bare file name for the models folder: no separators, no ``..``, not hidden, not a temp name."""
    if not value or "/" in value or "\\" in value or "\x00" in value:
        raise ValueError(f"filename must be a bare file name without path separators, got {value!r}")
    if value in (".", "..") or value.startswith("."):
        raise ValueError(f"filename must not start with '.', got {value!r}")
    if value.endswith((".part", ".lock")):
        raise ValueError(f"filename must not end with .part or .lock (reserved for downloads), got {value!r}")
    return value


class ModelRef(_Strict):
    key: str = Field(pattern=ENV_NAME, description="environment variable that carries the model's absolute path")
    filename: str
    source_url: str = Field(min_length=1, description="any fsspec URL; a relative path resolves against the plugin")
    sha256: str
    size: int | None = Field(default=None, ge=0)

    @field_validator("filename")
    @classmethod
    def _filename(cls, value: str) -> str:
        return safe_filename(value)

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, value: str) -> str:
        value = value.lower()
        if not SHA256.match(value):
            raise ValueError(f"sha256 must be 64 hex digits, got {value!r}")
        return value


class Inference(_Strict):
    default_mode: Mode = "local"
    local_entry: str | None = "backend.py"
    models: tuple[ModelRef, ...] = ()
    cloud_path: str = Field(default="/v1/chat/completions", pattern=r"^/")
    cloud_model: str | None = None
    pass_env: tuple[str, ...] = Field(default=(), description="parent environment variables the workers may see")

    @field_validator("local_entry")
    @classmethod
    def _entry(cls, value: str | None) -> str | None:
        return None if value is None else safe_relative_path(value, "local_entry")

    @model_validator(mode="after")
    def _unique_keys(self) -> Inference:
        seen: dict[str, ModelRef] = {}
        for model in self.models:
            if model.key in seen and seen[model.key] != model:
                raise ValueError(f"model key {model.key!r} is declared twice with different content")
            seen[model.key] = model
        return self


class ContentScript(_Strict):
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


class Python(_Strict):
    """What a local backend needs installed: pip requirement specifiers (``"numpy>=1.26"``). Plugins with the same
    set share one virtualenv."""

    requirements: tuple[str, ...] = ()

    @field_validator("requirements")
    @classmethod
    def _specifiers(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        from packaging.requirements import InvalidRequirement, Requirement

        for value in values:
            try:
                Requirement(value)
            except InvalidRequirement as e:
                raise ValueError(f"not a pip requirement: {value!r} ({e})") from None
        return values


class Manifest(_Strict):
    manifest_version: Literal[3]
    id: str = Field(pattern=PLUGIN_ID)
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    dependencies: tuple[str, ...] = ()
    inference: Inference = Inference()
    content_scripts: tuple[ContentScript, ...] = ()
    python: Python = Python()
    update_url: str | None = Field(default=None, min_length=1,
                                   description="a JSON index of releases: [{version, url, sha256}]")

    @field_validator("version")
    @classmethod
    def _pep440(cls, value: str) -> str:
        from packaging.version import InvalidVersion, Version

        try:
            Version(value)
        except InvalidVersion:
            raise ValueError(f"must be a version like 1.2.0 (PEP 440), got {value!r}") from None
        return value


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
        data = handle.read(MAX_MANIFEST_BYTES + 1)
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
    return LoadedPlugin(manifest, plugin_dir.resolve(), path)


def load_plugins(plugins_dir: Path, *, problems: list[Problem] | None = None) -> dict[str, LoadedPlugin]:
    """Every plugin folder under ``plugins_dir`` (sorted by id); all problems are reported together.

    With a ``problems`` list, problems are appended to it and the plugins that did load are returned, so a caller
    can report them together with problems of other stages.
    """
    plugins: dict[str, LoadedPlugin] = {}
    found: list[Problem] = []
    if not plugins_dir.is_dir():
        return plugins
    for child in sorted(plugins_dir.iterdir()):
        if not child.is_dir() or child.name.startswith((".", "_")):
            continue
        try:
            plugin = load_manifest(child)
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
        return {c.name for c in plugins_dir.iterdir() if c.is_dir() and not c.name.startswith((".", "_"))}
    except OSError:
        return set()

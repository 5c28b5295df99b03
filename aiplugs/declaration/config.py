"""Settings from ``aiplugs.toml`` and the environment, with the origin of every value.

Priority, highest first: keyword arguments > ``AIPLUGS_<SECTION>__<KEY>`` > legacy ``SYSTEM_API_KEY`` /
``CLOUD_BASE_URL`` > ``aiplugs.toml`` > defaults. In environment names a plugin id's ``-`` is written ``_``
(``AIPLUGS_PLUGINS__WORD_COUNT__WORKERS=3`` sets ``[plugins.word-count] workers``); keys under ``env`` keep
their case, everything else is case-insensitive. Values that look like JSON lists or objects are parsed as JSON.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Collection, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from ..errors import ConfigError, Problem
from ..util.redact import MASK, is_secret_name
from .sources import (
    ENV_PREFIX,
    Origin,
    Origins,
    TomlSource,
    env_source,
    leaves,
    legacy_env_source,
    merge_origins,
    shown_path,
    split_origin,
    toml_source,
)
from .autotune import AutotuneConfig, WorkersRange, validate_workers
from .metrics import MetricsConfig
from .placement import RayConfig, ResourcesConfig
from .validation import problems_from_validation_error

__all__ = [
    "ApiConfig",
    "AutotuneConfig",
    "CloudConfig",
    "Config",
    "DEFAULT_CONFIG_NAME",
    "MetricsConfig",
    "PluginConfig",
    "ProxyConfig",
    "RayConfig",
    "ResourcesConfig",
    "Settings",
    "WorkersRange",
    "load_config",
]

DEFAULT_CONFIG_NAME = "aiplugs.toml"


# The config of every model here: a constant, not a base model (one more model class to build at import)
_SECTION = ConfigDict(extra="forbid", frozen=True)


def _check_range(value: tuple[int, int]) -> tuple[int, int]:
    low, high = value
    if not (1 <= low <= high <= 65535):
        raise ValueError(f"must be [low, high] with 1 <= low <= high <= 65535 (got {list(value)})")
    return value


class ApiConfig(BaseModel):
    model_config = _SECTION

    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=1, le=65535, description="fixed port; unset = first free in port_range")
    port_range: tuple[int, int] = (5000, 5100)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1)

    @field_validator("port_range")
    @classmethod
    def _range(cls, value: tuple[int, int]) -> tuple[int, int]:
        return _check_range(value)


class ProxyConfig(BaseModel):
    model_config = _SECTION

    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=1, le=65535)
    port_range: tuple[int, int] = (8080, 8180)
    csp: Literal["amend", "strip", "keep"] = "amend"
    intercept: Literal["matched", "all"] = "matched"
    passthrough: tuple[str, ...] = Field(default=(), description="host patterns never decrypted")
    hosts: dict[str, str] = Field(default_factory=dict, description="host name -> IP address the proxy connects to")
    upstream_ca: Path | None = Field(default=None, description="CA bundle (PEM) to verify origins with, instead of "
                                     "certifi's (a corporate or test CA)")

    @field_validator("port_range")
    @classmethod
    def _range(cls, value: tuple[int, int]) -> tuple[int, int]:
        return _check_range(value)

    @field_validator("hosts")
    @classmethod
    def _addresses(cls, value: dict[str, str]) -> dict[str, str]:
        import ipaddress

        for name, address in value.items():
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.\-]*[A-Za-z0-9])?", name):
                raise ValueError(f"keys must be host names like 'shop.example' (got {name!r})")
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"{name!r} must map to an IP address like '127.0.0.1' (got {address!r})") from None
        return {name.lower(): address for name, address in value.items()}

    @field_validator("passthrough")
    @classmethod
    def _hosts(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not re.fullmatch(r"(\*|(\*\.)?[A-Za-z0-9.\-\[\]:]+)", value):
                raise ValueError(f"must be a host pattern like 'bank.example' or '*.bank.example' (got {value!r})")
        return tuple(v.lower() for v in values)


class CloudConfig(BaseModel):
    model_config = _SECTION

    base_url: str | None = None
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=60.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"must be an http(s) URL (got {value!r})")
        return value.rstrip("/") if value else value


class PluginConfig(BaseModel):
    model_config = _SECTION

    enabled: bool = True
    mode: Literal["local", "cloud"] | None = Field(default=None, description="overrides the manifest's default_mode")
    workers: int | WorkersRange = Field(default=1, description="a count, or {min, max}: the daemon scales within it")
    max_calls_per_worker: int | None = Field(default=None, ge=1,
                                             description="recycle a worker (drain, replace) after this many calls")
    cache_ttl_s: float = Field(default=0.0, ge=0, description="answers kept per (tool, payload); 0 = no cache")
    cache_max_entries: int = Field(default=1024, ge=1, description="the most answers the cache holds")
    env: dict[str, str] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    provision: Literal["eager", "lazy"] = "eager"
    timeout_s: float = Field(default=60.0, gt=0)
    source: str | None = Field(default=None, min_length=1,
                               description="a package to install: any fsspec URL, a path or a plugin folder")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$",
                               description="the package's sha256; unset: pinned in aiplugs.lock on first install")
    backend: Literal["process", "ray"] = Field(default="process", description="where local workers run: "
                                               "processes on this machine, or replicas of a Ray Serve deployment")
    resources: ResourcesConfig = ResourcesConfig()

    @field_validator("workers", mode="wrap")
    @classmethod
    def _workers(cls, value: Any, handler: Any) -> int | WorkersRange:
        return validate_workers(value)

    @field_validator("sha256")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value else value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"env names must be valid variable names (got {name!r})")
        return value


class Settings(BaseSettings):
    """The effective configuration. Build it with :func:`load_config`, which also reads the file and the environment
    and records origins; ``Settings(...)`` on its own holds its arguments and defaults only."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    plugins_dir: Path = Path("plugins")
    models_dir: Path = Path("models")
    state_dir: Path = Path(".aiplugs")
    api: ApiConfig = ApiConfig()
    proxy: ProxyConfig = ProxyConfig()
    cloud: CloudConfig = CloudConfig()
    autotune: AutotuneConfig = AutotuneConfig()
    metrics: MetricsConfig = MetricsConfig()
    ray: RayConfig = RayConfig()
    plugins: dict[str, PluginConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _distinct_ports(self) -> Settings:
        if self.api.port is not None and self.api.port == self.proxy.port and self.api.host == self.proxy.host:
            raise ValueError(f"api.port and proxy.port must differ (both {self.api.port})")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # pydantic-settings' own env source knows neither AIPLUGS_ names, plugin ids nor origins: load_config
        # passes its sources in instead (_build_sources), and nothing reads os.environ behind the caller's back.
        return (init_settings,)


@dataclass(frozen=True)
class Config:
    """Settings plus where they came from. Relative paths resolve against the config file's folder."""

    path: Path
    settings: Settings
    origins: Origins = field(default_factory=Origins)  # positions in the file looked up on first read
    file_exists: bool = True

    @property
    def root(self) -> Path:
        return self.path.parent

    def _abs(self, value: Path) -> Path:
        return value if value.is_absolute() else (self.root / value).resolve()

    def resolve(self, value: Path | None) -> Path | None:
        """A path setting made absolute against the config file's folder."""
        return None if value is None else self._abs(value)

    # Resolved once per load: building the desired state asks for state_dir twice per plugin, and each resolve
    # is a readlink walk of every folder up to /.
    @cached_property
    def plugins_dir(self) -> Path:
        return self._abs(self.settings.plugins_dir)

    @cached_property
    def models_dir(self) -> Path:
        return self._abs(self.settings.models_dir)

    @cached_property
    def state_dir(self) -> Path:
        return self._abs(self.settings.state_dir)

    def origin(self, dotted: str) -> Origin:
        """Where a value came from; for a value inside a table the nearest recorded ancestor counts."""
        key = dotted
        while key:
            if key in self.origins:
                return self.origins[key]
            key = key.rpartition(".")[0]
        return "default"

    def position(self, dotted: str) -> tuple[str, int | None, int | None]:
        """(source, line, col) for error messages: the value itself, else its first recorded child."""
        origin = self.origins.get(dotted) or next(
            (o for k, o in self.origins.items() if k.startswith(dotted + ".")), None
        ) or self.origin(dotted)
        return (shown_path(self.path), None, None) if origin == "default" else split_origin(origin)

    def effective(self, hidden: Collection[str] = ()) -> list[tuple[str, Any, Origin]]:
        """Every leaf value as (dotted path, JSON value with secrets masked, origin).

        ``hidden``: more dotted paths to mask, with everything below them — the secret settings manifests declare
        (``settings.secret_setting_paths``), which this file alone cannot know."""
        dumped = self.settings.model_dump(mode="json")
        if self.settings.cloud.api_key is not None:
            dumped["cloud"]["api_key"] = MASK
        for plugin in dumped["plugins"].values():  # plugin env often carries tokens; show that it is set, not what
            for name in plugin["env"]:
                if is_secret_name(name):
                    plugin["env"][name] = MASK
        rows = []
        for leaf in leaves(dumped):
            value: Any = dumped
            for key in leaf:
                value = value[key]
            dotted = ".".join(leaf)
            if value is not None and any(dotted == h or dotted.startswith(h + ".") for h in hidden):
                value = MASK
            rows.append((dotted, value, self.origin(dotted)))
        return rows


def resolve_config_path(path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    chosen = path if path is not None else env.get("AIPLUGS_CONFIG") or DEFAULT_CONFIG_NAME
    return Path(chosen).expanduser().absolute()


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    require_file: bool = True,
    **overrides: Any,
) -> Config:
    """Reads the file and the environment and validates them together; raises ConfigError listing every problem."""
    env = dict(os.environ if env is None else env)
    config_path = resolve_config_path(path, env)
    file_source = toml_source(Settings, config_path, require_file=require_file)
    plugins = file_source.data.get("plugins")
    plugin_ids = set(plugins if isinstance(plugins, dict) else ())
    if any(name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX):].lower().startswith("plugins__") for name in env):
        plugin_ids |= _plugin_folders(config_path, file_source, env)  # only plugin variables need ids mapped back
    recorded = (env_source(Settings, env, plugin_ids), legacy_env_source(Settings, env), file_source)
    sources = (InitSettingsSource(Settings, init_kwargs=overrides), *recorded)  # highest priority first
    origins = merge_origins(recorded, overrides)
    try:
        # Each call builds and hands over its own sources (_build_sources: pydantic-settings >= 2.13.0), so
        # concurrent loads cannot see each other's environment.
        settings = Settings(_build_sources=(sources, overrides))
    except ValidationError as e:
        raise ConfigError(_problems(e, config_path, origins, file_source)) from None
    return Config(config_path, settings, origins, file_source.exists)


def _plugin_folders(config_path: Path, file_source: TomlSource, env: Mapping[str, str]) -> set[str]:
    """Plugin folder names, so env names can be mapped back to ids with '-' (a cheap directory listing)."""
    raw = env.get("AIPLUGS_PLUGINS_DIR") or file_source.data.get("plugins_dir") or "plugins"
    folder = Path(str(raw))
    folder = folder if folder.is_absolute() else config_path.parent / folder
    try:
        return {child.name for child in folder.iterdir() if child.is_dir()}
    except OSError:
        return set()


def _problems(error: ValidationError, path: Path, origins: Mapping[str, Origin], source: TomlSource) -> list[Problem]:
    shown = shown_path(path)

    def where(loc: tuple[str, ...]) -> tuple[str, int | None, int | None]:
        for n in range(len(loc), 0, -1):
            origin = origins.get(".".join(loc[:n]))
            if origin is not None:
                return split_origin(origin)
        prefix = ".".join(loc) + "."  # a table with no value of its own (an unknown [section]): its first key
        first = split_origin(next((o for k, o in origins.items() if k.startswith(prefix)), ""))
        return first if first[1] is not None else (shown, None, None)

    return problems_from_validation_error(error, source=shown, model=Settings, locate=where)

"""The desired-state data: frozen dataclasses with no behaviour beyond derived values and hashes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, SecretStr

from ..declaration.autotune import AutotuneConfig
from ..declaration.rules import MatchPattern, RuleSet, ScriptRule

if TYPE_CHECKING:  # a plugin on Ray brings placement in (plan.ray_specs); the others never need it
    from .placement import Backend, RayPlacement

__all__ = [
    "CloudSpec",
    "EnvSpec",
    "ToolSpec",
    "PackageSpec",
    "RouteSpec",
    "DesiredState",
    "EndpointSpec",
    "ModelSpec",
    "PluginSpec",
    "ProxySpec",
    "RelaySpec",
    "ScriptSpec",
    "WorkerSpec",
    "MetricsSpec",
]

Mode = Literal["local", "cloud"]


@dataclass(frozen=True)
class EndpointSpec:
    host: str
    port: int | None  # None: the first free port in port_range (kept stable once chosen)
    port_range: tuple[int, int]

    def accepts(self, host: str, port: int) -> bool:
        """Whether an endpoint already listening at host:port satisfies this spec."""
        if host != self.host:
            return False
        if self.port is not None:
            return port == self.port
        return self.port_range[0] <= port <= self.port_range[1]


@dataclass(frozen=True)
class ScriptSpec:
    """One content_scripts entry, with paths relative to the plugin folder (served as plugin assets)."""

    plugin_id: str
    matches: tuple[str, ...]
    exclude_matches: tuple[str, ...]
    js: tuple[str, ...]
    css: tuple[str, ...]
    run_at: str
    all_frames: bool

    def rule(self) -> ScriptRule:
        return ScriptRule(
            self.plugin_id,
            tuple(MatchPattern(p) for p in self.matches),
            tuple(MatchPattern(p) for p in self.exclude_matches),
        )


@dataclass(frozen=True)
class ProxySpec:
    endpoint: EndpointSpec
    csp: Literal["amend", "strip", "keep"]
    intercept: Literal["matched", "all"]
    passthrough: tuple[str, ...]
    scripts: tuple[ScriptSpec, ...]  # enabled plugins in dependency order
    upstream_ca: Path | None = None  # PEM bundle the proxy verifies origins with, instead of certifi's
    hosts: tuple[tuple[str, str], ...] = ()  # host name -> address the proxy connects to instead (sorted)

    def rule_set(self) -> RuleSet:
        return RuleSet(s.rule() for s in self.scripts)

    @property
    def rules_hash(self) -> str:
        """Changes exactly when the live proxy needs a hot swap (rules, CSP mode, interception)."""
        return _hash({"csp": self.csp, "intercept": self.intercept, "passthrough": self.passthrough,
                      "scripts": self.scripts, "upstream_ca": self.upstream_ca, "hosts": self.hosts})


@dataclass(frozen=True)
class ModelSpec:
    """One distinct model file in the store (several plugins may share it)."""

    filename: str
    url: str  # fsspec URL; relative manifest paths already made absolute
    sha256: str
    size: int | None
    path: Path  # absolute target in models_dir
    keys: tuple[str, ...]  # env var names that carry its path
    used_by: tuple[str, ...]  # plugin ids
    lazy: bool  # only lazy plugins use it: pulled on first call, not by apply


@dataclass(frozen=True)
class WorkerSpec:
    """The pool of local worker processes of one plugin."""

    plugin_id: str
    count: int
    entry: Path  # absolute path to backend.py
    plugin_dir: Path
    env: tuple[tuple[str, str], ...]  # sorted; model path vars, [plugins.<id>].env, AIPLUGS_SETTINGS, ids
    pass_env: tuple[str, ...]  # parent variables the plugin declared it needs
    models: tuple[str, ...]  # filenames the workers need before they can start
    timeout_s: float
    config_hash: str  # changes exactly when the workers must restart
    python_env: str | None = None  # the EnvSpec id whose interpreter runs them; None: the daemon's own
    python: Path | None = None  # that environment's interpreter
    version: str = "0"  # the plugin's version (ctx.version)
    data_dir: Path | None = None  # <state_dir>/data/<id>: the workers' cwd, kept across versions
    cache_dir: Path | None = None  # <state_dir>/cache/<id>: may be deleted any time
    hooks: tuple[str, ...] = ()  # sorted names of the hook functions backend.py defines (init, shutdown, ...)
    hooks_timeout_s: float = 60.0  # per hook run (manifest hooks.timeout_s)
    # workers = {min, max}: ``count`` is the autoscaler's choice inside it (min until it chose); None: fixed
    count_range: tuple[int, int] | None = None
    max_calls_per_worker: int | None = None  # a worker is drained and replaced after this many calls
    ray: RayPlacement | None = None  # backend = "ray": replicas of a Ray Serve deployment; None: processes here

    @property
    def backend(self) -> Backend:
        return "process" if self.ray is None else "ray"

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    def unit(self, index: int) -> str:
        return f"worker {self.plugin_id}#{index}"


@dataclass(frozen=True)
class EnvSpec:
    """A virtualenv for plugins that declare Python requirements; plugins with the same set share it."""

    id: str  # 12 hex digits of the sha256 of the normalized, sorted requirement set
    requirements: tuple[str, ...]
    path: Path  # <state_dir>/envs/<id>
    used_by: tuple[str, ...]

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


@dataclass(frozen=True)
class PackageSpec:
    """A plugin installed from a ``source``: what to fetch and which content (sha256) is wanted."""

    plugin_id: str
    source: str  # resolved: a URL, or an absolute path of an archive or a plugin folder
    sha256: str | None  # declared in aiplugs.toml, else pinned in aiplugs.lock; None: pinned on first install
    pinned_by: Literal["aiplugs.toml", "aiplugs.lock", "first install"]
    installed_version: str | None = None  # the wanted content is installed (its manifest is in this state)
    path: Path | None = None  # its folder, when installed
    declared: str = ""  # the source as aiplugs.toml writes it: what aiplugs.lock records (a relative path stays so)

    @property
    def locked_source(self) -> str:
        return self.declared or self.source


@dataclass(frozen=True)
class MetricsSpec:
    """``[metrics]``: the daemon's collector (a change takes effect on apply, restarting nothing else)."""

    enabled: bool = True
    sample_s: float = 5.0
    retention_days: float = 7.0


@dataclass(frozen=True)
class CloudSpec:
    base_url: str | None
    api_key: SecretStr | None = field(repr=False)
    timeout_s: float


@dataclass(frozen=True)
class RelaySpec:
    """A cloud-mode plugin: calls are relayed to ``cloud.base_url`` + ``path``."""

    plugin_id: str
    path: str
    model: str | None
    timeout_s: float
    config_hash: str
    cloud: CloudSpec  # where calls go, with the key (masked in every dump)


@dataclass(frozen=True)
class ToolSpec:
    """A function of the backend pages and people call by name; ``run`` is always one."""

    name: str
    description: str = ""
    input_schema: str | None = None  # the JSON Schema as canonical JSON text (frozen, hashable); None: any input

    def schema(self) -> dict[str, Any] | None:
        return json.loads(self.input_schema) if self.input_schema is not None else None


@dataclass(frozen=True)
class PluginSpec:
    id: str
    name: str
    version: str
    description: str
    mode: Mode
    dir: Path
    dependencies: tuple[str, ...]
    provision: Literal["eager", "lazy"]
    tools: tuple[ToolSpec, ...] = (ToolSpec("run"),)
    subscribes: tuple[str, ...] = ()  # topic patterns its on_event receives ("x/*", "aiplugs/plugin.ready")
    page_events: bool = False  # events published by pages may reach it

    def tool(self, name: str) -> ToolSpec | None:
        return next((t for t in self.tools if t.name == name), None)


@dataclass(frozen=True)
class RouteSpec:
    """How the router answers one plugin: its worker pool (``relay`` None) or the cloud relay, the content
    script files it serves and the page origins it answers. Switched by converge only once the plugin's workers
    or relay are in place."""

    plugin: PluginSpec
    assets: tuple[str, ...]  # declared js/css paths, relative to plugin.dir
    matches: tuple[str, ...]  # every content-script match pattern (pages that may call it directly)
    relay: RelaySpec | None
    config_hash: str
    cache_ttl_s: float = 0.0  # answers of a local plugin kept per (tool, payload); 0: none
    cache_max_entries: int = 1024

    @property
    def plugin_id(self) -> str:
        return self.plugin.id

    @property
    def lazy(self) -> bool:
        """Local workers started by the first call."""
        return self.plugin.mode == "local" and self.plugin.provision == "lazy"


@dataclass(frozen=True)
class DesiredState:
    config_path: Path
    state_dir: Path
    models_dir: Path
    plugins_dir: Path
    api: EndpointSpec
    max_body_bytes: int
    proxy: ProxySpec
    cloud: CloudSpec
    plugins: tuple[PluginSpec, ...]  # enabled plugins, dependency order
    disabled: tuple[str, ...]
    models: tuple[ModelSpec, ...]
    workers: tuple[WorkerSpec, ...]
    relays: tuple[RelaySpec, ...]
    routes: tuple[RouteSpec, ...] = ()  # one per enabled plugin, dependency order
    packages: tuple[PackageSpec, ...] = ()  # plugins with a source, installed or not yet
    envs: tuple[EnvSpec, ...] = ()  # Python environments of plugins with requirements
    kept_envs: tuple[str, ...] = ()  # ids of the environments of disabled plugins: kept on disk, not built
    metrics: MetricsSpec = MetricsSpec()  # the daemon's metrics collection and history
    autotune: AutotuneConfig = AutotuneConfig()  # [autotune]: the suggestion rules and the autoscaler (runtime)
    # values of writeOnly (secret) plugin settings: masked wherever the daemon shows data (never serialized)
    secret_values: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def plugin(self, plugin_id: str) -> PluginSpec | None:
        return self._by_plugin[0].get(plugin_id)

    def worker(self, plugin_id: str) -> WorkerSpec | None:
        return self._by_plugin[1].get(plugin_id)

    def model(self, filename: str) -> ModelSpec | None:
        return next((m for m in self.models if m.filename == filename), None)

    def route(self, plugin_id: str) -> RouteSpec | None:
        return self._by_plugin[2].get(plugin_id)

    @cached_property
    def _by_plugin(self) -> tuple[dict[str, PluginSpec], dict[str, WorkerSpec], dict[str, RouteSpec]]:
        """Plugins, workers and routes by plugin id, each the first of its id: a plan asks for every plugin's three,
        which scanning the tuples made quadratic in the number of plugins."""
        return (_first_by(self.plugins, lambda p: p.id), _first_by(self.workers, lambda w: w.plugin_id),
                _first_by(self.routes, lambda r: r.plugin_id))

    def env(self, env_id: str | None) -> EnvSpec | None:
        return next((e for e in self.envs if e.id == env_id), None)

    def package(self, plugin_id: str) -> PackageSpec | None:
        return next((p for p in self.packages if p.plugin_id == plugin_id), None)

    @property
    def pending(self) -> tuple[str, ...]:
        """Plugins whose package is not installed yet: planned once it is."""
        return tuple(p.plugin_id for p in self.packages if p.path is None)

    @property
    def api_hash(self) -> str:
        """Changes exactly when the running daemon must take new settings of its own: the body size limit, and
        [metrics] and [autotune] (no other unit carries them, so without this an apply changing only them would
        have nothing to do)."""
        return api_settings_hash(self.max_body_bytes, _jsonable(self.metrics),
                                 _jsonable(self.autotune))

    @property
    def digest(self) -> str:
        """Changes with anything in the desired state, secrets included (by their hash only)."""
        key = self.cloud.api_key.get_secret_value() if self.cloud.api_key is not None else ""
        return _hash({"state": self.to_dict(), "key": hashlib.sha256(key.encode()).hexdigest()})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; the API key is masked."""
        data = _jsonable(self)
        data.pop("secret_values", None)
        if self.cloud.api_key is not None:
            data["cloud"]["api_key"] = "**********"
        return data


def _first_by(units: tuple[Any, ...], key: Any) -> dict[str, Any]:
    return {key(unit): unit for unit in reversed(units)}


def api_settings_hash(max_body_bytes: int, metrics: Any = None, autotune: Any = None) -> str:
    return _hash({"max_body_bytes": max_body_bytes, "metrics": metrics, "autotune": autotune})


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data; a dataclass as ``dataclasses.asdict`` would make it, without the deep copy of every
    value asdict takes first (the hashes of a plan of 100 plugins spent ~4 ms copying what is only read)."""
    if value is None or isinstance(value, (str, int, float)):  # most values: nothing to convert
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(type(value), "__dataclass_fields__"):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, BaseModel):  # a frozen section of the declaration kept as it is (autotune)
        return _jsonable(value.model_dump(mode="json"))
    if isinstance(value, SecretStr):
        return "**********"
    return value


def _hash(data: Any) -> str:
    # json's C encoder walks the dicts, lists and tuples; _json_default turns the rest into what _jsonable does
    # (a tuple is a JSON list either way, and every key hashed is a str), so the text is _jsonable's, made faster.
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _json_default(value: Any) -> Any:
    converted = _jsonable(value)
    if converted is value:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return converted

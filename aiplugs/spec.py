"""DesiredState: what the running system should be, computed from config + manifests. Pure frozen data.

Nothing here touches the network or processes; the only files read are the declaration itself
(``aiplugs.toml``, manifests, and backend sources whose content is part of a worker's config hash).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import SecretStr

from .config import Config, load_config
from .errors import ConfigError, Problem, did_you_mean
from .manifest import LoadedPlugin, load_plugins, plugin_folders
from .rules import MatchPattern, RuleSet, ScriptRule

__all__ = [
    "CloudSpec",
    "DesiredState",
    "EndpointSpec",
    "ModelSpec",
    "PluginSpec",
    "ProxySpec",
    "RelaySpec",
    "ScriptSpec",
    "WorkerSpec",
    "build_desired_state",
    "load_desired_state",
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

    def rule_set(self) -> RuleSet:
        return RuleSet(s.rule() for s in self.scripts)

    @property
    def intercept_hosts(self) -> tuple[str, ...]:
        """Host patterns to decrypt (``("*",)`` for everything); passthrough is applied on top by the proxy."""
        if self.intercept == "all":
            return ("*",)
        return self.rule_set().intercept_hosts

    @property
    def rules_hash(self) -> str:
        """Changes exactly when the live proxy needs a hot swap (rules, CSP mode, interception)."""
        return _hash({"csp": self.csp, "intercept": self.intercept, "passthrough": self.passthrough,
                      "scripts": [asdict(s) for s in self.scripts]})


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

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    def unit(self, index: int) -> str:
        return f"worker {self.plugin_id}#{index}"


@dataclass(frozen=True)
class RelaySpec:
    """A cloud-mode plugin: calls are relayed to ``cloud.base_url`` + ``path``."""

    plugin_id: str
    path: str
    model: str | None
    timeout_s: float
    config_hash: str


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


@dataclass(frozen=True)
class CloudSpec:
    base_url: str | None
    api_key: SecretStr | None = field(repr=False)
    timeout_s: float


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

    def plugin(self, plugin_id: str) -> PluginSpec | None:
        return next((p for p in self.plugins if p.id == plugin_id), None)

    def model_env(self, plugin_id: str) -> dict[str, str]:
        """``{model key: absolute path}`` for one plugin: what its workers find in their environment."""
        return {k: str(m.path) for m in self.models if plugin_id in m.used_by for k in m.keys}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; the API key is masked."""
        data = _jsonable(asdict(self))
        if self.cloud.api_key is not None:
            data["cloud"]["api_key"] = "**********"
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, SecretStr):
        return "**********"
    return value


def _hash(data: Any) -> str:
    text = json.dumps(_jsonable(data), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_desired_state(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> tuple[Config, DesiredState]:
    """Reads ``aiplugs.toml``, the environment and every manifest; raises ConfigError with all problems.

    Problems of every stage are reported together: a broken aiplugs.toml does not hide broken manifests.
    """
    problems: list[Problem] = []
    config: Config | None = None
    try:
        config = load_config(path, env=env)
        plugins_dir = config.plugins_dir
    except ConfigError as e:
        problems.extend(e.problems)
        plugins_dir = _fallback_plugins_dir(path, env)
    plugins = load_plugins(plugins_dir, problems=problems)
    if config is not None:
        unloadable = frozenset(plugin_folders(plugins_dir) - set(plugins))
        try:
            desired = build_desired_state(config, plugins, unloadable=unloadable)
        except ConfigError as e:
            problems.extend(e.problems)
    if problems:
        raise ConfigError(problems)
    return config, desired


def _fallback_plugins_dir(path: str | os.PathLike[str] | None, env: Mapping[str, str] | None) -> Path:
    """Where plugins most likely are when aiplugs.toml itself did not load: env, else the default folder."""
    from .config import resolve_config_path

    env = os.environ if env is None else env
    config_path = resolve_config_path(path, env)
    folder = Path(env.get("AIPLUGS_PLUGINS_DIR") or "plugins")
    return folder if folder.is_absolute() else config_path.parent / folder


def build_desired_state(
    config: Config, plugins: Mapping[str, LoadedPlugin], *, unloadable: frozenset[str] = frozenset()
) -> DesiredState:
    """``unloadable``: plugin folders whose manifests failed (already reported); not called missing again."""
    settings = config.settings
    problems: list[Problem] = []
    for plugin_id in settings.plugins:
        if plugin_id not in plugins and plugin_id not in unloadable:
            source, line, col = config.position(f"plugins.{plugin_id}")
            message = f"no plugin folder {config.plugins_dir / plugin_id}" + did_you_mean(plugin_id, plugins)
            problems.append(Problem(source, message, f"plugins.{plugin_id}", line, col))
    enabled = {pid for pid in plugins if _plugin_config(config, pid).enabled}
    problems.extend(_backend_problems(config, plugins, enabled))
    order, order_problems = _dependency_order(plugins, enabled, unloadable)
    problems.extend(order_problems)
    models, model_problems = _models(config, plugins, order)
    problems.extend(model_problems)
    if problems:
        raise ConfigError(problems)

    plugin_specs, scripts, workers, relays = [], [], [], []
    for pid in order:
        loaded, pconf = plugins[pid], _plugin_config(config, pid)
        manifest = loaded.manifest
        mode: Mode = pconf.mode or manifest.inference.default_mode
        plugin_specs.append(PluginSpec(pid, manifest.name, manifest.version, manifest.description, mode,
                                       loaded.dir, manifest.dependencies, pconf.provision))
        for cs in manifest.content_scripts:
            scripts.append(ScriptSpec(pid, cs.matches, cs.exclude_matches, cs.js, cs.css, cs.run_at, cs.all_frames))
        if mode == "local":
            workers.append(_worker(config, loaded, models))
        else:
            relays.append(RelaySpec(pid, manifest.inference.cloud_path, manifest.inference.cloud_model,
                                    pconf.timeout_s, _hash([manifest.inference.cloud_path,
                                                            manifest.inference.cloud_model, pconf.timeout_s,
                                                            # where calls go; the key stays out of any hash
                                                            settings.cloud.base_url, settings.cloud.timeout_s])))
    return DesiredState(
        config_path=config.path,
        state_dir=config.state_dir,
        models_dir=config.models_dir,
        plugins_dir=config.plugins_dir,
        api=EndpointSpec(settings.api.host, settings.api.port, settings.api.port_range),
        max_body_bytes=settings.api.max_body_bytes,
        proxy=ProxySpec(
            EndpointSpec(settings.proxy.host, settings.proxy.port, settings.proxy.port_range),
            settings.proxy.csp, settings.proxy.intercept, settings.proxy.passthrough, tuple(scripts),
        ),
        cloud=CloudSpec(settings.cloud.base_url, settings.cloud.api_key, settings.cloud.timeout_s),
        plugins=tuple(plugin_specs),
        disabled=tuple(sorted(set(plugins) - enabled)),
        models=tuple(models.values()),
        workers=tuple(workers),
        relays=tuple(relays),
    )


def _plugin_config(config: Config, plugin_id: str):  # -> PluginConfig
    from .config import PluginConfig

    return config.settings.plugins.get(plugin_id) or PluginConfig()


def _backend_problems(config: Config, plugins: Mapping[str, LoadedPlugin], enabled: set[str]) -> list[Problem]:
    """Local mode needs a backend file; load_manifest checks the manifest's own default, this the overrides."""
    problems = []
    for pid in sorted(enabled):
        loaded, mode = plugins[pid], _plugin_config(config, pid).mode
        entry = loaded.manifest.inference.local_entry
        if mode is None and loaded.manifest.inference.default_mode == "local" and entry is None:
            problems.append(Problem(str(loaded.manifest_path), "default_mode is local but local_entry is null",
                                    "inference.local_entry"))
        elif mode == "local" and (entry is None or not (loaded.dir / entry).is_file()):
            why = (f"{loaded.manifest_path}: inference.local_entry is null" if entry is None
                   else f"file not found: {loaded.dir / entry}")
            source, line, col = config.position(f"plugins.{pid}.mode")
            problems.append(Problem(source, f"local mode needs a backend ({why})", f"plugins.{pid}.mode", line, col))
    return problems


def _dependency_order(
    plugins: Mapping[str, LoadedPlugin], enabled: set[str], unloadable: frozenset[str] = frozenset()
) -> tuple[list[str], list[Problem]]:
    """Enabled plugin ids, dependencies first (ties broken by id); problems for missing deps and cycles."""
    problems = []
    for pid in sorted(enabled):
        for dep in plugins[pid].manifest.dependencies:
            where = str(plugins[pid].manifest_path)
            if dep in unloadable:
                continue  # its manifest's own problems are already reported
            if dep not in plugins:
                problems.append(Problem(where, f"depends on missing plugin {dep!r}" + did_you_mean(dep, plugins),
                                        "dependencies"))
            elif dep not in enabled:
                problems.append(Problem(where, f"depends on disabled plugin {dep!r} (enable it in "
                                               f"[plugins.{dep}] or disable {pid!r})", "dependencies"))
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done
    stack: list[str] = []

    def visit(pid: str) -> None:
        if state.get(pid) == 2:
            return
        if state.get(pid) == 1:
            cycle = stack[stack.index(pid):] + [pid]
            problems.append(Problem(str(plugins[pid].manifest_path), "dependency cycle: " + " -> ".join(cycle),
                                    "dependencies"))
            return
        state[pid] = 1
        stack.append(pid)
        for dep in sorted(plugins[pid].manifest.dependencies):
            if dep in enabled:
                visit(dep)
        stack.pop()
        state[pid] = 2
        order.append(pid)

    for pid in sorted(enabled):
        visit(pid)
    return order, problems


def _models(
    config: Config, plugins: Mapping[str, LoadedPlugin], order: list[str]
) -> tuple[dict[str, ModelSpec], list[Problem]]:
    """One ModelSpec per distinct filename; the same filename with different content is an error."""
    models: dict[str, ModelSpec] = {}
    keys: dict[str, tuple[str, str]] = {}  # key -> (sha256, plugin)
    problems = []
    for pid in order:
        loaded = plugins[pid]
        pconf = _plugin_config(config, pid)
        mode = pconf.mode or loaded.manifest.inference.default_mode
        if mode != "local":
            continue
        for i, ref in enumerate(loaded.manifest.inference.models):
            where, field_path = str(loaded.manifest_path), f"inference.models.{i}"
            url = _absolute_url(ref.source_url, loaded.dir)
            if ref.key in keys and keys[ref.key][0] != ref.sha256:
                problems.append(Problem(where, f"model key {ref.key!r} is also declared by {keys[ref.key][1]!r} "
                                               f"with a different sha256", f"{field_path}.key"))
                continue
            keys[ref.key] = (ref.sha256, pid)
            lazy = pconf.provision == "lazy"
            existing = models.get(ref.filename)
            if existing is None:
                models[ref.filename] = ModelSpec(ref.filename, url, ref.sha256, ref.size,
                                                 config.models_dir / ref.filename, (ref.key,), (pid,), lazy)
            elif existing.sha256 != ref.sha256:
                problems.append(Problem(where, f"filename {ref.filename!r} is also declared by "
                                               f"{existing.used_by[0]!r} with a different sha256",
                                        f"{field_path}.filename"))
            else:
                models[ref.filename] = ModelSpec(
                    existing.filename, existing.url, existing.sha256, existing.size or ref.size, existing.path,
                    tuple(dict.fromkeys((*existing.keys, ref.key))), tuple(dict.fromkeys((*existing.used_by, pid))),
                    existing.lazy and lazy,
                )
    return models, problems


def _absolute_url(source: str, plugin_dir: Path) -> str:
    if "://" in source or source.startswith("/"):
        return source
    return str((plugin_dir / source).resolve())


def _worker(config: Config, loaded: LoadedPlugin, models: Mapping[str, ModelSpec]) -> WorkerSpec:
    pid = loaded.id
    pconf = _plugin_config(config, pid)
    inference = loaded.manifest.inference
    entry = loaded.dir / (inference.local_entry or "backend.py")
    used = [models[ref.filename] for ref in inference.models]
    env = {ref.key: str(models[ref.filename].path) for ref in inference.models}
    env.update(pconf.env)
    env["AIPLUGS_PLUGIN_ID"] = pid
    env["AIPLUGS_PLUGIN_DIR"] = str(loaded.dir)
    env["AIPLUGS_SETTINGS"] = json.dumps(pconf.settings, sort_keys=True, separators=(",", ":"))
    try:
        source_digest = hashlib.sha256(entry.read_bytes()).hexdigest()
    except OSError:
        source_digest = "missing"
    config_hash = _hash({
        "entry": str(entry), "source": source_digest, "env": sorted(env.items()),
        "pass_env": inference.pass_env, "models": sorted((m.filename, m.sha256) for m in used),
        "timeout_s": pconf.timeout_s,
    })
    return WorkerSpec(pid, pconf.workers, entry, loaded.dir, tuple(sorted(env.items())), inference.pass_env,
                      tuple(m.filename for m in used), pconf.timeout_s, config_hash)

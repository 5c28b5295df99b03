"""Building the DesiredState from aiplugs.toml + manifests, with every problem of every stage reported together."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..declaration.config import Config, PluginConfig, load_config
from ..declaration.dependencies import dependency_order
from ..declaration.settings import resolve_plugin_settings
from ..errors import ConfigError, Problem, did_you_mean
from ..declaration.manifest import LoadedPlugin, load_plugins, plugin_folders
from .envs import envs_for
from .packages import sourced_plugins
from .workers import worker_spec
from .ray_specs import ray_placement, ray_problems
from .desired import (
    PackageSpec,
    CloudSpec,
    DesiredState,
    EndpointSpec,
    Mode,
    ModelSpec,
    PluginSpec,
    ProxySpec,
    RelaySpec,
    RouteSpec,
    ScriptSpec,
    ToolSpec,
    MetricsSpec,
    _hash,
)

__all__ = ["build_desired_state", "load_desired_state"]


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
        sourced = [pid for pid, p in config.settings.plugins.items() if p.source is not None]
        plugins = {pid: p for pid, p in plugins.items() if pid not in sourced}  # a source wins over a folder
        installed, packages, parked = sourced_plugins(config, problems)
        plugins.update(installed)
        unloadable = frozenset(plugin_folders(plugins_dir) - set(plugins) - set(sourced))
        try:
            desired = build_desired_state(config, plugins, unloadable=unloadable, packages=packages, env=env,
                                          idle_packages=parked)
        except ConfigError as e:
            problems.extend(e.problems)
    if problems:
        raise ConfigError(problems)
    return config, desired


def _fallback_plugins_dir(path: str | os.PathLike[str] | None, env: Mapping[str, str] | None) -> Path:
    """Where plugins most likely are when aiplugs.toml itself did not load: env, else the default folder."""
    from ..declaration.config import resolve_config_path

    env = os.environ if env is None else env
    config_path = resolve_config_path(path, env)
    folder = Path(env.get("AIPLUGS_PLUGINS_DIR") or "plugins")
    return folder if folder.is_absolute() else config_path.parent / folder


def _local_requirements(config: Config, plugins: Mapping[str, LoadedPlugin], ids: Iterable[str]
                        ) -> dict[str, tuple[str, ...]]:
    """The requirements of those plugins that run in a local environment (on Ray: their runtime_env)."""
    return {pid: plugins[pid].manifest.python.requirements for pid in ids
            if (_plugin_config(config, pid).mode or plugins[pid].manifest.inference.default_mode) == "local"
            and _plugin_config(config, pid).backend != "ray"}


def build_desired_state(
    config: Config, plugins: Mapping[str, LoadedPlugin], *, unloadable: frozenset[str] = frozenset(),
    packages: tuple[PackageSpec, ...] = (), env: Mapping[str, str] | None = None,
    idle_packages: Mapping[str, LoadedPlugin] | None = None,
) -> DesiredState:
    """``unloadable``: plugin folders whose manifests failed (already reported); not called missing again.
    ``packages``: plugins with a source; those not installed yet are left out until they are. ``idle_packages``:
    disabled plugins with a source, loaded from their installed packages (only their Python environments are kept)."""
    settings = config.settings
    problems: list[Problem] = []
    pending = frozenset(p.plugin_id for p in packages if p.path is None)
    parked = frozenset(pid for pid, pc in settings.plugins.items() if pc.source and not pc.enabled)
    unloadable = unloadable | pending | parked  # no folder to look for: a package, not (yet) loaded
    for plugin_id in settings.plugins:
        if plugin_id not in plugins and plugin_id not in unloadable:
            source, line, col = config.position(f"plugins.{plugin_id}")
            message = f"no plugin folder {config.plugins_dir / plugin_id}" + did_you_mean(plugin_id, plugins)
            problems.append(Problem(source, message, f"plugins.{plugin_id}", line, col))
    enabled = {pid for pid in plugins if _plugin_config(config, pid).enabled}
    problems.extend(_backend_problems(config, plugins, enabled))
    problems.extend(ray_problems(config, {pid: _plugin_config(config, pid) for pid in enabled
                                          if _mode(config, plugins[pid]) == "local"}))
    order, order_problems = dependency_order(plugins, enabled, unloadable=unloadable, locate=config.position)
    problems.extend(order_problems)
    settings_of, settings_problems = resolve_plugin_settings(config, {p: plugins[p] for p in enabled}, env=env)
    problems.extend(settings_problems)
    models, model_problems = _models(config, plugins, order)
    problems.extend(model_problems)
    if problems:
        raise ConfigError(problems)

    plugin_specs, scripts, workers, relays, routes = [], [], [], [], []
    envs = envs_for(_local_requirements(config, plugins, order), config.state_dir)
    # a disabled plugin's environment stays on disk (enabling it again must not mean a rebuild), but is not built
    idle_plugins = {**plugins, **(idle_packages or {})}
    idle = envs_for(_local_requirements(config, idle_plugins, sorted(set(idle_plugins) - enabled)), config.state_dir)
    kept_envs = tuple(sorted({e.id for e in idle.values()} - {e.id for e in envs.values()}))
    for pid in order:
        loaded, pconf = plugins[pid], _plugin_config(config, pid)
        manifest = loaded.manifest
        mode: Mode = pconf.mode or manifest.inference.default_mode
        tools = tuple(ToolSpec(t.name, t.description, _canonical(t.input_schema)) for t in manifest.all_tools)
        plugin_specs.append(PluginSpec(pid, manifest.name, manifest.version, manifest.description, mode,
                                       loaded.dir, manifest.dependencies, pconf.provision, tools,
                                       manifest.subscribes, manifest.page_events))
        own = [ScriptSpec(pid, cs.matches, cs.exclude_matches, cs.js, cs.css, cs.run_at, cs.all_frames)
               for cs in manifest.content_scripts]
        scripts.extend(own)
        relay = None
        if mode == "local":
            workers.append(worker_spec(config, loaded, _plugin_config(config, pid), models, envs.get(pid),
                                       settings_of[pid].to_json(),
                                       ray=ray_placement(config, pconf, manifest.python.requirements,
                                                         [(r.key, models[r.filename]) for r in manifest.inference.models])))
        else:
            relay = _relay(config, loaded)
            relays.append(relay)
        routes.append(_route(plugin_specs[-1], own, relay, pconf if mode == "local" else None))
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
            config.resolve(settings.proxy.upstream_ca), tuple(sorted(settings.proxy.hosts.items())),
        ),
        cloud=CloudSpec(settings.cloud.base_url, settings.cloud.api_key, settings.cloud.timeout_s),
        plugins=tuple(plugin_specs),
        disabled=tuple(sorted((set(plugins) - enabled) | parked)),
        models=tuple(models.values()),
        workers=tuple(workers),
        relays=tuple(relays),
        routes=tuple(routes),
        packages=packages,
        envs=tuple({e.id: e for e in envs.values()}.values()),
        kept_envs=kept_envs,
        metrics=MetricsSpec(settings.metrics.enabled, settings.metrics.sample_s, settings.metrics.retention_days),
        autotune=settings.autotune,
        secret_values=_secret_values(settings_of.values()),
    )


def _secret_values(resolved: Any) -> tuple[str, ...]:
    """The text of every writeOnly setting that is set, for masking (numbers and short values too: a secret)."""
    found = []
    for settings in resolved:
        for dotted in settings.secrets:
            node: Any = settings.values
            for key in dotted.split("."):
                node = node.get(key) if isinstance(node, dict) else None
            if node is not None and not isinstance(node, (dict, list)) and str(node):
                found.append(str(node))
    return tuple(sorted(set(found)))


def _mode(config: Config, loaded: LoadedPlugin) -> Mode:
    return _plugin_config(config, loaded.id).mode or loaded.manifest.inference.default_mode


def _plugin_config(config: Config, plugin_id: str) -> PluginConfig:
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


def _canonical(schema: Mapping[str, Any] | None) -> str | None:
    return json.dumps(schema, sort_keys=True, separators=(",", ":")) if schema is not None else None


def _relay(config: Config, loaded: LoadedPlugin) -> RelaySpec:
    inference, pconf, cloud = loaded.manifest.inference, _plugin_config(config, loaded.id), config.settings.cloud
    key = cloud.api_key.get_secret_value() if cloud.api_key is not None else ""
    # where calls go and with which key (by its hash: a new key must reach the relay, the key itself no hash)
    config_hash = _hash([inference.cloud_path, inference.cloud_model, pconf.timeout_s, cloud.base_url,
                         cloud.timeout_s, hashlib.sha256(key.encode()).hexdigest()])
    cloud_spec = CloudSpec(cloud.base_url, cloud.api_key, cloud.timeout_s)
    return RelaySpec(loaded.id, inference.cloud_path, inference.cloud_model, pconf.timeout_s, config_hash, cloud_spec)


def _route(plugin: PluginSpec, scripts: list[ScriptSpec], relay: RelaySpec | None, pconf: Any = None) -> RouteSpec:
    """``pconf``: a local plugin's settings, for its response cache (the router's business: no worker restarts)."""
    assets = tuple(dict.fromkeys(path for s in scripts for path in (*s.js, *s.css)))
    matches = tuple(dict.fromkeys(p for s in scripts for p in s.matches))
    ttl, entries = (pconf.cache_ttl_s, pconf.cache_max_entries) if pconf is not None else (0.0, 1024)
    config_hash = _hash({"plugin": plugin, "assets": assets, "matches": matches,
                         "relay": relay.config_hash if relay else None,
                         **({"cache": [ttl, entries]} if ttl else {})})
    return RouteSpec(plugin, assets, matches, relay, config_hash, ttl, entries)

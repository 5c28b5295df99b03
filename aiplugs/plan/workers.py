"""How one local plugin's workers are specified: the interpreter, the environment they start with (model paths,
settings, their data and cache folders), the hooks its backend defines, and the hash that says when they restart.

A worker's environment holds only its own plugin's settings and model paths: nothing of another plugin reaches it.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Mapping

from ..declaration.config import Config
from ..declaration.manifest import LoadedPlugin
from .desired import EnvSpec, ModelSpec, WorkerSpec, _hash

if TYPE_CHECKING:
    from .placement import RayPlacement

__all__ = ["HOOKS", "backend_hooks", "worker_spec"]

HOOKS = ("init", "shutdown", "install", "uninstall", "on_event")  # optional functions with a meaning of their own
DATA_DIR, CACHE_DIR = "data", "cache"


def backend_hooks(source: bytes) -> tuple[str, ...]:
    """The hook functions a backend defines at its top level, read without importing it (a plan never runs plugin
    code); a file that does not parse has none (its import fails at start, with Python's own message)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ()
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return tuple(sorted(defined & set(HOOKS)))


def worker_spec(config: Config, loaded: LoadedPlugin, pconf: Any, models: Mapping[str, ModelSpec],
                python: EnvSpec | None, settings_json: str, ray: RayPlacement | None = None) -> WorkerSpec:
    """``settings_json``: the plugin's resolved settings (schema defaults filled, secrets from the environment);
    they reach its own workers only. ``ray``: where its replicas run when ``backend = "ray"``."""
    pid, manifest = loaded.id, loaded.manifest
    inference = manifest.inference
    entry = loaded.dir / (inference.local_entry or "backend.py")
    used = [models[ref.filename] for ref in inference.models]
    data_dir, cache_dir = config.state_dir.joinpath(DATA_DIR, pid), config.state_dir.joinpath(CACHE_DIR, pid)
    env = {ref.key: str(models[ref.filename].path) for ref in inference.models}
    env.update(pconf.env)
    env.update({
        "AIPLUGS_PLUGIN_ID": pid,
        "AIPLUGS_PLUGIN_VERSION": manifest.version,
        "AIPLUGS_PLUGIN_DIR": str(loaded.dir),
        "AIPLUGS_DATA_DIR": str(data_dir),
        "AIPLUGS_CACHE_DIR": str(cache_dir),
        "AIPLUGS_SETTINGS": settings_json,
        "AIPLUGS_MODELS": json.dumps({ref.key: str(models[ref.filename].path) for ref in inference.models},
                                     sort_keys=True, separators=(",", ":")),
    })
    try:
        source = entry.read_bytes()
    except OSError:
        source = b""
    hooks = backend_hooks(source)
    hooks_timeout_s = float(getattr(getattr(manifest, "hooks", None), "timeout_s", 60.0))
    config_hash = _hash({
        "entry": str(entry), "source": hashlib.sha256(source).hexdigest() if source else "missing",
        "env": sorted(env.items()), "pass_env": inference.pass_env,
        "models": sorted((m.filename, m.sha256) for m in used), "timeout_s": pconf.timeout_s,
        "python": python.id if python else None, "hooks_timeout_s": hooks_timeout_s,
        **({"max_calls_per_worker": pconf.max_calls_per_worker} if pconf.max_calls_per_worker else {}),
        # on Ray the range is Ray Serve's autoscaling bounds: part of the deployment
        **({"ray": [asdict(ray), _range(pconf.workers)]} if ray is not None else {}),
    })
    ranged = not isinstance(pconf.workers, int)  # workers = {min, max}: the autoscaler picks, from min
    count = pconf.workers.min if ranged else pconf.workers
    return WorkerSpec(
        pid, count, entry, loaded.dir, tuple(sorted(env.items())), inference.pass_env,
        tuple(m.filename for m in used), pconf.timeout_s, config_hash,
        python_env=python.id if python else None, python=python.python if python else None,
        version=manifest.version, data_dir=data_dir, cache_dir=cache_dir, hooks=hooks,
        hooks_timeout_s=hooks_timeout_s,
        count_range=(pconf.workers.min, pconf.workers.max) if ranged else None,
        max_calls_per_worker=pconf.max_calls_per_worker,
        ray=ray,
    )


def _range(workers: Any) -> list[int] | None:
    return None if isinstance(workers, int) else [workers.min, workers.max]

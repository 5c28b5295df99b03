"""What a plugin's Ray Serve deployment is, computed from its ``WorkerSpec``: pure data, no Ray import.

One application per plugin (``aiplugs-<8 hex of the state dir>-<plugin id>``, so two aiplugs on one cluster never
meet), one deployment in it whose replicas are ``PluginReplica`` (replica.py). The replica gets a plain dict
(``replica_config``): where backend.py is, its environment, the models to provision by sha256, and the host it was
planned on — so a replica on another node knows that none of the daemon's paths are its own.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping

from ...plan import WorkerSpec
from .bundle import pack

__all__ = ["DEPLOYMENT", "GRACE_S", "app_name", "app_prefix", "deployment_options", "host_key", "replica_config",
           "runtime_env"]

DEPLOYMENT = "plugin"
GRACE_S = 10.0  # as the process backend: calls in flight finish, then the shutdown hook, within this
# Calls in flight per replica before Serve queues: a worker process has no limit; a replica gets a generous one.
MAX_ONGOING = 256
# Variables a replica keeps from its Ray worker's environment besides the plugin's own: what Ray assigns to it.
RAY_KEEP = ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "NVIDIA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES")


def app_prefix(state_dir: Path) -> str:
    return f"aiplugs-{hashlib.sha256(str(Path(state_dir).absolute()).encode()).hexdigest()[:8]}-"


def app_name(state_dir: Path, plugin_id: str) -> str:
    return app_prefix(state_dir) + plugin_id


def host_key() -> str:
    """This machine (and boot): a replica whose host key differs runs on another node."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


def runtime_env(spec: WorkerSpec) -> dict[str, Any]:
    """The plugin's Python requirements as a pip list (Ray builds that environment on each node)."""
    assert spec.ray is not None
    return {"pip": list(spec.ray.requirements)} if spec.ray.requirements else {}


def deployment_options(spec: WorkerSpec, replicas: int) -> dict[str, Any]:
    """``Deployment.options`` for ``replicas`` replicas (the slots the plan holds); with ``workers = {min, max}``
    Ray Serve autoscales within the range and ``replicas`` is where it starts."""
    assert spec.ray is not None
    actor: dict[str, Any] = dict(spec.ray.resources())
    env = runtime_env(spec)
    if env:
        actor["runtime_env"] = env
    options: dict[str, Any] = {
        "name": DEPLOYMENT, "ray_actor_options": actor, "max_ongoing_requests": MAX_ONGOING,
        "health_check_period_s": 2.0, "health_check_timeout_s": 30.0,
        "graceful_shutdown_wait_loop_s": 0.2, "graceful_shutdown_timeout_s": GRACE_S + spec.hooks_timeout_s,
        "max_constructor_retry_count": 1,  # a failing init hook fails the start; the plan's backoff retries
        "logging_config": {"enable_access_log": False},
    }
    if spec.count_range is not None:
        low, high = spec.count_range
        options["autoscaling_config"] = {"min_replicas": low, "max_replicas": high,
                                         "initial_replicas": min(max(replicas, low), high)}
    else:
        options["num_replicas"] = replicas
    return options


def replica_config(spec: WorkerSpec, *, models_dir: Path, state_dir: Path,
                   parent_env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The constructor argument of each replica: plain JSON-able data."""
    assert spec.ray is not None
    parent = os.environ if parent_env is None else parent_env
    env = {k: parent[k] for k in spec.pass_env if k in parent}
    env.update(spec.env)
    return {
        "plugin_id": spec.plugin_id, "version": spec.version, "entry": str(spec.entry),
        "entry_name": spec.entry.relative_to(spec.plugin_dir).as_posix() if spec.entry.is_relative_to(
            spec.plugin_dir) else spec.entry.name,
        "plugin_dir": str(spec.plugin_dir), "env": env, "timeout_s": spec.timeout_s,
        "hooks_timeout_s": spec.hooks_timeout_s,
        "models": [asdict(m) for m in spec.ray.models],
        "host": host_key(), "models_dir": str(models_dir), "state_dir": str(state_dir),
        "data_dir": str(spec.data_dir) if spec.data_dir else None,
        "cache_dir": str(spec.cache_dir) if spec.cache_dir else None,
        "log_dir": str(Path(state_dir) / "logs"),
        # on a cluster a replica may land on a node without the daemon's disk: the folder travels with it
        "bundle": pack(spec.plugin_dir) if spec.ray.address is not None else None,
    }

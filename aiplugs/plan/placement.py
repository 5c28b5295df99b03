"""Where a local plugin's workers run: processes on this machine (the default) or replicas of a Ray Serve
deployment (``[plugins.<id>] backend = "ray"``), on a Ray instance aiplugs starts and owns or on a cluster named by
``[ray] address``.

Pure: a ``RayPlacement`` is frozen data in the worker spec (it is part of the spec's config hash, so moving a
plugin, changing its resources or the cluster restarts its workers), and the one check that looks beyond the
declaration — is Ray installed? — asks the import system where ``ray`` would come from without importing it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal

__all__ = ["Backend", "RAY_INSTALL", "RayModel", "RayPlacement", "ray_installed", "ray_where"]

Backend = Literal["process", "ray"]
RAY_INSTALL = 'pip install "aiplugs[ray]"'


@dataclass(frozen=True)
class RayModel:
    """A model file a replica provisions on its own node: fetched from ``url`` and verified by ``sha256`` into the
    node's store (a path on the daemon's machine means nothing on another node)."""

    filename: str
    url: str
    sha256: str
    size: int | None
    keys: tuple[str, ...]  # the env variables (and ctx.models keys) that carry its path


@dataclass(frozen=True)
class RayPlacement:
    """A plugin on Ray: one Serve deployment, ``WorkerSpec.count`` replicas."""

    address: str | None = None  # None: a local instance aiplugs starts (and stops with `down`); else connect
    local_cpus: int | None = None  # CPUs of the local instance aiplugs starts (None: Ray's default, every core)
    num_cpus: float | None = None  # per replica ([plugins.<id>.resources]); None: Ray Serve's default
    num_gpus: float | None = None
    requirements: tuple[str, ...] = ()  # the plugin's Python requirements: its Ray runtime_env pip list
    models: tuple[RayModel, ...] = ()  # what each replica provisions before the plugin's init hook runs

    @property
    def where(self) -> str:
        return ray_where(self.address)

    def resources(self) -> dict[str, float]:
        return {k: v for k, v in (("num_cpus", self.num_cpus), ("num_gpus", self.num_gpus)) if v is not None}


def ray_where(address: str | None) -> str:
    """How plan lines, status and logs say where a unit runs: ``ray: local`` (an instance aiplugs starts, owns and
    stops) or ``ray: ray://head:10001`` (a cluster it connects to and never stops)."""
    return "ray: local" if address is None else f"ray: {address}"


def ray_installed() -> bool:
    """Whether ``import ray`` would find a package, without importing it (``validate`` and ``plan`` stay light).

    ``sys.modules["ray"] = None`` — how Python spells "this module is missing" — counts as not installed."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False

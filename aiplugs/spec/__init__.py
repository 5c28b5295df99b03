"""DesiredState: what the running system should be, computed from config + manifests. Pure frozen data.

Nothing here touches the network or processes; the only files read are the declaration itself
(``aiplugs.toml``, manifests, and backend sources whose content is part of a worker's config hash).
"""

from ._build import build_desired_state, load_desired_state
from ._types import (
    CloudSpec,
    DesiredState,
    EndpointSpec,
    ModelSpec,
    PluginSpec,
    ProxySpec,
    RelaySpec,
    ScriptSpec,
    WorkerSpec,
)

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

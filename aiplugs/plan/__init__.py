"""Deciding, with plain values only: the desired state built from the declaration, and the plan that turns what
runs into it. Nothing here touches the network or processes; the only files read are the declaration's own.

``load_desired_state(path)`` → ``DesiredState``; ``diff(desired, actual)`` → ``Plan`` (immutable ``Action`` s, each
with a reason), printable as text and as versioned JSON.
"""

from .build import build_desired_state, load_desired_state
from .desired import (
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
from .diff import (
    Action,
    ActionKind,
    ActualState,
    ObservedEndpoint,
    ObservedModel,
    ObservedRelay,
    ObservedWorker,
    Plan,
    converged,
    diff,
)

__all__ = [
    "Action",
    "ActionKind",
    "ActualState",
    "CloudSpec",
    "DesiredState",
    "EndpointSpec",
    "ModelSpec",
    "ObservedEndpoint",
    "ObservedModel",
    "ObservedRelay",
    "ObservedWorker",
    "Plan",
    "PluginSpec",
    "ProxySpec",
    "RelaySpec",
    "ScriptSpec",
    "WorkerSpec",
    "build_desired_state",
    "converged",
    "diff",
    "load_desired_state",
]

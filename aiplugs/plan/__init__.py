"""Deciding, with plain values only: the desired state built from the declaration, and the plan that turns what
runs into it. Nothing here touches the network or processes; the only files read are the declaration's own.

``load_desired_state(path)`` → ``DesiredState``; ``diff(desired, actual)`` → ``Plan`` (immutable ``Action`` s, each
with a reason), printable as text and as versioned JSON. ``states`` holds the one vocabulary for the states of
models, plugins and the daemon; ``policy`` the restart backoff the plan applies.
"""

from .actions import PLAN_FORMAT_VERSION, Action, ActionKind, Plan, UnitType
from .actual import (ActualState, ObservedEndpoint, ObservedEnv, ObservedHooks, ObservedModel, ObservedPackage,
                     ObservedPlugin, ObservedRoute, ObservedWorker, UnusedEnv)
from .build import build_desired_state, load_desired_state
from .desired import (
    CloudSpec,
    DesiredState,
    EndpointSpec,
    EnvSpec,
    ModelSpec,
    PackageSpec,
    PluginSpec,
    ProxySpec,
    RelaySpec,
    RouteSpec,
    ScriptSpec,
    ToolSpec,
    WorkerSpec,
    MetricsSpec,
)
from .diff import diff
from .states import DaemonState, ModelState, PluginState, Route

__all__ = [
    "Action",
    "ActionKind",
    "ActualState",
    "CloudSpec",
    "DaemonState",
    "DesiredState",
    "EndpointSpec",
    "EnvSpec",
    "ModelSpec",
    "MetricsSpec",
    "ModelState",
    "ObservedEndpoint",
    "ObservedEnv",
    "ObservedHooks",
    "ObservedModel",
    "ObservedPackage",
    "ObservedPlugin",
    "ObservedRoute",
    "ObservedWorker",
    "PLAN_FORMAT_VERSION",
    "PackageSpec",
    "Plan",
    "PluginSpec",
    "PluginState",
    "ProxySpec",
    "RelaySpec",
    "Route",
    "RouteSpec",
    "ScriptSpec",
    "ToolSpec",
    "UnitType",
    "UnusedEnv",
    "WorkerSpec",
    "build_desired_state",
    "diff",
    "load_desired_state",
]

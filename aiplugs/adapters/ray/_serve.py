"""Every call aiplugs makes into Ray Serve, in one place (blocking: run them off the event loop).

Two of them use Serve's controller directly, because the public API has no equivalent: scaling a deployment to a
count someone else decided (``update_deployment_replicas``, Serve's *external scaler*, which an application opts
into at deploy time) and reading replica details — ids, states, pids, nodes, deaths — which the public
``serve.status()`` only counts. A Ray upgrade that moves them breaks here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .deployment import DEPLOYMENT

__all__ = ["AppView", "ReplicaView", "delete", "deploy", "details", "handle", "scale"]


@dataclass(frozen=True)
class ReplicaView:
    replica_id: str
    state: str  # STARTING, UPDATING, RECOVERING, RUNNING, STOPPING, STOPPED (Ray's ReplicaState)
    pid: int | None
    node_id: str | None
    start_time_s: float
    log_file: str | None  # relative to the node's Ray log folder

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"


@dataclass(frozen=True)
class AppView:
    """One plugin's application as Serve's controller sees it."""

    name: str
    status: str  # NOT_STARTED, DEPLOYING, DEPLOY_FAILED, RUNNING, UNHEALTHY, DELETING
    message: str
    deployment_status: str  # UPDATING, HEALTHY, UNHEALTHY, DEPLOY_FAILED, UPSCALING, DOWNSCALING
    deployment_message: str
    target: int
    replicas: tuple[ReplicaView, ...]
    dead: tuple[ReplicaView, ...]

    @property
    def running(self) -> tuple[ReplicaView, ...]:
        return tuple(sorted((r for r in self.replicas if r.running), key=lambda r: (r.start_time_s, r.replica_id)))


def _text(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


def _replica(data: dict[str, Any]) -> ReplicaView:
    return ReplicaView(str(data.get("replica_id")), _text(data.get("state")), data.get("pid"), data.get("node_id"),
                       float(data.get("start_time_s") or 0.0), data.get("log_file_path"))


def app_view(name: str, data: dict[str, Any]) -> AppView:
    """From the dict of ``get_serve_instance_details`` (also what tests feed in as plain values)."""
    deployment = (data.get("deployments") or {}).get(DEPLOYMENT) or {}
    return AppView(name, _text(data.get("status")), str(data.get("message") or ""),
                   _text(deployment.get("status")), str(deployment.get("message") or ""),
                   int(deployment.get("target_num_replicas") or 0),
                   tuple(_replica(r) for r in deployment.get("replicas") or ()),
                   tuple(_replica(r) for r in deployment.get("recent_dead_replicas") or ()))


def _controller() -> Any:
    from ray.serve.context import _get_global_client

    return _get_global_client()._controller


def details(prefix: str) -> dict[str, AppView]:
    """Every application whose name starts with ``prefix``."""
    import ray

    data = ray.get(_controller().get_serve_instance_details.remote())
    return {name: app_view(name, app) for name, app in (data.get("applications") or {}).items()
            if name.startswith(prefix)}


def deploy(name: str, options: dict[str, Any], config: dict[str, Any]) -> None:
    """Deploys (or redeploys: a rolling restart) and returns once the application runs; RuntimeError when it
    failed (Serve's message; the deployment's own message says why)."""
    from ray import serve

    from .replica import PluginReplica

    app = serve.deployment(PluginReplica).options(**options).bind(config)
    serve.run(app, name=name, route_prefix=None, external_scaler_enabled="autoscaling_config" not in options)


def scale(name: str, replicas: int) -> None:
    """Sets the replica count of a running application (no restart of the replicas that stay)."""
    import ray
    from ray.serve._private.common import DeploymentID

    ray.get(_controller().update_deployment_replicas.remote(DeploymentID(name=DEPLOYMENT, app_name=name), replicas))


def delete(name: str) -> None:
    from ray import serve

    serve.delete(name)


def handle(name: str) -> Any:
    """A handle for streaming calls of ``PluginReplica.call``."""
    from ray import serve

    return serve.get_app_handle(name).options(stream=True, method_name="call")

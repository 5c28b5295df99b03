"""The states things are in, one vocabulary each, from the status report to the notebook and the dashboard."""

from __future__ import annotations

import enum

__all__ = ["DaemonState", "ModelState", "PluginState", "Route"]


class ModelState(str, enum.Enum):
    MISSING = "missing"  # no file
    UNVERIFIED = "unverified"  # a file no verification vouches for (new, or changed since)
    DOWNLOADING = "downloading"  # a download of it is in flight (here or in another process)
    READY = "ready"  # verified: its recorded hash is the declared one and the file is unchanged since
    CORRUPT = "corrupt"  # verified, and it holds other bytes than the declaration's sha256


class PluginState(str, enum.Enum):
    READY = "ready"  # every desired worker answers (or the relay is configured)
    IDLE = "idle"  # lazy: nothing started yet; the first call starts it
    STARTING = "starting"  # workers are being started and none has answered yet
    DEGRADED = "degraded"  # some workers answer, or a cloud relay lacks its settings
    FAILED = "failed"  # crash loop, start or hook failure; retried on `apply` or `restart`
    BLOCKED = "blocked"  # not started: a plugin it depends on is not ready (it starts once that one is)
    STOPPED = "stopped"  # scaled to 0 workers, or no daemon runs
    DISABLED = "disabled"  # `enabled = false`

    @property
    def healthy(self) -> bool:
        return self in (PluginState.READY, PluginState.IDLE, PluginState.DISABLED, PluginState.STOPPED)


class DaemonState(str, enum.Enum):
    RUNNING = "running"
    STOPPED = "stopped"


class Route(str, enum.Enum):
    """What answers a plugin's calls in the router."""

    LOCAL = "local"  # its worker processes
    CLOUD = "cloud"  # the relay to the cloud server
    NONE = "none"

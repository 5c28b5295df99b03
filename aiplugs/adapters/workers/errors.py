"""What a call to a plugin's workers can fail with; each carries the HTTP status the router answers with."""

from __future__ import annotations

from ...errors import AiplugsError

__all__ = ["BackendError", "HookFailed", "NoSuchPool", "WorkerError", "WorkerGone", "WorkerTimeout",
           "WorkerUnavailable"]


class WorkerError(AiplugsError):
    """A worker pool could not start or serve; ``stderr_tail`` holds the worker's last stderr lines."""

    status = 503

    def __init__(self, message: str, *, plugin_id: str = "", stderr_tail: tuple[str, ...] = ()) -> None:
        self.plugin_id = plugin_id
        self.stderr_tail = tuple(stderr_tail)
        full = message
        if self.stderr_tail:
            full += "\n--- last stderr lines ---\n" + "\n".join(self.stderr_tail)
        super().__init__(full)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """What a caller is told: ``{"type", "message"}`` (a backend's own exception type and message)."""
        return {"type": type(self).__name__, "message": self.message}


class NoSuchPool(WorkerError):
    status = 404


class WorkerUnavailable(WorkerError):
    """No ready worker (pool failed, scaled to 0, or still starting past the deadline)."""

    status = 503


class WorkerGone(WorkerError):
    """The worker exited while serving the call."""

    status = 502


class WorkerTimeout(WorkerError):
    status = 504


class HookFailed(WorkerError):
    """A hook of the plugin's backend raised or ran past ``hooks.timeout_s``: ``init`` while a worker started,
    ``install`` / ``uninstall`` in their one-shot run. ``tail`` holds the last lines it printed (the traceback)."""

    status = 503

    def __init__(self, message: str, *, plugin_id: str, hook: str, tail: tuple[str, ...] = ()) -> None:
        super().__init__(message, plugin_id=plugin_id, stderr_tail=tail)
        self.hook = hook
        self.tail = tuple(tail)


class BackendError(WorkerError):
    """The plugin's own code raised; the worker stays up."""

    status = 500

    def __init__(self, plugin_id: str, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}", plugin_id=plugin_id)
        self.type_name = type_name
        self.detail = message

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type_name, "message": self.detail}

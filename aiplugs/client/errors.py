"""What talking to the daemon can fail with."""

from __future__ import annotations

from typing import Any

from ..errors import AiplugsError

__all__ = ["DaemonError", "DaemonTimeout"]


class DaemonError(AiplugsError):
    def __init__(self, message: str, status: int = 0, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class DaemonTimeout(DaemonError):
    """The daemon took longer than the caller's timeout (it may still be working on the request)."""

"""Local workers: processes running plugins' ``backend.py``, started, restarted and stopped one at a time when the
plan says so, and the calls, WebSocket messages and events dispatched to them (least outstanding first) over a
socketpair channel (see ``channel.py`` for why). Workers run ``harness.py``, whose docstring is the plugin
programming model: ``run`` and named tools, ``ctx``, hooks, events and ``ctx.publish``.
"""

from __future__ import annotations

from .errors import BackendError, HookFailed, NoSuchPool, WorkerError, WorkerGone, WorkerTimeout, WorkerUnavailable
from .manager import WorkerManager
from .process import worker_env
from .reply import Reply

__all__ = sorted([
    "BackendError",
    "HookFailed",
    "NoSuchPool",
    "Reply",
    "WorkerError",
    "WorkerGone",
    "WorkerManager",
    "WorkerTimeout",
    "WorkerUnavailable",
    "worker_env",
])

"""Local workers: processes running plugins' ``backend.py``, started, restarted and stopped one at a time when the
plan says so, and the calls dispatched to them (least outstanding first) over a socketpair channel (see
``channel.py`` for why). Workers run ``harness.py``.
"""

from __future__ import annotations

from .errors import BackendError, NoSuchPool, WorkerError, WorkerGone, WorkerTimeout, WorkerUnavailable
from .manager import WorkerManager
from .process import worker_env
from .reply import Reply

__all__ = sorted([
    "BackendError",
    "NoSuchPool",
    "Reply",
    "WorkerError",
    "WorkerGone",
    "WorkerManager",
    "WorkerTimeout",
    "WorkerUnavailable",
    "worker_env",
])

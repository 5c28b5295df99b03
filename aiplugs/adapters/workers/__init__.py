"""Local workers: supervised pools of processes running plugins' ``backend.py``.

``WorkerManager.ensure(spec)`` converges a plugin's pool; ``call``/``stream``/``request`` dispatch to the least
busy ready worker over a socketpair channel (see ``channel.py`` for why). Workers run ``harness.py``.
"""

from __future__ import annotations

from .errors import BackendError, NoSuchPool, WorkerError, WorkerGone, WorkerTimeout, WorkerUnavailable
from .manager import PoolState, PoolStatus, Reply, WorkerManager
from .process import worker_env

__all__ = sorted([
    "BackendError",
    "NoSuchPool",
    "PoolState",
    "PoolStatus",
    "Reply",
    "WorkerError",
    "WorkerGone",
    "WorkerManager",
    "WorkerTimeout",
    "WorkerUnavailable",
    "worker_env",
])

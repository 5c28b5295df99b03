"""Plugins on Ray: each plugin with ``backend = "ray"`` is a Ray Serve application whose replicas run its
``backend.py`` with the same contract as a worker process (``run``, tools, streaming, hooks, ``ctx``, models by
env key). ``RayBackend`` implements the worker backend seam (``adapters/backend.py``); ``RayInstance`` is the
connection to a local instance aiplugs owns or to a cluster; ``replica.py`` is the deployment class.

Importing this package does not import Ray: only starting a plugin on it does (``aiplugs[ray]``).
"""

from __future__ import annotations

from .backend import RayBackend
from .instance import RayInstance

__all__ = sorted(["RayBackend", "RayInstance"])

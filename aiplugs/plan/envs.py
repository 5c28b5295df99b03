"""Python environments for plugins with requirements: one virtualenv per distinct requirement set, shared.

The id is a hash of the normalized set, so two plugins asking for ``numpy>=1.26`` and ``NumPy >= 1.26`` share one
environment, and a changed set is a new environment (workers switch over only once the new one is complete; the
old one goes once no worker runs in it, see ``diff``; a disabled plugin's environment is kept, not built).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

from .desired import EnvSpec

__all__ = ["ENVS_DIR", "env_id", "envs_for", "normalize"]

ENVS_DIR = "envs"


def normalize(requirements: Iterable[str]) -> tuple[str, ...]:
    """Sorted, de-duplicated, each as packaging spells it with the canonical name (``NumPy >= 1.26`` is
    ``numpy>=1.26``)."""
    return tuple(sorted({_normal(r) for r in requirements}))


def _normal(text: str) -> str:
    from packaging.requirements import Requirement  # only plugins with requirements need it (none of an idle daemon's)
    from packaging.utils import canonicalize_name

    requirement = Requirement(text)
    requirement.name = canonicalize_name(requirement.name)
    return str(requirement).replace(" ", "") if requirement.marker is None else str(requirement)


def env_id(requirements: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:12]


def envs_for(wanted: dict[str, tuple[str, ...]], state_dir: Path) -> dict[str, EnvSpec]:
    """plugin id -> the EnvSpec it runs in, for every plugin with requirements."""
    by_set: dict[tuple[str, ...], list[str]] = {}
    for plugin_id, requirements in wanted.items():
        normal = normalize(requirements)
        if normal:
            by_set.setdefault(normal, []).append(plugin_id)
    result = {}
    for normal, users in by_set.items():
        ident = env_id(normal)
        spec = EnvSpec(ident, normal, state_dir / ENVS_DIR / ident, tuple(users))
        result.update({plugin_id: spec for plugin_id in users})
    return result

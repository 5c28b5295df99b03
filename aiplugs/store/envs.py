"""Which plugin Python environments are complete: a build writes its marker last, so a folder whose marker names
the same requirements (and whose interpreter is there) is ready; anything else is missing or unfinished. And which
environment folders the desired state does not name (``unused_envs``), with the live process still running from
one, if any: what the plan removes once nothing runs from it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from ..plan import EnvSpec, UnusedEnv
from ..plan.envs import ENVS_DIR

__all__ = ["ENV_MARKER", "env_ready", "env_users", "unused_envs"]

ENV_MARKER = ".aiplugs-env.json"


def env_ready(env: EnvSpec) -> bool:
    try:
        data = json.loads((env.path / ENV_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("requirements") == list(env.requirements) and env.python.exists()


def unused_envs(state_dir: Path, wanted: Iterable[str]) -> tuple[UnusedEnv, ...]:
    """The environment folders under ``<state_dir>/envs/`` not in ``wanted`` (ids), sorted; hidden names (a removal
    in progress) are not environments."""
    try:
        folders = sorted(p for p in (state_dir / ENVS_DIR).iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return ()
    keep = set(wanted)
    unused = [p for p in folders if p.name not in keep]
    if not unused:
        return ()
    users = env_users(unused)
    return tuple(UnusedEnv(p.name, users.get(p)) for p in unused)


def env_users(folders: Iterable[Path]) -> dict[Path, int]:
    """A live process running from each of ``folders`` (its program, ``argv[0]``, inside it), by folder."""
    import psutil

    prefixes = {str(f) + os.sep: f for f in folders}
    found: dict[Path, int] = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        argv = proc.info.get("cmdline") or ()
        if not argv:
            continue
        for prefix, folder in prefixes.items():
            if argv[0].startswith(prefix):
                found.setdefault(folder, proc.info["pid"])
    return found

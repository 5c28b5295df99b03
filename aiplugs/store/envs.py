"""Which plugin Python environments are complete: a build writes its marker last, so a folder whose marker names
the same requirements (and whose interpreter is there) is ready; anything else is missing or unfinished."""

from __future__ import annotations

import json

from ..plan import EnvSpec

__all__ = ["ENV_MARKER", "env_ready"]

ENV_MARKER = ".aiplugs-env.json"


def env_ready(env: EnvSpec) -> bool:
    try:
        data = json.loads((env.path / ENV_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("requirements") == list(env.requirements) and env.python.exists()

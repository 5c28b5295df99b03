"""Scrubbing secrets out of anything the router sends: by key name, and by known secret values."""

from __future__ import annotations

import re
from typing import Any, Iterable

__all__ = ["MASK", "redact"]

MASK = "**********"
SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|authorization|credential)", re.IGNORECASE)


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of JSON-like ``value`` with secret-looking keys masked and known secret strings replaced."""
    known = tuple(s for s in secrets if s)
    return _redact(value, known)


def _redact(value: Any, known: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and SECRET_KEY.search(k) and isinstance(v, str) and v
                    else _redact(v, known))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v, known) for v in value]
    if isinstance(value, str):
        for secret in known:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    return value

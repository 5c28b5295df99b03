"""Keeping secrets out of everything aiplugs shows: one mask, one rule for secret-looking names, one for URLs.

Used by ``aiplugs config``, the status and events the router serves, ``/metrics``, logs and error messages.
"""

from __future__ import annotations

import re
from typing import Any, Iterable
from urllib.parse import urlsplit, urlunsplit

__all__ = ["MASK", "is_secret_name", "redact", "redact_url"]

MASK = "**********"
# Names whose values are secrets: API_KEY, HF_KEY, token, *_SECRET, password, Authorization, credentials...
# A bare "key" is not one: a model's "key" names the environment variable that carries its path.
_SECRET_NAME = re.compile(r"api[_-]?key|[_-]key$|token|secret|passw|credential|authoriz|^auth$|[_-]auth$|^auth[_-]",
                          re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of JSON-like ``value``: values under secret-looking keys masked, known secret strings replaced."""
    return _redact(value, tuple(s for s in secrets if s))


def _redact(value: Any, known: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and is_secret_name(k) and isinstance(v, str) and v
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


def redact_url(url: str, *, keep_query: bool = False) -> str:
    """The URL without ``user:password@`` and (unless ``keep_query``) without its query and fragment, which
    often carry tokens (presigned URLs): safe for messages, events and logs. Not a URL: returned as it is."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    query = parts.query if keep_query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))

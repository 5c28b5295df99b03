"""Durations and points in time as people type them: ``90``, ``90s``, ``15m``, ``2h``, ``7d``, ``1.5h``, or an ISO-8601
time (``2026-01-31T10:00:00Z``). Used by ``?since=`` / ``?step=`` of ``/api/metrics``, ``aiplugs top`` and
``Session.metrics``."""

from __future__ import annotations

import re
from datetime import datetime, UTC

__all__ = ["parse_duration", "parse_since"]

UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", re.IGNORECASE)


def parse_duration(text: str | float | int) -> float:
    """Seconds; ValueError naming the value when it is not a positive duration."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.fullmatch(str(text))
        if match is None:
            raise ValueError(f"not a duration: {text!r} (use seconds or a number with s, m, h, d or w: '15m')")
        seconds = float(match.group(1)) * UNITS[match.group(2).lower()]
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {text!r}")
    return seconds


def parse_since(text: str | float | int, now: float) -> float:
    """A point in time (unix seconds): ``now`` minus a duration, or an ISO-8601 time (UTC unless it says)."""
    if isinstance(text, str) and ("-" in text or ":" in text):
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not a time: {text!r} (use an ISO-8601 time or a duration like '1h')") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return now - parse_duration(text)

"""Error signatures from worker log text: the tracebacks a backend's failures print, grouped by what failed where.

``ValueError: bad input: 'x'`` raised at ``backend.py:7 in run`` and the same with ``'y'`` are one signature,
``ValueError: bad input: '…' (backend.py:7 in run)``: literals, numbers and addresses are masked so a
thousand failures of one bug count as one line with a thousand, not a thousand lines.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

__all__ = ["error_signatures", "normalize"]

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')
_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning|[A-Z]\w*))(: (?P<msg>.*))?$")
_MASKS = (
    (re.compile(r"'[^']*'"), "'…'"),
    (re.compile(r'"[^"]*"'), '"…"'),
    (re.compile(r"0x[0-9a-fA-F]+"), "0x…"),
    (re.compile(r"\b\d+(\.\d+)?\b"), "N"),
)
MAX_LENGTH = 160


def normalize(message: str) -> str:
    for pattern, mask in _MASKS:
        message = pattern.sub(mask, message)
    return message[:MAX_LENGTH]


def error_signatures(lines: Iterable[str]) -> list[tuple[str, int]]:
    """(signature, count) for every traceback in ``lines``, most frequent first (ties by signature)."""
    counts: Counter[str] = Counter()
    frame: tuple[str, str, str] | None = None
    inside, last = False, None
    for raw in lines:
        line = raw.rstrip("\n")
        if line.startswith("Traceback (most recent call last):"):
            inside, frame = True, None
            continue
        if line.startswith(("During handling of the above", "The above exception was")) and last is not None:
            counts[last] -= 1  # a chained exception: the failure is the one at the end of the chain
            counts += Counter()  # drops the zero
            last = None
            continue
        if not inside:
            continue
        match = _FRAME.match(line)
        if match:
            frame = (match["file"].rsplit("/", 1)[-1], match["line"], match["func"])
            continue
        if line.startswith((" ", "\t")) or not line.strip():
            continue  # source lines, carets
        exception = _EXCEPTION.match(line)
        inside = False
        if exception is None:
            continue
        text = exception["type"].rsplit(".", 1)[-1]
        if exception["msg"]:
            text += ": " + normalize(exception["msg"])
        if frame is not None:
            text += f" ({frame[0]}:{frame[1]} in {frame[2]})"
        counts[text] += 1
        last = text
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

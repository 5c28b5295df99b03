"""What the suggestion rules read, gathered from disk and the router: the metrics history as samples, the router's
identical-payload repeats merged in per minute, and the top error signatures from the worker logs.

Blocking reads (sqlite, log files): call these from a worker thread.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..declaration.autotune import AutotuneConfig
from ..plan.autotune import Sample, error_signatures, stats, window
from ..store.metrics_history import MetricsHistory

__all__ = ["LOG_TAIL_BYTES", "longest_window", "read_samples", "read_signatures", "verification_stats"]

LOG_TAIL_BYTES = 256 * 1024  # of each worker log (and its last rotated file): the recent failures
Repeats = Callable[[str], Mapping[int, tuple[int, int]]]  # plugin → minute → (calls, repeats)


def longest_window(cfg: AutotuneConfig) -> float:
    return max(cfg.scale_up_window_s, cfg.scale_down_window_s, cfg.error_window_s, cfg.memory_window_s,
               cfg.cache_window_s, cfg.timeout_window_s)


def read_samples(history: MetricsHistory, plugins: Sequence[str], since: float, until: float,
                 repeats: Repeats = lambda plugin: {}) -> dict[str, list[Sample]]:
    """Each plugin's minute rows in ``[since, until)`` as samples, oldest first, with the router's repeat counts
    of the same minute."""
    out: dict[str, list[Sample]] = {}
    for plugin in plugins:
        counted = repeats(plugin)
        out[plugin] = [Sample.from_summary(r.summary(), counted.get(r.minute, (0, 0))[1])
                       for r in history.rollups(plugin, since, until)]
    return out


def read_signatures(log_dir: Path, plugin: str, tail_bytes: int = LOG_TAIL_BYTES) -> list[tuple[str, int]]:
    """The error signatures in the tails of ``<log_dir>/<plugin>-<n>.log`` (and ``.log.1``, the last rotation)."""
    name = re.compile(rf"^{re.escape(plugin)}-\d+\.log(\.1)?$")  # "a-0.log", never "a-b-0.log" of plugin a-b
    lines: list[str] = []
    try:
        files = sorted(p for p in log_dir.iterdir() if name.match(p.name))
    except OSError:
        return []
    for path in files:
        try:
            with path.open("rb") as f:
                size = f.seek(0, 2)
                f.seek(max(0, size - tail_bytes))
                data = f.read()
        except OSError:
            continue
        text = data.decode("utf-8", "replace")
        if size > tail_bytes:
            text = text.partition("\n")[2]  # the first line is probably cut
        lines.extend(text.splitlines())
    return error_signatures(lines)


def verification_stats(history: MetricsHistory, plugin: str, applied_at: float, now: float,
                       repeats: Repeats = lambda plugin: {}) -> dict[str, Any]:
    """The plugin's figures from ``applied_at`` to ``now``: what the change did. (The minute row the change fell in
    counts: with a verification window of minutes it is a small part, with one of seconds all there is.)"""
    samples = read_samples(history, [plugin], applied_at, now + 1, repeats)[plugin]
    return stats(window(samples, now, now - applied_at)).to_dict()

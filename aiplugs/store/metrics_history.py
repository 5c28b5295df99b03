"""The metrics history: one :class:`~aiplugs.store.rollup.Rollup` per plugin per minute in
``<state_dir>/metrics.sqlite`` (sqlite3, WAL), kept ``retention_s`` (7 days by default) and never more than
``max_rows`` rows. Pure storage: the daemon's collector (``aiplugs.runtime.collect``) measures and writes; the
router, ``aiplugs top``, the notebook and the suggestion engine read.

Reading, for a plugin (times are unix seconds)::

    history = MetricsHistory(history_path(state_dir))
    history.window("echo", 600)                  # one summary dict of the last 10 minutes (Rollup.summary keys)
    history.series("echo", since, until, step=300)  # a summary dict per 5 minutes that has data, oldest first
    history.rollups("echo", since, until)        # the raw minute rows, to merge as you like (Rollup + Rollup)

``write`` merges each rollup into the row of its minute, so a sample every few seconds, and a daemon that
restarts in the middle of a minute, add up to one row. Each call opens its own connection: the collector writes
from a thread while the router reads from another, and WAL lets readers and the writer go on together. A file
that is not a database is moved aside (``metrics.sqlite.broken``) and history starts again: losing it never stops
the daemon. A database written by another version of this schema is dropped the same way.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from .rollup import Rollup, merge_all
from .sqlite_file import SqliteFile

__all__ = ["HISTORY_FILE", "MAX_ROWS", "RETENTION_S", "MetricsHistory", "history_path", "history_report"]

HISTORY_FILE = "metrics.sqlite"
RETENTION_S = 7 * 86400
MAX_ROWS = 250_000  # ~20 plugins × 7 days of minutes; a row is ~150 bytes
SCHEMA_VERSION = 1
_FIELDS = [f.name for f in dataclasses.fields(Rollup)]
_SQL_TYPES = {"int": "INTEGER", "float": "REAL"}  # the rest (plugin, errors, buckets) is TEXT
_COLUMNS = ", ".join(f"{f.name} {_SQL_TYPES.get(str(f.type), 'TEXT')} NOT NULL" for f in dataclasses.fields(Rollup))


def history_path(state_dir: Path) -> Path:
    return Path(state_dir) / HISTORY_FILE


class MetricsHistory:
    def __init__(self, path: Path | str, *, retention_s: float = RETENTION_S, max_rows: int = MAX_ROWS) -> None:
        self.path = Path(path)
        self.retention_s = retention_s
        self.max_rows = max_rows
        self._pruned_at: int | None = None  # the minute of the last prune (at most one per minute of data)
        # WAL + NORMAL: a power cut may lose the last commit only
        self._file = SqliteFile(self.path, self._create, synchronous="NORMAL")

    # ---- writing ---------------------------------------------------------------------------------------------

    def write(self, rollups: Iterable[Rollup]) -> None:
        """Adds each rollup into its plugin's row for ``floor(minute / 60) * 60``; then prunes what is older than
        the retention (counted from the newest minute written) and the oldest rows beyond ``max_rows``."""
        by_key: dict[tuple[str, int], Rollup] = {}
        for rollup in rollups:
            minute = int(rollup.minute) // 60 * 60
            key = (rollup.plugin, minute)
            by_key[key] = by_key[key] + rollup if key in by_key else rollup.at(minute)
        if not by_key:
            return
        newest = max(minute for _, minute in by_key)
        with self._file.connect() as db:
            for (plugin, minute), rollup in by_key.items():
                row = db.execute(f"SELECT {', '.join(_FIELDS)} FROM rollups WHERE plugin = ? AND minute = ?",
                                 (plugin, minute)).fetchone()
                merged = Rollup.from_row(row) + rollup if row is not None else rollup
                values = merged.to_row()
                db.execute(f"INSERT OR REPLACE INTO rollups ({', '.join(_FIELDS)}) VALUES "
                           f"({', '.join(':' + name for name in _FIELDS)})", values)
            if self._pruned_at is None or newest - self._pruned_at >= 60:
                self._prune(db, newest)
                self._pruned_at = newest

    def prune(self, now: float | None = None) -> int:
        """Drops rows past the retention (before ``now``, default the clock) and beyond ``max_rows``; how many."""
        with self._file.connect() as db:
            return self._prune(db, int(time.time() if now is None else now))

    def _prune(self, db: sqlite3.Connection, now: int) -> int:
        dropped = db.execute("DELETE FROM rollups WHERE minute < ?", (now - self.retention_s,)).rowcount
        excess = db.execute("SELECT COUNT(*) FROM rollups").fetchone()[0] - self.max_rows
        if excess > 0:
            dropped += db.execute("DELETE FROM rollups WHERE rowid IN (SELECT rowid FROM rollups ORDER BY minute, "
                                  "plugin LIMIT ?)", (excess,)).rowcount
        return dropped

    # ---- reading ---------------------------------------------------------------------------------------------

    def rollups(self, plugin: str, since: float, until: float | None = None) -> list[Rollup]:
        """The minute rows of ``plugin`` that overlap ``[since, until)``, oldest first."""
        first = int(since) // 60 * 60
        last = float("inf") if until is None else until
        with self._file.connect() as db:
            rows = db.execute(f"SELECT {', '.join(_FIELDS)} FROM rollups WHERE plugin = ? AND minute >= ? "
                              "AND minute < ? ORDER BY minute", (plugin, first, last)).fetchall()
        return [Rollup.from_row(row) for row in rows]

    def series(self, plugin: str, since: float, until: float | None = None, step: int = 60) -> list[dict[str, Any]]:
        """One ``Rollup.summary()`` per ``step`` seconds (a multiple of 60, at least 60; buckets start at multiples
        of ``step`` since the epoch) that holds data, oldest first; its ``time`` is the bucket's start."""
        return _stepped(self.rollups(plugin, since, until), plugin, step)

    def window(self, plugin: str, seconds: float, now: float | None = None) -> dict[str, Any]:
        """One summary of the last ``seconds`` (the minutes overlapping ``[now - seconds, now]``); its
        ``samples`` is 0 when there is no data. ``time`` is the window's start."""
        end = time.time() if now is None else now
        start = end - seconds
        summary = merge_all(self.rollups(plugin, start, end + 1), plugin, int(start)).summary()
        return {**summary, "until": end}

    def plugins(self) -> list[str]:
        """Every plugin with rows, sorted."""
        with self._file.connect() as db:
            return [row[0] for row in db.execute("SELECT DISTINCT plugin FROM rollups ORDER BY plugin")]

    def span(self) -> tuple[int, int] | None:
        """(oldest minute, newest minute) held, None when empty."""
        with self._file.connect() as db:
            low, high = db.execute("SELECT MIN(minute), MAX(minute) FROM rollups").fetchone()
        return None if low is None else (int(low), int(high))

    # ---- the file --------------------------------------------------------------------------------------------

    def _create(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):  # another layout: history is a cache of the past, drop it
            db.execute("DROP TABLE IF EXISTS rollups")
        db.execute(f"CREATE TABLE IF NOT EXISTS rollups ({_COLUMNS}, PRIMARY KEY (plugin, minute))")
        db.execute("CREATE INDEX IF NOT EXISTS rollups_minute ON rollups (minute)")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

def history_report(history: MetricsHistory, plugin: str, since: float, until: float | None = None,
                   step: int = 60) -> dict[str, Any]:
    """What ``GET /api/metrics/{plugin}`` answers (and the notebook shows without a daemon): the series, and one
    summary of the whole range."""
    end = time.time() if until is None else until
    rollups = history.rollups(plugin, since, end)
    total = merge_all(rollups, plugin, int(since) // 60 * 60).summary()
    return {"plugin": plugin, "since": since, "until": end, "step": _step(step),
            "points": _stepped(rollups, plugin, step), "summary": total}


def _step(step: float) -> int:
    """A whole number of minutes, at least one, in seconds."""
    return max(60, -(-int(step) // 60) * 60)


def _stepped(rollups: list[Rollup], plugin: str, step: float) -> list[dict[str, Any]]:
    size = _step(step)
    buckets: dict[int, list[Rollup]] = {}
    for rollup in rollups:
        buckets.setdefault(rollup.minute - rollup.minute % size, []).append(rollup)
    return [merge_all(parts, plugin, start).summary() for start, parts in sorted(buckets.items())]

"""What the suggestion engine remembers, in ``<state_dir>/suggestions.sqlite`` (sqlite3, WAL), across restarts:

- ``history``: every applied suggestion — the suggestion, the diff of ``aiplugs.toml``, the file's text and sha256
  before and after, the metrics before; later the metrics after, the verdict, and a revert if there was one;
- ``settings``: the last value seen of each setting a suggestion may change and when it changed (cooldowns start
  there, whoever changed it: an applied suggestion, the autoscaler or a person editing the file);
- ``rejections``: suggestions a person turned down, and when;
- ``scaling``: the autoscaler's count per ranged plugin and the reason of its last change.

Each call opens its own connection (the daemon reads and writes from worker threads). Losing the file loses
memory, never the daemon: a file that is not a database is moved aside and started again.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .sqlite_file import SqliteFile

__all__ = ["HistoryEntry", "SUGGESTIONS_FILE", "SuggestionStore", "suggestions_path"]

SUGGESTIONS_FILE = "suggestions.sqlite"
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, suggestion_id TEXT NOT NULL, plugin TEXT NOT NULL, rule TEXT NOT NULL,
    suggestion TEXT NOT NULL, applied_at REAL NOT NULL, diff TEXT NOT NULL, text_before TEXT NOT NULL,
    hash_before TEXT, hash_after TEXT NOT NULL, metrics_before TEXT NOT NULL, metrics_after TEXT,
    verified_at REAL, verdict TEXT, verdict_reason TEXT, reverted_at REAL, revert_diff TEXT);
CREATE TABLE IF NOT EXISTS settings (
    plugin TEXT NOT NULL, setting TEXT NOT NULL, value TEXT NOT NULL, changed_at REAL, PRIMARY KEY (plugin, setting));
CREATE TABLE IF NOT EXISTS rejections (id TEXT PRIMARY KEY, rejected_at REAL NOT NULL, suggestion TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scaling (plugin TEXT PRIMARY KEY, count INTEGER NOT NULL, reason TEXT NOT NULL,
    changed_at REAL NOT NULL);
"""


def suggestions_path(state_dir: Path) -> Path:
    return Path(state_dir) / SUGGESTIONS_FILE


@dataclass(frozen=True)
class HistoryEntry:
    """One applied suggestion, as recorded; JSON columns decoded."""

    id: int
    suggestion: dict[str, Any]
    applied_at: float
    diff: str
    text_before: str
    hash_before: str | None
    hash_after: str
    metrics_before: dict[str, Any]
    metrics_after: dict[str, Any] | None = None
    verified_at: float | None = None
    verdict: str | None = None
    verdict_reason: str | None = None
    reverted_at: float | None = None
    revert_diff: str | None = None

    @property
    def suggestion_id(self) -> str:
        return str(self.suggestion["id"])

    def to_dict(self) -> dict[str, Any]:
        """For ``--json`` and the API (the whole file text before stays out: the diff says what changed)."""
        return {"id": self.id, "suggestion": self.suggestion, "applied_at": self.applied_at, "diff": self.diff,
                "hash_before": self.hash_before, "hash_after": self.hash_after,
                "metrics_before": self.metrics_before, "metrics_after": self.metrics_after,
                "verified_at": self.verified_at, "verdict": self.verdict, "verdict_reason": self.verdict_reason,
                "reverted_at": self.reverted_at, "revert_diff": self.revert_diff,
                "revertible": self.reverted_at is None and self.suggestion.get("change") is not None}


class SuggestionStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._file = SqliteFile(self.path, self._create)

    # ---- history ---------------------------------------------------------------------------------------------

    def record_apply(self, suggestion: Mapping[str, Any], applied_at: float, diff: str, text_before: str,
                     hash_before: str | None, hash_after: str, metrics_before: Mapping[str, Any]) -> HistoryEntry:
        with self._file.connect() as db:
            cursor = db.execute(
                "INSERT INTO history (suggestion_id, plugin, rule, suggestion, applied_at, diff, text_before, "
                "hash_before, hash_after, metrics_before) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (suggestion["id"], suggestion["plugin"], suggestion["rule"], json.dumps(dict(suggestion)), applied_at,
                 diff, text_before, hash_before, hash_after, json.dumps(dict(metrics_before))))
            entry_id = int(cursor.lastrowid or 0)
        found = self.entry(entry_id)
        assert found is not None
        return found

    def entries(self, limit: int = 200) -> list[HistoryEntry]:
        """Newest first."""
        with self._file.connect() as db:
            rows = db.execute("SELECT * FROM history ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [_entry(row) for row in rows]

    def entry(self, entry_id: int) -> HistoryEntry | None:
        with self._file.connect() as db:
            row = db.execute("SELECT * FROM history WHERE id = ?", (entry_id,)).fetchone()
        return _entry(row) if row is not None else None

    def unverified(self) -> list[HistoryEntry]:
        """Applied, not reverted, no verdict yet: oldest first."""
        with self._file.connect() as db:
            rows = db.execute("SELECT * FROM history WHERE verdict IS NULL AND reverted_at IS NULL ORDER BY id"
                              ).fetchall()
        return [_entry(row) for row in rows]

    def set_verdict(self, entry_id: int, metrics_after: Mapping[str, Any], verdict: str, reason: str,
                    at: float) -> None:
        with self._file.connect() as db:
            db.execute("UPDATE history SET metrics_after = ?, verdict = ?, verdict_reason = ?, verified_at = ? "
                       "WHERE id = ?", (json.dumps(dict(metrics_after)), verdict, reason, at, entry_id))

    def set_reverted(self, entry_id: int, at: float, diff: str) -> None:
        with self._file.connect() as db:
            db.execute("UPDATE history SET reverted_at = ?, revert_diff = ? WHERE id = ?", (at, diff, entry_id))

    # ---- what the engine remembers ---------------------------------------------------------------------------

    def observe_settings(self, values: Mapping[tuple[str, str], Any], now: float) -> dict[tuple[str, str], float]:
        """Records the settings' current values; a value that differs from the one recorded last changed ``now``.
        (A setting seen for the first time has no change time: nothing to cool down from.) Returns every
        setting's last change time."""
        with self._file.connect() as db:
            known = {(r["plugin"], r["setting"]): (r["value"], r["changed_at"])
                     for r in db.execute("SELECT plugin, setting, value, changed_at FROM settings")}
            for key, value in values.items():
                text = json.dumps(value, sort_keys=True)
                old = known.get(key)
                if old is None:
                    db.execute("INSERT INTO settings VALUES (?, ?, ?, NULL)", (*key, text))
                    known[key] = (text, None)
                elif old[0] != text:
                    db.execute("UPDATE settings SET value = ?, changed_at = ? WHERE plugin = ? AND setting = ?",
                               (text, now, *key))
                    known[key] = (text, now)
        return {key: changed for key, (_, changed) in known.items() if changed is not None}

    def reject(self, suggestion: Mapping[str, Any], at: float) -> None:
        with self._file.connect() as db:
            db.execute("INSERT OR REPLACE INTO rejections VALUES (?, ?, ?)",
                       (suggestion["id"], at, json.dumps(dict(suggestion))))

    def rejections(self) -> dict[str, float]:
        with self._file.connect() as db:
            return {r["id"]: r["rejected_at"] for r in db.execute("SELECT id, rejected_at FROM rejections")}

    def scaling(self) -> dict[str, tuple[int, str, float]]:
        """plugin → (count, reason of the last change, when)."""
        with self._file.connect() as db:
            rows = db.execute("SELECT plugin, count, reason, changed_at FROM scaling").fetchall()
        return {r["plugin"]: (r["count"], r["reason"], r["changed_at"]) for r in rows}

    def set_scaling(self, plugin: str, count: int, reason: str, at: float) -> None:
        with self._file.connect() as db:
            db.execute("INSERT OR REPLACE INTO scaling VALUES (?, ?, ?, ?)", (plugin, count, reason, at))

    # ---- the file --------------------------------------------------------------------------------------------

    def _create(self, db: sqlite3.Connection) -> None:
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

def _entry(row: sqlite3.Row) -> HistoryEntry:
    return HistoryEntry(
        id=row["id"], suggestion=json.loads(row["suggestion"]), applied_at=row["applied_at"], diff=row["diff"],
        text_before=row["text_before"], hash_before=row["hash_before"], hash_after=row["hash_after"],
        metrics_before=json.loads(row["metrics_before"]),
        metrics_after=json.loads(row["metrics_after"]) if row["metrics_after"] else None,
        verified_at=row["verified_at"], verdict=row["verdict"], verdict_reason=row["verdict_reason"],
        reverted_at=row["reverted_at"], revert_diff=row["revert_diff"])

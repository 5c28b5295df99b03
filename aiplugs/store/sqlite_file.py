"""One SQLite file in WAL mode that a damaged copy never blocks: the metrics history and the suggestion history.

The schema is made on first use by the owner's ``create`` (given a connection in WAL mode, committed after). A file
that is not a database (cut short, overwritten) is set aside as ``<name>.broken`` with its ``-wal``/``-shm``
companions removed, and a new one is made: both files hold a record of the past, never the system's state, so
starting over is the right answer and the old bytes stay for a look.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["SqliteFile"]


class SqliteFile:
    def __init__(self, path: Path | str, create: Callable[[sqlite3.Connection], None], *,
                 synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self._create_schema = create
        self._synchronous = synchronous
        self._ready = False

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation, committed at the end (rolled back if it raises); rows by name."""
        if not self._ready:
            self._prepare()
        db = sqlite3.connect(self.path, timeout=10.0)
        try:
            db.row_factory = sqlite3.Row
            if self._synchronous != "FULL":
                db.execute(f"PRAGMA synchronous = {self._synchronous}")
            with db:
                yield db
        finally:
            db.close()

    def _prepare(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._create()
        except sqlite3.DatabaseError:
            self._set_aside()
            self._create()
        self._ready = True

    def _create(self) -> None:
        db = sqlite3.connect(self.path, timeout=10.0)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            self._create_schema(db)
            db.commit()
        finally:
            db.close()

    def _set_aside(self) -> None:
        os.replace(self.path, self.path.with_name(self.path.name + ".broken"))
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                self.path.with_name(self.path.name + suffix).unlink()

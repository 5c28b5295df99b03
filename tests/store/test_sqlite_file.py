"""SqliteFile: schema on first use, one committed operation per connection, a damaged file set aside."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from aiplugs.store.sqlite_file import SqliteFile


def _schema(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER)")


def test_schema_is_made_on_first_use_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "x.sqlite"
    file = SqliteFile(path, _schema)
    assert not path.exists()
    with file.connect() as db:
        db.execute("INSERT INTO t VALUES ('a', 1)")
    with file.connect() as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert [dict(r) for r in db.execute("SELECT * FROM t")] == [{"k": "a", "v": 1}]


def test_an_operation_that_raises_is_rolled_back(tmp_path: Path) -> None:
    file = SqliteFile(tmp_path / "x.sqlite", _schema, synchronous="NORMAL")
    with pytest.raises(RuntimeError), file.connect() as db:
        db.execute("INSERT INTO t VALUES ('a', 1)")
        raise RuntimeError("halfway")
    with file.connect() as db:
        assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 0
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_a_file_that_is_no_database_is_set_aside_with_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    path.write_bytes(b"not a database at all, just text" * 100)
    (tmp_path / "x.sqlite-wal").write_bytes(b"junk")
    with SqliteFile(path, _schema).connect() as db:
        db.execute("INSERT INTO t VALUES ('b', 2)")
    assert (tmp_path / "x.sqlite.broken").read_bytes().startswith(b"not a database")
    assert sqlite3.connect(path).execute("SELECT v FROM t").fetchall() == [(2,)]

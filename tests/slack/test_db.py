"""The SQLite wrapper under an operator's troubles: the error that reaches the log is the one that happened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.store.db import Database


def test_a_full_disk_is_reported_as_such_and_the_next_write_works(tmp_path: Path) -> None:
    """SQLite rolls a transaction back by itself when the disk fills up; rolling back again raised "cannot
    rollback - no transaction is active", which hid the real trouble from the log."""
    db = Database(tmp_path / "bot.sqlite3")
    with db.transaction() as conn:
        conn.execute("CREATE TABLE notes (body BLOB)")
    conn = db.connection()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # cannot grow: a full disk as SQLite sees it
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"), db.transaction() as tx:
        tx.execute("INSERT INTO notes VALUES (?)", (b"x" * 100_000,))
    assert not conn.in_transaction
    with db.transaction() as tx:  # space again (a small write fits): the connection is usable
        tx.execute("INSERT INTO notes VALUES (?)", (b"small",))
    assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 1


def test_a_failing_statement_is_rolled_back(tmp_path: Path) -> None:
    db = Database(tmp_path / "bot.sqlite3")
    with db.transaction() as conn:
        conn.execute("CREATE TABLE notes (body TEXT NOT NULL)")
    with pytest.raises(sqlite3.IntegrityError), db.transaction() as tx:
        tx.execute("INSERT INTO notes VALUES ('kept?')")
        tx.execute("INSERT INTO notes VALUES (NULL)")
    assert db.connection().execute("SELECT count(*) FROM notes").fetchone()[0] == 0

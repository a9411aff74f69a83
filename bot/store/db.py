"""A small SQLite wrapper shared by every store module: one connection per thread, WAL, migrations."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


class Database:
    """A SQLite file safe to use from many threads and processes (WAL + busy timeout)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._write_lock = threading.RLock()  # RLock: a nested transaction fails in SQLite, not here
        with self.transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)")

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit mode: use `transaction()` to group writes)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a crash of the bot loses nothing committed; only a power cut can lose the
            # last commits, and it never corrupts the file. FULL would fsync every dedupe claim.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken up front (BEGIN IMMEDIATE), committed or rolled back.

        Writers of this process queue on a lock first: SQLite's own busy handler makes waiting writers
        sleep in growing steps (up to 100 ms), which under load costs far more than the writes."""
        conn = self.connection()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                # On some errors (a full disk) SQLite has rolled back already: a second ROLLBACK would
                # raise "no transaction is active" in place of the error that happened.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def migrate(self, name: str, statements: Sequence[str]) -> None:
        """Run `statements` once per database file, recorded under `name`."""
        with self._lock, self.transaction() as conn:
            if conn.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (name,)).fetchone():
                return
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

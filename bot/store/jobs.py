"""Durable scheduled jobs (kind, run_at, payload, status) in SQLite.

A job is stored, never slept on, so a wait survives restarts. Claiming is atomic (one write transaction
flips `pending` to `running`), so two bot instances over the same database never run the same job; a job
whose runner died is claimable again once its lease has expired.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.store.db import Database

MIGRATION = (
    "jobs-1",
    (
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            key TEXT,
            run_at REAL NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            claimed_by TEXT,
            claimed_at REAL,
            finished_at REAL,
            last_error TEXT
        )""",
        "CREATE INDEX jobs_due ON jobs (status, run_at)",
        "CREATE INDEX jobs_key ON jobs (key, status)",
    ),
)

PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"
DEFAULT_LEASE_SECONDS = 600.0


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    key: str | None
    run_at: float
    payload: dict[str, Any]
    status: str
    attempts: int


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(*MIGRATION)

    def schedule(self, kind: str, run_at: float, payload: dict[str, Any], *, key: str | None = None) -> int:
        """Store a job; with `key`, a pending job of the same key is moved to the new time instead."""
        with self.db.transaction() as conn:
            return self.schedule_in(conn, kind, run_at, payload, key=key)

    @staticmethod
    def schedule_in(
        conn: sqlite3.Connection, kind: str, run_at: float, payload: dict[str, Any], *, key: str | None = None
    ) -> int:
        """`schedule`, inside the caller's transaction (with the change the job follows from)."""
        body = json.dumps(payload, sort_keys=True)
        if key is not None:
            row = conn.execute(
                "SELECT id FROM jobs WHERE key = ? AND status = ? ORDER BY id LIMIT 1", (key, PENDING)
            ).fetchone()
            if row is not None:
                conn.execute(
                    "UPDATE jobs SET kind = ?, run_at = ?, payload = ? WHERE id = ?",
                    (kind, run_at, body, row["id"]),
                )
                return int(row["id"])
        cursor = conn.execute(
            "INSERT INTO jobs (kind, key, run_at, payload) VALUES (?, ?, ?, ?)", (kind, key, run_at, body)
        )
        return int(cursor.lastrowid or 0)

    @staticmethod
    def insert_many(conn: sqlite3.Connection, jobs: Sequence[tuple[str, float, dict[str, Any]]]) -> None:
        """Store (kind, run_at, payload) jobs inside the caller's transaction."""
        conn.executemany(
            "INSERT INTO jobs (kind, run_at, payload) VALUES (?, ?, ?)",
            [(kind, run_at, json.dumps(payload, sort_keys=True)) for kind, run_at, payload in jobs],
        )

    def cancel(self, key: str) -> int:
        """Cancel the pending jobs of `key`; return how many."""
        with self.db.transaction() as conn:
            return self.cancel_in(conn, key)

    @staticmethod
    def cancel_in(conn: sqlite3.Connection, key: str) -> int:
        """`cancel`, inside the caller's transaction."""
        return conn.execute(
            "UPDATE jobs SET status = ? WHERE key = ? AND status = ?", (CANCELLED, key, PENDING)
        ).rowcount

    def claim_due(
        self,
        now: float,
        worker: str,
        *,
        kinds: Sequence[str],
        limit: int = 10,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> list[Job]:
        """Atomically take up to `limit` due jobs of `kinds` (pending, or running with an expired lease)."""
        if not kinds:
            return []
        marks = ",".join("?" * len(kinds))
        with self.db.transaction() as conn:
            rows = conn.execute(
                f"SELECT * FROM jobs WHERE kind IN ({marks}) AND run_at <= ? "  # noqa: S608 - placeholders
                "AND (status = ? OR (status = ? AND claimed_at <= ?)) ORDER BY run_at, id LIMIT ?",
                (*kinds, now, PENDING, RUNNING, now - lease_seconds, limit),
            ).fetchall()
            for row in rows:
                conn.execute(
                    "UPDATE jobs SET status = ?, claimed_by = ?, claimed_at = ?, attempts = attempts + 1 "
                    "WHERE id = ?",
                    (RUNNING, worker, now, row["id"]),
                )
        return [
            Job(
                id=row["id"],
                kind=row["kind"],
                key=row["key"],
                run_at=row["run_at"],
                payload=json.loads(row["payload"]),
                status=RUNNING,
                attempts=row["attempts"] + 1,
            )
            for row in rows
        ]

    def extend(self, job_ids: Sequence[int], now: float, worker: str) -> None:
        """Renew the leases of the jobs `worker` is still running, as if claimed at `now`."""
        if not job_ids:
            return
        marks = ",".join("?" * len(job_ids))
        with self.db.transaction() as conn:
            conn.execute(
                f"UPDATE jobs SET claimed_at = ? WHERE id IN ({marks}) "  # noqa: S608 - placeholders
                "AND status = ? AND claimed_by = ?",
                (now, *job_ids, RUNNING, worker),
            )

    def finish(self, job_id: int, at: float) -> None:
        self._set(job_id, DONE, at, None)

    def fail(self, job_id: int, at: float, error: str) -> None:
        self._set(job_id, FAILED, at, error[:500])

    def retry(self, job_id: int, run_at: float, error: str) -> None:
        """Put a claimed job back in the queue, due at `run_at`."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, run_at = ?, claimed_by = NULL, last_error = ? WHERE id = ?",
                (PENDING, run_at, error[:500], job_id),
            )

    def defer(self, job_id: int, run_at: float) -> None:
        """Put a claimed job back, due at `run_at`, as if it had not been taken (no attempt spent)."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, run_at = ?, claimed_by = NULL, attempts = MAX(attempts - 1, 0) "
                "WHERE id = ?",
                (PENDING, run_at, job_id),
            )

    def earlier_about(self, job_id: int, kind: str, fields: dict[str, str]) -> bool:
        """Whether a job of `kind` stored before `job_id` is still there whose payload has these `fields`."""
        where = "".join(f" AND json_extract(payload, '$.{name}') = ?" for name in fields)
        row = (
            self.db.connection()
            .execute(
                f"SELECT 1 FROM jobs WHERE kind = ? AND id < ?{where} LIMIT 1",  # noqa: S608 - placeholders
                (kind, job_id, *fields.values()),
            )
            .fetchone()
        )
        return row is not None

    def update(self, job_id: int, payload: dict[str, Any]) -> None:
        """Store a claimed job's progress in its payload (what a run after a crash should not do again)."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET payload = ? WHERE id = ?", (json.dumps(payload, sort_keys=True), job_id)
            )

    def renew(self, key: str, run_at: float) -> None:
        """Move the pending jobs of `key` to `run_at` (a heartbeat: they come due only once it stops)."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE jobs SET run_at = ? WHERE key = ? AND status = ?", (run_at, key, PENDING))

    def delete_key(self, key: str) -> None:
        """Forget every job of `key`, whatever its status (work whose payload should not outlive it)."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM jobs WHERE key = ?", (key,))

    def delete(self, job_id: int) -> None:
        """Forget a job and its payload (work whose payload should not outlive it, e.g. pasted text)."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def purge(self, *, before: float) -> int:
        """Forget jobs that ended (done, failed, cancelled) and were due before `before`; return how many."""
        with self.db.transaction() as conn:
            return conn.execute(
                "DELETE FROM jobs WHERE status IN (?, ?, ?) AND run_at < ?", (DONE, FAILED, CANCELLED, before)
            ).rowcount

    def due_count(self, kinds: Sequence[str], now: float) -> int:
        """Jobs of `kinds` that are due or being run at `now`."""
        marks = ",".join("?" * len(kinds))
        row = (
            self.db.connection()
            .execute(
                f"SELECT COUNT(*) FROM jobs WHERE kind IN ({marks}) "  # noqa: S608 - placeholders
                "AND ((status = ? AND run_at <= ?) OR status = ?)",
                (*kinds, PENDING, now, RUNNING),
            )
            .fetchone()
        )
        return int(row[0])

    def get(self, job_id: int) -> Job | None:
        row = self.db.connection().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def by_key(self, key: str) -> list[Job]:
        rows = self.db.connection().execute("SELECT * FROM jobs WHERE key = ? ORDER BY id", (key,))
        return [_job(row) for row in rows]

    def _set(self, job_id: int, status: str, at: float, error: str | None) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, last_error = ? WHERE id = ?",
                (status, at, error, job_id),
            )


def _job(row: Any) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        key=row["key"],
        run_at=row["run_at"],
        payload=json.loads(row["payload"]),
        status=row["status"],
        attempts=row["attempts"],
    )

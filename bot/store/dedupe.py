"""Durable "have we handled this already?" for Slack deliveries: claim → process → done (or release).

Slack retries an event when it thinks the first delivery failed, and a message that mentions the bot comes
twice (app_mention + message.channels, different event ids). Every delivery claims all its keys at once
(`event:<event_id>`, `msg:<channel>:<ts>`); only the first claim wins. A claim is a lease: if the process
that took it dies before `done`, the claim expires after `lease_seconds` and a later retry is processed. A
failure that should be retried calls `release`, so Slack's next retry is processed at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.store.db import Database

MIGRATION = (
    "dedupe-v1",
    [
        """CREATE TABLE dedupe (
            key TEXT PRIMARY KEY,
            state TEXT NOT NULL CHECK (state IN ('claimed', 'done')),
            owner TEXT NOT NULL,
            claimed_at REAL NOT NULL,
            done_at REAL
        )""",
        "CREATE INDEX dedupe_claimed_at ON dedupe (claimed_at)",
    ],
)


def event_key(event_id: str) -> str:
    return f"event:{event_id}"


def message_key(channel: str, ts: str) -> str:
    return f"msg:{channel}:{ts}"


class DedupeStore:
    """SQLite-backed claims; every method is one short transaction, safe across threads and processes."""

    def __init__(self, db: Database, *, lease_seconds: float = 120.0) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        db.migrate(*MIGRATION)

    def claim(self, keys: Sequence[str], *, owner: str, now: float) -> bool:
        """Claim every key, or none: False when any key is done or claimed by a live lease."""
        keys = [k for k in dict.fromkeys(keys) if k]
        if not keys:
            return True
        expired = now - self.lease_seconds
        with self.db.transaction() as conn:
            marks = ",".join("?" * len(keys))
            blocking = conn.execute(
                f"SELECT 1 FROM dedupe WHERE key IN ({marks}) "  # noqa: S608 - only placeholders
                "AND (state = 'done' OR claimed_at > ?) LIMIT 1",
                (*keys, expired),
            ).fetchone()
            if blocking:
                return False
            conn.executemany(
                "INSERT INTO dedupe (key, state, owner, claimed_at) VALUES (?, 'claimed', ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET state = 'claimed', owner = excluded.owner, "
                "claimed_at = excluded.claimed_at, done_at = NULL",
                [(key, owner, now) for key in keys],
            )
        return True

    def done(self, keys: Sequence[str], *, now: float) -> None:
        """Mark keys handled for good: later deliveries with any of them are dropped."""
        with self.db.transaction() as conn:
            conn.executemany(
                "UPDATE dedupe SET state = 'done', done_at = ? WHERE key = ?", [(now, k) for k in keys if k]
            )

    def release(self, keys: Sequence[str], *, owner: str) -> None:
        """Give up our claim after a failure that Slack's next retry should get another go at."""
        with self.db.transaction() as conn:
            conn.executemany(
                "DELETE FROM dedupe WHERE key = ? AND owner = ? AND state = 'claimed'",
                [(k, owner) for k in keys if k],
            )

    def state(self, key: str) -> str | None:
        row = self.db.connection().execute("SELECT state FROM dedupe WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["state"])

    def purge(self, *, before: float) -> int:
        """Forget keys claimed before `before` (Slack stops retrying after minutes); return how many."""
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM dedupe WHERE claimed_at < ?", (before,)).rowcount

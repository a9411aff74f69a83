"""Durable "have we seen this delivery already?" for Slack events.

Slack retries an event when it thinks the first delivery failed, and a message that mentions the bot comes
twice (app_mention + message.channels, different event ids). Every delivery records all its keys at once
(`event:<event_id>`, `msg:<channel>:<ts>`) in the same transaction that queues its work
(`bot/store/jobs.py`): the first delivery wins for good, and the queued job, not Slack's retries, carries
the work through failures and restarts.

Delivery keys are forgotten after a day (`purge`); `warned:<channel>:<ts>` keys, one per message whose
poster was told to rotate a secret in it (few), are kept: a thread can come back to life any time later.
"""

from __future__ import annotations

import sqlite3
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
OWNER = "aps-bot"
WARNED = "warned:"
MAX_VARIABLES = 500  # per statement; SQLite allows at least 999


def event_key(event_id: str) -> str:
    return f"event:{event_id}"


def message_key(channel: str, ts: str) -> str:
    return f"msg:{channel}:{ts}"


def edit_key(channel: str, ts: str, edited_ts: str) -> str:
    """One edit of a message (Slack may send its `message_changed` again, with an unfurl say)."""
    return f"edit:{channel}:{ts}:{edited_ts}"


def warned_key(channel: str, ts: str) -> str:
    """The poster of this message was warned about a secret in it (never purged)."""
    return f"{WARNED}{channel}:{ts}"


def checklist_from_key(channel: str, ts: str) -> str:
    """A checklist was started from the diagnosis reply in this thread (kept a day, like delivery keys)."""
    return f"checklist-from:{channel}:{ts}"


class DedupeStore:
    """SQLite-backed delivery keys, safe across threads and processes."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(*MIGRATION)

    @staticmethod
    def first_seen(
        conn: sqlite3.Connection, deliveries: Sequence[Sequence[str]], *, now: float
    ) -> list[bool]:
        """Inside the caller's transaction, for each delivery (its keys) in order: True when none of its
        keys was seen before (by the database or an earlier delivery of the list), and its keys are then
        recorded; False otherwise, and nothing of it is recorded."""
        wanted = list(dict.fromkeys(k for keys in deliveries for k in keys if k))
        seen: set[str] = set()
        for start in range(0, len(wanted), MAX_VARIABLES):
            chunk = wanted[start : start + MAX_VARIABLES]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key FROM dedupe WHERE key IN ({marks})"  # noqa: S608 - only placeholders
            seen.update(row[0] for row in conn.execute(query, chunk))
        firsts, new = [], []
        for keys in deliveries:
            keys = [k for k in dict.fromkeys(keys) if k]
            first = not seen.intersection(keys)
            firsts.append(first)
            if first:
                seen.update(keys)
                new.extend(keys)
        conn.executemany(
            "INSERT INTO dedupe (key, state, owner, claimed_at, done_at) VALUES (?, 'done', ?, ?, ?)",
            [(key, OWNER, now, now) for key in new],
        )
        return firsts

    def record(self, keys: Sequence[str], *, now: float) -> bool:
        """`first_seen` of one delivery, in a transaction of its own."""
        with self.db.transaction() as conn:
            return self.first_seen(conn, [keys], now=now)[0]

    def forget(self, key: str) -> None:
        """Drop one key (what it guarded did not happen after all)."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM dedupe WHERE key = ?", (key,))

    def state(self, key: str) -> str | None:
        row = self.db.connection().execute("SELECT state FROM dedupe WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["state"])

    def edited(self, channel: str, ts: str) -> bool:
        """Whether an edit of message `ts` was delivered (an `edit_key` of it is kept, for a day)."""
        prefix = edit_key(channel, ts, "")
        query = "SELECT 1 FROM dedupe WHERE key > ? AND key < ? LIMIT 1"
        return self.db.connection().execute(query, (prefix, prefix + "\uffff")).fetchone() is not None

    def purge(self, *, before: float) -> int:
        """Forget delivery keys recorded before `before` (Slack stops retrying after minutes), not warnings;
        return how many."""
        with self.db.transaction() as conn:
            return conn.execute(
                "DELETE FROM dedupe WHERE claimed_at < ? AND key NOT LIKE ?", (before, f"{WARNED}%")
            ).rowcount

"""Live-check reports waiting for their "Share in channel" click, stored so a restart does not lose them.

A report is kept as the two messages the click produces (the channel post and the replacement of the
ephemeral report), for the user who ran the check, until the response_url behind it expires.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.store.db import Database

MIGRATION = (
    "shared-reports-1",
    (
        """CREATE TABLE shared_reports (
            id TEXT PRIMARY KEY,
            user TEXT NOT NULL,
            expires_at REAL NOT NULL,
            post TEXT NOT NULL,
            shared TEXT NOT NULL
        )""",
        "CREATE INDEX shared_reports_expiry ON shared_reports (expires_at)",
    ),
)

Message = dict[str, Any]  # {"text": ..., "blocks": [...]}


@dataclass(frozen=True)
class KeptReport:
    post: Message  # what goes in the channel
    shared: Message  # what the user's ephemeral report becomes


class SharedReports:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(*MIGRATION)

    def keep(
        self, share_id: str, *, user: str, now: float, expires_at: float, post: Message, shared: Message
    ) -> None:
        """Store a report for `user`; forget the expired ones on the way."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM shared_reports WHERE expires_at < ?", (now,))
            conn.execute(
                "INSERT OR REPLACE INTO shared_reports (id, user, expires_at, post, shared) "
                "VALUES (?, ?, ?, ?, ?)",
                (share_id, user, expires_at, json.dumps(post), json.dumps(shared)),
            )

    def get(self, share_id: str, *, user: str, now: float) -> KeptReport | None:
        """The report, if it exists, belongs to `user` and has not expired."""
        row = (
            self.db.connection()
            .execute(
                "SELECT post, shared FROM shared_reports WHERE id = ? AND user = ? AND expires_at >= ?",
                (share_id, user, now),
            )
            .fetchone()
        )
        return None if row is None else KeptReport(json.loads(row["post"]), json.loads(row["shared"]))

    def forget(self, share_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM shared_reports WHERE id = ?", (share_id,))

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
    user: str = ""
    expires_at: float = 0.0


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

    def take(self, share_id: str, *, user: str, now: float) -> KeptReport | None:
        """Remove and return the report, if it exists, belongs to `user` and has not expired: of two clicks
        at once, only one gets it. `put_back` keeps it again if sharing it failed."""
        with self.db.transaction() as conn:
            rows = conn.execute(  # every row read before the commit: the statement is then finished
                "DELETE FROM shared_reports WHERE id = ? AND user = ? AND expires_at >= ? "
                "RETURNING user, expires_at, post, shared",
                (share_id, user, now),
            ).fetchall()
        if not rows:
            return None
        [row] = rows
        return KeptReport(json.loads(row["post"]), json.loads(row["shared"]), row["user"], row["expires_at"])

    def waiting(self, share_id: str) -> bool:
        """Whether the report still waits for its Share click (not taken by one, nor expired and dropped)."""
        row = self.db.connection().execute("SELECT 1 FROM shared_reports WHERE id = ?", (share_id,))
        return row.fetchone() is not None

    def put_back(self, share_id: str, kept: KeptReport, *, now: float) -> None:
        """Keep a taken report again (its share failed), until it would have expired."""
        self.keep(
            share_id, user=kept.user, now=now, expires_at=kept.expires_at, post=kept.post, shared=kept.shared
        )

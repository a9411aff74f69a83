"""When live checks last ran, so a double click or a repeated command does not hammer APS with the team's app.

A key names what is spaced out: one user's checks of one app and project (`/aps-check`), or one checklist's
re-checks (the "Re-check now" button). Stored, so every process of the bot sees the same runs.
"""

from __future__ import annotations

from bot.store.db import Database

MIGRATION = (
    "check-runs-1",
    (
        """CREATE TABLE check_runs (
            key TEXT PRIMARY KEY,
            ran_at REAL NOT NULL
        )""",
        "CREATE INDEX check_runs_age ON check_runs (ran_at)",
    ),
)
FORGET_AFTER = 24 * 3600.0  # runs older than this space out nothing: dropped on the way


class CheckRuns:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(*MIGRATION)

    def claim(self, key: str, now: float, spacing: float) -> float:
        """Record a run of `key` at `now` and return 0, unless one ran less than `spacing` seconds ago:
        then record nothing and return the seconds left to wait."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM check_runs WHERE ran_at < ?", (now - max(spacing, FORGET_AFTER),))
            row = conn.execute("SELECT ran_at FROM check_runs WHERE key = ?", (key,)).fetchone()
            if row is not None and now - row["ran_at"] < spacing:
                return spacing - (now - row["ran_at"])
            conn.execute("INSERT OR REPLACE INTO check_runs (key, ran_at) VALUES (?, ?)", (key, now))
            return 0.0

    def forget(self, key: str) -> None:
        """Drop the run of `key` (it reported nothing), so the next one is not spaced out."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM check_runs WHERE key = ?", (key,))

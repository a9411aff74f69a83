"""Posted diagnoses and the "Fixed it" / "Not it" votes on them: what `aps-bot stats` and App Home count."""

from __future__ import annotations

from typing import Any

from bot.store.db import Database

MIGRATION = (
    "feedback-v1",
    [
        """CREATE TABLE diagnoses (
            channel TEXT NOT NULL,
            ts TEXT NOT NULL,
            cause_id TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (channel, ts, cause_id)
        )""",
        "CREATE INDEX diagnoses_at ON diagnoses (at)",
        """CREATE TABLE feedback_votes (
            channel TEXT NOT NULL,
            ts TEXT NOT NULL,
            user_id TEXT NOT NULL,
            cause_id TEXT NOT NULL,
            helpful INTEGER NOT NULL CHECK (helpful IN (0, 1)),
            at REAL NOT NULL,
            PRIMARY KEY (channel, ts, user_id)
        )""",
    ],
)


# One vote per user per diagnosis: a thread may hold two (a shortcut on a reply, a mention in the thread), so
# the cause is part of the key. (SQLite cannot change a primary key: the table is rebuilt.)
VOTES_PER_CAUSE = (
    "feedback-v2",
    [
        """CREATE TABLE feedback_votes_v2 (
            channel TEXT NOT NULL,
            ts TEXT NOT NULL,
            user_id TEXT NOT NULL,
            cause_id TEXT NOT NULL,
            helpful INTEGER NOT NULL CHECK (helpful IN (0, 1)),
            at REAL NOT NULL,
            PRIMARY KEY (channel, ts, cause_id, user_id)
        )""",
        "INSERT INTO feedback_votes_v2 SELECT channel, ts, user_id, cause_id, helpful, at "
        "FROM feedback_votes",
        "DROP TABLE feedback_votes",
        "ALTER TABLE feedback_votes_v2 RENAME TO feedback_votes",
    ],
)


class FeedbackStore:
    """`channel` + `ts` identify the diagnosed message (the thread the reply sits in), and with `cause_id`
    one diagnosis of it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(*MIGRATION)
        db.migrate(*VOTES_PER_CAUSE)

    def record_diagnosis(self, channel: str, ts: str, cause_id: str, at: float) -> None:
        """Count one posted diagnosis (the best cause); re-diagnosing the same message counts once."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO diagnoses (channel, ts, cause_id, at) VALUES (?, ?, ?, ?)",
                (channel, ts, cause_id, at),
            )

    def record_vote(self, channel: str, ts: str, user: str, cause_id: str, helpful: bool, at: float) -> bool:
        """Store one user's vote on one diagnosis (the cause given for the message); False (and nothing
        stored) if they already voted on it."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO feedback_votes (channel, ts, user_id, cause_id, helpful, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (channel, ts, user, cause_id, int(helpful), at),
            )
            return cursor.rowcount == 1

    def votes_on(self, channel: str, ts: str, cause_id: str) -> tuple[int, int]:
        """(helpful, not helpful) votes on one diagnosis."""
        row = (
            self.db.connection()
            .execute(
                "SELECT COALESCE(SUM(helpful), 0) AS yes, COUNT(*) - COALESCE(SUM(helpful), 0) AS no "
                "FROM feedback_votes WHERE channel = ? AND ts = ? AND cause_id = ?",
                (channel, ts, cause_id),
            )
            .fetchone()
        )
        return int(row["yes"]), int(row["no"])

    def top_causes(self, since: float, limit: int) -> list[tuple[str, int]]:
        """Most diagnosed causes since `since`: [(cause_id, count)], most frequent first, ties by id."""
        rows = (
            self.db.connection()
            .execute(
                "SELECT cause_id, COUNT(*) AS n FROM diagnoses WHERE at >= ? "
                "GROUP BY cause_id ORDER BY n DESC, cause_id LIMIT ?",
                (since, limit),
            )
            .fetchall()
        )
        return [(str(r["cause_id"]), int(r["n"])) for r in rows]

    def helpfulness(self, since: float | None = None) -> dict[str, Any]:
        """All votes (those cast since `since`, if given): {"votes", "helpful", "not_helpful", "rate"
        (helpful/votes, None without votes), "by_cause": {cause_id: {"helpful", "not_helpful"}}}."""
        rows = (
            self.db.connection()
            .execute(
                "SELECT cause_id, SUM(helpful) AS yes, COUNT(*) - SUM(helpful) AS no "
                "FROM feedback_votes WHERE at >= ? GROUP BY cause_id ORDER BY cause_id",
                (float("-inf") if since is None else since,),
            )
            .fetchall()
        )
        by_cause = {str(r["cause_id"]): {"helpful": int(r["yes"]), "not_helpful": int(r["no"])} for r in rows}
        helpful = sum(c["helpful"] for c in by_cause.values())
        votes = helpful + sum(c["not_helpful"] for c in by_cause.values())
        return {
            "votes": votes,
            "helpful": helpful,
            "not_helpful": votes - helpful,
            "rate": (helpful / votes) if votes else None,
            "by_cause": by_cause,
        }

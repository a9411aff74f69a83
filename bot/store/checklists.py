"""Checklists in SQLite: one row per checklist (with a version for compare-and-set), one row per step
(message ts, assignee) and one row per ticked item.

Every change is read → pure transition → compare-and-set write; a writer that lost the race reloads and
applies its change again, so two admins clicking at the same moment (threads or processes) both land.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from itertools import islice

from bot.checklist import Assignment, ChecklistState, TickRecord, Transition
from bot.knowledge import Checklist
from bot.store.db import Database

MIGRATION = (
    "checklists-1",
    (
        """CREATE TABLE checklists (
            id TEXT PRIMARY KEY,
            channel TEXT NOT NULL,
            started_by TEXT NOT NULL,
            started_at REAL NOT NULL,
            client_id TEXT,
            project TEXT,
            cause TEXT,
            parent_ts TEXT,
            last_activity REAL NOT NULL,
            completed_at REAL,
            reminded_at REAL,
            version INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX checklists_open ON checklists (completed_at, last_activity)",
        """CREATE TABLE checklist_steps (
            checklist_id TEXT NOT NULL REFERENCES checklists (id) ON DELETE CASCADE,
            step_id TEXT NOT NULL,
            message_ts TEXT,
            assignee TEXT,
            assigned_by TEXT,
            assigned_at REAL,
            PRIMARY KEY (checklist_id, step_id)
        )""",
        """CREATE TABLE checklist_ticks (
            checklist_id TEXT NOT NULL REFERENCES checklists (id) ON DELETE CASCADE,
            step_id TEXT NOT NULL,
            item_id TEXT NOT NULL,
            user TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (checklist_id, step_id, item_id)
        )""",
    ),
)

# When a checklist was first completed, so a reopened one that is done again is not announced twice.
FIRST_COMPLETED = (
    "checklists-2",
    (
        "ALTER TABLE checklists ADD COLUMN first_completed_at REAL",
        "UPDATE checklists SET first_completed_at = completed_at",  # those done already were announced
    ),
)

# When a checklist was closed because its thread went away (parent deleted, channel archived).
CLOSED = ("checklists-3", ("ALTER TABLE checklists ADD COLUMN closed_at REAL",))
# A checklist by its parent message: looked up for every deleted message in the bot's channels. IF NOT
# EXISTS: for a while `checklists-3` created it too, and databases of that time have it already.
BY_PARENT = (
    "checklists-4",
    ("CREATE INDEX IF NOT EXISTS checklists_parent ON checklists (channel, parent_ts)",),
)

# The messages whose last render may not show the stored state (a crash after a change was stored, Slack
# failing chat.update): re-rendered by a sweep until one lands. `message` is a step id, or PARENT.
UNRENDERED = (
    "checklists-5",
    (
        """CREATE TABLE checklist_unrendered (
            checklist_id TEXT NOT NULL REFERENCES checklists (id) ON DELETE CASCADE,
            message TEXT NOT NULL,
            since REAL NOT NULL,
            PRIMARY KEY (checklist_id, message)
        )""",
    ),
)
PARENT = ":parent"  # never a step id (those have no colon)

MAX_ATTEMPTS = 50
# Writes that follow from a stored change, run in its transaction: (connection, state before, state after).
OnCommit = Callable[[sqlite3.Connection, ChecklistState, ChecklistState], None]


class ConcurrentUpdate(RuntimeError):
    """Another writer kept winning the compare-and-set; the change was not applied."""


def new_checklist_id() -> str:
    """An unguessable id (it travels in action ids and is checked against storage)."""
    return secrets.token_hex(8)


class ChecklistStore:
    def __init__(self, db: Database, template: Checklist) -> None:
        self.db = db
        self.template = template
        db.migrate(*MIGRATION)
        db.migrate(*FIRST_COMPLETED)
        db.migrate(*CLOSED)
        db.migrate(*BY_PARENT)
        db.migrate(*UNRENDERED)

    # --- reads ---------------------------------------------------------------------------------------

    def get(self, checklist_id: str) -> ChecklistState | None:
        with self._snapshot() as conn:
            return self._load(conn, checklist_id)

    def open_checklists(
        self, limit: int = 20, channels: Collection[str] | None = None
    ) -> list[ChecklistState]:
        """Checklists not yet done, most recently active first; only those in `channels`, if given (the
        filter comes before the limit, so checklists elsewhere never crowd these out)."""
        with self._snapshot() as conn:
            rows = conn.execute(
                "SELECT id, channel FROM checklists WHERE completed_at IS NULL AND closed_at IS NULL "
                "ORDER BY last_activity DESC"
            )
            rows = list(islice((r for r in rows if channels is None or r["channel"] in channels), limit))
            return [state for row in rows if (state := self._load(conn, row["id"])) is not None]

    def stale_ids(self, idle_since: float) -> list[str]:
        """Open, never-reminded checklists whose last activity is at or before `idle_since`."""
        rows = self.db.connection().execute(
            "SELECT id FROM checklists WHERE completed_at IS NULL AND closed_at IS NULL "
            "AND reminded_at IS NULL AND last_activity <= ? ORDER BY last_activity",
            (idle_since,),
        )
        return [row["id"] for row in rows]

    def unclosed_ids(self, channel: str, parent_ts: str | None = None) -> list[str]:
        """The checklists of `channel` (with that parent message, if given) that are not closed."""
        query = "SELECT id FROM checklists WHERE channel = ? AND closed_at IS NULL"
        params: tuple[str, ...] = (channel,)
        if parent_ts is not None:
            query, params = query + " AND parent_ts = ?", (channel, parent_ts)
        return [row["id"] for row in self.db.connection().execute(query, params)]

    def unrendered(self, since: float, limit: int) -> dict[str, list[str]]:
        """Up to `limit` open checklists with messages marked unrendered at or before `since`, oldest first:
        checklist id → those messages (step ids, or PARENT)."""
        rows = self.db.connection().execute(
            "SELECT u.checklist_id, u.message FROM checklist_unrendered u JOIN checklists c "
            "ON c.id = u.checklist_id WHERE c.closed_at IS NULL AND u.since <= ? ORDER BY u.since, u.message",
            (since,),
        )
        due: dict[str, list[str]] = {}
        for row in rows:
            if row["checklist_id"] in due or len(due) < limit:
                due.setdefault(row["checklist_id"], []).append(row["message"])
        return due

    # --- writes --------------------------------------------------------------------------------------

    @staticmethod
    def mark_unrendered_in(
        conn: sqlite3.Connection, checklist_id: str, messages: Collection[str], at: float
    ) -> None:
        """Mark `messages` as maybe showing an older state, inside the caller's transaction."""
        conn.executemany(
            "INSERT INTO checklist_unrendered (checklist_id, message, since) VALUES (?, ?, ?) "
            "ON CONFLICT (checklist_id, message) DO UPDATE SET since = excluded.since",
            [(checklist_id, message, at) for message in messages],
        )

    def mark_unrendered(self, checklist_id: str, messages: Collection[str], at: float) -> None:
        with self.db.transaction() as conn:
            self.mark_unrendered_in(conn, checklist_id, messages, at)

    def rendered(self, checklist_id: str, message: str, version: int) -> None:
        """`message` shows version `version`: unmarked, unless the checklist changed since."""
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM checklist_unrendered WHERE checklist_id = ? AND message = ? "
                "AND (SELECT version FROM checklists WHERE id = ?) = ?",
                (checklist_id, message, checklist_id, version),
            )

    def create(self, state: ChecklistState) -> ChecklistState:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO checklists (id, channel, started_by, started_at, client_id, project, cause, "
                "parent_ts, last_activity, completed_at, first_completed_at, closed_at, reminded_at, "
                "version) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                (
                    state.id,
                    state.channel,
                    state.started_by,
                    state.started_at,
                    state.client_id,
                    state.project,
                    state.cause,
                    state.parent_ts,
                    state.last_activity,
                    state.completed_at,
                    state.first_completed_at,
                    state.closed_at,
                    state.reminded_at,
                ),
            )
            self._write_children(conn, _empty_like(state), state)
        return self.get(state.id) or state

    def update(
        self,
        checklist_id: str,
        change: Callable[[ChecklistState], Transition],
        on_commit: OnCommit | None = None,
    ) -> tuple[Transition, ChecklistState] | None:
        """Apply `change` to the stored state with compare-and-set; retry when another writer won.

        Returns (the transition that was stored, the state before it), or None for an unknown checklist.
        `change` may raise (e.g. ChecklistError): nothing is written then. `on_commit(conn, before, after)`
        writes what follows from a change in the same transaction as the change (all or nothing, and in
        the order the changes were stored).
        """
        for _ in range(MAX_ATTEMPTS):
            before = self.get(checklist_id)
            if before is None:
                return None
            result = change(before)
            if result.state == before:
                return result, before
            if self._compare_and_set(before, result.state, on_commit):
                stored = self.get(checklist_id)
                return Transition(stored or result.state, result.events), before
        raise ConcurrentUpdate(f"checklist {checklist_id}: gave up after {MAX_ATTEMPTS} conflicting writes")

    # --- internals -----------------------------------------------------------------------------------

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction, so the checklist row and its children come from one consistent snapshot."""
        conn = self.db.connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _load(self, conn: sqlite3.Connection, checklist_id: str) -> ChecklistState | None:
        row = conn.execute("SELECT * FROM checklists WHERE id = ?", (checklist_id,)).fetchone()
        if row is None:
            return None
        step_ts: dict[str, str] = {}
        assignments: dict[str, Assignment] = {}
        for step in conn.execute("SELECT * FROM checklist_steps WHERE checklist_id = ?", (checklist_id,)):
            if step["message_ts"]:
                step_ts[step["step_id"]] = step["message_ts"]
            if step["assignee"]:
                assignments[step["step_id"]] = Assignment(
                    step["assignee"], step["assigned_by"], step["assigned_at"]
                )
        ticks = {
            (tick["step_id"], tick["item_id"]): TickRecord(tick["user"], tick["at"])
            for tick in conn.execute("SELECT * FROM checklist_ticks WHERE checklist_id = ?", (checklist_id,))
        }
        return ChecklistState(
            id=row["id"],
            template=self.template,
            channel=row["channel"],
            started_by=row["started_by"],
            started_at=row["started_at"],
            client_id=row["client_id"],
            project=row["project"],
            cause=row["cause"],
            parent_ts=row["parent_ts"],
            step_ts=step_ts,
            ticks=ticks,
            assignments=assignments,
            last_activity=row["last_activity"],
            completed_at=row["completed_at"],
            first_completed_at=row["first_completed_at"],
            closed_at=row["closed_at"],
            reminded_at=row["reminded_at"],
            version=row["version"],
        )

    def _compare_and_set(
        self, before: ChecklistState, after: ChecklistState, on_commit: OnCommit | None = None
    ) -> bool:
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE checklists SET parent_ts = ?, last_activity = ?, completed_at = ?, "
                "first_completed_at = ?, closed_at = ?, reminded_at = ?, version = version + 1 "
                "WHERE id = ? AND version = ?",
                (
                    after.parent_ts,
                    after.last_activity,
                    after.completed_at,
                    after.first_completed_at,
                    after.closed_at,
                    after.reminded_at,
                    before.id,
                    before.version,
                ),
            )
            if cursor.rowcount != 1:
                return False
            self._write_children(conn, before, after)
            if on_commit is not None:
                on_commit(conn, before, after)
        return True

    @staticmethod
    def _write_children(conn: sqlite3.Connection, before: ChecklistState, after: ChecklistState) -> None:
        for key in before.ticks.keys() - after.ticks.keys():
            conn.execute(
                "DELETE FROM checklist_ticks WHERE checklist_id = ? AND step_id = ? AND item_id = ?",
                (after.id, *key),
            )
        for key, tick in after.ticks.items():
            if before.ticks.get(key) != tick:
                conn.execute(
                    "INSERT OR REPLACE INTO checklist_ticks (checklist_id, step_id, item_id, user, at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (after.id, *key, tick.user, tick.at),
                )
        for step_id in after.step_ts.keys() | after.assignments.keys():
            ts, assignment = after.step_ts.get(step_id), after.assignments.get(step_id)
            if before.step_ts.get(step_id) == ts and before.assignments.get(step_id) == assignment:
                continue
            conn.execute(
                "INSERT OR REPLACE INTO checklist_steps "
                "(checklist_id, step_id, message_ts, assignee, assigned_by, assigned_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    after.id,
                    step_id,
                    ts,
                    assignment.assignee if assignment else None,
                    assignment.by if assignment else None,
                    assignment.at if assignment else None,
                ),
            )


def _empty_like(state: ChecklistState) -> ChecklistState:
    return ChecklistState(
        id=state.id,
        template=state.template,
        channel=state.channel,
        started_by=state.started_by,
        started_at=state.started_at,
    )

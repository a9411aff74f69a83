"""Dedupe and feedback stores over a real SQLite file."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from bot.store import feedback, inbox
from bot.store.check_runs import CheckRuns
from bot.store.db import Database
from bot.store.dedupe import DedupeStore, event_key, message_key, warned_key
from bot.store.feedback import FeedbackStore
from bot.store.inbox import Inbox
from bot.store.jobs import JobStore


def test_first_delivery_wins_for_good_and_a_losing_one_records_nothing(tmp_path: Path) -> None:
    store = DedupeStore(Database(tmp_path / "d.sqlite3"))
    first = [event_key("E1"), message_key("C1", "1.0")]
    assert store.record(first, now=100)
    assert not store.record([event_key("E2"), message_key("C1", "1.0")], now=101)  # same message, new id
    assert store.state(event_key("E2")) is None  # the losing delivery took nothing
    assert not store.record([event_key("E1")], now=10_000)  # a retry, however late
    assert store.record([event_key("E3"), message_key("C1", "2.0")], now=102)


def test_keys_and_job_land_together_or_not_at_all(tmp_path: Path) -> None:
    db = Database(tmp_path / "d.sqlite3")
    store, jobs = DedupeStore(db), JobStore(db)
    keys = [event_key("E1"), message_key("C1", "1.0")]
    with pytest.raises(RuntimeError), db.transaction() as conn:
        assert store.first_seen(conn, [keys], now=1) == [True]
        jobs.insert_many(conn, [("reply", 1, {"text": "x"})])
        raise RuntimeError("crash before commit")
    assert store.state(keys[0]) is None and jobs.due_count(("reply",), 1) == 0
    assert store.record(keys, now=2)  # the redelivery is not mistaken for a duplicate


def test_inbox_stores_each_first_delivery_with_its_job_and_drops_duplicates(tmp_path: Path) -> None:
    db = Database(tmp_path / "d.sqlite3")
    stored: list[int] = []
    inbox = Inbox(db, clock=lambda: 50.0, on_stored=lambda: stored.append(1))
    DedupeStore(db).record([event_key("E0")], now=1)  # seen before the inbox started
    deliveries = [
        ([event_key("E0"), message_key("C1", "0.0")], {"n": 0}),  # a retry of an old delivery
        ([event_key("E1"), message_key("C1", "1.0")], {"n": 1}),
        ([event_key("E1"), message_key("C1", "1.0")], {"n": 2}),  # Slack's retry of E1
        ([event_key("E2"), message_key("C1", "1.0")], {"n": 3}),  # app_mention twin of E1
        ([event_key("E3"), message_key("C1", "3.0")], {"n": 4}),
    ]
    receipts = [inbox.put(keys, "reply", payload) for keys, payload in deliveries]
    assert all(receipt.wait(10) for receipt in receipts)  # stored, or a duplicate whose first copy is
    inbox.close()
    jobs = JobStore(db).claim_due(50.0, "w", kinds=("reply",), limit=100)
    assert sorted(j.payload["n"] for j in jobs) == [1, 4]
    assert stored  # the worker was woken
    assert DedupeStore(db).state(message_key("C1", "0.0")) is None  # the dropped delivery wrote nothing


class FlakyDatabase(Database):
    """Its first `failures` write transactions fail the way a locked or broken SQLite file does."""

    def __init__(self, path: Path) -> None:
        self.failures = 0
        super().__init__(path)

    def transaction(self):  # type: ignore[override]
        if self.failures:
            self.failures -= 1
            raise sqlite3.OperationalError("database is locked")
        return super().transaction()


@pytest.mark.parametrize(("failures", "stored"), [(2, 1), (3, 0)])
def test_inbox_tries_a_failing_database_again_then_gives_up(
    tmp_path: Path, failures: int, stored: int
) -> None:
    db = FlakyDatabase(tmp_path / "d.sqlite3")
    inbox = Inbox(db, clock=lambda: 5.0)
    db.failures = failures
    receipt = inbox.put([event_key("E1")], "reply", {"n": 1})
    assert inbox.flush(timeout=10)
    assert receipt.wait(0) == bool(stored)  # a delivery given up is not acked: Slack sends it again
    inbox.close()
    assert JobStore(db).due_count(("reply",), 5.0) == stored
    assert (DedupeStore(db).state(event_key("E1")) == "done") == bool(stored)


def test_concurrent_deliveries_have_one_winner(tmp_path: Path) -> None:
    db = Database(tmp_path / "d.sqlite3")
    store = DedupeStore(db)
    wins: list[str] = []
    barrier = threading.Barrier(8)

    def contend(owner: str) -> None:
        barrier.wait()
        if store.record([event_key(owner), message_key("C1", "9.9")], now=1):
            wins.append(owner)

    threads = [threading.Thread(target=contend, args=(f"o{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_one_vote_per_user_and_the_counts(tmp_path: Path) -> None:
    db = Database(tmp_path / "f.sqlite3")
    store = FeedbackStore(db)
    store.record_diagnosis("C1", "1.0", "missing-scope", at=1000)
    store.record_diagnosis("C1", "1.0", "missing-scope", at=1001)  # the same message counts once
    store.record_diagnosis("C1", "2.0", "missing-scope", at=2000)
    store.record_diagnosis("C2", "3.0", "region-mismatch", at=3000)
    store.record_diagnosis("C2", "4.0", "rate-limited", at=10)
    assert store.top_causes(since=500, limit=5) == [("missing-scope", 2), ("region-mismatch", 1)]
    assert store.top_causes(since=0, limit=1) == [("missing-scope", 2)]
    assert store.helpfulness() == {
        "votes": 0,
        "helpful": 0,
        "not_helpful": 0,
        "rate": None,
        "by_cause": {},
    }
    assert store.record_vote("C1", "1.0", "U1", "missing-scope", True, at=1)
    assert not store.record_vote("C1", "1.0", "U1", "missing-scope", False, at=2)
    assert store.record_vote("C1", "1.0", "U2", "missing-scope", False, at=3)
    assert store.record_vote("C2", "3.0", "U1", "region-mismatch", True, at=4)
    assert store.votes_on("C1", "1.0", "missing-scope") == (1, 1)
    # a second diagnosis in the same thread (a shortcut on a reply): its own votes
    assert store.record_vote("C1", "1.0", "U1", "account-admin-required", False, at=5)
    assert store.votes_on("C1", "1.0", "account-admin-required") == (0, 1)
    assert store.votes_on("C1", "1.0", "missing-scope") == (1, 1)
    summary = FeedbackStore(Database(tmp_path / "f.sqlite3")).helpfulness()  # durable
    assert summary["votes"] == 4 and summary["helpful"] == 2
    assert summary["rate"] == 2 / 4
    assert summary["by_cause"]["missing-scope"] == {"helpful": 1, "not_helpful": 1}


def test_votes_stored_before_the_per_cause_key_survive_it(tmp_path: Path) -> None:
    db = Database(tmp_path / "old.sqlite3")
    db.migrate(*feedback.MIGRATION)  # a database of the version before
    with db.transaction() as conn:
        conn.execute("INSERT INTO feedback_votes VALUES ('C1', '1.0', 'U1', 'missing-scope', 1, 7.0)")
    store = FeedbackStore(db)
    assert store.votes_on("C1", "1.0", "missing-scope") == (1, 0)
    assert not store.record_vote("C1", "1.0", "U1", "missing-scope", False, at=8)


def test_purge_forgets_only_old_keys(tmp_path: Path) -> None:
    store = DedupeStore(Database(tmp_path / "d.sqlite3"))
    store.record([event_key("OLD")], now=100)
    store.record([event_key("NEW")], now=5000)
    assert store.purge(before=1000) == 1
    assert store.state(event_key("OLD")) is None
    assert store.state(event_key("NEW")) == "done"


def test_check_runs_space_out_one_key_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "d.sqlite3"
    runs = CheckRuns(Database(path))
    assert runs.claim("check:U1:app:p1", now=100, spacing=20) == 0
    assert runs.claim("check:U1:app:p1", now=112, spacing=20) == 8  # refused: not recorded
    assert runs.claim("check:U2:app:p1", now=112, spacing=20) == 0  # another key is its own
    assert CheckRuns(Database(path)).claim("check:U1:app:p1", now=119, spacing=20) == 1
    assert runs.claim("check:U1:app:p1", now=120, spacing=20) == 0
    assert runs.claim("check:U1:app:p1", now=121, spacing=0) == 0  # spacing 0: never refused


def test_concurrent_claims_of_one_key_let_exactly_one_check_run(tmp_path: Path) -> None:
    runs = CheckRuns(Database(tmp_path / "d.sqlite3"))
    start = threading.Barrier(8)
    results: list[float] = []

    def claim() -> None:
        start.wait()
        results.append(runs.claim("checklist:K1", now=50, spacing=20))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0] + [20] * 7


def test_a_restarted_inbox_purges_old_delivery_keys_at_its_first_batch(tmp_path: Path) -> None:
    """A bot restarted more often than every thousand deliveries (daily deploys of a quiet workspace) must
    still forget delivery keys older than a day; warnings stay."""
    db = Database(tmp_path / "db")
    dedupe = DedupeStore(db)
    dedupe.record([event_key("EvOLD"), message_key("C1", "1.0")], now=1000.0)
    dedupe.record([warned_key("C1", "1.0")], now=1000.0)
    now = 1000.0 + inbox.DEDUPE_MEMORY_SECONDS + 1
    for n in range(3):  # three restarts, one delivery each
        box = inbox.Inbox(db, clock=lambda: now)
        box.put([event_key(f"EvNEW{n}")], "reply", {"n": n})
        assert box.flush(10)
        box.close()
    assert dedupe.state(event_key("EvOLD")) is None and dedupe.state(message_key("C1", "1.0")) is None
    assert dedupe.state(warned_key("C1", "1.0")) == "done" and dedupe.state(event_key("EvNEW2")) == "done"


def test_the_inbox_purges_again_every_purge_every_deliveries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the first batch, the next purge comes PURGE_EVERY deliveries later, not one more than that."""
    monkeypatch.setattr(inbox, "PURGE_EVERY", 2)
    db = Database(tmp_path / "db")
    dedupe = DedupeStore(db)
    now = 1000.0
    box = inbox.Inbox(db, clock=lambda: now)
    try:
        for n in range(3):  # the first purges (nothing old yet); two more reach the next purge
            if n == 1:
                dedupe.record([event_key("EvOLD")], now=now)
                now += inbox.DEDUPE_MEMORY_SECONDS + 1
            box.put([event_key(f"Ev{n}")], "reply", {"n": n})
            assert box.flush(10)
            if n == 1:
                assert dedupe.state(event_key("EvOLD")) == "done"  # one delivery since the purge
    finally:
        box.close()
    assert dedupe.state(event_key("EvOLD")) is None and dedupe.state(event_key("Ev0")) is None

"""Checklist storage: round trips and no lost update under concurrent clicks (threads and processes)."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from bot.checklist import ChecklistError, ChecklistState, Transition
from bot.store.checklists import PARENT, ChecklistStore, new_checklist_id
from bot.store.db import Database
from tests.checklist.conftest import make_template


def new_store(path: Path) -> ChecklistStore:
    return ChecklistStore(Database(path), make_template())


def create(store: ChecklistStore, **kw) -> ChecklistState:
    state = ChecklistState.start(
        new_checklist_id(), store.template, channel="C1", started_by="U0", at=1000.0, **kw
    )
    return store.create(state)


def all_items(template) -> list[tuple[str, str]]:
    return [(step.id, item.id) for step in template.steps for item in step.items]


def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    store = new_store(tmp_path / "db.sqlite3")
    state = create(store, client_id="abc", project="b.p")
    store.update(state.id, lambda s: s.tick("create-app", "create-app-1", "U1", 1100.0))
    store.update(state.id, lambda s: s.assign("add-integration", "U9", "U1", 1200.0))
    store.update(
        state.id,
        lambda s: Transition(s.with_messages("111.1", {"create-app": "111.2", "test-access": "111.6"})),
    )
    reopened = new_store(tmp_path / "db.sqlite3").get(state.id)
    assert reopened is not None
    assert reopened.ticked("create-app", "create-app-1").user == "U1"
    assert reopened.assignments["add-integration"].assignee == "U9"
    assert reopened.parent_ts == "111.1" and reopened.step_ts["test-access"] == "111.6"
    assert (reopened.client_id, reopened.project, reopened.channel) == ("abc", "b.p", "C1")
    assert reopened.version == 3


def test_the_first_completion_survives_a_reopening_and_a_restart(tmp_path: Path) -> None:
    store = new_store(tmp_path / "db.sqlite3")
    state = create(store)
    for step_id, item_id in all_items(store.template):
        store.update(state.id, lambda s, st=step_id, it=item_id: s.tick(st, it, "U1", 2000.0))
    store.update(state.id, lambda s: s.untick("test-access", "test-access-1", "U1", 3000.0))
    reopened = new_store(tmp_path / "db.sqlite3").get(state.id)
    assert (reopened.completed_at, reopened.first_completed_at) == (None, 2000.0)


def test_a_database_of_the_first_schema_gains_the_column_and_keeps_its_rows(tmp_path: Path) -> None:
    from bot.store.checklists import MIGRATION

    db = Database(tmp_path / "old.sqlite3")
    db.migrate(*MIGRATION)  # as the bot left it before the column was added
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO checklists (id, channel, started_by, started_at, last_activity, completed_at) "
            "VALUES ('old1', 'C1', 'U0', 1.0, 5.0, 5.0)"
        )
    old = ChecklistStore(db, make_template()).get("old1")
    assert (old.completed_at, old.first_completed_at) == (5.0, 5.0)  # done then: announced then


def test_a_database_whose_closed_migration_made_the_parent_index_opens(tmp_path: Path) -> None:
    """For a while, `checklists-3` also created the parent index that is now `checklists-4`: a database the
    bot left then must still open (and keep its checklists), not fail at start on 'index already exists'."""
    from bot.store.checklists import FIRST_COMPLETED, MIGRATION

    db = Database(tmp_path / "old.sqlite3")
    db.migrate(*MIGRATION)
    db.migrate(*FIRST_COMPLETED)
    db.migrate(
        "checklists-3",
        (
            "ALTER TABLE checklists ADD COLUMN closed_at REAL",
            "CREATE INDEX checklists_parent ON checklists (channel, parent_ts)",
        ),
    )
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO checklists (id, channel, started_by, started_at, parent_ts, last_activity) "
            "VALUES ('old1', 'C1', 'U0', 1.0, '9.9', 5.0)"
        )
    store = ChecklistStore(db, make_template())
    assert store.unclosed_ids("C1", "9.9") == ["old1"]


def test_untick_deletes_the_row(tmp_path: Path) -> None:
    store = new_store(tmp_path / "db.sqlite3")
    state = create(store)
    store.update(state.id, lambda s: s.tick("create-app", "create-app-1", "U1", 1100.0))
    store.update(state.id, lambda s: s.untick("create-app", "create-app-1", "U2", 1200.0))
    assert store.get(state.id).ticks == {}
    assert store.get(state.id).last_activity == 1200.0


def test_unknown_checklist_returns_none(tmp_path: Path) -> None:
    store = new_store(tmp_path / "db.sqlite3")
    assert store.get("nope") is None
    assert store.update("nope", lambda s: s.tick("create-app", "create-app-1", "U1", 1.0)) is None


def test_a_rejected_change_writes_nothing(tmp_path: Path) -> None:
    store = new_store(tmp_path / "db.sqlite3")
    state = create(store)
    with pytest.raises(ChecklistError):
        store.update(state.id, lambda s: s.tick("create-app", "test-access-1", "U1", 1100.0))
    assert store.get(state.id) == state


def test_open_and_stale_listing(tmp_path: Path) -> None:
    store = new_store(tmp_path / "db.sqlite3")
    old, fresh, done = create(store), create(store), create(store)
    store.update(fresh.id, lambda s: s.tick("create-app", "create-app-1", "U1", 5000.0))
    for step_id, item_id in all_items(store.template):
        store.update(done.id, lambda s, a=step_id, b=item_id: s.tick(a, b, "U1", 900.0))
    assert [s.id for s in store.open_checklists()] == [fresh.id, old.id]
    assert store.stale_ids(idle_since=1000.0) == [old.id]
    store.update(old.id, lambda s: Transition(s.remind(6000.0)))
    assert store.stale_ids(idle_since=1000.0) == []


def test_a_closed_checklist_is_neither_open_nor_stale_and_stays_closed(tmp_path: Path) -> None:
    store = new_store(tmp_path / "db.sqlite3")
    kept, closed = create(store), create(store)
    store.update(closed.id, lambda s: Transition(s.with_messages("222.1", {})))
    assert store.unclosed_ids("C1", "222.1") == [closed.id]
    store.update(closed.id, lambda s: s.close(4000.0))
    reopened = new_store(tmp_path / "db.sqlite3")
    assert reopened.get(closed.id).closed_at == 4000.0
    assert [s.id for s in reopened.open_checklists()] == [kept.id]
    assert reopened.stale_ids(idle_since=10_000.0) == [kept.id]
    assert reopened.unclosed_ids("C1") == [kept.id] and reopened.unclosed_ids("C1", "222.1") == []


def test_open_checklists_of_some_channels_are_not_crowded_out_by_others(tmp_path: Path) -> None:
    store = new_store(tmp_path / "db.sqlite3")
    mine = store.create(
        ChecklistState.start(new_checklist_id(), store.template, channel="C9", started_by="U0", at=1.0)
    )
    for _ in range(5):
        create(store)  # more recently active, in another channel
    assert [s.id for s in store.open_checklists(limit=3, channels={"C9"})] == [mine.id]
    assert len(store.open_checklists(limit=3)) == 3
    assert store.open_checklists(channels=set()) == []


def test_concurrent_threads_all_land(tmp_path: Path) -> None:
    store = new_store(tmp_path / "db.sqlite3")
    state = create(store)
    items = all_items(store.template)
    barrier = threading.Barrier(len(items))
    errors: list[BaseException] = []

    def click(index: int) -> None:
        step_id, item_id = items[index]
        try:
            barrier.wait(timeout=10)
            store.update(
                state.id, lambda s: s.apply_selection(step_id, set(), {item_id}, f"U{index}", 2000.0 + index)
            )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=click, args=(i,)) for i in range(len(items))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    final = store.get(state.id)
    assert set(final.ticks) == set(items)
    assert {final.ticks[key].user for key in items} == {f"U{i}" for i in range(len(items))}
    assert final.done and final.version == len(items)


def _process_click(db_path: str, checklist_id: str, index: int, barrier) -> None:
    store = new_store(Path(db_path))
    step_id, item_id = all_items(store.template)[index]
    barrier.wait(timeout=30)
    store.update(
        checklist_id, lambda s: s.apply_selection(step_id, set(), {item_id}, f"P{index}", 3000.0 + index)
    )


def test_concurrent_processes_all_land(tmp_path: Path) -> None:
    db_path = tmp_path / "db.sqlite3"
    store = new_store(db_path)
    state = create(store)
    count = 6
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(count)
    procs = [
        ctx.Process(target=_process_click, args=(str(db_path), state.id, i, barrier)) for i in range(count)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs] == [0] * count
    final = store.get(state.id)
    expected = all_items(store.template)[:count]
    assert set(final.ticks) == set(expected)
    assert {final.ticks[key].user for key in expected} == {f"P{i}" for i in range(count)}
    assert final.version == count


def test_unrendered_marks_are_listed_oldest_first_cleared_only_for_the_current_version(
    tmp_path: Path,
) -> None:
    store = new_store(tmp_path / "db.sqlite3")
    first, second, third, closed = (create(store) for _ in range(4))
    store.mark_unrendered(second.id, ["create-app", PARENT], 100.0)
    store.mark_unrendered(first.id, [PARENT], 50.0)
    store.mark_unrendered(third.id, [PARENT], 150.0)
    store.mark_unrendered(closed.id, [PARENT], 10.0)
    store.update(closed.id, lambda s: s.close(20.0))
    assert store.unrendered(since=1000.0, limit=2) == {first.id: [PARENT], second.id: [PARENT, "create-app"]}
    assert list(store.unrendered(since=120.0, limit=10)) == [first.id, second.id]
    version = store.get(second.id).version
    store.update(second.id, lambda s: s.tick("create-app", "create-app-1", "U1", 1100.0))
    store.rendered(second.id, "create-app", version)  # a render of the state before the tick
    assert "create-app" in store.unrendered(since=1000.0, limit=10)[second.id]
    store.rendered(second.id, "create-app", version + 1)
    assert store.unrendered(since=1000.0, limit=10)[second.id] == [PARENT]

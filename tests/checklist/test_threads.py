"""The Slack edge of checklists (ChecklistThreads) against an in-process WebClient stand-in."""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

from bot.knowledge import KnowledgeBase
from bot.scheduler import Scheduler
from bot.settings import ApsApp, Settings
from bot.slack.checklist_blocks import (
    ASSIGN,
    RECHECK,
    UNASSIGN,
    action_id,
    selected_in_message,
    step_block_id,
    step_text,
)
from bot.slack.checklist_threads import (
    POST_STEPS_JOB,
    POST_STEPS_RETRY_SECONDS,
    RECHECK_ATTEMPTS,
    RECHECK_JOB,
    TRY_AGAIN,
    ChecklistThreads,
    CheckOutcome,
    post_steps_key,
    recheck_key,
)
from bot.slack.deps import Deps
from bot.slack.listeners import checklist as checklist_listener
from bot.store.checklists import ConcurrentUpdate
from bot.store.db import Database
from bot.store.jobs import CANCELLED, DONE, FAILED, PENDING
from tests.checklist.conftest import make_template
from tests.checklist.stub_slack import STUB_BOT_USER, StubSlack, _response, click
from tests.fakes.clock import Clock

DAY = 86_400.0


class FakeCheck:
    def __init__(self, passed: bool) -> None:
        self.passed = passed
        self.calls: list[tuple[str, str]] = []

    def __call__(self, settings: Settings, client_id: str, project: str) -> CheckOutcome:
        self.calls.append((client_id, project))
        text = "All checks passed" if self.passed else "Hubs: the custom integration is missing"
        return CheckOutcome(
            self.passed, text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
        )


@pytest.fixture
def clock() -> Clock:
    return Clock(1_000_000.0)


@pytest.fixture
def deps(tmp_path: Path, clock: Clock) -> Iterator[Deps]:
    settings = Settings(
        bot_db_path=tmp_path / "db", bot_recheck_delay_seconds=600, bot_stale_checklist_days=7
    )
    kb = KnowledgeBase(causes=(), checklist=make_template())
    executor = ThreadPoolExecutor(2)
    yield Deps(settings=settings, kb=kb, db=Database(settings.bot_db_path), executor=executor, clock=clock)
    executor.shutdown()


@pytest.fixture
def slack() -> StubSlack:
    return StubSlack()


def started(deps: Deps, slack: StubSlack, **kw: Any):
    threads = ChecklistThreads(deps, live_check=kw.pop("live_check", FakeCheck(True)))
    return threads, threads.start(slack, channel="C1", user="U1", **kw)


def tick(threads, slack, state, step_id, user, selected, **kw) -> None:
    threads.click(click(slack, state.id, "C1", state.step_ts[step_id], step_id, user, selected, **kw), slack)


def items(state, step_id: str) -> list[str]:
    return [item.id for item in state.step(step_id).items]


def test_start_posts_parent_and_one_message_per_step(deps, slack) -> None:
    threads, state = started(deps, slack, client_id="abc", project="b.p")
    posts = slack.of("chat.postMessage")
    assert len(posts) == 6 and "thread_ts" not in posts[0]
    assert all(post["thread_ts"] == state.parent_ts for post in posts[1:])
    stored = threads.store.get(state.id)
    assert set(stored.step_ts) == {s.id for s in stored.template.steps}
    assert "0/5 steps · 0/11 items" in json.dumps(posts[0]["blocks"], ensure_ascii=False)


def test_a_parent_whose_checklist_cannot_be_stored_is_deleted_again(deps, slack, monkeypatch) -> None:
    threads = ChecklistThreads(deps, live_check=FakeCheck(True))

    def disk_full(state):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(threads.store, "create", disk_full)
    with pytest.raises(sqlite3.OperationalError):
        threads.start(slack, channel="C1", user="U1", client_id="abc", project="b.p")
    assert len(slack.of("chat.postMessage")) == 1  # the parent only
    [deleted] = slack.of("chat.delete")
    assert deleted["channel"] == "C1"
    assert not slack.messages  # no message left whose buttons name an unknown checklist


class FlakySlack(StubSlack):
    """chat.postMessage calls number `failing` (counting from 1) fail with Slack's `fatal_error`."""

    def __init__(self, failing: set[int]) -> None:
        super().__init__()
        self.failing = failing
        self.posts = 0

    def chat_postMessage(self, **kw: Any):
        self.posts += 1
        if self.posts in self.failing:
            self.calls.append(("chat.postMessage", kw))
            raise SlackApiError("fatal_error", _response("chat.postMessage", {"ok": False, "error": "fatal"}))
        return super().chat_postMessage(**kw)


def test_step_messages_cut_off_by_a_failure_are_posted_later_in_order(deps, clock) -> None:
    slack = FlakySlack(failing={4, 5})  # parent, steps 1-2 go out; step 3 fails, and its first retry too
    threads = ChecklistThreads(deps, live_check=FakeCheck(True))
    state = threads.start(slack, channel="C1", user="U1")
    steps = [s.id for s in state.template.steps]
    assert set(threads.store.get(state.id).step_ts) == set(steps[:2])  # what was posted is recorded at once

    def run_jobs(now: float) -> int:
        handlers = {POST_STEPS_JOB: lambda job, at: threads.run_post_steps_job(slack, job)}
        return Scheduler(deps, handlers=handlers, sweeps=[]).run_due(now)

    assert run_jobs(clock.now + POST_STEPS_RETRY_SECONDS - 1) == 0
    assert run_jobs(clock.now + POST_STEPS_RETRY_SECONDS) == 1  # fails again: tries again later
    assert set(threads.store.get(state.id).step_ts) == set(steps[:2])
    clock.now += POST_STEPS_RETRY_SECONDS
    assert run_jobs(clock.now + POST_STEPS_RETRY_SECONDS) == 1
    stored = threads.store.get(state.id)
    assert set(stored.step_ts) == set(steps)
    posted = [p["text"] for p in slack.of("chat.postMessage")[1:] if p["thread_ts"] == state.parent_ts]
    assert [t for i, t in enumerate(posted) if i not in (2, 3)] == [step_text(stored, s) for s in steps]
    assert run_jobs(clock.now + DAY) == 0  # nothing left to do
    tick(threads, slack, stored, steps[2], "U2", items(stored, steps[2])[:1])  # the late step works
    assert threads.store.get(state.id).ticked_items(steps[2]) == set(items(stored, steps[2])[:1])


class LostAnswerSlack(StubSlack):
    """chat.postMessage call number `lost` is posted, but its answer never arrives (a read timeout, or the
    bot dying before it stored the ts)."""

    def __init__(self, lost: int) -> None:
        super().__init__()
        self.lost = lost
        self.posts = 0

    def chat_postMessage(self, **kw: Any):
        self.posts += 1
        response = super().chat_postMessage(**kw)
        if self.posts == self.lost:
            raise TimeoutError("The read operation timed out")
        return response


@pytest.mark.parametrize("poster", ["this bot", "another app"])
def test_a_step_slack_took_without_answering_is_adopted_not_posted_twice(deps, clock, poster: str) -> None:
    deps.bot_user_id = STUB_BOT_USER
    slack = LostAnswerSlack(lost=3)  # parent, step 1, then step 2 is posted but its ts never comes back
    threads = ChecklistThreads(deps, live_check=FakeCheck(True))
    state = threads.start(slack, channel="C1", user="U1")
    lost = next(
        m
        for m in slack.messages.values()
        if m["ts"] not in threads.store.get(state.id).step_ts.values() and m["ts"] != state.parent_ts
    )
    if poster == "another app":  # a message with our block id that this bot did not post: never adopted
        lost["user"] = "U0OTHERAPP"
    steps = [s.id for s in state.template.steps]
    handlers = {POST_STEPS_JOB: lambda job, at: threads.run_post_steps_job(slack, job)}
    assert Scheduler(deps, handlers=handlers, sweeps=[]).run_due(clock.now + POST_STEPS_RETRY_SECONDS) == 1
    stored = threads.store.get(state.id)
    assert set(stored.step_ts) == set(steps)
    for step in steps:
        block = step_block_id(state.id, step)
        copies = [
            m
            for m in slack.messages.values()
            if block in json.dumps(m.get("blocks")) and m["user"] == STUB_BOT_USER
        ]
        assert [m["ts"] for m in copies] == [stored.step_ts[step]], step  # posted once, that one stored


def test_no_checklist_is_stored_without_its_safety_net(deps, slack, monkeypatch) -> None:
    """The job that posts missing step messages is stored before the checklist: a crash (here: the job
    store failing) between the two can never leave a checklist that nothing will finish."""
    threads = ChecklistThreads(deps, live_check=FakeCheck(True))

    def broken(*args: Any, **kw: Any) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(threads.jobs, "schedule", broken)
    with pytest.raises(sqlite3.OperationalError):
        threads.start(slack, channel="C1", user="U1")
    monkeypatch.undo()
    assert all(threads.jobs.by_key(post_steps_key(s.id)) for s in threads.store.open_checklists())
    assert threads.store.open_checklists() == []


def test_a_completed_start_leaves_no_job_behind(deps, slack) -> None:
    threads, state = started(deps, slack)
    assert [j.status for j in threads.jobs.by_key(post_steps_key(state.id))] == [CANCELLED]


def test_tick_records_who_and_when_and_rerenders_step_and_parent(deps, slack, clock) -> None:
    threads, state = started(deps, slack)
    clock.now += 60
    tick(threads, slack, state, "create-app", "U2", ["create-app-1"])
    stored = threads.store.get(state.id)
    assert stored.ticked("create-app", "create-app-1").user == "U2"
    assert stored.ticked("create-app", "create-app-1").at == clock.now
    updated = {call["ts"]: call for call in slack.of("chat.update")}
    assert set(updated) == {state.step_ts["create-app"], state.parent_ts}
    assert "0/5 steps · 1/11 items" in json.dumps(updated[state.parent_ts]["blocks"], ensure_ascii=False)
    assert "<@U2>" in json.dumps(updated[state.step_ts["create-app"]]["blocks"])


def test_untick(deps, slack) -> None:
    threads, state = started(deps, slack)
    tick(threads, slack, state, "create-app", "U2", ["create-app-1"])
    tick(threads, slack, state, "create-app", "U3", [])
    assert threads.store.get(state.id).ticks == {}


def test_a_click_that_changes_nothing_still_shows_the_stored_state(deps, slack) -> None:
    """U3 ticks, on a view that is stale, an item U2 already ticked: nothing changes, but the step message is
    updated anyway, so U3's checkboxes show the stored state again and their next click reads right."""
    threads, state = started(deps, slack)
    step = state.template.steps[0].id
    stale = copy.deepcopy(slack.messages[("C1", state.step_ts[step])])
    tick(threads, slack, state, step, "U2", [items(state, step)[0]])
    before = len(slack.of("chat.update"))
    tick(threads, slack, state, step, "U3", [items(state, step)[0]], message=stale)
    assert threads.store.get(state.id).ticked(step, items(state, step)[0]).user == "U2"
    step_updates = [c for c in slack.of("chat.update")[before:] if c["ts"] == state.step_ts[step]]
    assert len(step_updates) == 1


def test_two_admins_clicking_on_the_same_view_both_land(deps, slack) -> None:
    threads, state = started(deps, slack)
    view = copy.deepcopy(slack.messages[("C1", state.step_ts["create-app"])])
    barrier = threading.Barrier(2)

    def admin(user: str, item: str) -> None:
        barrier.wait(timeout=10)
        tick(threads, slack, state, "create-app", user, [item], message=view)

    workers = [
        threading.Thread(target=admin, args=a) for a in (("U2", "create-app-1"), ("U3", "create-app-2"))
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    stored = threads.store.get(state.id)
    assert {k: v.user for k, v in stored.ticks.items()} == {
        ("create-app", "create-app-1"): "U2",
        ("create-app", "create-app-2"): "U3",
    }
    last_step_render = [c for c in slack.of("chat.update") if c["ts"] == state.step_ts["create-app"]][-1]
    checkboxes = next(b for b in last_step_render["blocks"] if b["type"] == "actions")["elements"][0]
    assert {o["value"] for o in checkboxes["initial_options"]} == {"create-app-1", "create-app-2"}


def forged_payloads(state, other) -> dict[str, dict[str, Any]]:
    """Each payload must be rejected without any state change."""

    def base(**overrides: Any) -> dict[str, Any]:
        payload = {
            "user": {"id": "U2"},
            "channel": {"id": "C1"},
            "container": {"channel_id": "C1", "message_ts": state.step_ts["create-app"]},
            "actions": [
                {
                    "action_id": f"cl_tick:{state.id}:create-app",
                    "block_id": step_block_id(state.id, "create-app"),
                    "selected_options": [{"value": "create-app-1"}],
                }
            ],
        }
        payload.update(overrides)
        return payload

    def with_action(**fields: Any) -> dict[str, Any]:
        payload = base()
        payload["actions"][0].update(fields)
        return payload

    return {
        "unknown checklist": with_action(
            action_id="cl_tick:ffffffffffffffff:create-app", block_id="cl_step:ffffffffffffffff:create-app"
        ),
        "item of another step": with_action(selected_options=[{"value": "test-access-1"}]),
        "unknown item": with_action(selected_options=[{"value": "drop-table"}]),
        "item via another checklist's message": base(
            container={"channel_id": "C1", "message_ts": other.step_ts["create-app"]}
        ),
        "other checklist's step id in block": with_action(block_id=step_block_id(other.id, "create-app")),
        "wrong channel": base(channel={"id": "C2"}, container={"channel_id": "C2", "message_ts": "1"}),
        "not a member": base(user={"id": "U666"}),
        "malformed action id": with_action(action_id="cl_tick:nope"),
        "no actions": base(actions=[]),
        "two actions": base(actions=[base()["actions"][0], base()["actions"][0]]),
        "options not a list": with_action(selected_options="create-app-1"),
        "bad assignee": with_action(
            action_id=action_id(ASSIGN, state.id, "create-app"), selected_user="<!channel>"
        ),
        "unknown step": with_action(
            action_id=f"cl_tick:{state.id}:no-step", block_id=f"cl_step:{state.id}:no-step"
        ),
        "recheck from a step message that is not the last": with_action(action_id=f"{RECHECK}:{state.id}"),
    }


def test_forged_or_foreign_clicks_change_nothing(deps, slack) -> None:
    threads, state = started(deps, slack)
    _, other = started(deps, slack)
    before = threads.store.get(state.id), threads.store.get(other.id)
    for name, payload in forged_payloads(state, other).items():
        updates, ephemerals = len(slack.of("chat.update")), len(slack.of("chat.postEphemeral"))
        threads.click(payload, slack)
        assert (threads.store.get(state.id), threads.store.get(other.id)) == before, name
        assert len(slack.of("chat.update")) == updates, name
        assert len(slack.of("chat.postEphemeral")) == ephemerals + 1, name


def test_assignment_dms_the_assignee_with_a_permalink(deps, slack, clock) -> None:
    threads, state = started(deps, slack, client_id="abc", project="b.p")
    payload = click(slack, state.id, "C1", state.step_ts["add-integration"], "add-integration", "U2", [])
    payload["actions"][0] = {
        "type": "users_select",
        "action_id": action_id(ASSIGN, state.id, "add-integration"),
        "block_id": step_block_id(state.id, "add-integration"),
        "selected_user": "U3",
    }
    threads.click(payload, slack)
    assert threads.store.get(state.id).assignments["add-integration"].assignee == "U3"
    assert slack.of("conversations.open") == [{"users": "U3"}]
    dm = [post for post in slack.of("chat.postMessage") if post["channel"] == "DU3"]
    assert len(dm) == 1
    link = slack.of("chat.getPermalink")[0]
    assert link == {"channel": "C1", "message_ts": state.step_ts["add-integration"]}
    assert "https://example.slack.com/archives/C1/p" in dm[0]["text"] and "<@U2>" in dm[0]["text"]
    step_render = [c for c in slack.of("chat.update") if c["ts"] == state.step_ts["add-integration"]][-1]
    assert '"initial_user": "U3"' in json.dumps(step_render["blocks"])
    threads.click(payload, slack)  # same assignee again: no second DM
    assert len([p for p in slack.of("chat.postMessage") if p["channel"] == "DU3"]) == 1


def complete_integration(threads, slack, state) -> None:
    tick(threads, slack, state, "add-integration", "U2", ["add-integration-1"])
    tick(threads, slack, state, "add-integration", "U2", ["add-integration-1", "add-integration-2"])


def test_unassign_button_clears_the_assignment_everywhere(deps, slack) -> None:
    threads, state = started(deps, slack)
    step_ts = state.step_ts["create-app"]

    def press(kind: str, **extra: str) -> None:
        payload = click(slack, state.id, "C1", step_ts, "create-app", "U2", [])
        element = "users_select" if kind == ASSIGN else "button"
        payload["actions"][0] = {
            "type": element,
            "action_id": action_id(kind, state.id, "create-app"),
            "block_id": step_block_id(state.id, "create-app"),
            **extra,
        }
        threads.click(payload, slack)

    def buttons() -> list[str]:
        blocks = slack.messages[("C1", step_ts)]["blocks"]
        return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]

    assert action_id(UNASSIGN, state.id, "create-app") not in buttons()
    press(ASSIGN, selected_user="U3")
    assert action_id(UNASSIGN, state.id, "create-app") in buttons()
    press(UNASSIGN, value="create-app")
    stored = ChecklistThreads(deps).store.get(state.id)  # a fresh reader: it is in the database
    assert stored.assignments == {}
    assert action_id(UNASSIGN, state.id, "create-app") not in buttons()
    assert "Assigned to" not in json.dumps(slack.messages[("C1", step_ts)]["blocks"])


def test_integration_step_schedules_a_durable_recheck(deps, slack, clock) -> None:
    threads, state = started(deps, slack, client_id="abc", project="b.p")
    complete_integration(threads, slack, state)
    [job] = threads.jobs.by_key(recheck_key(state.id))
    assert (job.kind, job.status, job.run_at) == (RECHECK_JOB, PENDING, clock.now + 600)
    assert any("re-run the live check" in p["text"] for p in slack.of("chat.postMessage"))
    parent = [c for c in slack.of("chat.update") if c["ts"] == state.parent_ts][-1]
    assert f"<!date^{int(clock.now + 600)}^" in json.dumps(parent["blocks"])
    tick(threads, slack, state, "add-integration", "U2", ["add-integration-1"])  # reopened: cancelled
    assert threads.jobs.get(job.id).status == CANCELLED


def test_integration_step_without_ids_schedules_nothing(deps, slack) -> None:
    threads, state = started(deps, slack)
    complete_integration(threads, slack, state)
    assert threads.jobs.by_key(recheck_key(state.id)) == []
    assert any("can't re-check automatically" in p["text"] for p in slack.of("chat.postMessage"))


def run_scheduler(deps: Deps, slack: StubSlack, check: FakeCheck, now: float) -> int:
    threads = ChecklistThreads(deps, live_check=check)
    scheduler = Scheduler(
        deps,
        handlers={RECHECK_JOB: lambda job, at: threads.run_recheck_job(slack, job)},
        sweeps=[lambda at: threads.remind_stale(slack, at)],
    )
    return scheduler.run_due(now)


@pytest.mark.parametrize("passed", [True, False])
def test_scheduled_recheck_fires_after_the_wait(deps, slack, clock, passed: bool) -> None:
    threads, state = started(deps, slack, client_id="abc", project="b.p")
    complete_integration(threads, slack, state)
    check = FakeCheck(passed)
    assert run_scheduler(deps, slack, check, clock.now + 599) == 0 and check.calls == []
    clock.now += 600
    assert run_scheduler(deps, slack, check, clock.now) == 1
    assert check.calls == [("abc", "b.p")]
    assert threads.jobs.by_key(recheck_key(state.id))[0].status == DONE
    result = [p for p in slack.of("chat.postMessage") if p["text"].startswith("Automatic re-check")]
    assert len(result) == 1 and result[0]["thread_ts"] == state.parent_ts
    test_step = threads.store.get(state.id).ticked_items("test-access")
    assert test_step == (set(items(state, "test-access")) if passed else set())
    if passed:
        assert threads.store.get(state.id).ticked("test-access", "test-access-1").user == "aps-bot"
    assert run_scheduler(deps, slack, check, clock.now + DAY) == 0 and len(check.calls) == 1


def test_recheck_now_button_runs_on_demand(deps, slack) -> None:
    check = FakeCheck(True)
    threads, state = started(deps, slack, client_id="abc", project="b.p", live_check=check)
    payload = click(slack, state.id, "C1", state.step_ts["test-access"], "test-access", "U2", [])
    payload["actions"][0] = {"type": "button", "action_id": f"{RECHECK}:{state.id}", "value": state.id}
    threads.click(payload, slack)
    assert check.calls == [("abc", "b.p")]
    assert threads.store.get(state.id).step_done("test-access")
    assert any(p["text"].startswith("Re-check requested by <@U2>") for p in slack.of("chat.postMessage"))


def test_completion_says_done_with_total_time(deps, slack, clock) -> None:
    threads, state = started(deps, slack)
    for step in state.template.steps:
        clock.now += 1800
        tick(threads, slack, state, step.id, "U2", items(state, step.id)[:1])
        tick(threads, slack, state, step.id, "U3", items(state, step.id))
    stored = threads.store.get(state.id)
    assert stored.done and stored.total_seconds == 5 * 1800
    parent = [c for c in slack.of("chat.update") if c["ts"] == state.parent_ts][-1]
    assert "Done* in 2 h 30 min" in json.dumps(parent["blocks"])
    assert sum("Checklist complete" in p["text"] for p in slack.of("chat.postMessage")) == 1


def test_stale_checklist_gets_exactly_one_reminder(deps, slack, clock) -> None:
    threads, stale = started(deps, slack)
    _, active = started(deps, slack)
    start = clock.now
    clock.now = start + 6 * DAY
    tick(threads, slack, active, "create-app", "U2", ["create-app-1"])
    check = FakeCheck(True)
    run_scheduler(deps, slack, check, start + 7 * DAY - 1)
    assert not [p for p in slack.of("chat.postMessage") if "No activity" in p["text"]]
    barrier = threading.Barrier(3)

    def sweep() -> None:
        barrier.wait(timeout=10)
        run_scheduler(deps, slack, check, start + 7 * DAY)

    workers = [threading.Thread(target=sweep) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    run_scheduler(deps, slack, check, start + 30 * DAY)
    reminders = [p for p in slack.of("chat.postMessage") if "No activity" in p["text"]]
    assert [(r["thread_ts"]) for r in reminders] == [stale.parent_ts, active.parent_ts]
    assert "Next open step: *Step 1 create-app*" in reminders[0]["text"]


def test_home_lists_only_checklists_of_channels_the_user_is_in(deps, slack, monkeypatch) -> None:
    from bot.slack.listeners import home

    monkeypatch.setattr(home, "top_causes", lambda deps, now: [("Integration missing", 4)])
    slack.members["C9"] = ["U9"]
    threads, mine = started(deps, slack, client_id="abc", project="b.p")
    secret = threads.start(slack, channel="C9", user="U9", client_id="zzz", project="b.secret")
    home.publish_home(deps, slack, "U2")
    [published] = slack.of("views.publish")
    text = json.dumps(published["view"], ensure_ascii=False)
    assert published["user_id"] == "U2"
    assert "abc" in text and "zzz" not in text and secret.id not in text
    assert "0/5 steps · 0/11 items" in text and "Integration missing" in text
    assert f"https://example.slack.com/archives/C1/p{mine.parent_ts.replace('.', '')}" in text


def test_a_reminder_that_cannot_be_posted_does_not_block_the_others(deps, slack, clock) -> None:
    threads, first = started(deps, slack)
    started(deps, slack)
    slack.fail["chat.postMessage"] = "not_in_channel"
    assert threads.remind_stale(slack, clock.now + 8 * DAY) == 1
    reminders = [p for p in slack.of("chat.postMessage") if "No activity" in p["text"]]
    assert len(reminders) == 2  # one refused by Slack, one posted
    assert threads.store.get(first.id).reminded_at is not None
    assert threads.remind_stale(slack, clock.now + 9 * DAY) == 0


def test_a_checklist_finished_before_its_recheck_is_due_is_not_rechecked(deps, slack, clock) -> None:
    """The admins ticked every step (the test step too) while the re-check waited: nothing is left to prove."""
    threads, state = started(deps, slack, client_id="abc", project="b.p")
    complete_integration(threads, slack, state)
    for step in state.template.steps:
        tick(threads, slack, state, step.id, "U2", items(state, step.id))
    assert threads.store.get(state.id).done
    check = FakeCheck(False)
    clock.now += 600
    run_scheduler(deps, slack, check, clock.now)
    assert check.calls == []
    assert not any(p["text"].startswith("Automatic re-check") for p in slack.of("chat.postMessage"))


@pytest.mark.parametrize(
    ("ids", "missing"),
    [({}, "client id and project"), ({"client_id": "abc"}, "project"), ({"project": "b.p"}, "client id")],
)
def test_a_recheck_click_on_a_checklist_without_ids_asks_for_them(deps, slack, ids, missing: str) -> None:
    """The answer names what is missing (a checklist with a client id was told it had "neither")."""
    check = FakeCheck(True)
    threads, state = started(deps, slack, live_check=check, **ids)
    threads.recheck(slack, state.id, requested_by="U2")
    assert check.calls == []
    [answer] = [
        p["text"] for p in slack.of("chat.postMessage") if "I need a client id and a project" in p["text"]
    ]
    assert f"this checklist has no {missing}." in answer


def test_rechecks_run_with_the_live_check_permissions_of_who_asked(deps, slack) -> None:
    """The automatic re-check acts for the user who started the checklist; a click, for the clicker."""
    app = ApsApp(name="Bot", client_id="abc", client_secret="not-used", allowed_users=["U1"])
    settings = deps.settings.model_copy(update={"aps_apps": [app]})
    deps = Deps(settings=settings, kb=deps.kb, db=deps.db, executor=deps.executor, clock=deps.clock)
    check = FakeCheck(True)
    threads, state = started(deps, slack, client_id="abc", project="b.p", live_check=check)  # by U1
    threads.recheck(slack, state.id)
    assert check.calls == [("abc", "b.p")]
    threads.recheck(slack, state.id, requested_by="U2")
    assert check.calls == [("abc", "b.p")]
    assert any(
        p["text"].startswith(":lock: Re-check requested by <@U2>") for p in slack.of("chat.postMessage")
    )


class SlackDownFor(StubSlack):
    """Slack answers 503 to `down` chat.postMessage calls whose text starts with `prefix`, then recovers."""

    def __init__(self, prefix: str, down: int) -> None:
        super().__init__()
        self.prefix, self.down = prefix, down

    def chat_postMessage(self, **kw: Any):
        if self.down and str(kw.get("text", "")).startswith(self.prefix):
            self.down -= 1
            self.calls.append(("chat.postMessage", kw))
            response = _response("chat.postMessage", {"ok": False, "error": "service_unavailable"})
            response.status_code = 503
            raise SlackApiError("service_unavailable", response)
        return super().chat_postMessage(**kw)


def test_a_recheck_whose_result_slack_failed_to_take_runs_again_later(deps, clock) -> None:
    """A 503 when the automatic re-check posts its result does not lose the re-check: it runs again."""
    slack = SlackDownFor("Automatic re-check", down=1)
    threads, state = started(deps, slack, client_id="abc", project="b.p")
    complete_integration(threads, slack, state)
    check = FakeCheck(True)
    clock.now += 600
    assert run_scheduler(deps, slack, check, clock.now) == 1
    assert not threads.store.get(state.id).step_done("test-access")  # nothing reached the thread
    clock.now += 600
    assert run_scheduler(deps, slack, check, clock.now) == 1
    assert len(check.calls) == 2
    results = [p for p in slack.of("chat.postMessage") if p["text"].startswith("Automatic re-check")]
    assert len(results) == 2 and slack.down == 0  # the failed one, then the one that landed
    assert threads.store.get(state.id).step_done("test-access")
    assert run_scheduler(deps, slack, check, clock.now + DAY) == 0 and len(check.calls) == 2


def test_a_recheck_that_keeps_failing_gives_up_after_a_few_attempts(deps, clock) -> None:
    slack = SlackDownFor("Automatic re-check", down=100)
    threads, state = started(deps, slack, client_id="abc", project="b.p")
    complete_integration(threads, slack, state)
    check = FakeCheck(True)
    for _ in range(10):
        clock.now += 3600
        run_scheduler(deps, slack, check, clock.now)
    assert len(check.calls) == RECHECK_ATTEMPTS
    assert threads.jobs.by_key(recheck_key(state.id))[-1].status == FAILED


class Killed(BaseException):
    """The process dying at this point (no `except Exception` catches it)."""


def test_a_recheck_killed_after_posting_its_result_does_not_post_it_again(deps, slack, clock) -> None:
    """serve is killed right after the re-check's result reached the thread: after the restart, the job
    (its lease expired) ticks the test step without running the check and posting the result twice."""
    threads, state = started(deps, slack, client_id="abc", project="b.p")
    complete_integration(threads, slack, state)
    check = FakeCheck(True)
    dying = ChecklistThreads(deps, live_check=check)

    def killed(*args: Any, **kw: Any) -> None:
        raise Killed

    dying._apply = killed  # type: ignore[method-assign]  # dies before it ticks the test step
    scheduler = Scheduler(
        deps, handlers={RECHECK_JOB: lambda job, at: dying.run_recheck_job(slack, job)}, sweeps=[]
    )
    clock.now += 600
    with pytest.raises(Killed):
        scheduler.run_due(clock.now)
    clock.now += 601  # the dead scheduler's lease ran out
    assert run_scheduler(deps, slack, check, clock.now) == 1
    assert len(check.calls) == 1
    results = [p for p in slack.of("chat.postMessage") if p["text"].startswith("Automatic re-check")]
    assert len(results) == 1
    assert threads.store.get(state.id).step_done("test-access")


class UpdateFails(StubSlack):
    """chat.update call number `failing` (counting from 1) raises `failure()` instead of updating."""

    def __init__(self, failing: set[int], failure: Any) -> None:
        super().__init__()
        self.failing, self.failure, self.updates = failing, failure, 0

    def chat_update(self, **kw: Any):
        self.updates += 1
        if self.updates in self.failing:
            self.calls.append(("chat.update", kw))
            raise self.failure()
        return super().chat_update(**kw)


def slack_503() -> SlackApiError:
    response = _response("chat.update", {"ok": False, "error": "service_unavailable"})
    response.status_code = 503
    return SlackApiError("service_unavailable", response)


def run_checklist_sweeps(deps: Deps, slack: StubSlack, now: float) -> None:
    """One pass of the scheduler with the checklist's own job handlers and sweeps (a restarted bot's)."""
    handlers, sweeps = checklist_listener.scheduled_work(deps, slack)
    Scheduler(deps, handlers=handlers, sweeps=sweeps).run_due(now)


def shown_ticked(slack: StubSlack, state, step_id: str) -> set[str]:
    message = slack.messages[("C1", state.step_ts[step_id])]
    return selected_in_message(
        message, step_block_id(state.id, step_id), action_id("cl_tick", state.id, step_id)
    )


def parent_shows(slack: StubSlack, state) -> str:
    return json.dumps(slack.messages[("C1", state.parent_ts)]["blocks"], ensure_ascii=False)


def test_a_tick_stored_before_the_bot_died_reaches_its_messages_after_the_restart(deps, clock) -> None:
    """serve is killed after storing a tick and before updating the step and the parent: the restarted
    bot's scheduler re-renders them, so the thread does not show the tick undone for good."""
    slack = UpdateFails({1}, Killed)
    threads, state = started(deps, slack)
    with pytest.raises(Killed):
        tick(threads, slack, state, "create-app", "U2", ["create-app-1"])
    assert threads.store.get(state.id).ticked_items("create-app") == {"create-app-1"}
    assert shown_ticked(slack, state, "create-app") == set() and "0/11 items" in parent_shows(slack, state)
    clock.now += 60
    run_checklist_sweeps(deps, slack, clock.now)
    assert shown_ticked(slack, state, "create-app") == {"create-app-1"}
    assert "1/11 items" in parent_shows(slack, state)
    updates = len(slack.of("chat.update"))
    run_checklist_sweeps(deps, slack, clock.now + 3600)  # repaired: nothing more to do
    assert len(slack.of("chat.update")) == updates


def test_a_step_update_slack_failed_is_repaired_and_a_deleted_message_is_given_up(deps, clock) -> None:
    slack = UpdateFails({1}, slack_503)  # the step's update fails, the parent's lands
    threads, state = started(deps, slack)
    tick(threads, slack, state, "create-app", "U2", ["create-app-1"])
    assert shown_ticked(slack, state, "create-app") == set() and "1/11 items" in parent_shows(slack, state)
    run_checklist_sweeps(deps, slack, clock.now + 30)  # not before the render had its time
    assert shown_ticked(slack, state, "create-app") == set()
    run_checklist_sweeps(deps, slack, clock.now + 60)
    assert shown_ticked(slack, state, "create-app") == {"create-app-1"}

    gone = SlackApiError(
        "message_not_found", _response("chat.update", {"ok": False, "error": "message_not_found"})
    )
    slack.failing, slack.failure = {slack.updates + 1}, lambda: gone
    tick(threads, slack, state, "admin-rights", "U2", ["admin-rights-1"])  # its step message was deleted
    updates = len(slack.of("chat.update"))
    run_checklist_sweeps(deps, slack, clock.now + 3600)
    assert len(slack.of("chat.update")) == updates  # not tried again and again


def recheck_click(slack: StubSlack, state, user: str) -> dict[str, Any]:
    payload = click(slack, state.id, "C1", state.step_ts["test-access"], "test-access", user, [])
    payload["actions"][0] = {"type": "button", "action_id": f"{RECHECK}:{state.id}", "value": state.id}
    return payload


@pytest.mark.parametrize("passed", [True, False])
def test_a_passed_recheck_now_replaces_the_scheduled_one(deps, slack, clock, passed: bool) -> None:
    """The bot said "I'll re-run the live check at …; or press Re-check now": once a pressed re-check passed,
    the scheduled one is not run (nor shown) on top of it; a failed one leaves it to try again."""
    check = FakeCheck(passed)
    threads, state = started(deps, slack, client_id="abc", project="b.p", live_check=check)
    complete_integration(threads, slack, state)
    clock.now += 120
    threads.click(recheck_click(slack, state, "U2"), slack)
    assert ("re-check scheduled" in parent_shows(slack, state)) is not passed
    clock.now += 600
    assert run_scheduler(deps, slack, check, clock.now) == (0 if passed else 1)
    assert len(check.calls) == (1 if passed else 2)


def test_a_step_whose_message_was_never_posted_is_not_rendered_again_and_again(deps, clock) -> None:
    slack = FlakySlack(failing={6})  # the parent and four steps; the test step fails
    threads = ChecklistThreads(deps, live_check=FakeCheck(True))
    state = threads.start(slack, channel="C1", user="U1", client_id="abc", project="b.p")
    threads.jobs.cancel(post_steps_key(state.id))  # as if its safety net gave up after its attempts
    assert "test-access" not in threads.store.get(state.id).step_ts
    threads.recheck(slack, state.id)  # passes: ticks the test step, which has no message to show it
    assert threads.store.get(state.id).step_done("test-access")
    counts = []
    for hours in (1, 2, 3):
        run_checklist_sweeps(deps, slack, clock.now + hours * 3600)
        counts.append(len(slack.of("chat.update")))
    assert counts[0] == counts[1] == counts[2]


@pytest.mark.parametrize("failure", ["slack_503", "network"])
def test_a_reminder_slack_failed_to_take_is_posted_on_a_later_pass(deps, clock, failure: str) -> None:
    """A 503 or a reset connection when the one reminder is posted does not spend it: the next pass posts it."""
    slack = SlackDownFor(":wave: No activity", down=1) if failure == "slack_503" else NetworkDownFor(":wave:")
    threads, state = started(deps, slack)
    assert threads.remind_stale(slack, clock.now + 8 * DAY) == 0
    assert threads.store.get(state.id).reminded_at is None
    assert threads.remind_stale(slack, clock.now + 8 * DAY + 15) == 1
    assert threads.remind_stale(slack, clock.now + 9 * DAY) == 0
    assert len([p for p in slack.of("chat.postMessage") if "No activity" in p["text"]]) == 2  # failed, posted


class TakenThenFatal(StubSlack):
    """Slack stores the first chat.postMessage whose text starts with `prefix`, then answers `error`
    ("it's possible some aspect of the operation succeeded before the error was raised")."""

    def __init__(self, prefix: str, error: str = "fatal_error") -> None:
        super().__init__()
        self.prefix, self.down, self.error = prefix, 1, error

    def chat_postMessage(self, **kw: Any):
        response = super().chat_postMessage(**kw)
        if self.down and str(kw.get("text", "")).startswith(self.prefix):
            self.down -= 1
            raise SlackApiError(self.error, _response("chat.postMessage", {"ok": False, "error": self.error}))
        return response


@pytest.mark.parametrize("error", ["fatal_error", "internal_error"])
def test_a_reminder_slack_may_have_posted_before_a_fatal_error_is_not_posted_again(
    deps, clock, error: str
) -> None:
    """These errors say the post may have gone through: retrying the reminder (which reads no thread first)
    would remind the channel twice; it is spent, as a refused one is."""
    slack = TakenThenFatal(":wave: No activity", error)
    threads, _ = started(deps, slack)
    threads.remind_stale(slack, clock.now + 8 * DAY)
    threads.remind_stale(slack, clock.now + 8 * DAY + 15)
    threads.remind_stale(slack, clock.now + 9 * DAY)
    assert slack.down == 0
    assert len([p for p in slack.of("chat.postMessage") if "No activity" in p["text"]]) == 1


def test_a_recheck_result_slack_may_have_posted_before_a_fatal_error_is_not_posted_again(deps, clock) -> None:
    """The automatic re-check's result answered `fatal_error` (perhaps posted): the re-check is not run and
    posted again a minute later."""
    slack = TakenThenFatal("Automatic re-check")
    threads, state = started(deps, slack, client_id="abc", project="b.p")
    complete_integration(threads, slack, state)
    check = FakeCheck(True)
    for _ in range(3):
        clock.now += 600
        run_scheduler(deps, slack, check, clock.now)
    assert slack.down == 0 and len(check.calls) == 1
    assert len([p for p in slack.of("chat.postMessage") if p["text"].startswith("Automatic re-check")]) == 1


class NetworkDownFor(StubSlack):
    """The connection is reset on the first chat.postMessage whose text starts with `prefix`."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix, self.down = prefix, 1

    def chat_postMessage(self, **kw: Any):
        if self.down and str(kw.get("text", "")).startswith(self.prefix):
            self.down -= 1
            self.calls.append(("chat.postMessage", kw))
            raise ConnectionResetError("connection reset by peer")
        return super().chat_postMessage(**kw)


@pytest.mark.parametrize(
    "failure", [sqlite3.OperationalError("database is locked"), ConcurrentUpdate("gave up")]
)
def test_a_click_the_database_could_not_store_is_answered(deps, slack, monkeypatch, failure) -> None:
    """The database is locked (or other writers kept winning): the clicker, whose box moved, hears that
    nothing was saved instead of nothing at all."""
    threads, state = started(deps, slack)

    def failing(*args: Any, **kw: Any):
        raise failure

    monkeypatch.setattr(threads.store, "update", failing)
    tick(threads, slack, state, "create-app", "U2", ["create-app-1"])
    [told] = slack.of("chat.postEphemeral")
    assert told["user"] == "U2" and "not saved" in told["text"]
    assert threads.store.get(state.id).ticked_items("create-app") == set()


class GroupsDownFor(StubSlack):
    """usergroups.users.list answers 503 `down` times, then lists `group_members` for any group."""

    def __init__(self, group_members: list[str], down: int) -> None:
        super().__init__()
        self.group_members, self.down = group_members, down

    def usergroups_users_list(self, **kw: Any):
        self.calls.append(("usergroups.users.list", kw))
        if self.down:
            self.down -= 1
            raise slack_503()
        return _response("usergroups.users.list", {"ok": True, "users": self.group_members})


def grouped_deps(deps: Deps) -> Deps:
    """`deps` whose app "abc" is allowed to the members of user group S1 only."""
    app = ApsApp(name="Bot", client_id="abc", client_secret="not-used", allowed_usergroups=["S1"])
    settings = deps.settings.model_copy(update={"aps_apps": [app]})
    return Deps(settings=settings, kb=deps.kb, db=deps.db, executor=deps.executor, clock=deps.clock)


def refusals(slack: StubSlack) -> list[str]:
    return [p["text"] for p in slack.of("chat.postMessage") if p["text"].startswith(":lock:")]


def test_an_automatic_recheck_slack_did_not_say_the_groups_for_runs_again_later(deps, clock) -> None:
    """A 503 on the user-group lookup is no ':lock: may not run live checks' that ends the re-check."""
    deps, slack = grouped_deps(deps), GroupsDownFor(["U1"], down=0)
    threads, state = started(deps, slack, client_id="abc", project="b.p")  # by U1, a member of S1
    complete_integration(threads, slack, state)
    slack.down = 1
    check = FakeCheck(True)
    clock.now += 600
    assert run_scheduler(deps, slack, check, clock.now) == 1
    assert check.calls == [] and refusals(slack) == []
    clock.now += 600
    assert run_scheduler(deps, slack, check, clock.now) == 1
    assert check.calls == [("abc", "b.p")] and refusals(slack) == []
    assert threads.store.get(state.id).step_done("test-access")


def test_a_recheck_click_slack_did_not_say_the_groups_for_asks_to_try_again(deps, clock) -> None:
    deps, slack = grouped_deps(deps), GroupsDownFor(["U2"], down=1)
    check = FakeCheck(True)
    threads, state = started(deps, slack, client_id="abc", project="b.p", live_check=check)
    threads.click(recheck_click(slack, state, "U2"), slack)
    assert check.calls == [] and refusals(slack) == []
    assert [p["text"] for p in slack.of("chat.postEphemeral")] == [TRY_AGAIN]
    threads.click(recheck_click(slack, state, "U2"), slack)  # Slack is back
    assert check.calls == [("abc", "b.p")]


@pytest.mark.parametrize("failure", ["slack_503", "network"])
def test_a_recheck_click_whose_result_slack_did_not_take_can_be_clicked_again_at_once(
    deps, clock, failure: str
) -> None:
    """A 503 or a reset connection on the result: the clicker is told to try again, and the next click runs
    the check (no "try again in 20 s")."""
    prefix = "Re-check requested by"
    slack = SlackDownFor(prefix, down=1) if failure == "slack_503" else NetworkDownFor(prefix)
    check = FakeCheck(True)
    threads, state = started(deps, slack, client_id="abc", project="b.p", live_check=check)
    threads.click(recheck_click(slack, state, "U2"), slack)
    assert [p["text"] for p in slack.of("chat.postEphemeral")] == [TRY_AGAIN]
    threads.click(recheck_click(slack, state, "U2"), slack)
    assert len(check.calls) == 2 and slack.of("chat.postEphemeral")[1:] == []
    assert threads.store.get(state.id).step_done("test-access")


def test_a_live_check_that_fails_with_an_os_error_is_not_called_a_slack_failure(deps, slack) -> None:
    """A missing CA bundle (say) is the bot's own error: logged with its traceback, not "Slack did not answer"."""

    def broken(*args: Any) -> CheckOutcome:
        raise FileNotFoundError("no CA bundle")

    threads, state = started(deps, slack, client_id="abc", project="b.p", live_check=broken)
    with pytest.raises(FileNotFoundError):
        threads.click(recheck_click(slack, state, "U2"), slack)
    assert slack.of("chat.postEphemeral") == []
    assert any("could not run (FileNotFoundError)" in p["text"] for p in slack.of("chat.postMessage"))

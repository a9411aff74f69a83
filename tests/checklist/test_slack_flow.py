"""Checklist threads end to end: signed HTTP requests to the real Bolt app, the fake Slack Web API and the
fake APS server. Every wait polls an observable condition with a deadline."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient

from bot.checklist import ChecklistState
from bot.knowledge import load_kb
from bot.scheduler import Scheduler
from bot.settings import ApsApp, Settings
from bot.slack.checklist_blocks import (
    ASSIGN,
    HOME_START,
    RECHECK,
    START_MODAL,
    TICK,
    action_id,
    selected_in_message,
    step_block_id,
)
from bot.slack.checklist_threads import RECHECK_JOB
from bot.store.checklists import ChecklistStore
from bot.store.db import Database
from bot.store.feedback import FeedbackStore
from bot.store.jobs import JobStore
from tests.checklist.conftest import make_template
from tests.fakes.aps_server import APP_NAME, CLIENT_ID, CLIENT_SECRET, PROJECT_ID, FakeAps
from tests.fakes.bolt_server import BOT_TOKEN, block_action_payload, make_settings, next_ts, running_bot
from tests.fakes.clock import Clock
from tests.fakes.polling import wait_until
from tests.fakes.slack_api import BOT_ID, BOT_USER_ID, FakeSlackApi

CHANNEL = "C0CHECK01"
ADMINS = ["U0ADMIN01", "U0ADMIN02", "U0ADMIN03"]
OUTSIDER = "U0OUTSIDE"
DAY = 86_400.0

CAUSE = {
    "id": "integration-not-provisioned",
    "title": "Custom integration not added in the account",
    "summary": "The account admin has not added the client id under Custom Integrations.",
    "http_status": [403],
    "signatures": {"error_codes": ["BIM360DM_ERROR"], "messages": [], "endpoints": []},
    "fix": "Add the client id under Custom Integrations.",
    "checklist_step": "add-integration",
    "examples": ['{"code": "BIM360DM_ERROR"}'],
}


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    """A small knowledge base with the contract's five steps (deterministic item ids for these tests)."""
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "checklist.yml").write_text(yaml.safe_dump(make_template().model_dump()), encoding="utf-8")
    (folder / "integration-not-provisioned.yml").write_text(yaml.safe_dump(CAUSE), encoding="utf-8")
    return folder


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as fake:
        fake.members[CHANNEL] = list(ADMINS)
        yield fake


@pytest.fixture
def aps() -> Iterator[FakeAps]:
    with FakeAps() as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, slack: FakeSlackApi, aps: FakeAps, kb_dir: Path) -> Settings:
    app = ApsApp(name=APP_NAME, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, allowed_channels=[CHANNEL])
    return make_settings(
        tmp_path,
        slack,
        bot_kb_dir=kb_dir,
        aps_base_url=aps.url,
        aps_apps=[app],
        bot_recheck_delay_seconds=600,
        bot_stale_checklist_days=7,
    )


def store_for(settings: Settings) -> ChecklistStore:
    return ChecklistStore(Database(settings.bot_db_path), load_kb(settings.bot_kb_dir).checklist)


def the_checklist(settings: Settings) -> ChecklistState:
    def ready() -> ChecklistState | None:
        found = store_for(settings).open_checklists()
        return found[0] if found and len(found[0].step_ts) == 5 else None

    return wait_until(ready)


def step_message(slack: FakeSlackApi, state: ChecklistState, step_id: str) -> dict[str, Any]:
    """The step's message as Slack shows it now: its last chat.update, else as posted (read back)."""
    ts = state.step_ts[step_id]

    def last_update() -> dict[str, Any] | None:
        updates = [c for c in slack.calls_to("chat.update") if c.params.get("ts") == ts]
        if not updates:
            return None
        return {
            "type": "message",
            "ts": ts,
            "thread_ts": state.parent_ts,
            "blocks": updates[-1].json("blocks"),
        }

    if (message := last_update()) is not None:
        return message
    client = WebClient(token=BOT_TOKEN, base_url=slack.url)
    replies = client.conversations_replies(channel=state.channel, ts=state.parent_ts)["messages"]
    posted = next((m for m in replies if m["ts"] == ts), None)
    return posted or wait_until(last_update)  # an update landed in between


def tick_payload(
    state: ChecklistState,
    step_id: str,
    user: str,
    selected: list[str],
    message: dict[str, Any],
    *,
    channel: str | None = None,
) -> dict[str, Any]:
    payload = block_action_payload(
        action_id(TICK, state.id, step_id),
        "",
        user=user,
        channel=channel or state.channel,
        message=message,
        block_id=step_block_id(state.id, step_id),
    )
    action = payload["actions"][0]
    action.pop("value")
    action.pop("text")
    action.update(type="checkboxes", selected_options=[{"value": v, "text": {"text": v}} for v in selected])
    return payload


def updated(slack: FakeSlackApi, ts: str, count: int = 1, predicate=None) -> list[Any]:
    return slack.wait_for(
        "chat.update", count=count, predicate=lambda c: c.params.get("ts") == ts and (predicate or bool)(c)
    )


def start_by_button(bot, settings: Settings) -> ChecklistState:
    value = json.dumps({"cause": CAUSE["id"], "channel": CHANNEL, "ts": "1690000001.000001"})
    response = bot.send_action(
        block_action_payload("start_checklist", value, user=ADMINS[0], channel=CHANNEL)
    )
    assert response.status == 200
    return the_checklist(settings)


# --- starting ------------------------------------------------------------------------------------------


def test_start_from_the_diagnosis_button_posts_the_thread(settings, slack) -> None:
    with running_bot(settings) as bot:
        state = start_by_button(bot, settings)
    posts = slack.calls_to("chat.postMessage")
    parent = next(p for p in posts if not p.params.get("thread_ts"))
    steps = [p for p in posts if p.params.get("thread_ts") == state.parent_ts]
    assert len(steps) == 5 and parent.params["channel"] == CHANNEL
    parent_text = json.dumps(parent.json("blocks"), ensure_ascii=False)
    assert f"<@{ADMINS[0]}>" in parent_text and "0/5 steps · 0/11 items" in parent_text
    assert CAUSE["title"] in parent_text and "the fix is step 3: Step 3 add-integration" in parent_text
    [link] = [p for p in posts if p.params.get("thread_ts") == "1690000001.000001"]
    assert f"archives/{CHANNEL}/p{state.parent_ts.replace('.', '')}" in link.params["text"]
    first = json.dumps(steps[0].json("blocks"))
    assert (
        action_id(TICK, state.id, "create-app") in first
        and action_id(ASSIGN, state.id, "create-app") in first
    )
    assert f"{RECHECK}:{state.id}" in json.dumps(steps[-1].json("blocks"))
    assert state.cause == CAUSE["id"]


def test_a_second_start_from_the_same_diagnosis_points_to_the_first_checklist(settings, slack) -> None:
    """A double click on *Start checklist*, or a teammate clicking it too: one checklist, one link."""
    value = json.dumps({"cause": CAUSE["id"], "channel": CHANNEL, "ts": "1690000001.000001"})
    with running_bot(settings) as bot:
        for clicker in ADMINS[:2]:
            bot.send_action(block_action_payload("start_checklist", value, user=clicker, channel=CHANNEL))
        [told] = slack.wait_for("response_url", predicate=lambda c: "already" in c.params.get("text", ""))
        assert told.params["response_type"] == "ephemeral"
        bot.drain()
    assert len(store_for(settings).open_checklists()) == 1
    links = [
        p for p in slack.calls_to("chat.postMessage") if p.params.get("thread_ts") == "1690000001.000001"
    ]
    assert len(links) == 1


def test_a_start_slack_refused_can_be_clicked_again(settings, slack) -> None:
    value = json.dumps({"cause": CAUSE["id"], "channel": CHANNEL, "ts": "1690000001.000001"})
    with running_bot(settings) as bot:
        slack.fail_next("chat.postMessage", error="restricted_action")
        bot.send_action(block_action_payload("start_checklist", value, user=ADMINS[0], channel=CHANNEL))
        slack.wait_for("response_url", predicate=lambda c: "refused" in c.params.get("text", ""))
        bot.drain()
        assert store_for(settings).open_checklists() == []
        start_by_button(bot, settings)
        bot.drain()
    assert len(store_for(settings).open_checklists()) == 1


def test_a_checklist_started_without_its_link_is_not_called_refused(settings, slack) -> None:
    """The checklist is posted, only its link in the diagnosis thread failed: the starter is not told Slack
    refused it and to try again (a second click would only be told it was started already)."""
    with running_bot(settings) as bot:
        slack.fail_next("chat.getPermalink", error="internal_error")
        start_by_button(bot, settings)
        bot.drain()
    assert len(store_for(settings).open_checklists()) == 1
    assert not [c for c in slack.calls_to("response_url") if "try again" in c.params.get("text", "")]


def test_a_start_that_cannot_see_the_members_keeps_the_first_checklists_claim(settings, slack) -> None:
    """A teammate's click whose member lookup fails (Slack unavailable) never claimed the diagnosis: it must
    not release the first click's claim, or the next click starts a second checklist."""
    value = json.dumps({"cause": CAUSE["id"], "channel": CHANNEL, "ts": "1690000001.000001"})
    with running_bot(settings) as bot:
        start_by_button(bot, settings)
        bot.drain()
        slack.fail_next("conversations.members", error="internal_error")
        bot.send_action(block_action_payload("start_checklist", value, user=ADMINS[1], channel=CHANNEL))
        slack.wait_for("response_url", predicate=lambda c: "did not answer" in c.params.get("text", ""))
        bot.drain()
        bot.send_action(block_action_payload("start_checklist", value, user=ADMINS[2], channel=CHANNEL))
        slack.wait_for("response_url", predicate=lambda c: "already" in c.params.get("text", ""))
        bot.drain()
    assert len(store_for(settings).open_checklists()) == 1


def test_start_from_the_command_with_client_id_and_project(settings, slack) -> None:
    with running_bot(settings) as bot:
        response = bot.send_command(
            f"checklist {CLIENT_ID} b.{PROJECT_ID}", user_id=ADMINS[0], channel_id=CHANNEL
        )
        assert response.status == 200
        state = the_checklist(settings)
    assert (state.client_id, state.project, state.channel, state.started_by) == (
        CLIENT_ID,
        f"b.{PROJECT_ID}",
        CHANNEL,
        ADMINS[0],
    )
    parent = next(p for p in slack.calls_to("chat.postMessage") if not p.params.get("thread_ts"))
    assert CLIENT_ID in json.dumps(parent.json("blocks"))


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        (f"checklist {CLIENT_ID} b.{PROJECT_ID} extra", "Usage"),
        ("checklist <!channel>", "Usage"),
        (f"checklist {CLIENT_ID} {CLIENT_SECRET}", "client secret"),
        # a project every re-check would refuse
        (
            f"checklist {CLIENT_ID} urn:adsk.workspace:prod.project:{PROJECT_ID}",
            f"holds the project id `{PROJECT_ID}`",
        ),
    ],
)
def test_bad_command_arguments_post_nothing(settings, slack, text: str, answer: str) -> None:
    with running_bot(settings) as bot:
        response = bot.send_command(text, user_id=ADMINS[0], channel_id=CHANNEL)
        assert response.status == 200
        # refused in the ack itself, or by the checklist handler through the response_url
        reply = response.json()["text"] if response.body else slack.wait_for("response_url")[0].params["text"]
    assert answer in reply and CLIENT_SECRET not in reply
    assert not slack.calls_to("chat.postMessage") and store_for(settings).open_checklists() == []


def test_command_in_a_channel_the_bot_is_not_in_says_so(settings, slack) -> None:
    slack.fail_next("chat.postMessage", error="not_in_channel")
    with running_bot(settings) as bot:
        bot.send_command("checklist", user_id=ADMINS[0], channel_id=CHANNEL)
        [reply] = slack.wait_for("response_url")
    assert "not_in_channel" in reply.params["text"]


def test_start_button_with_a_forged_channel_posts_nothing(settings, slack) -> None:
    value = json.dumps({"cause": CAUSE["id"], "channel": "C0ELSEWHERE", "ts": "1.1"})
    with running_bot(settings) as bot:
        assert bot.send_action(block_action_payload("start_checklist", value, channel=CHANNEL)).status == 200
        assert (
            bot.send_action(block_action_payload("start_checklist", "not json", channel=CHANNEL)).status
            == 200
        )
        start_by_button(bot, settings)  # a valid click afterwards: only that one posts
    assert len([p for p in slack.calls_to("chat.postMessage") if not p.params.get("thread_ts")]) == 1
    assert len(store_for(settings).open_checklists()) == 1


def test_start_from_app_home_modal(settings, slack) -> None:
    slack.set_response(
        "users.conversations",
        {"ok": True, "channels": [{"id": CHANNEL}], "response_metadata": {"next_cursor": ""}},
    )
    with running_bot(settings) as bot:
        home_event = {"type": "app_home_opened", "user": ADMINS[1], "channel": "D0HOME", "tab": "home"}
        assert bot.send_event(home_event).status == 200
        [published] = slack.wait_for("views.publish")
        assert HOME_START in json.dumps(published.json("view"))
        click = block_action_payload(HOME_START, "", user=ADMINS[1], channel="D0HOME")
        click.pop("channel")
        click["container"] = {"type": "view", "view_id": "V1"}
        assert bot.send_action(click).status == 200
        [opened] = slack.wait_for("views.open")
        assert opened.json("view")["callback_id"] == START_MODAL
        submission = {
            "type": "view_submission",
            "user": {"id": ADMINS[1]},
            "team": {"id": "T0FAKE001"},
            "api_app_id": "A0FAKEAPP",
            "view": {
                "id": "V2",
                "callback_id": START_MODAL,
                "type": "modal",
                "state": {
                    "values": {
                        "channel": {
                            "channel": {"type": "conversations_select", "selected_conversation": CHANNEL}
                        },
                        "client_id": {"client_id": {"type": "plain_text_input", "value": CLIENT_ID}},
                        "project": {"project": {"type": "plain_text_input", "value": f"b.{PROJECT_ID}"}},
                    }
                },
            },
        }
        response = bot.send_action(submission)
        assert response.status == 200
        state = the_checklist(settings)
        assert (state.channel, state.client_id, state.project, state.started_by) == (
            CHANNEL,
            CLIENT_ID,
            f"b.{PROJECT_ID}",
            ADMINS[1],
        )
        bad = json.loads(json.dumps(submission))
        bad["view"]["state"]["values"]["client_id"]["client_id"]["value"] = "has spaces <!channel>"
        answer = bot.send_action(bad)
        assert answer.status == 200 and answer.json()["response_action"] == "errors"
        assert "client_id" in answer.json()["errors"]
        assert bot.send_event(dict(home_event)).status == 200
        second = slack.wait_for("views.publish", count=2)[-1]
        home = json.dumps(second.json("view"), ensure_ascii=False)
        assert CLIENT_ID in home and "0/5 steps · 0/11 items" in home
        assert f"archives/{CHANNEL}/p{state.parent_ts.replace('.', '')}" in home


def test_home_shows_the_most_frequent_causes_of_the_last_30_days(settings, slack) -> None:
    clock = Clock()
    feedback = FeedbackStore(Database(settings.bot_db_path))
    for n in range(3):
        feedback.record_diagnosis(CHANNEL, f"1.{n}", CAUSE["id"], clock.now - DAY)
    feedback.record_diagnosis(CHANNEL, "2.0", "rate-limited", clock.now - 40 * DAY)  # too old
    slack.set_response("users.conversations", {"ok": True, "channels": []})
    with running_bot(settings, clock=clock) as bot:
        bot.send_event({"type": "app_home_opened", "user": OUTSIDER, "channel": "D0HOME", "tab": "home"})
        [published] = slack.wait_for("views.publish")
    home = json.dumps(published.json("view"), ensure_ascii=False)
    assert f"{CAUSE['title']}*: 3×" in home and "rate-limited" not in home and "No open checklists" in home


def test_home_is_not_republished_empty_when_slack_cannot_list_the_users_channels(settings, slack) -> None:
    with running_bot(settings) as bot:
        start_by_button(bot, settings)
        slack.set_response("users.conversations", {"ok": True, "channels": [{"id": CHANNEL}]})
        slack.fail_next("users.conversations", error="internal_error")
        bot.send_event({"type": "app_home_opened", "user": ADMINS[0], "channel": "D0HOME", "tab": "home"})
        slack.wait_for("users.conversations")
        bot.send_event({"type": "app_home_opened", "user": ADMINS[0], "channel": "D0HOME", "tab": "home"})
        [published] = slack.wait_for("views.publish")  # only the second opening, when Slack answered
    assert "No open checklists" not in json.dumps(published.json("view"))
    assert len(slack.calls_to("users.conversations")) == 2


# --- ticking -------------------------------------------------------------------------------------------


def test_tick_and_untick_update_step_and_parent(settings, slack) -> None:
    clock = Clock()
    with running_bot(settings, clock=clock) as bot:
        state = start_by_button(bot, settings)
        clock.now += 120
        message = step_message(slack, state, "create-app")
        bot.send_action(tick_payload(state, "create-app", ADMINS[1], ["create-app-2"], message))
        parent_update = updated(slack, state.parent_ts)[-1]
        assert "0/5 steps · 1/11 items" in json.dumps(parent_update.json("blocks"), ensure_ascii=False)
        step_update = updated(slack, state.step_ts["create-app"])[-1]
        checkboxes = next(b for b in step_update.json("blocks") if b["type"] == "actions")["elements"][0]
        assert [o["value"] for o in checkboxes["initial_options"]] == ["create-app-2"]
        assert f"<@{ADMINS[1]}>" in json.dumps(step_update.json("blocks"))
        tick = store_for(settings).get(state.id).ticked("create-app", "create-app-2")
        assert (tick.user, tick.at) == (ADMINS[1], clock.now)

        message = step_message(slack, state, "create-app")
        bot.send_action(tick_payload(state, "create-app", ADMINS[2], [], message))
        updated(slack, state.parent_ts, count=2)
        wait_until(lambda: not store_for(settings).get(state.id).ticks)


def concurrent_clicks(bot, state: ChecklistState, message: dict[str, Any]) -> None:
    barrier = threading.Barrier(2)

    def click(user: str, item: str) -> None:
        barrier.wait(timeout=10)
        assert bot.send_action(tick_payload(state, "create-app", user, [item], message)).status == 200

    workers = [
        threading.Thread(target=click, args=(ADMINS[1], "create-app-1")),
        threading.Thread(target=click, args=(ADMINS[2], "create-app-2")),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)


def assert_both_ticks(
    settings: Settings, slack: FakeSlackApi, state: ChecklistState, users: list[str]
) -> None:
    def both() -> ChecklistState | None:
        current = store_for(settings).get(state.id)
        return current if len(current.ticked_items("create-app")) == 2 else None

    current = wait_until(both)
    assert [current.ticked("create-app", f"create-app-{n}").user for n in (1, 2)] == users

    def final_render_shows_both() -> bool:
        shown_now = step_message(slack, state, "create-app")
        checkboxes = next(b for b in shown_now["blocks"] if b["type"] == "actions")["elements"][0]
        return {o["value"] for o in checkboxes.get("initial_options", [])} == {"create-app-1", "create-app-2"}

    wait_until(final_render_shows_both)


def test_two_admins_ticking_at_once_both_land(settings, slack) -> None:
    with running_bot(settings) as bot:
        state = start_by_button(bot, settings)
        concurrent_clicks(bot, state, step_message(slack, state, "create-app"))
        assert_both_ticks(settings, slack, state, [ADMINS[1], ADMINS[2]])


def _second_instance(settings: Settings, payload: dict[str, Any], barrier, checklist_id: str) -> None:
    """Another bot process over the same database file, receiving one click."""
    with running_bot(settings) as bot:
        barrier.wait(timeout=60)
        assert bot.send_action(payload).status == 200
        store = store_for(settings)
        wait_until(lambda: store.get(checklist_id).ticked("create-app", "create-app-2"), timeout=30)


def test_two_bot_processes_over_one_database_both_land(settings, slack) -> None:
    with running_bot(settings) as bot:
        state = start_by_button(bot, settings)
        message = step_message(slack, state, "create-app")
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(2)
        other = tick_payload(state, "create-app", ADMINS[2], ["create-app-2"], message)
        proc = ctx.Process(target=_second_instance, args=(settings, other, barrier, state.id))
        proc.start()
        try:
            barrier.wait(timeout=60)
            assert (
                bot.send_action(
                    tick_payload(state, "create-app", ADMINS[1], ["create-app-1"], message)
                ).status
                == 200
            )
            proc.join(timeout=60)
        finally:
            if proc.is_alive():
                proc.kill()
        assert proc.exitcode == 0
        assert_both_ticks(settings, slack, state, [ADMINS[1], ADMINS[2]])


def test_restart_between_ticks_old_buttons_keep_working(settings, slack) -> None:
    with running_bot(settings) as bot:
        state = start_by_button(bot, settings)
        bot.send_action(
            tick_payload(
                state, "create-app", ADMINS[1], ["create-app-1"], step_message(slack, state, "create-app")
            )
        )
        wait_until(lambda: store_for(settings).get(state.id).ticked("create-app", "create-app-1"))
    with running_bot(settings) as bot:  # a new runtime over the same database file
        message = step_message(slack, state, "create-app")
        bot.send_action(
            tick_payload(state, "create-app", ADMINS[2], ["create-app-1", "create-app-2"], message)
        )
        assert_both_ticks(settings, slack, state, [ADMINS[1], ADMINS[2]])


# --- assignment ----------------------------------------------------------------------------------------


def assign_payload(slack, state: ChecklistState, step_id: str, user: str, assignee: str) -> dict[str, Any]:
    """`user` picks `assignee` in the step's users menu, on the step's message as Slack shows it now."""
    block_id = step_block_id(state.id, step_id)
    payload = block_action_payload(
        action_id(ASSIGN, state.id, step_id),
        "",
        user=user,
        channel=CHANNEL,
        message=step_message(slack, state, step_id),
        block_id=block_id,
    )
    payload["actions"][0] = {
        "type": "users_select",
        "action_id": action_id(ASSIGN, state.id, step_id),
        "block_id": block_id,
        "selected_user": assignee,
    }
    return payload


def test_assigning_a_step_dms_the_assignee_a_link(settings, slack) -> None:
    with running_bot(settings) as bot:
        state = start_by_button(bot, settings)
        bot.send_action(assign_payload(slack, state, "add-integration", ADMINS[0], ADMINS[2]))
        [opened] = slack.wait_for("conversations.open")
        assert opened.params["users"] == ADMINS[2]
        dm_channel = f"D{ADMINS[2]}"[:11]
        [dm] = slack.wait_for("chat.postMessage", predicate=lambda c: c.params["channel"] == dm_channel)
        slack.wait_for(
            "chat.getPermalink",
            predicate=lambda c: c.params["message_ts"] == state.step_ts["add-integration"],
        )
        assert f"archives/{CHANNEL}/p{state.step_ts['add-integration'].replace('.', '')}" in dm.params["text"]
        step_update = updated(slack, state.step_ts["add-integration"])[-1]
        assert f'"initial_user": "{ADMINS[2]}"' in json.dumps(step_update.json("blocks"))
    assert store_for(settings).get(state.id).assignments["add-integration"].assignee == ADMINS[2]


def test_a_click_by_someone_reading_the_channel_without_being_in_it_is_answered(settings, slack) -> None:
    """Anyone can read (and click in) a public channel without joining it; Slack refuses them an ephemeral
    message (`user_not_in_channel`), so the refusal goes through the click's response_url."""
    outsider = "U0OUTSIDE1"
    with running_bot(settings) as bot:
        state = start_by_button(bot, settings)
        message = step_message(slack, state, "create-app")
        slack.fail_next("chat.postEphemeral", error="user_not_in_channel")
        bot.send_action(tick_payload(state, "create-app", outsider, ["create-app-1"], message))
        [told] = slack.wait_for("response_url")
        assert "not valid for you" in told.params["text"] and told.params["response_type"] == "ephemeral"
        assert told.params.get("replace_original") in (False, "false")
        bot.drain()
    assert store_for(settings).get(state.id).ticked("create-app", "create-app-1") is None


def test_assigning_someone_outside_the_channel_is_refused_with_the_reason(settings, slack) -> None:
    outsider = "U0OUTSIDE1"
    with running_bot(settings) as bot:
        state = start_by_button(bot, settings)
        bot.send_action(assign_payload(slack, state, "add-integration", ADMINS[0], outsider))
        [told] = slack.wait_for(
            "chat.postEphemeral", predicate=lambda c: outsider in c.params.get("text", "")
        )
        assert told.params["user"] == ADMINS[0]
        assert "Invite them to the channel first" in told.params["text"]
        step_render = updated(slack, state.step_ts["add-integration"])[-1]  # the menu is reset
        assert outsider not in json.dumps(step_render.json("blocks"))
        bot.drain()
    assert "add-integration" not in store_for(settings).get(state.id).assignments
    assert not slack.calls_to("conversations.open")  # no DM to someone who cannot act on it


def test_a_step_message_slack_cannot_update_loses_no_notice(settings, slack) -> None:
    """The step's message was deleted: the assignment is stored, the parent updated and the assignee told."""
    with running_bot(settings) as bot:
        state = start_by_button(bot, settings)
        payload = assign_payload(slack, state, "add-integration", ADMINS[0], ADMINS[2])
        parent_updates = len(
            [c for c in slack.calls_to("chat.update") if c.params.get("ts") == state.parent_ts]
        )
        slack.fail_next("chat.update", error="message_not_found")
        bot.send_action(payload)
        dm_channel = f"D{ADMINS[2]}"[:11]
        slack.wait_for("chat.postMessage", predicate=lambda c: c.params["channel"] == dm_channel)
        updated(slack, state.parent_ts, count=parent_updates + 1)
    assert store_for(settings).get(state.id).assignments["add-integration"].assignee == ADMINS[2]


def test_a_click_slack_cannot_vouch_for_asks_to_try_again(settings, slack) -> None:
    """conversations.members failing is no "not a member": nothing changes and the clicker may click again."""
    with running_bot(settings) as bot:
        state = start_by_button(bot, settings)
        step = state.template.steps[0].id
        items = [item.id for item in state.step(step).items]
        slack.fail_next("conversations.members", error="internal_error")
        bot.send_action(tick_payload(state, step, ADMINS[1], items, step_message(slack, state, step)))
        [note] = slack.wait_for("chat.postEphemeral")
        assert "Try again" in note.params["text"] and "not valid" not in note.params["text"]
        assert store_for(settings).get(state.id).ticked_items(step) == set()
        bot.send_action(tick_payload(state, step, ADMINS[1], items, step_message(slack, state, step)))
        wait_until(lambda: store_for(settings).get(state.id).step_done(step))


# --- the re-check, completion and reminders ------------------------------------------------------------


def tick_step(bot, slack, state: ChecklistState, step_id: str, user: str) -> None:
    items = [item.id for item in state.step(step_id).items]
    message = step_message(slack, state, step_id)
    before = len(slack.calls_to("chat.update"))
    bot.send_action(tick_payload(state, step_id, user, items, message))
    wait_until(lambda: store_for(settings_of(bot)).get(state.id).step_done(step_id))
    slack.wait_for("chat.update", count=before + 2)


def settings_of(bot) -> Settings:
    return bot.runtime.deps.settings


def test_scheduled_recheck_fires_after_the_wait_and_ticks_the_test_step(settings, slack, aps) -> None:
    clock = Clock()
    with running_bot(settings, clock=clock) as bot:
        state = start_with_ids(bot, settings)
        tick_step(bot, slack, state, "add-integration", ADMINS[1])
        ticked_at = clock.now
        slack.wait_for(
            "chat.postMessage", predicate=lambda c: "re-run the live check" in c.params.get("text", "")
        )
    with running_bot(settings, clock=clock) as bot:  # the wait survives a restart
        scheduler = Scheduler(bot.runtime.deps)
        clock.now = ticked_at + 599
        assert scheduler.run_due() == 0 and not aps.calls
        clock.now = ticked_at + 600
        assert scheduler.run_due() == 1
        [result] = slack.wait_for(
            "chat.postMessage", predicate=lambda c: c.params.get("text", "").startswith("Automatic re-check")
        )
        assert result.params["thread_ts"] == state.parent_ts and aps.calls
        current = wait_until(lambda: (s := store_for(settings).get(state.id)).step_done("test-access") and s)
        assert current.ticked("test-access", "test-access-1").user == "aps-bot"
        assert scheduler.run_due(ticked_at + 10 * DAY) == 0


def parent_deletion(kind: str, channel: str, parent_ts: str) -> dict[str, Any]:
    """What Slack sends when the bot's parent message is deleted: `message_deleted` for a message without
    replies, a `message_changed` into a tombstone for one with replies (as a checklist parent has)."""
    ours = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "text": "APS checklist", "ts": parent_ts,
            "thread_ts": parent_ts}  # fmt: skip
    tombstone = {"type": "message", "subtype": "tombstone", "text": "This message was deleted.",
                 "user": "USLACKBOT", "hidden": True, "ts": parent_ts, "thread_ts": parent_ts,
                 "parent_user_id": "USLACKBOT", "reply_count": 5}  # fmt: skip
    event = {"type": "message", "hidden": True, "channel": channel, "ts": next_ts(), "event_ts": next_ts(),
             "channel_type": "channel"}  # fmt: skip
    if kind == "message_deleted":
        return {**event, "subtype": kind, "deleted_ts": parent_ts, "previous_message": ours}
    return {**event, "subtype": kind, "message": tombstone, "previous_message": ours}


@pytest.mark.parametrize("kind", ["message_changed", "message_deleted"])
def test_deleting_the_parent_closes_the_checklist_and_cancels_its_recheck(settings, slack, aps, kind) -> None:
    clock = Clock()
    with running_bot(settings, clock=clock) as bot:
        state = start_with_ids(bot, settings)
        tick_step(bot, slack, state, "add-integration", ADMINS[1])
        edited = {**parent_deletion("message_changed", CHANNEL, state.parent_ts)}
        edited["message"] = {**edited["message"], "subtype": None, "text": "edited"}  # an edit closes nothing
        assert bot.send_event(edited).status == 200
        bot.drain()
        assert not store_for(settings).get(state.id).closed
        assert bot.send_event(parent_deletion(kind, CHANNEL, state.parent_ts)).status == 200
        closed = wait_until(lambda: (s := store_for(settings).get(state.id)).closed and s)
        assert closed.closed_at == clock.now
        clock.now += 10 * DAY
        assert Scheduler(bot.runtime.deps).run_due() == 0  # the re-check and the reminder are off
        assert not aps.calls
        message = step_message(slack, state, "test-access")
        bot.send_action(tick_payload(state, "test-access", ADMINS[0], ["test-access-1"], message))
        [told] = slack.wait_for("chat.postEphemeral", predicate=lambda c: "closed" in c.params["text"])
        assert told.params["user"] == ADMINS[0]
        bot.drain()
    assert store_for(settings).get(state.id).ticked("test-access", "test-access-1") is None
    assert store_for(settings).open_checklists() == []


@pytest.mark.parametrize("event_type", ["channel_archive", "group_deleted"])
def test_archiving_or_deleting_the_channel_closes_its_checklists_only(settings, slack, event_type) -> None:
    with running_bot(settings) as bot:
        state = start_by_button(bot, settings)
        elsewhere = "C0ELSEWHERE"
        slack.members[elsewhere] = list(ADMINS)
        assert bot.send_command("checklist", user_id=ADMINS[0], channel_id=elsewhere).status == 200
        wait_until(lambda: len(store_for(settings).open_checklists()) == 2)
        event = {"type": event_type, "channel": CHANNEL, "event_ts": next_ts()}
        if event_type == "channel_archive":
            event["user"] = ADMINS[0]
        assert bot.send_event(event).status == 200
        wait_until(lambda: store_for(settings).get(state.id).closed)
    [still_open] = store_for(settings).open_checklists()
    assert still_open.channel == elsewhere


def start_with_ids(bot, settings: Settings) -> ChecklistState:
    """Start a checklist with a client id and project through the App Home modal."""
    assert bot.send_action(home_modal_submission(CHANNEL)).status == 200
    return the_checklist(settings)


def home_modal_submission(
    channel: str, client_id: str = CLIENT_ID, project: str = PROJECT_ID
) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "user": {"id": ADMINS[0]},
        "team": {"id": "T0FAKE001"},
        "view": {
            "id": "V9",
            "callback_id": START_MODAL,
            "type": "modal",
            "state": {
                "values": {
                    "channel": {"channel": {"selected_conversation": channel}},
                    "client_id": {"client_id": {"value": client_id}},
                    "project": {"project": {"value": project}},
                }
            },
        },
    }


@pytest.mark.parametrize("write", [(JobStore, "schedule"), (ChecklistStore, "create")])
def test_a_checklist_that_cannot_be_stored_leaves_no_message_and_says_so(
    settings, slack, monkeypatch, write
) -> None:
    def disk_full(self, *args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(
        *write, disk_full
    )  # the safety-net job, then the checklist: the writes after the post
    with running_bot(settings) as bot:
        assert bot.send_action(home_modal_submission(CHANNEL)).status == 200
        [told] = slack.wait_for(
            "chat.postMessage", predicate=lambda c: "could not be started" in c.params.get("text", "")
        )
        [deleted] = slack.wait_for("chat.delete")
    [parent] = [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == CHANNEL]
    assert parent.params.get("thread_ts") is None  # the parent was posted, no step after it
    assert deleted.params["channel"] == CHANNEL and told.params["channel"] == f"D{ADMINS[0]}"[:11]
    assert slack.thread(CHANNEL, deleted.params["ts"]) == []  # gone: no buttons naming no checklist
    assert "disk is full" not in told.params["text"]


@pytest.mark.parametrize(
    ("client_id", "project", "field"),
    [(CLIENT_ID, "c4Jhg8Fkl3ZEnn4T", "project"), (f"{CLIENT_ID}:c4Jhg8Fkl3ZEnn4T", PROJECT_ID, "client_id")],
)
def test_a_secret_typed_into_the_home_modal_is_refused_and_never_posted(
    settings, slack, client_id: str, project: str, field: str
) -> None:
    with running_bot(settings) as bot:
        response = bot.send_action(home_modal_submission(CHANNEL, client_id, project))
        bot.drain()
    answer = json.loads(response.body)
    assert answer["response_action"] == "errors" and "rotate it" in answer["errors"][field]
    assert "c4Jhg8Fkl3ZEnn4T" not in json.dumps([c.params for c in slack.calls])
    assert store_for(settings).open_checklists() == []


def test_a_private_channel_without_the_bot_gets_invite_me_not_try_again(settings, slack) -> None:
    private = "G0PRIVATE1"
    with running_bot(settings) as bot:
        slack.fail_next("conversations.members", error="channel_not_found")  # as Slack answers there
        assert bot.send_command("checklist", user_id=ADMINS[0], channel_id=private).status == 200
        [told] = slack.wait_for("response_url", predicate=lambda c: "Invite me" in c.params.get("text", ""))
        bot.drain()
    assert "channel_not_found" in told.params["text"] and "Try again" not in told.params["text"]
    assert store_for(settings).open_checklists() == []


def test_the_home_modal_starts_no_checklist_in_a_channel_the_user_is_not_in(settings, slack) -> None:
    elsewhere = "C0ELSEWHERE"
    slack.members[elsewhere] = [ADMINS[1]]
    with running_bot(settings) as bot:
        assert bot.send_action(home_modal_submission(elsewhere)).status == 200
        [told] = slack.wait_for(
            "chat.postMessage", predicate=lambda c: "You are not in" in c.params.get("text", "")
        )
        bot.drain()
    assert told.params["channel"] == f"D{ADMINS[0]}"[:11]  # a DM: the modal has no channel to answer in
    assert store_for(settings).open_checklists() == []
    assert not [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == elsewhere]


def test_the_background_scheduler_runs_the_recheck_when_the_clock_passes(settings, slack, aps) -> None:
    clock = Clock()
    polling = settings.model_copy(update={"bot_scheduler_poll_seconds": 0.05})
    with running_bot(polling, clock=clock, background=True) as bot:
        state = start_with_ids(bot, polling)
        tick_step(bot, slack, state, "add-integration", ADMINS[1])
        posts = slack.calls_to("chat.postMessage")
        assert not any(c.params.get("text", "").startswith("Automatic re-check") for c in posts)
        clock.now += 600
        slack.wait_for(
            "chat.postMessage", predicate=lambda c: c.params.get("text", "").startswith("Automatic re-check")
        )
        wait_until(lambda: store_for(polling).get(state.id).step_done("test-access"))


def test_a_failed_automatic_recheck_takes_the_scheduled_line_off_the_parent(settings, slack, aps) -> None:
    clock = Clock()
    with running_bot(settings, clock=clock) as bot:
        state = start_with_ids(bot, settings)
        tick_step(bot, slack, state, "add-integration", ADMINS[1])
        updated(
            slack, state.parent_ts, predicate=lambda c: "re-check scheduled" in json.dumps(c.json("blocks"))
        )
        aps.scenario = "integration_missing_403"
        clock.now += 600
        assert Scheduler(bot.runtime.deps).run_due() == 1
        slack.wait_for(
            "chat.postMessage", predicate=lambda c: c.params.get("text", "").startswith("Automatic re-check")
        )
        wait_until(
            lambda: "re-check scheduled" not in json.dumps(updated(slack, state.parent_ts)[-1].json("blocks"))
        )
    assert store_for(settings).get(state.id).ticked_items("test-access") == set()


def test_failed_recheck_posts_the_result_and_ticks_nothing(settings, slack, aps) -> None:
    aps.scenario = "integration_missing_403"
    with running_bot(settings) as bot:
        state = start_with_ids(bot, settings)
        message = step_message(slack, state, "test-access")
        payload = block_action_payload(
            f"{RECHECK}:{state.id}",
            state.id,
            user=ADMINS[2],
            channel=CHANNEL,
            message=message,
            block_id=step_block_id(state.id, "test-access"),
        )
        bot.send_action(payload)
        [result] = slack.wait_for(
            "chat.postMessage",
            predicate=lambda c: c.params.get("text", "").startswith("Re-check requested by"),
        )
        assert result.params["thread_ts"] == state.parent_ts
    assert store_for(settings).get(state.id).ticked_items("test-access") == set()


def test_recheck_now_by_someone_the_app_does_not_allow_is_refused(settings, slack, aps, tmp_path) -> None:
    locked = settings.model_copy(
        update={"aps_apps": [ApsApp(name=APP_NAME, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)]}
    )
    with running_bot(locked) as bot:
        state = start_with_ids(bot, locked)
        message = step_message(slack, state, "test-access")
        payload = block_action_payload(
            f"{RECHECK}:{state.id}",
            state.id,
            user=ADMINS[1],
            channel=CHANNEL,
            message=message,
            block_id=step_block_id(state.id, "test-access"),
        )
        bot.send_action(payload)
        slack.wait_for(
            "chat.postMessage", predicate=lambda c: "may not run live checks" in c.params.get("text", "")
        )
    assert not aps.calls


def test_recheck_by_a_user_group_member_runs_and_the_membership_is_cached(settings, slack, aps) -> None:
    group = "S0CHECKERS"
    app = ApsApp(name=APP_NAME, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, allowed_usergroups=[group])
    grouped = settings.model_copy(update={"aps_apps": [app]})
    slack.usergroups[group] = [ADMINS[1]]
    clock = Clock()
    with running_bot(grouped, clock=clock) as bot:
        state = start_with_ids(bot, grouped)
        for count in (1, 2):
            clock.now += grouped.bot_check_spacing_seconds  # (the cache lives longer than the spacing)
            payload = block_action_payload(
                f"{RECHECK}:{state.id}",
                state.id,
                user=ADMINS[1],
                channel=CHANNEL,
                message=step_message(slack, state, "test-access"),
                block_id=step_block_id(state.id, "test-access"),
            )
            bot.send_action(payload)
            slack.wait_for(
                "chat.postMessage",
                count=count,
                predicate=lambda c: c.params.get("text", "").startswith("Re-check requested by"),
            )
    assert len(slack.calls_to("usergroups.users.list")) == 1  # a minute's cache, as for /aps-check


def test_a_second_recheck_click_right_away_is_refused_until_the_spacing_has_passed(
    settings, slack, aps
) -> None:
    clock = Clock()
    is_recheck = lambda c: c.params.get("text", "").startswith("Re-check requested by")  # noqa: E731

    def click(user: str) -> None:
        payload = block_action_payload(
            f"{RECHECK}:{state.id}",
            state.id,
            user=user,
            channel=CHANNEL,
            message=step_message(slack, state, "test-access"),
            block_id=step_block_id(state.id, "test-access"),
        )
        bot.send_action(payload)

    with running_bot(settings, clock=clock) as bot:
        state = start_with_ids(bot, settings)
        click(ADMINS[1])
        slack.wait_for("chat.postMessage", predicate=is_recheck)
        token_calls = aps.count("/authentication/v2/token")
        clock.now += settings.bot_check_spacing_seconds - 3
        click(ADMINS[0])  # a second admin, seconds later: the thread already shows the result
        [refusal] = slack.wait_for(
            "chat.postEphemeral", predicate=lambda c: "Try again in" in c.params.get("text", "")
        )
        assert (refusal.params["user"], refusal.params["channel"]) == (ADMINS[0], CHANNEL)
        assert "Try again in 3 s" in refusal.params["text"]
        bot.drain()
        assert len([c for c in slack.calls_to("chat.postMessage") if is_recheck(c)]) == 1
        assert aps.count("/authentication/v2/token") == token_calls
        clock.now += 3
        click(ADMINS[0])
        slack.wait_for("chat.postMessage", count=2, predicate=is_recheck)


def test_completion_says_done_with_the_total_time(settings, slack) -> None:
    clock = Clock()
    with running_bot(settings, clock=clock) as bot:
        state = start_by_button(bot, settings)
        for step in state.template.steps:
            clock.now += 1200
            tick_step(bot, slack, state, step.id, ADMINS[1])
        slack.wait_for(
            "chat.postMessage", predicate=lambda c: "Checklist complete" in c.params.get("text", "")
        )
        last_parent = updated(
            slack, state.parent_ts, predicate=lambda c: "Done" in json.dumps(c.json("blocks"))
        )
        assert "1 h 40 min" in json.dumps(last_parent[-1].json("blocks"))
    assert store_for(settings).get(state.id).total_seconds == 5 * 1200


def shows(message: dict[str, Any], ticked: list[str]) -> bool:
    """Whether the step message's checkboxes show exactly `ticked`."""
    boxes = next(e for b in message["blocks"] for e in b.get("elements", []) if e.get("type") == "checkboxes")
    return sorted(o["value"] for o in boxes.get("initial_options", [])) == sorted(ticked)


def test_an_untick_and_retick_after_completion_announces_nothing_twice(settings, slack) -> None:
    is_complete = lambda c: "Checklist complete" in c.params.get("text", "")  # noqa: E731
    with running_bot(settings) as bot:
        state = start_by_button(bot, settings)
        for step in state.template.steps:
            tick_step(bot, slack, state, step.id, ADMINS[1])
        slack.wait_for("chat.postMessage", predicate=is_complete)
        items = [item.id for item in state.step("test-access").items]
        message = step_message(slack, state, "test-access")
        bot.send_action(tick_payload(state, "test-access", ADMINS[0], items[1:], message))
        wait_until(lambda: not store_for(settings).get(state.id).done)
        # the re-tick is clicked on the message as the untick left it (stored first, then re-rendered)
        message = wait_until(
            lambda: (m := step_message(slack, state, "test-access")) and shows(m, items[1:]) and m
        )
        bot.send_action(tick_payload(state, "test-access", ADMINS[0], items, message))
        wait_until(lambda: store_for(settings).get(state.id).done)
        bot.drain()
        parent = updated(slack, state.parent_ts)[-1]
    assert len([c for c in slack.calls_to("chat.postMessage") if is_complete(c)]) == 1
    assert "Done" in json.dumps(parent.json("blocks"))


def test_a_stale_checklist_gets_exactly_one_reminder(settings, slack) -> None:
    clock = Clock()
    with running_bot(settings, clock=clock) as bot:
        state = start_by_button(bot, settings)
        started = clock.now
        scheduler = Scheduler(bot.runtime.deps)
        scheduler.run_due(started + 7 * DAY - 1)
        scheduler.run_due(started + 7 * DAY)
        scheduler.run_due(started + 8 * DAY)
        Scheduler(bot.runtime.deps).run_due(started + 30 * DAY)  # a second instance
        reminders = slack.wait_for(
            "chat.postMessage", predicate=lambda c: "No activity" in c.params.get("text", "")
        )
        assert len(reminders) == 1 and reminders[0].params["thread_ts"] == state.parent_ts


# --- rejected clicks -----------------------------------------------------------------------------------


def test_forged_and_foreign_clicks_change_nothing(settings, slack) -> None:
    with running_bot(settings) as bot:
        state = start_by_button(bot, settings)
        message = step_message(slack, state, "create-app")
        before = store_for(settings).get(state.id)
        unknown = tick_payload(state, "create-app", ADMINS[1], ["create-app-1"], message)
        unknown["actions"][0]["action_id"] = action_id(TICK, "f" * 16, "create-app")
        unknown["actions"][0]["block_id"] = step_block_id("f" * 16, "create-app")
        forged = {
            "unknown checklist": unknown,
            "item of another step": tick_payload(state, "create-app", ADMINS[1], ["test-access-1"], message),
            "outsider": tick_payload(state, "create-app", OUTSIDER, ["create-app-1"], message),
            "other channel": tick_payload(
                state, "create-app", ADMINS[1], ["create-app-1"], message, channel="C0OTHER1"
            ),
        }
        for n, (name, payload) in enumerate(forged.items(), start=1):
            assert bot.send_action(payload).status == 200, name
            slack.wait_for("chat.postEphemeral", count=n)
            assert store_for(settings).get(state.id) == before, name
        assert not slack.calls_to("chat.update")
        bad_signature = bot.post_raw(
            "/slack/events",
            b"payload=%7B%7D",
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Signature": "v0=00",
                "X-Slack-Request-Timestamp": str(int(time.time())),
            },
        )
        assert bad_signature.status == 401
    assert store_for(settings).get(state.id) == before


def test_the_shipped_checklist_runs_as_a_thread(tmp_path, slack) -> None:
    shipped = make_settings(tmp_path, slack)  # the knowledge/ folder of the checkout
    with running_bot(shipped) as bot:
        state = start_by_button(bot, shipped)
        step = state.template.steps[2]
        assert step.id == "add-integration"
        message = step_message(slack, state, step.id)
        bot.send_action(tick_payload(state, step.id, ADMINS[1], [step.items[0].id], message))
        wait_until(lambda: store_for(shipped).get(state.id).ticked(step.id, step.items[0].id))
        parent = updated(slack, state.parent_ts)[-1]
    total = sum(len(s.items) for s in state.template.steps)
    assert f"0/5 steps · 1/{total} items" in json.dumps(parent.json("blocks"), ensure_ascii=False)


def test_a_recheck_that_cannot_be_stored_leaves_the_tick_unstored(settings, slack, monkeypatch) -> None:
    """The re-check is written in the tick's own transaction: no done Custom Integrations step without it
    (a crash between two transactions used to lose the re-check for good)."""

    def disk_full(*args: Any, **kwargs: Any) -> int:
        raise sqlite3.OperationalError("database or disk is full")

    with running_bot(settings) as bot:
        state = start_with_ids(bot, settings)
        monkeypatch.setattr(JobStore, "schedule_in", disk_full)
        items = [item.id for item in state.step("add-integration").items]
        message = step_message(slack, state, "add-integration")
        bot.send_action(tick_payload(state, "add-integration", ADMINS[1], items, message))
        bot.drain()
    assert not store_for(settings).get(state.id).step_done("add-integration")


def test_a_recheck_job_for_a_reopened_step_does_nothing(settings, slack, aps) -> None:
    """Two admins' clicks (one ticking the last item, one unticking another) may store their consequences in
    either order; the job itself checks the step is still done."""
    clock = Clock()
    with running_bot(settings, clock=clock) as bot:
        state = start_with_ids(bot, settings)
        JobStore(Database(settings.bot_db_path)).schedule(
            RECHECK_JOB, clock.now, {"checklist": state.id}, key=f"recheck:{state.id}"
        )
        assert Scheduler(bot.runtime.deps).run_due() == 1
        bot.drain()
    assert not [c for c in slack.calls_to("chat.postMessage") if "re-check" in c.params.get("text", "")]
    assert aps.calls == []


def test_a_click_that_finishes_the_checklist_promises_no_recheck(settings, slack, aps) -> None:
    clock = Clock()
    with running_bot(settings, clock=clock) as bot:
        state = start_with_ids(bot, settings)
        for step in ("create-app", "admin-rights", "project-access", "test-access", "add-integration"):
            tick_step(bot, slack, state, step, ADMINS[1])
        bot.drain()
        texts = [c.params.get("text", "") for c in slack.calls_to("chat.postMessage")]
        assert JobStore(Database(settings.bot_db_path)).by_key(f"recheck:{state.id}") == []
    assert not [t for t in texts if "re-run the live check" in t]
    assert [t for t in texts if "Checklist complete" in t]


def test_a_dropped_connection_on_chat_update_loses_no_notice(settings, slack) -> None:
    with running_bot(settings) as bot:
        state = start_by_button(bot, settings)
        bot.drain()

        def reset(params: dict[str, Any]) -> dict[str, Any]:
            raise ConnectionResetError("connection reset by Slack's edge")

        slack.set_response("chat.update", reset)
        bot.send_action(assign_payload(slack, state, "add-integration", ADMINS[0], ADMINS[2]))
        wait_until(lambda: "add-integration" in store_for(settings).get(state.id).assignments)
        bot.drain()
    dm_channel = f"D{ADMINS[2]}"[:11]
    assert [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == dm_channel]


def test_an_app_given_by_name_is_stored_by_its_client_id(settings, slack) -> None:
    """The Custom Integrations step tells admins to paste the client id: never the app's name."""
    named = settings.model_copy(
        update={
            "aps_apps": [
                ApsApp(
                    name="acc-sync",
                    client_id=CLIENT_ID,
                    client_secret=CLIENT_SECRET,
                    allowed_channels=[CHANNEL],
                )
            ]
        }
    )
    with running_bot(named) as bot:
        bot.send_command(f"checklist acc-sync b.{PROJECT_ID}", user_id=ADMINS[0], channel_id=CHANNEL)
        state = the_checklist(named)
        text = json.dumps(step_message(slack, state, "add-integration")["blocks"])
    assert state.client_id == CLIENT_ID and CLIENT_ID in text and "acc-sync" not in text


def shown_ticked(slack: FakeSlackApi, state: ChecklistState, step_id: str) -> set[str] | None:
    """The items a step's message shows ticked, as Slack keeps it (chat.updates that failed not applied)."""
    message = next(
        m for m in slack.thread(state.channel, state.parent_ts) if m["ts"] == state.step_ts[step_id]
    )
    return selected_in_message(message, step_block_id(state.id, step_id), action_id(TICK, state.id, step_id))


def test_a_tick_whose_update_slack_failed_reaches_the_thread_a_minute_later(settings, slack, aps) -> None:
    """Slack answers 503 to the step's chat.update: the tick is stored, and the scheduler shows it."""
    clock = Clock()
    with running_bot(settings, clock=clock) as bot:
        state = start_with_ids(bot, settings)
        step_id = "create-app"
        first = state.step(step_id).items[0].id
        slack.fail_next("chat.update", status=503)
        before = len(slack.calls_to("chat.update"))
        bot.send_action(tick_payload(state, step_id, ADMINS[1], [first], step_message(slack, state, step_id)))
        slack.wait_for("chat.update", count=before + 2)  # the step's (refused) and the parent's
        assert store_for(settings).get(state.id).ticked_items(step_id) == {first}
        assert shown_ticked(slack, state, step_id) == set()
        clock.now += 60
        Scheduler(bot.runtime.deps).run_due()
        assert shown_ticked(slack, state, step_id) == {first}


def test_a_click_in_a_channel_the_bot_was_removed_from_is_answered(settings, slack) -> None:
    """The bot was removed from the (private) channel: Slack hides the channel from it, so the click cannot be
    checked or stored. The clicker, whose checkbox moved, hears why through the click's response_url."""
    with running_bot(settings) as bot:
        state = start_by_button(bot, settings)
        message = step_message(slack, state, "create-app")
        slack.fail_next("conversations.members", error="channel_not_found")
        slack.fail_next("chat.postEphemeral", error="channel_not_found")
        bot.send_action(tick_payload(state, "create-app", ADMINS[1], ["create-app-1"], message))
        [told] = slack.wait_for("response_url")
        assert "Invite me back" in told.params["text"] and told.params["response_type"] == "ephemeral"
        bot.drain()
    assert store_for(settings).get(state.id).ticked("create-app", "create-app-1") is None

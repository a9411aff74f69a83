"""The whole story over signed HTTP: paste → threaded reply → "Not it" → feedback stored → `aps-bot stats`."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from bot.cli import main
from bot.diagnosis.result import Diagnosis
from bot.settings import Settings
from bot.store.db import Database
from bot.store.feedback import FeedbackStore
from tests.fakes.bolt_server import CHANNEL, HUMAN, BotServer, block_action_payload, message_event
from tests.fakes.polling import wait_until
from tests.fakes.slack_api import FakeSlackApi


def button(message: dict, action_id: str) -> dict:
    return next(
        e
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    )


def test_paste_reply_not_it_feedback_stats(
    bot: BotServer,
    slack: FakeSlackApi,
    settings: Settings,
    aps_paste: tuple[str, Diagnosis],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paste, expected = aps_paste
    cause = expected.best.id
    event = message_event(paste)
    bot.send_event(event)
    [reply] = slack.wait_for_thread(CHANNEL, event["ts"])
    assert reply["thread_ts"] == event["ts"]

    not_it = button(reply, "diagnosis_not_it")
    assert json.loads(not_it["value"])["cause"] == cause
    response = bot.send_action(block_action_payload("diagnosis_not_it", not_it["value"], message=reply))
    assert response.status == 200
    [update] = slack.wait_for("chat.update")
    assert update.params["ts"] == reply["ts"] and update.params["channel"] == CHANNEL
    updated = json.dumps(update.json("blocks"))
    assert f"Thanks <@{HUMAN}>" in updated
    assert "diagnosis_fixed" in updated  # others can still vote
    store = FeedbackStore(bot.runtime.deps.db)
    assert store.helpfulness()["by_cause"] == {cause: {"helpful": 0, "not_helpful": 1}}

    def updated_reply() -> dict | None:
        [reply] = slack.thread(CHANNEL, event["ts"])
        return reply if f"Thanks <@{HUMAN}>" in json.dumps(reply["blocks"]) else None

    reply = wait_until(updated_reply)  # as updated (the fake stores the update after recording the call)
    fixed = button(reply, "diagnosis_fixed")
    bot.send_action(block_action_payload("diagnosis_fixed", fixed["value"], message=reply))
    [already] = slack.wait_for("chat.postEphemeral")
    assert already.params["user"] == HUMAN and "already" in already.params["text"]
    bot.send_action(block_action_payload("diagnosis_fixed", fixed["value"], message=reply, user="U0SECOND1"))
    slack.wait_for("chat.update", count=2)
    assert store.helpfulness()["by_cause"] == {cause: {"helpful": 1, "not_helpful": 1}}

    bot.drain()  # the reply's diagnosis is counted once Slack has answered its post, which the clicks need not wait for
    monkeypatch.setenv("BOT_DB_PATH", str(settings.bot_db_path))
    monkeypatch.setenv("BOT_KB_DIR", str(settings.bot_kb_dir))
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert f"1  {cause}" in out
    assert expected.best.title in out
    assert "1 of 2 votes" in out and "50%" in out
    assert main(["stats", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["top_causes"] == [{"cause": cause, "count": 1}]
    assert data["helpfulness"]["rate"] == 0.5


def test_feedback_click_with_a_forged_value_changes_nothing(bot: BotServer, slack: FakeSlackApi) -> None:
    bot.send_action(block_action_payload("diagnosis_fixed", "not json"))
    bot.drain()
    assert slack.calls_to("chat.update") == []
    assert FeedbackStore(bot.runtime.deps.db).helpfulness()["votes"] == 0


def test_two_votes_at_once_leave_the_reply_showing_both(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """chat.update has no version check: the first voter's update, slow to land, must not leave the reply
    showing one vote when two are stored."""
    event = message_event(aps_paste[0])
    bot.send_event(event)
    [reply] = slack.wait_for_thread(CHANNEL, event["ts"])
    value = button(reply, "diagnosis_fixed")["value"]
    second_landed = threading.Event()

    def update(params: dict) -> dict:
        if slack.calls_to("chat.update")[0].params is not params:
            answer = slack._m_chat_update(params)
            second_landed.set()
            return answer
        second_landed.wait(timeout=10)  # the first update lands after the second one
        return slack._m_chat_update(params)

    slack.set_response("chat.update", update)
    bot.send_action(block_action_payload("diagnosis_fixed", value, message=reply))
    slack.wait_for("chat.update")
    bot.send_action(block_action_payload("diagnosis_fixed", value, message=reply, user="U0SECOND1"))
    assert second_landed.wait(timeout=10)
    bot.drain()
    assert FeedbackStore(bot.runtime.deps.db).votes_on(CHANNEL, event["ts"], aps_paste[1].best.id) == (2, 0)
    [reply] = slack.thread(CHANNEL, event["ts"])
    assert ":white_check_mark: 2 · :x: 0" in json.dumps(reply["blocks"], ensure_ascii=False)


def test_stats_days_window_also_bounds_the_helpfulness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`aps-bot stats --days 7` is about the last week: a year-old "Not it" is not part of its rate."""
    path = tmp_path / "stats.sqlite3"
    store = FeedbackStore(Database(path))
    now, year_ago = time.time(), time.time() - 365 * 86_400
    store.record_diagnosis(CHANNEL, "1.000001", "missing-scope", year_ago)
    store.record_vote(CHANNEL, "1.000001", HUMAN, "missing-scope", False, year_ago)
    store.record_diagnosis(CHANNEL, "2.000002", "rate-limited", now)
    store.record_vote(CHANNEL, "2.000002", HUMAN, "rate-limited", True, now)
    monkeypatch.setenv("BOT_DB_PATH", str(path))
    assert main(["stats", "--days", "7", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["top_causes"] == [{"cause": "rate-limited", "count": 1}]
    assert data["helpfulness"]["votes"] == 1 and data["helpfulness"]["rate"] == 1.0
    assert data["helpfulness"]["by_cause"] == {"rate-limited": {"helpful": 1, "not_helpful": 0}}
    assert main(["stats", "--days", "7"]) == 0
    out = capsys.readouterr().out
    assert "1 of 1 votes" in out and "missing-scope" not in out


def test_a_second_vote_by_someone_outside_the_channel_is_still_answered(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """Anyone can read (and click in) a public channel without joining it; Slack refuses an ephemeral
    message to a non-member (`user_not_in_channel`), so "you already voted" goes by the click's response_url."""
    event = message_event(aps_paste[0])
    bot.send_event(event)
    [reply] = slack.wait_for_thread(CHANNEL, event["ts"])
    value = button(reply, "diagnosis_fixed")["value"]
    visitor = "U0VISITOR"
    bot.send_action(block_action_payload("diagnosis_fixed", value, message=reply, user=visitor))
    slack.wait_for("chat.update")
    slack.fail_next("chat.postEphemeral", error="user_not_in_channel")
    bot.send_action(block_action_payload("diagnosis_not_it", value, message=reply, user=visitor))
    [told] = slack.wait_for("response_url")
    assert "already" in told.params["text"] and told.params["response_type"] == "ephemeral"
    assert told.params.get("replace_original") in (False, "false")
    assert FeedbackStore(bot.runtime.deps.db).helpfulness()["votes"] == 1


def test_a_vote_in_a_channel_the_bot_was_removed_from_is_still_answered(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """Once the bot is removed from a private channel, Slack hides it: the reply cannot show the tally and no
    ephemeral message gets through. The vote is stored, and the voter hears so through the click's
    response_url instead of a button that seems to do nothing."""
    event = message_event(aps_paste[0])
    bot.send_event(event)
    [reply] = slack.wait_for_thread(CHANNEL, event["ts"])
    value = button(reply, "diagnosis_fixed")["value"]
    slack.fail_next("chat.update", error="channel_not_found")
    bot.send_action(block_action_payload("diagnosis_fixed", value, message=reply))
    [counted] = slack.wait_for("response_url")
    slack.fail_next("chat.postEphemeral", error="channel_not_found")
    bot.send_action(block_action_payload("diagnosis_not_it", value, message=reply))
    [_, already] = slack.wait_for("response_url", count=2)
    bot.drain()
    assert "counted" in counted.params["text"] and counted.params["response_type"] == "ephemeral"
    assert "already" in already.params["text"]
    assert all(c.params.get("replace_original") in (False, "false") for c in (counted, already))
    assert FeedbackStore(bot.runtime.deps.db).helpfulness()["by_cause"] == {
        aps_paste[1].best.id: {"helpful": 1, "not_helpful": 0}
    }

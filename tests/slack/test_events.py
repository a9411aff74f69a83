"""Events over signed HTTP against the real app, with the fake Slack Web API behind it."""

from __future__ import annotations

import http.client
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import pytest

from bot.diagnosis.result import Diagnosis
from bot.knowledge import KnowledgeBase
from bot.server import MAX_BODY_BYTES
from bot.settings import Settings
from bot.slack.listeners import messages
from bot.slack.replies import REPLY_JOB
from bot.store import inbox
from bot.store.dedupe import DedupeStore, event_key, message_key
from bot.store.jobs import JobStore
from bot.worker import LEASE_SECONDS, ReplyWorker
from tests.fakes.bolt_server import (
    BOT_TOKEN,
    CHANNEL,
    HUMAN,
    BotServer,
    make_settings,
    mention_event,
    message_event,
    message_shortcut_payload,
    next_ts,
    running_bot,
    sign,
)
from tests.fakes.clock import Clock
from tests.fakes.polling import wait_until
from tests.fakes.slack_api import BOT_ID, BOT_USER_ID, FakeSlackApi


def block_texts(blocks: list[dict]) -> str:
    parts = []
    for block in blocks:
        if "text" in block:
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            parts.append(element["text"] if isinstance(element.get("text"), str) else "")
            if isinstance(element.get("text"), dict):
                parts.append(element["text"]["text"])
    return "\n".join(parts)


def step_title(kb: KnowledgeBase, step_id: str) -> str:
    step = kb.checklist.step(step_id)
    assert step is not None
    return step.title


def test_passive_paste_gets_one_threaded_diagnosis(
    bot: BotServer, slack: FakeSlackApi, kb: KnowledgeBase, aps_paste: tuple[str, Diagnosis]
) -> None:
    paste, expected = aps_paste
    event = message_event(paste)
    assert bot.send_event(event).status == 200
    [post] = slack.wait_for("chat.postMessage")
    assert post.params["channel"] == CHANNEL
    assert post.params["thread_ts"] == event["ts"]
    blocks = post.json("blocks")
    text = block_texts(blocks)
    best = expected.best
    assert best.title in text
    assert step_title(kb, best.checklist_step) in text
    assert f"{best.score}/100" in text
    runner_ups = expected.causes[1:3]
    for cause in runner_ups:
        assert cause.title in text
    for cause in expected.causes[3:]:
        assert cause.title not in text
    assert ("Other possible causes" in text) == bool(runner_ups)
    action_ids = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert action_ids == ["diagnosis_fixed", "diagnosis_not_it", "start_checklist", "run_live_check"]
    values = {e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]}
    assert [json.loads(v) for v in values] == [{"cause": best.id, "channel": CHANNEL, "ts": event["ts"]}]


def test_the_first_event_after_a_start_is_answered_when_slack_hiccups(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """The ack needs no Web API call: Bolt used to call auth.test on the first request, and when that failed
    it answered with its "reinstall this app" text and dropped the event."""
    slack.fail_next("auth.test", status=500)
    event = message_event(aps_paste[0])
    response = bot.send_event(event)
    assert response.status == 200 and response.body == b"", response.body
    slack.wait_for_thread(CHANNEL, event["ts"])
    assert len(slack.calls_to("auth.test")) == 1  # the one of build()


def test_chatter_gets_nothing(bot: BotServer, slack: FakeSlackApi, not_aps: str) -> None:
    event = message_event(not_aps)
    assert bot.send_event(event).status == 200
    bot.drain()
    assert slack.calls_to("chat.postMessage") == []
    assert DedupeStore(bot.runtime.deps.db).state(message_key(CHANNEL, event["ts"])) == "done"
    # its reply job is gone once handled: nothing of the message stays on disk but its keys
    assert bot.runtime.deps.db.connection().execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


def test_passive_threshold_is_the_setting(
    tmp_path, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    paste, expected = aps_paste
    score = expected.best.score
    if score < 100:
        settings = make_settings(tmp_path / "above", slack, bot_passive_min_score=score + 1)
        with running_bot(settings) as bot:
            bot.send_event(message_event(paste))
            bot.drain()
        assert slack.calls_to("chat.postMessage") == []
    settings = make_settings(tmp_path / "at", slack, bot_passive_min_score=score)
    with running_bot(settings) as bot:
        bot.send_event(message_event(paste))
        slack.wait_for("chat.postMessage")


def test_mention_of_chatter_answers_unrecognised_with_checklist_and_hint(
    bot: BotServer, slack: FakeSlackApi, kb: KnowledgeBase, not_aps: str
) -> None:
    event = mention_event(not_aps)
    bot.send_event(event)
    [post] = slack.wait_for("chat.postMessage")
    text = block_texts(post.json("blocks"))
    assert post.params["thread_ts"] == event["ts"]
    assert "I don't recognise this" in text
    assert all(step.title in text for step in kb.checklist.steps)
    assert "/aps-check" in text


def test_dm_of_chatter_is_answered(bot: BotServer, slack: FakeSlackApi, not_aps: str) -> None:
    bot.send_event(message_event(not_aps, channel="D0DIRECT1", channel_type="im"))
    [post] = slack.wait_for("chat.postMessage")
    assert post.params["channel"] == "D0DIRECT1"
    assert "I don't recognise this" in post.params["text"]


def test_mention_in_thread_diagnoses_the_parent(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    paste, expected = aps_paste
    parent_ts = next_ts()
    slack.add_message(
        CHANNEL, parent_ts, paste.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    )
    event = mention_event("what does this mean?", thread_ts=parent_ts)
    bot.send_event(event)
    [post] = slack.wait_for("chat.postMessage")
    [replies] = slack.calls_to("conversations.replies")
    assert replies.params["ts"] == parent_ts
    assert post.params["thread_ts"] == parent_ts
    assert expected.best.title in block_texts(post.json("blocks"))


@pytest.mark.parametrize("error", ["thread_not_found", "missing_scope"])
def test_mention_in_a_thread_whose_parent_slack_withholds_answers_the_mention(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], error: str
) -> None:
    paste, expected = aps_paste
    slack.fail_next("conversations.replies", error=error)
    parent_ts = next_ts()
    bot.send_event(mention_event(paste, thread_ts=parent_ts))
    [post] = slack.wait_for("chat.postMessage")
    assert post.params["thread_ts"] == parent_ts
    assert expected.best.title in block_texts(post.json("blocks"))


def test_message_shortcut_replies_in_that_messages_thread(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    paste, expected = aps_paste
    message = {"type": "message", "user": "U0OTHER01", "text": paste, "ts": next_ts()}
    response = bot.send_shortcut(message_shortcut_payload(message))
    assert response.status == 200
    [post] = slack.wait_for("chat.postMessage")
    assert post.params["thread_ts"] == message["ts"]
    assert expected.best.title in block_texts(post.json("blocks"))


@pytest.mark.parametrize("kind", ["forwarded message", "integration alert"])
def test_shortcut_reads_the_error_held_in_a_messages_attachments(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], kind: str
) -> None:
    """A forwarded message carries the original in `attachments`; an alert posted by another integration
    often has its whole text there, and nothing in `text`."""
    paste, expected = aps_paste
    escaped = paste.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if kind == "forwarded message":
        attachment = {"is_share": True, "is_msg_unfurl": True, "text": escaped, "fallback": "[forwarded]"}
        message = {"type": "message", "user": "U0OTHER01", "text": "", "ts": next_ts()}
    else:
        attachment = {
            "color": "danger",
            "title": "Nightly model sync failed",
            "fields": [{"title": "Response", "value": escaped, "short": False}],
            "fallback": "Nightly model sync failed",
        }
        message = {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": "B0CIALERT",
            "text": "",
            "ts": next_ts(),
        }
    bot.send_shortcut(message_shortcut_payload({**message, "attachments": [attachment]}))
    [post] = slack.wait_for("chat.postMessage")
    assert post.params["thread_ts"] == message["ts"]
    assert expected.best.title in block_texts(post.json("blocks"))


def test_shortcut_does_not_diagnose_a_linked_web_pages_preview(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], not_aps: str
) -> None:
    """Only a forwarded or linked Slack message counts as part of the message: the preview Slack adds for a
    web page the message links to (a forum thread quoting some other error) is not what was asked about."""
    page = {
        "from_url": "https://forums.example.com/t/403-on-hubs",
        "original_url": "https://forums.example.com/t/403-on-hubs",
        "service_name": "forums",
        "title": "403 on hubs",
        "text": aps_paste[0],
    }
    message = {
        "type": "message",
        "user": "U0OTHER01",
        "text": not_aps,
        "ts": next_ts(),
        "attachments": [page],
    }
    bot.send_shortcut(message_shortcut_payload(message))
    [post] = slack.wait_for("chat.postMessage")
    assert "recognise" in post.params["text"]


def test_shortcut_on_the_bots_own_answer_posts_no_second_answer(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """Run on the bot's reply, the shortcut would diagnose the bot's own words and answer itself in the
    thread, for everyone to see: the user is told, privately, to run it on the error instead."""
    event = message_event(aps_paste[0])
    bot.send_event(event)
    [reply] = [m for m in slack.wait_for_thread(CHANNEL, event["ts"]) if m["ts"] != event["ts"]]
    bot.send_shortcut(message_shortcut_payload(reply))
    [told] = slack.wait_for("response_url")
    bot.drain()
    assert told.params["response_type"] == "ephemeral" and "own answer" in told.params["text"]
    assert len(slack.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize(
    ("channel", "error"), [("D0PEERDM1", "channel_not_found"), ("C0NOBOT01", "not_in_channel")]
)
def test_shortcut_where_the_bot_cannot_post_answers_the_user_privately(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], channel: str, error: str
) -> None:
    """A direct message between two people cannot take the bot at all (adding someone makes a new
    conversation), and a channel it is not in should not leave the user empty-handed: the diagnosis comes
    back to them alone, without buttons that need the bot in the conversation."""
    paste, expected = aps_paste
    slack.fail_next("chat.postMessage", error=error)
    message = {"type": "message", "user": "U0OTHER01", "text": paste, "ts": next_ts()}
    bot.send_shortcut(message_shortcut_payload(message, channel=channel))
    [answer] = slack.wait_for("response_url")
    assert answer.params["response_type"] == "ephemeral"
    blocks = answer.json("blocks")
    assert expected.best.title in block_texts(blocks)
    assert all(block.get("type") != "actions" for block in blocks)
    assert ("/invite" in json.dumps(answer.params)) is channel.startswith("C")


@pytest.mark.parametrize(
    "error", ["restricted_action_read_only_channel", "restricted_action_non_threadable_channel"]
)
def test_shortcut_in_a_channel_that_lets_no_app_post_answers_the_user_privately(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], error: str
) -> None:
    """An announcement channel (only admins post) or one with threads turned off refuses the bot's threaded
    answer for good: "try the shortcut again" would fail the same way, so the diagnosis goes to the user."""
    paste, expected = aps_paste
    slack.fail_next("chat.postMessage", error=error)
    message = {"type": "message", "user": "U0OTHER01", "text": paste, "ts": next_ts()}
    bot.send_shortcut(message_shortcut_payload(message))
    [answer] = slack.wait_for("response_url")
    bot.drain()
    assert answer.params["response_type"] == "ephemeral"
    blocks = answer.json("blocks")
    assert expected.best.title in block_texts(blocks)
    assert all(block.get("type") != "actions" for block in blocks)
    assert "does not let me post" in block_texts(blocks) and "/invite" not in json.dumps(answer.params)
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_shortcut_in_a_channel_without_threads_still_warns_the_poster_of_a_secret(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """The threaded answer is refused, the diagnosis goes to the shortcut's user privately, and the poster of
    the token is still told to rotate it (an ephemeral outside a thread is no threaded post)."""
    slack.fail_next("chat.postMessage", error="restricted_action_non_threadable_channel")
    paste = f"{aps_paste[0]}\nAuthorization: Bearer {LEAKED_TOKEN}"
    message = {"type": "message", "user": HUMAN, "text": paste, "ts": next_ts()}
    bot.send_shortcut(message_shortcut_payload(message, user="U0OTHER01"))
    slack.wait_for("response_url")
    [warning] = slack.wait_for("chat.postEphemeral")
    bot.drain()
    assert warning.params["user"] == HUMAN and "rotate" in warning.params["text"]
    assert LEAKED_TOKEN not in warning.params["text"]


def test_a_shortcut_answer_slack_fails_to_take_is_retried_by_the_worker(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    paste, expected = aps_paste
    slack.fail_next("chat.postMessage", status=500)
    message = {"type": "message", "user": "U0OTHER01", "text": paste, "ts": next_ts()}
    bot.send_shortcut(message_shortcut_payload(message))
    slack.wait_for("chat.postMessage", count=2)  # the failed post, then the worker's
    bot.drain()
    [reply] = [m for m in slack.thread(CHANNEL, message["ts"]) if m["ts"] != message["ts"]]
    assert expected.best.title in block_texts(reply["blocks"])
    assert slack.calls_to("response_url") == []


def test_a_shortcut_answer_slack_took_before_failing_is_not_posted_again(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """A 5xx or a timeout can come after Slack stored the post: the worker that retries the answer reads the
    thread first and finds it there."""
    paste, expected = aps_paste
    slack.fail_next("chat.postMessage", status=500, taken=True)
    message = {"type": "message", "user": "U0OTHER01", "text": paste, "ts": next_ts()}
    slack.add_message(CHANNEL, message["ts"], paste, user="U0OTHER01")
    bot.send_shortcut(message_shortcut_payload(message))
    slack.wait_for("conversations.replies")  # the worker looked before answering
    bot.drain()
    [reply] = [m for m in slack.thread(CHANNEL, message["ts"]) if m["ts"] != message["ts"]]
    assert expected.best.title in block_texts(reply["blocks"])
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_a_shortcut_answer_slack_refuses_for_good_tells_the_user(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    slack.fail_next("chat.postMessage", error="is_archived")
    message = {"type": "message", "user": "U0OTHER01", "text": aps_paste[0], "ts": next_ts()}
    bot.send_shortcut(message_shortcut_payload(message))
    [answer] = slack.wait_for("response_url")
    assert "could not answer (is_archived)" in answer.params["text"]
    bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1  # nothing queued to retry


@pytest.mark.parametrize(
    ("case", "timestamp", "signature"),
    [
        ("bad signature", None, "v0=" + "0" * 64),
        ("stale timestamp", int(time.time()) - 6 * 60, None),
        ("no signature", None, ""),
    ],
)
def test_unsigned_or_stale_requests_get_401_and_do_nothing(
    bot: BotServer,
    slack: FakeSlackApi,
    aps_paste: tuple[str, Diagnosis],
    case: str,
    timestamp: int | None,
    signature: str | None,
) -> None:
    event = message_event(aps_paste[0])
    body = bot.event_body(event, "EvFORGED01")
    headers = {"Content-Type": "application/json", **sign(bot.secret, body, timestamp)}
    if signature is not None:
        headers["X-Slack-Signature"] = signature
    assert bot.post_raw("/slack/events", body, headers).status == 401, case
    bot.drain()
    assert [c.method for c in slack.calls] == ["auth.test"]
    assert DedupeStore(bot.runtime.deps.db).state(event_key("EvFORGED01")) is None


def test_an_oversized_body_is_refused_before_it_is_read_and_a_full_slack_message_is_not(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """Bolt parses a body before it checks the signature: an unsigned 1 GiB body must not get that far.
    Slack's largest message (40,000 characters, here 3 bytes each, with its text repeated in its blocks)
    must."""
    padded = aps_paste[0] + "\n" + "错" * (40_000 - len(aps_paste[0]) - 1)
    event = message_event(
        padded,
        blocks=[
            {
                "type": "rich_text",
                "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": padded}]}],
            }
        ],
    )
    assert len(bot.event_body(event, "EvLARGE001")) > 200_000
    assert bot.send_event(event, event_id="EvLARGE001").status == 200
    slack.wait_for("chat.postMessage")
    # Announce the oversized body and send none of it: the server answers from the headers alone (sending
    # it all would race the server closing the connection after its answer).
    parsed = urlparse(bot.url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    try:
        conn.putrequest("POST", "/slack/events")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
        conn.endheaders()
        assert conn.getresponse().status == 413
    finally:
        conn.close()


def test_retried_delivery_gets_one_reply(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    event = message_event(aps_paste[0])
    assert bot.send_event(event, event_id="EvRETRY001").status == 200
    for retry in (1, 2, 3):
        assert bot.send_event(event, event_id="EvRETRY001", retry_num=retry).status == 200
    slack.wait_for("chat.postMessage")
    bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_a_delivery_that_cannot_be_stored_is_not_acked_and_slacks_retry_is_answered_once(
    settings: Settings, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acked means stored: while another writer holds the database the delivery gets a 503, so Slack keeps
    it and sends it again, instead of a 200 for a reply that lives only in this process's memory."""
    monkeypatch.setattr(messages, "STORE_WAIT_SECONDS", 0.5)  # shorter than the 2 s that Slack's 3 s allow
    event = message_event(aps_paste[0])
    with running_bot(settings) as bot:
        holder = sqlite3.connect(settings.bot_db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            assert bot.send_event(event, event_id="EvLOCKED01").status == 503
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert bot.runtime.deps.inbox.flush(timeout=10)  # stored after all (a retry sooner may get a 503 too)
        assert bot.send_event(event, event_id="EvLOCKED01", retry_num=1).status == 200
        slack.wait_for("chat.postMessage")
        bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_deliveries_waiting_on_a_stalled_database_leave_server_threads_for_slash_commands(
    settings: Settings, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each delivery holds a server thread until it is stored: while the database is locked, a burst of
    messages took all 16 and a slash command's ack waited behind them, past Slack's 3 s. Once the inbox is
    stalled, new deliveries are answered 503 at once and the command is acked while the first still waits."""
    monkeypatch.setattr(messages, "STORE_WAIT_SECONDS", 5.0)  # the first delivery outlives the command's ack
    monkeypatch.setattr(messages, "STALLED_AFTER_SECONDS", 0.0)
    with running_bot(settings) as bot:
        holder = sqlite3.connect(settings.bot_db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        first: list[int] = []
        waiting = threading.Thread(target=lambda: first.append(bot.send_event(message_event("hi")).status))
        try:
            waiting.start()
            wait_until(lambda: not bot.runtime.deps.inbox.flush(timeout=0))  # queued, its batch stuck
            burst: list[int] = []
            senders = [
                threading.Thread(
                    target=lambda: burst.append(bot.send_event(message_event(aps_paste[0])).status)
                )
                for _ in range(16)
            ]
            for sender in senders:
                sender.start()
            command = bot.send_command("", user_id=HUMAN, channel_id=CHANNEL)
            assert command.status == 200 and not first, "the command waited for a thread"
            for sender in senders:
                sender.join(timeout=30)
            assert burst == [503] * 16  # Slack sends them again
        finally:
            holder.execute("ROLLBACK")
            holder.close()
            waiting.join(timeout=30)
        assert first == [200]  # stored once the database was free, within its wait


def test_a_delivery_the_intake_fails_on_is_logged_once_and_acked(
    bot: BotServer, slack: FakeSlackApi, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in the intake is no reason for Slack to send the event three more times (each failing alike)."""

    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise ValueError("a bug")

    monkeypatch.setattr(messages, "reply_job", broken)
    with caplog.at_level(logging.ERROR, logger=messages.__name__):
        assert bot.send_event(message_event("anything"), event_id="EvBROKEN01").status == 200
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [ValueError]


@pytest.mark.parametrize("mention_first", [True, False])
def test_app_mention_and_message_of_one_ts_get_one_reply(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], mention_first: bool
) -> None:
    ts = next_ts()
    mention = mention_event(aps_paste[0], ts=ts)
    message = message_event(mention["text"], ts=ts)
    deliveries = [(mention, "EvMENTION1"), (message, "EvMESSAGE1")]
    for event, event_id in deliveries if mention_first else reversed(deliveries):
        assert bot.send_event(event, event_id=event_id).status == 200
    slack.wait_for("chat.postMessage")
    bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1


CURL_REQUEST = "\n".join(
    [
        "> GET /project/v1/hubs HTTP/1.1",
        "> Host: developer.api.autodesk.com",
        "> User-Agent: curl/8.4.0",
        "> Accept: */*",
        ">",
    ]
)


def long_snippet(paste: str, file_id: str) -> tuple[str, dict[str, Any]]:
    """A `curl -v` snippet whose error sits past the preview Slack puts in the event (its first lines)."""
    content = f"{CURL_REQUEST}\n< HTTP/1.1 403 Forbidden\n\n{paste}"
    preview = {"id": file_id, "mode": "snippet", "filetype": "text", "preview": CURL_REQUEST}
    return content, {**preview, "preview_is_truncated": True, "lines_more": content.count("\n") - 4}


@pytest.mark.parametrize("how", ["pasted in the channel", "diagnosed with the shortcut"])
def test_a_long_snippet_is_read_whole_when_its_preview_is_cut(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], how: str
) -> None:
    paste, expected = aps_paste
    content, file = long_snippet(paste, "F0LONG0001")
    slack.add_file("F0LONG0001", content)
    message = message_event("here is the whole curl -v", subtype="file_share", files=[file])
    if how == "pasted in the channel":
        bot.send_event(message)
    else:
        bot.send_shortcut(message_shortcut_payload(message))
    [post] = slack.wait_for("chat.postMessage")
    assert post.params["thread_ts"] == message["ts"]
    assert expected.best.title in block_texts(post.json("blocks"))
    assert [c.params["file"] for c in slack.calls_to("files.info")] == ["F0LONG0001"]


@pytest.mark.parametrize("how", ["pasted in the channel", "diagnosed with the shortcut"])
def test_a_secret_past_a_snippets_preview_warns_its_poster(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], how: str
) -> None:
    """The preview hides the token on line 30 of the `curl -v`; the bot reads the whole snippet, so its
    poster is told to rotate it whichever way the snippet came to be diagnosed."""
    content, file = long_snippet(f"{aps_paste[0]}\nAuthorization: Bearer {LEAKED_TOKEN}", "F0LONG0003")
    slack.add_file("F0LONG0003", content)
    message = message_event("here is the whole curl -v", subtype="file_share", files=[file])
    if how == "pasted in the channel":
        bot.send_event(message)
    else:
        bot.send_shortcut(message_shortcut_payload(message, user="U0OTHER01"))
    slack.wait_for("chat.postMessage")
    bot.drain()
    [warning] = slack.calls_to("chat.postEphemeral")
    assert warning.params["user"] == HUMAN and "rotate" in warning.params["text"]


def test_a_snippet_slack_will_not_give_is_diagnosed_from_its_preview(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """Before the app is reinstalled with files:read, files.info answers missing_scope: the mention is still
    answered, from what the event held."""
    content, file = long_snippet(aps_paste[0], "F0LONG0002")
    slack.add_file("F0LONG0002", content)
    slack.fail_next("files.info", error="missing_scope")
    bot.send_event(mention_event("what is this?", subtype="file_share", files=[file]))
    [post] = slack.wait_for("chat.postMessage")
    assert "recognise" in post.params["text"]


def test_a_mention_in_a_thread_warns_no_one_of_the_parents_secret(
    bot: BotServer, slack: FakeSlackApi
) -> None:
    """The parent is diagnosed with the mention, but its secret is its author's to rotate, not the asker's."""
    parent_ts = next_ts()
    parent = (
        'HTTP/1.1 403 Forbidden {"developerMessage":"The client_id specified does not have access to the api '
        'product","errorCode":"AUTH-001"}\nAPS_CLIENT_SECRET=Qw3rTy9UiOp2AsDf7GhJ'
    )
    slack.add_message(CHANNEL, parent_ts, parent, user=HUMAN)
    bot.send_event(mention_event("what does this mean?", thread_ts=parent_ts, user="U0ASKER01"))
    [post] = slack.wait_for("chat.postMessage")
    bot.drain()
    assert "app-api-access-missing" in json.dumps(post.json("blocks"))
    assert slack.calls_to("chat.postEphemeral") == []


def test_a_mention_under_ones_own_parent_warns_about_its_secret(bot: BotServer, slack: FakeSlackApi) -> None:
    """A parent posted before the bot joined (no passive warning then): its author asks in the thread."""
    parent_ts = next_ts()
    parent = 'HTTP/1.1 403 {"errorCode":"AUTH-001"}\nAPS_CLIENT_SECRET=Qw3rTy9UiOp2AsDf7GhJ'
    slack.add_message(CHANNEL, parent_ts, parent, user=HUMAN)
    bot.send_event(mention_event("what does this mean?", thread_ts=parent_ts, user=HUMAN))
    [warning] = slack.wait_for("chat.postEphemeral")
    assert warning.params["user"] == HUMAN and "Qw3rTy9UiOp2AsDf7GhJ" not in warning.params["text"]


def test_a_parent_the_bot_saw_is_not_warned_about_twice(bot: BotServer, slack: FakeSlackApi) -> None:
    """Its own delivery warned its author already; a mention under it by the same author adds no second."""
    parent = message_event('HTTP/1.1 403 {"errorCode":"AUTH-001"}\nAPS_CLIENT_SECRET=Qw3rTy9UiOp2AsDf7GhJ')
    slack.add_message(CHANNEL, parent["ts"], parent["text"], user=HUMAN)
    bot.send_event(parent)
    slack.wait_for("chat.postEphemeral")
    bot.drain()
    bot.send_event(mention_event("what does this mean?", thread_ts=parent["ts"], user=HUMAN))
    slack.wait_for("chat.postMessage", count=2)
    bot.drain()
    assert len(slack.calls_to("chat.postEphemeral")) == 1


def test_a_parent_the_bot_saw_days_ago_is_not_warned_about_twice(
    slack: FakeSlackApi, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inbox forgets delivery keys after a day; the warning given for the parent back then is not."""
    monkeypatch.setattr(inbox, "PURGE_EVERY", 1)  # purge at every stored delivery, not every thousandth
    clock = Clock()
    with running_bot(settings, clock=clock) as bot:
        parent = message_event(
            'HTTP/1.1 403 {"errorCode":"AUTH-001"}\nAPS_CLIENT_SECRET=Qw3rTy9UiOp2AsDf7GhJ'
        )
        slack.add_message(CHANNEL, parent["ts"], parent["text"], user=HUMAN)
        bot.send_event(parent)
        slack.wait_for("chat.postEphemeral")
        bot.drain()
        clock.now += 3 * 86_400  # the thread comes back to life days later
        bot.send_event(mention_event("still failing, any idea?", thread_ts=parent["ts"], user=HUMAN))
        slack.wait_for("chat.postMessage", count=2)
        bot.drain()
    assert len(slack.calls_to("chat.postEphemeral")) == 1


def test_a_poster_the_shortcut_warned_is_not_warned_again_when_they_ask_in_the_thread(
    bot: BotServer, slack: FakeSlackApi
) -> None:
    """The shortcut, run on a message the bot never received (posted before it joined), warns its poster about
    the secret in it; their later question in its thread must not warn them a second time."""
    paste = 'HTTP/1.1 403 {"errorCode":"AUTH-001"}\nAPS_CLIENT_SECRET=Qw3rTy9UiOp2AsDf7GhJ'
    message = {"type": "message", "user": HUMAN, "text": paste, "ts": next_ts()}
    slack.add_message(CHANNEL, message["ts"], paste, user=HUMAN)
    bot.send_shortcut(message_shortcut_payload(message, user="U0OTHER01"))
    slack.wait_for("chat.postEphemeral")
    bot.drain()  # the shortcut's work has finished
    bot.send_event(mention_event("still failing, any idea?", thread_ts=message["ts"], user=HUMAN))
    slack.wait_for("chat.postMessage", count=2)
    bot.drain()
    assert len(slack.calls_to("chat.postEphemeral")) == 1


def test_a_shortcut_on_a_paste_whose_poster_was_warned_warns_no_one_again(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """The passive reply warned the poster about the secret in their paste; a teammate who then runs the
    shortcut on it (or runs it twice) gets an answer, and the poster no second "rotate it"."""
    event = message_event(f"{aps_paste[0]}\nAuthorization: Bearer {LEAKED_TOKEN}")
    bot.send_event(event)
    slack.wait_for("chat.postEphemeral")
    slack.wait_for("chat.postMessage")
    bot.drain()
    message = {"type": "message", "user": HUMAN, "text": event["text"], "ts": event["ts"]}
    for _ in range(2):
        bot.send_shortcut(message_shortcut_payload(message, user="U0OTHER01"))
    slack.wait_for("chat.postMessage", count=3)
    bot.drain()
    assert len(slack.calls_to("chat.postEphemeral")) == 1


def test_an_edited_mention_is_not_answered_again(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """Slack delivers app_mention again when the message is edited (to remove a pasted token, say), long
    after the dedupe keys of the first delivery may have been purged."""
    edited = mention_event(aps_paste[0], edited={"user": HUMAN, "ts": next_ts()})
    assert bot.send_event(edited, event_id="EvEDITED01").status == 200
    bot.drain()
    assert slack.calls_to("chat.postMessage") == []


@pytest.mark.parametrize(
    "order",
    ["message, then a mention without the files", "mention without the files, then message", "message only"],
)
def test_a_mention_with_the_error_in_a_snippet_reads_the_snippet(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], order: str
) -> None:
    """ "@aps-bot what is this?" with the error attached as a snippet: Slack's app_mention of such a message
    may leave `files` out, or not come at all. Either way the snippet is what gets diagnosed, once."""
    paste, expected = aps_paste
    ts = next_ts()
    files = [{"id": "F0SNIPPET1", "filetype": "text", "mode": "snippet", "preview": paste}]
    question = f"<@{BOT_USER_ID}> what is this?"
    message = message_event(question, ts=ts, subtype="file_share", files=files)
    slack.add_message(CHANNEL, ts, question, files=files)  # what conversations.replies gives back
    mention = (mention_event("what is this?", ts=ts), "EvMENTION2")
    deliveries = {
        "message, then a mention without the files": [(message, "EvMESSAGE2"), mention],
        "mention without the files, then message": [mention, (message, "EvMESSAGE2")],
        "message only": [(message, "EvMESSAGE2")],
    }[order]
    for event, event_id in deliveries:
        assert bot.send_event(event, event_id=event_id).status == 200
    [post] = slack.wait_for("chat.postMessage")
    bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert post.params["thread_ts"] == ts
    assert expected.best.title in json.dumps(post.json("blocks"))


@pytest.mark.parametrize(
    "extra",
    [
        {"bot_id": "B0OTHERBOT", "subtype": "bot_message"},
        {"bot_id": "B0OTHERBOT"},
        {"user": BOT_USER_ID, "bot_id": BOT_ID},
        {"subtype": "message_changed", "message": {"text": "edited"}},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join"},
        {"subtype": "thread_broadcast", "bot_id": "B0OTHERBOT"},
    ],
    ids=["bot_message", "bot_id", "itself", "changed", "deleted", "join", "bot_broadcast"],
)
def test_bots_and_subtypes_are_acked_and_ignored(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], extra: dict
) -> None:
    response = bot.send_event(message_event(aps_paste[0], **extra))
    assert response.status == 200
    bot.drain()
    assert slack.calls_to("chat.postMessage") == []


def test_thread_replies_are_not_diagnosed_passively(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    bot.send_event(message_event(aps_paste[0], thread_ts=next_ts()))
    bot.drain()
    assert slack.calls_to("chat.postMessage") == []


def test_restart_over_the_same_database_does_not_double_reply(
    settings, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    event = message_event(aps_paste[0])
    with running_bot(settings) as first:
        first.send_event(event, event_id="EvRESTART1")
        slack.wait_for("chat.postMessage")
    with running_bot(settings) as second:
        assert second.send_event(event, event_id="EvRESTART1", retry_num=1).status == 200
        assert second.send_event(event, event_id="EvRESTART2").status == 200  # same message, new id
        second.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_a_failed_post_is_retried_by_the_worker_and_slacks_retry_adds_nothing(
    settings, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    now = [1_800_000_000.0]
    slack.fail_next("chat.postMessage", status=500)
    event = message_event(aps_paste[0])
    with running_bot(settings, clock=lambda: now[0]) as bot:
        bot.send_event(event, event_id="EvFAIL0001")
        bot.drain()
        assert len(slack.calls_to("chat.postMessage")) == 1  # failed; the job waits for its retry time
        assert bot.send_event(event, event_id="EvFAIL0001", retry_num=1).status == 200
        bot.drain()
        assert len(slack.calls_to("chat.postMessage")) == 1  # Slack's retry is a duplicate
        now[0] += 2  # the first retry falls due
        bot.runtime.deps.wake_worker()
        slack.wait_for("chat.postMessage", count=2)
        bot.drain()
    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 2 and posts[0].params == posts[1].params


def test_a_long_slack_rate_limit_is_waited_out_by_the_worker_not_inside_the_call(
    settings, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """Retry-After: 60 is not slept through (it would hold a thread, and the job past its lease): the job is
    retried when Slack said, not sooner, and the reply is posted once."""
    now = [1_800_000_000.0]
    slack.fail_next("chat.postMessage", status=429, retry_after=60)
    with running_bot(settings, clock=lambda: now[0]) as bot:
        bot.send_event(message_event(aps_paste[0]))
        bot.drain()  # returns at once: nothing sleeps for a minute
        assert len(slack.calls_to("chat.postMessage")) == 1
        now[0] += 30  # past the worker's own back-off (2 s), before Slack's minute
        bot.runtime.deps.wake_worker()
        bot.drain()
        assert len(slack.calls_to("chat.postMessage")) == 1
        now[0] += 30
        bot.runtime.deps.wake_worker()
        slack.wait_for("chat.postMessage", count=2)
        bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 2


@pytest.mark.parametrize("retry_after", ["inf", "nan"])
def test_a_rate_limit_whose_retry_after_is_no_number_of_seconds_is_retried_not_dropped(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], retry_after: str
) -> None:
    """A `Retry-After` read as no number of seconds is waited like a missing one: the reply is posted, not
    lost to the Web API client failing to read the header itself."""
    slack.fail_next("chat.postMessage", status=429, retry_after=retry_after)
    bot.send_event(message_event(aps_paste[0]))
    calls = slack.wait_for("chat.postMessage", count=2)
    assert calls[0].params == calls[1].params
    bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 2


def test_a_permanent_failure_is_not_retried(
    settings, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    now = [1_800_000_000.0]
    slack.fail_next("chat.postMessage", error="channel_not_found")
    with running_bot(settings, clock=lambda: now[0]) as bot:
        bot.send_event(message_event(aps_paste[0]))
        slack.wait_for("chat.postMessage")
        bot.drain()
        now[0] += 3600
        bot.runtime.deps.wake_worker()
        bot.drain()
        assert bot.runtime.deps.db.connection().execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_a_reply_job_left_by_a_dead_worker_is_run_after_its_lease(
    settings, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    now = [1_800_000_000.0]
    with running_bot(settings, clock=lambda: now[0], worker=False) as bot:
        bot.send_event(message_event(aps_paste[0]), event_id="EvCRASH001")
        bot.drain()
        jobs = JobStore(bot.runtime.deps.db)
        [taken] = jobs.claim_due(now[0], "worker-that-died", kinds=(REPLY_JOB,), lease_seconds=LEASE_SECONDS)
        bot.runtime.start_worker(in_process=True)
        assert bot.runtime.reply_worker is not None
        assert bot.runtime.reply_worker.drain() == 0  # the lease is still live
        now[0] += LEASE_SECONDS + 1
        bot.runtime.deps.wake_worker()
        slack.wait_for("chat.postMessage")
        bot.drain()
        assert jobs.get(taken.id) is None
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_a_reply_still_in_flight_past_its_lease_is_not_posted_twice(
    settings, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], not_aps: str
) -> None:
    now = [1_800_000_000.0]
    with running_bot(settings, clock=lambda: now[0]) as bot:
        jobs = bot.runtime.deps.db.connection()
        with slack_on_hold(bot, slack, not_aps):
            bot.send_event(message_event(aps_paste[0]))
            slack.wait_for("chat.postMessage")  # the reply is stuck in Slack
            claimed_at = jobs.execute("SELECT claimed_at FROM jobs").fetchone()[0]
            now[0] += LEASE_SECONDS + 1
            bot.send_event(message_event(not_aps))  # the worker looks at the queue again
            wait_until(lambda: jobs.execute("SELECT claimed_at FROM jobs").fetchone()[0] > claimed_at, 10)
        bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_a_busy_worker_keeps_its_reply_in_flight_from_a_second_worker(
    tmp_path, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], not_aps: str
) -> None:
    """Every thread busy (one here) with a reply stuck in Slack past the lease: the worker still holds the
    job, so a second worker (`aps-bot worker`, run when one is not enough) does not post it again."""
    now = [1_800_000_000.0]
    settings = make_settings(tmp_path, slack, bot_worker_threads=1)
    with running_bot(settings, clock=lambda: now[0]) as bot:
        jobs = bot.runtime.deps.db.connection()
        with slack_on_hold(bot, slack, not_aps):
            bot.send_event(message_event(aps_paste[0]))
            slack.wait_for("chat.postMessage")  # the reply is stuck in Slack, the only thread with it
            claimed_at = jobs.execute("SELECT claimed_at FROM jobs").fetchone()[0]
            now[0] += LEASE_SECONDS + 1
            wait_until(lambda: jobs.execute("SELECT claimed_at FROM jobs").fetchone()[0] > claimed_at, 10)
            second = ReplyWorker(bot.runtime.deps, bot.runtime.app.client, name="second-worker")
            assert second.drain() == 0
        bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_a_worker_whose_database_fails_once_keeps_its_replies_in_flight(
    settings, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], not_aps: str
) -> None:
    """Looking for new jobs fails once (the database busy past its timeout) while a reply is stuck in Slack:
    the worker still holds that reply, renews its lease and never runs it a second time."""
    now = [1_800_000_000.0]
    with running_bot(settings, clock=lambda: now[0]) as bot:
        jobs = bot.runtime.deps.db.connection()
        worker = bot.runtime.reply_worker
        assert worker is not None
        with slack_on_hold(bot, slack, not_aps):
            bot.send_event(message_event(aps_paste[0]))
            slack.wait_for("chat.postMessage")  # the reply is stuck in Slack
            claimed_at = jobs.execute("SELECT claimed_at FROM jobs").fetchone()[0]
            failed = threading.Event()
            real_claim = worker._claim

            def claim_fails_once(limit: int) -> list:
                if not failed.is_set():
                    failed.set()
                    raise sqlite3.OperationalError("database is locked")
                return real_claim(limit)

            worker._claim = claim_fails_once  # type: ignore[method-assign]
            assert failed.wait(10)
            now[0] += LEASE_SECONDS + 1
            bot.runtime.deps.wake_worker()
            wait_until(lambda: jobs.execute("SELECT claimed_at FROM jobs").fetchone()[0] > claimed_at, 10)
        bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1  # the chatter is not answered


def taken_by_dying_workers(jobs: Any, now: list[float], times: int) -> None:
    """The queued reply is taken `times` times, each time by a worker that dies with it (its lease runs out)."""
    for death in range(times):
        assert jobs.claim_due(now[0], f"dead-{death}", kinds=(REPLY_JOB,), lease_seconds=LEASE_SECONDS)
        now[0] += LEASE_SECONDS + 1


def test_a_reply_outlasts_a_five_minute_slack_outage(
    settings, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """Slack answers 503 for five minutes (an incident): the worker's retries span longer than that, so the
    reply is posted once Slack is back instead of being dropped while it is down."""
    now = [1_800_000_000.0]
    outage_ends = now[0] + 300
    event = message_event(aps_paste[0])
    with running_bot(settings, clock=lambda: now[0]) as bot:
        jobs = bot.runtime.deps.db.connection()
        slack.fail_next("chat.postMessage", status=503)
        bot.send_event(event)
        slack.wait_for("chat.postMessage")
        bot.drain()
        while (
            due := jobs.execute("SELECT run_at FROM jobs WHERE kind = ?", (REPLY_JOB,)).fetchone()
        ) is not None:
            now[0] = due[0]
            if now[0] < outage_ends:
                slack.fail_next("chat.postMessage", status=503)
            tries = len(slack.calls_to("chat.postMessage"))
            bot.runtime.deps.wake_worker()
            slack.wait_for("chat.postMessage", count=tries + 1)
            bot.drain()
    answers = [m for m in slack.thread(CHANNEL, event["ts"]) if m["ts"] != event["ts"]]
    assert len(answers) == 1
    assert now[0] >= outage_ends


def test_a_reply_whose_workers_keep_dying_on_it_is_dropped(
    tmp_path, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], caplog: pytest.LogCaptureFixture
) -> None:
    """A reply whose handling kills its worker (out of memory, say) would be taken again after every lease,
    and kill every restarted worker in turn: after MAX_ATTEMPTS such deaths it is dropped, and logged."""
    from bot.store.jobs import JobStore
    from bot.worker import MAX_ATTEMPTS

    now = [1_800_000_000.0]
    settings = make_settings(tmp_path, slack)
    with running_bot(settings, clock=lambda: now[0], worker=False) as bot:
        bot.send_event(message_event(aps_paste[0]))
        bot.drain()
        jobs = JobStore(bot.runtime.deps.db)
        taken_by_dying_workers(jobs, now, MAX_ATTEMPTS)
        survivor = ReplyWorker(bot.runtime.deps, bot.runtime.app.client, name="survivor")
        with caplog.at_level(logging.ERROR, logger="bot.worker"):
            survivor.drain()
        assert jobs.due_count((REPLY_JOB,), now[0] + 3600) == 0
    assert slack.calls_to("chat.postMessage") == []
    assert any("dropped" in r.getMessage() for r in caplog.records)


def test_a_reply_taken_up_to_max_attempts_times_is_still_run(
    tmp_path, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """The drop is for a reply taken more than MAX_ATTEMPTS times: its MAX_ATTEMPTS-th take (after deaths, or
    the last retry of a 5xx, 5 min after the fourth) is still run."""
    from bot.store.jobs import JobStore
    from bot.worker import MAX_ATTEMPTS

    now = [1_800_000_000.0]
    settings = make_settings(tmp_path, slack)
    with running_bot(settings, clock=lambda: now[0], worker=False) as bot:
        bot.send_event(message_event(aps_paste[0]))
        bot.drain()
        jobs = JobStore(bot.runtime.deps.db)
        taken_by_dying_workers(jobs, now, MAX_ATTEMPTS - 1)
        survivor = ReplyWorker(bot.runtime.deps, bot.runtime.app.client, name="survivor")
        assert survivor.drain() == 1
        assert jobs.due_count((REPLY_JOB,), now[0] + 3600) == 0
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_messages_acked_while_the_worker_is_down_are_answered_once_it_runs(
    settings, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    events = [message_event(aps_paste[0]) for _ in range(5)]
    with running_bot(settings, worker=False) as bot:  # e.g. the worker process crashed, or is restarting
        responses = [bot.send_event(event) for event in events]
        assert [r.status for r in responses] == [200] * 5
        bot.drain()
        assert slack.calls_to("chat.postMessage") == []
    with running_bot(settings) as bot:  # a restart: the stored jobs are still there
        slack.wait_for("chat.postMessage", count=5)
        bot.send_event(events[0], retry_num=1)
        bot.drain()
    posts = slack.calls_to("chat.postMessage")
    assert sorted(p.params["thread_ts"] for p in posts) == sorted(e["ts"] for e in events)


def test_rate_limited_post_is_retried(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    slack.fail_next("chat.postMessage", status=429, retry_after=0)
    bot.send_event(message_event(aps_paste[0]))
    calls = slack.wait_for("chat.postMessage", count=2)
    assert calls[0].params == calls[1].params
    bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 2


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "msg_too_long"])
def test_ok_false_is_logged_without_secrets_and_the_bot_carries_on(
    bot: BotServer,
    slack: FakeSlackApi,
    aps_paste: tuple[str, Diagnosis],
    caplog: pytest.LogCaptureFixture,
    error: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    slack.fail_next("chat.postMessage", error=error)
    failed = message_event(aps_paste[0])
    bot.send_event(failed, event_id="EvOKFALSE1")
    bot.drain()
    assert error in caplog.text
    assert BOT_TOKEN not in caplog.text
    assert DedupeStore(bot.runtime.deps.db).state(event_key("EvOKFALSE1")) == "done"  # no retry storm
    bot.send_event(message_event(aps_paste[0]))
    slack.wait_for("chat.postMessage", count=2)


LEAKED_TOKEN = "eyJhbGciOiJSUzI1NiJ9." + "eyJzY29wZSI6WyJkYXRhOnJlYWQiXX0." + "c2lnbmF0dXJlLXBhcnQtMTIzNDU2"


def test_secret_in_a_paste_warns_the_poster_ephemerally_and_is_never_echoed(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    secret = "xoxb-" + "1234567890-0987654321-" + "AbCdEfGhIjKlMnOpQrStUvWx"
    event = message_event(f"{aps_paste[0]}\nAuthorization: Bearer {secret}")
    bot.send_event(event)
    [warning] = slack.wait_for("chat.postEphemeral")
    assert warning.params["user"] == HUMAN
    assert warning.params["channel"] == CHANNEL
    assert "rotate" in warning.params["text"]
    slack.wait_for("chat.postMessage")
    bot.drain()
    for call in slack.calls:
        assert secret not in json.dumps(call.params)


def test_a_warning_that_cannot_reach_the_poster_loses_no_answer(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    slack.fail_next("chat.postEphemeral", error="user_not_in_channel")  # the poster left the channel
    bot.send_event(mention_event(f"{aps_paste[0]}\nAuthorization: Bearer {LEAKED_TOKEN}"))
    [post] = slack.wait_for("chat.postMessage")
    assert aps_paste[1].best.title in block_texts(post.json("blocks"))
    slack.wait_for("chat.postEphemeral")
    bot.drain()


def test_a_retried_reply_warns_about_the_secret_once(
    settings, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    now = [1_800_000_000.0]
    slack.fail_next("chat.postMessage", status=500)
    with running_bot(settings, clock=lambda: now[0]) as bot:
        bot.send_event(message_event(f"{aps_paste[0]}\nAuthorization: Bearer {LEAKED_TOKEN}"))
        bot.drain()
        now[0] += 2  # the retry falls due
        bot.runtime.deps.wake_worker()
        slack.wait_for("chat.postMessage", count=2)
        bot.drain()
    assert len(slack.calls_to("chat.postEphemeral")) == 1


def test_shortcut_on_a_message_whose_author_left_still_answers(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    slack.fail_next("chat.postEphemeral", error="user_not_in_channel")
    text = f"{aps_paste[0]}\nAuthorization: Bearer {LEAKED_TOKEN}"
    message = {"type": "message", "user": "U0GONE001", "text": text, "ts": next_ts()}
    bot.send_shortcut(message_shortcut_payload(message))
    [post] = slack.wait_for("chat.postMessage")
    assert post.params["thread_ts"] == message["ts"]
    slack.wait_for("chat.postEphemeral")


def test_broadcast_and_group_mentions_are_never_echoed(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    loud = "<!channel> <!here> <!everyone> <!subteam^S0ADMINS|@admins> "
    bot.send_event(mention_event(loud + aps_paste[0]))
    [post] = slack.wait_for("chat.postMessage")
    sent = json.dumps(post.params)
    for markup in ("<!channel", "<!here", "<!everyone", "<!subteam"):
        assert markup not in sent


def test_healthz_counts_the_replies_waiting_for_the_worker(
    settings, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    with running_bot(settings, worker=False) as bot:
        bot.send_event(message_event(aps_paste[0]))
        bot.drain()
        assert bot.get("/healthz").json() == {"ok": True, "queued_replies": 1}
    with running_bot(settings) as bot:
        slack.wait_for("chat.postMessage")
        bot.drain()
        assert bot.get("/healthz").json() == {"ok": True, "queued_replies": 0}


def test_healthz(bot: BotServer) -> None:
    response = bot.get("/healthz")
    assert response.status == 200
    assert response.json() == {"ok": True, "queued_replies": 0}


def test_snippet_and_code_block_pastes_are_diagnosed(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    paste, expected = aps_paste
    snippet = message_event(
        "getting this from the hubs call",
        subtype="file_share",
        files=[{"id": "F0SNIPPET", "filetype": "text", "mode": "snippet", "preview": paste}],
    )
    code_block = message_event(f"help please:\n```{paste}```")
    bot.send_event(snippet)
    bot.send_event(code_block)
    posts = slack.wait_for("chat.postMessage", count=2)
    assert {p.params["thread_ts"] for p in posts} == {snippet["ts"], code_block["ts"]}
    assert all(expected.best.title in block_texts(p.json("blocks")) for p in posts)


def test_every_button_on_a_reply_has_a_listener(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], not_aps: str
) -> None:
    bot.send_event(message_event(aps_paste[0]))
    bot.send_event(mention_event(not_aps))
    posts = slack.wait_for("chat.postMessage", count=2)
    rendered = {
        e["action_id"]
        for p in posts
        for b in p.json("blocks")
        if b["type"] == "actions"
        for e in b["elements"]
    }
    registered = bot.runtime.app.registered["action"]
    for action_id in rendered:
        assert any(
            r == action_id if isinstance(r, str) else bool(r.fullmatch(action_id)) for r in registered
        ), f"no listener for {action_id}"


@contextmanager
def slack_on_hold(bot: BotServer, slack: FakeSlackApi, chatter: str) -> Iterator[None]:
    """Inside: the fake Slack records calls but answers none until the block ends."""
    bot.send_event(message_event(chatter))  # Bolt checks its token (auth.test) on the first request
    slack.hold = threading.Event()
    try:
        yield
    finally:
        slack.hold.set()


def test_replies_go_out_side_by_side_so_one_slow_call_does_not_hold_up_the_others(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], not_aps: str
) -> None:
    with slack_on_hold(bot, slack, not_aps):
        for _ in range(2):
            bot.send_event(message_event(aps_paste[0]))
        slack.wait_for("chat.postMessage", count=2)  # both in flight at once
        bot.send_event(message_event(aps_paste[0]))
        slack.wait_for("chat.postMessage", count=3)  # a later one goes out beside them, not after them
    bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 3


def test_ack_does_not_wait_for_the_reply(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], not_aps: str
) -> None:
    with slack_on_hold(bot, slack, not_aps):
        assert bot.send_event(message_event(aps_paste[0])).status == 200
        slack.wait_for("chat.postMessage")  # the worker is stuck in its first post
        responses = [bot.send_event(message_event(aps_paste[0])) for _ in range(3)]
        assert [r.status for r in responses] == [200] * 3  # acked while the reply is still in flight
    slack.wait_for("chat.postMessage", count=4)


def test_a_retried_shortcut_answer_does_not_warn_a_forwarder_about_someone_elses_token(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """The token sits in a forwarded message: rotating it is its author's business, not the forwarder's, also
    when the shortcut's post failed and the reply worker answers instead."""
    slack.fail_next("chat.postMessage", status=500)
    forwarded = {"is_share": True, "text": f"{aps_paste[0]}\nAuthorization: Bearer {LEAKED_TOKEN}"}
    message = {
        "type": "message",
        "user": "U0FORWARD",
        "text": "hi",
        "ts": next_ts(),
        "attachments": [forwarded],
    }
    bot.send_shortcut(message_shortcut_payload(message))
    slack.wait_for("chat.postMessage", count=2)  # the failed post, then the worker's
    bot.drain()
    assert slack.calls_to("chat.postEphemeral") == []


@pytest.mark.parametrize("then", ["asks again in the thread", "the shortcut is run on the parent"])
def test_a_poster_warned_about_their_own_parent_is_not_warned_about_it_again(
    bot: BotServer, slack: FakeSlackApi, then: str
) -> None:
    """Their first question under their own parent (posted before the bot joined) warned them about the
    parent's secret; a second question, or a teammate's shortcut on the parent, repeats no warning."""
    parent_ts = next_ts()
    parent = 'HTTP/1.1 403 {"errorCode":"AUTH-001"}\nAPS_CLIENT_SECRET=Qw3rTy9UiOp2AsDf7GhJ'
    slack.add_message(CHANNEL, parent_ts, parent, user=HUMAN)
    bot.send_event(mention_event("what does this mean?", thread_ts=parent_ts, user=HUMAN))
    slack.wait_for("chat.postEphemeral")
    bot.drain()
    if then == "asks again in the thread":
        bot.send_event(mention_event("still failing, any idea?", thread_ts=parent_ts, user=HUMAN))
    else:
        message = {"type": "message", "user": HUMAN, "text": parent, "ts": parent_ts}
        bot.send_shortcut(message_shortcut_payload(message, user="U0OTHER01"))
    slack.wait_for("chat.postMessage", count=2)
    bot.drain()
    assert len(slack.calls_to("chat.postEphemeral")) == 1

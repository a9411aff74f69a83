"""`aps-bot serve` in Socket Mode, end to end: a real `aps-bot serve` process (its reply worker a child of it,
signals handled as in production; tests/fakes/serve_process.py) connects to a fake Socket Mode endpoint
(tests/fakes/socket_mode.py) with the URL that the fake Web API's `apps.connections.open` hands out, acks the
envelopes pushed there and answers through the fake Web API.

A process rather than `bot.cli.main` on a thread: SIGTERM can only be handled on a main thread, and the
reply worker is a child process either way."""

from __future__ import annotations

import json
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.diagnosis.result import Diagnosis
from bot.slack.listeners.check_command import USAGE
from bot.slack.replies import REPLY_JOB
from bot.socket_mode import Client
from bot.store.db import Database
from bot.store.dedupe import DedupeStore, event_key
from bot.store.feedback import FeedbackStore
from tests.check.conftest import ALLOWED_USER, apps_env
from tests.fakes.aps_server import ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET, PROJECT_ID, FakeAps
from tests.fakes.bolt_server import APP_TOKEN, BOT_TOKEN, CHANNEL, HUMAN, block_action_payload, message_event
from tests.fakes.polling import wait_until
from tests.fakes.serve_process import SocketModeBot, socket_mode_bot
from tests.fakes.slack_api import Call, FakeSlackApi
from tests.fakes.socket_mode import FakeSocketMode


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SocketModeBot]:
    """One bot for the conversation tests (each uses its own messages): a process start and stop is seconds."""
    with (
        FakeAps() as aps,
        socket_mode_bot(
            tmp_path_factory.mktemp("socket-mode"),
            BOT_WORKER_THREADS="1",
            APS_BASE_URL=aps.url,
            APS_APPS=apps_env(),
        ) as running,
    ):
        yield running
        assert running.stop() == 0, running.log()  # SIGTERM: a clean stop


def replies_in(bot: SocketModeBot, thread_ts: str) -> list[Call]:
    return [c for c in bot.slack.calls_to("chat.postMessage") if c.params.get("thread_ts") == thread_ts]


def test_the_app_level_token_opens_the_connection(bot: SocketModeBot) -> None:
    opened = bot.slack.calls_to("apps.connections.open")
    assert opened and opened[0].headers["Authorization"] == f"Bearer {APP_TOKEN}"


def test_a_pasted_error_is_acked_and_answered_in_its_thread_and_chatter_is_acked_only(
    bot: SocketModeBot, aps_paste: tuple[str, Diagnosis], not_aps: str
) -> None:
    chatter = message_event(not_aps)
    chatter_envelope = bot.socket_mode.send_event(chatter)
    paste = message_event(aps_paste[0])
    paste_envelope = bot.socket_mode.send_event(paste)
    for envelope in (chatter_envelope, paste_envelope):
        assert bot.socket_mode.wait_for_ack(envelope).payload in (None, {})
    [reply] = bot.slack.wait_for_thread(CHANNEL, paste["ts"], timeout=30)
    assert aps_paste[1].best is not None
    assert aps_paste[1].best.title in json.dumps(reply["blocks"])
    bot.wait_replies_done()  # the chatter's job ran too (one worker thread: it ran first)
    [post] = replies_in(bot, paste["ts"])
    assert post.params["channel"] == CHANNEL
    assert replies_in(bot, chatter["ts"]) == [] and bot.slack.thread(CHANNEL, chatter["ts"]) == []


def test_a_retried_event_is_acked_and_answered_once(
    bot: SocketModeBot, aps_paste: tuple[str, Diagnosis]
) -> None:
    paste = message_event(aps_paste[0])
    event_id = f"Ev{uuid.uuid4().hex[:10].upper()}"
    first = bot.socket_mode.send_event(paste, event_id=event_id)
    bot.socket_mode.wait_for_ack(first)
    retried = bot.socket_mode.send_event(paste, event_id=event_id, retry_attempt=1, retry_reason="timeout")
    bot.socket_mode.wait_for_ack(retried)
    bot.slack.wait_for_thread(CHANNEL, paste["ts"], timeout=30)
    bot.wait_replies_done()
    assert len(replies_in(bot, paste["ts"])) == 1
    assert len(bot.socket_mode.acks_for(first)) == 1 and len(bot.socket_mode.acks_for(retried)) == 1


def test_aps_check_answers_in_its_ack_or_through_its_response_url(bot: SocketModeBot) -> None:
    usage = bot.socket_mode.send_command(
        "", user_id=HUMAN, channel_id=CHANNEL, response_url=bot.response_url()
    )
    ack = bot.socket_mode.wait_for_ack(usage)
    assert ack.payload == {"response_type": "ephemeral", "text": USAGE}

    response_url = bot.response_url()
    check = bot.socket_mode.send_command(
        f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}",
        user_id=ALLOWED_USER,
        channel_id=CHANNEL,
        response_url=response_url,
    )
    assert bot.socket_mode.wait_for_ack(check).payload in (None, {})

    def final(call: Call) -> bool:
        return call.path.endswith(response_url.rsplit("/", 1)[1]) and "passed" in str(call.params.get("text"))

    [report] = bot.slack.wait_for("response_url", predicate=final, timeout=30)
    assert report.params.get("replace_original") is True
    assert CLIENT_SECRET not in json.dumps([c.params for c in bot.slack.calls]) + bot.log()


def test_a_feedback_click_on_the_reply_is_acked_and_stored(
    bot: SocketModeBot, aps_paste: tuple[str, Diagnosis]
) -> None:
    paste = message_event(aps_paste[0])
    bot.socket_mode.send_event(paste)
    [reply] = bot.slack.wait_for_thread(CHANNEL, paste["ts"], timeout=30)
    [not_it] = [
        e
        for b in reply["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "diagnosis_not_it"
    ]
    payload = {
        "response_url": bot.response_url(),
        **block_action_payload("diagnosis_not_it", not_it["value"], message=reply),
    }
    click = bot.socket_mode.send_interactive(payload)
    assert bot.socket_mode.wait_for_ack(click).payload in (None, {})
    [update] = bot.slack.wait_for(
        "chat.update", predicate=lambda c: c.params.get("ts") == reply["ts"], timeout=30
    )
    assert f"Thanks <@{HUMAN}>" in json.dumps(update.json("blocks"))
    cause = json.loads(not_it["value"])["cause"]
    db = Database(bot.db_path)
    try:
        assert FeedbackStore(db).votes_on(CHANNEL, paste["ts"], cause) == (0, 1)
    finally:
        db.close()


def test_after_slack_asks_for_a_refresh_the_bot_reconnects_and_answers_there(
    bot: SocketModeBot, aps_paste: tuple[str, Diagnosis]
) -> None:
    before = len(bot.socket_mode.connections)
    old = bot.socket_mode.request_refresh()
    new = bot.socket_mode.wait_for_connection(before + 1)
    assert (
        len(bot.slack.calls_to("apps.connections.open")) == before + 1
    )  # a fresh URL: tickets are single-use
    wait_until(lambda: not old.open)  # the bot closed the old connection itself
    paste = message_event(aps_paste[0])
    envelope = bot.socket_mode.send_event(paste, connection=new)
    assert bot.socket_mode.wait_for_ack(envelope).connection == new.index
    bot.slack.wait_for_thread(CHANNEL, paste["ts"], timeout=30)


@pytest.mark.parametrize("ending", ["close", "hang_up", "drop"])
def test_a_connection_that_ends_without_notice_is_replaced_and_answers_there(
    bot: SocketModeBot, aps_paste: tuple[str, Diagnosis], ending: str
) -> None:
    """A close frame, a TCP close with no frame (a proxy timing out) or a reset: the client opens a new
    connection within seconds (slack_sdk's own stale check took 40 s and spun a CPU on a close with no frame)."""
    before = len(bot.socket_mode.connections)
    getattr(bot.socket_mode, ending)()
    new = bot.socket_mode.wait_for_connection(before + 1, timeout=20)
    paste = message_event(aps_paste[0])
    assert (
        bot.socket_mode.wait_for_ack(bot.socket_mode.send_event(paste, connection=new)).connection
        == new.index
    )
    bot.slack.wait_for_thread(CHANNEL, paste["ts"], timeout=30)


def test_the_first_delivery_after_a_start_needs_no_web_api_call_to_be_acked(
    tmp_path: Path, aps_paste: tuple[str, Diagnosis]
) -> None:
    """Bolt used to call auth.test on the first request: a Slack hiccup then acked the paste with Bolt's
    "reinstall this app" text and dropped it."""
    with socket_mode_bot(tmp_path) as bot:
        started = len(bot.slack.calls_to("auth.test"))
        bot.slack.fail_next("auth.test", status=500)
        paste = message_event(aps_paste[0])
        ack = bot.socket_mode.wait_for_ack(bot.socket_mode.send_event(paste))
        assert ack.payload in (None, {}), ack.payload
        bot.slack.wait_for_thread(CHANNEL, paste["ts"], timeout=30)
        assert len(bot.slack.calls_to("auth.test")) == started


def test_a_close_does_not_wait_for_the_receiving_threads_recv() -> None:
    """A connection's close shuts its socket down first. slack_sdk's close takes the receive lock, which the
    receiving thread holds in `recv` until data comes or it times out (3 s: on a refresh the new connection
    was read that late, Slack's whole ack budget). Here the connection is silent and that recv has no
    timeout: only the shutdown lets the close finish."""
    with FakeSlackApi() as slack, FakeSocketMode() as socket_mode:
        slack.set_response("apps.connections.open", socket_mode.connections_open)
        client = Client(
            app_token=APP_TOKEN, web_client=WebClient(token=BOT_TOKEN, base_url=slack.url), ping_interval=3600
        )
        heard: list[str] = []
        client.on_message_listeners.append(heard.append)
        client.connect()
        session = client.current_session
        assert session is not None and session.sock is not None
        silent = socket_mode.go_silent(socket_mode.wait_for_connection())
        session.sock.settimeout(None)
        silent.send_json({"type": "marker"})  # ends a recv begun with the timeout: the next one has none
        wait_until(lambda: any("marker" in message for message in heard))
        wait_until(session.sock_receive_lock.locked)  # the receiving thread is in that next recv
        closing = threading.Thread(target=client.close, daemon=True)
        closing.start()
        closing.join(timeout=30)
        assert not closing.is_alive(), "the close is still waiting for the receive lock"
        assert session.sock is None
    assert socket_mode.errors == []


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["sigterm", "sighup"])
@pytest.mark.parametrize("group", [False, True], ids=["serve-only", "process-group"])
def test_sigterm_while_replies_are_queued_posts_them_and_exits_cleanly(
    tmp_path: Path, aps_paste: tuple[str, Diagnosis], group: bool, stop: signal.Signals
) -> None:
    """docker stop signals `serve` alone; systemd (KillMode=control-group) signals serve and its worker; a
    closed terminal or ssh session sends SIGHUP to the whole group."""
    with socket_mode_bot(tmp_path, own_group=group, BOT_WORKER_THREADS="1") as bot:
        bot.slack.hold = threading.Event()  # Slack stalls: the first reply is in flight, the second queued
        pastes = [message_event(aps_paste[0]) for _ in range(2)]
        for envelope in [bot.socket_mode.send_event(paste) for paste in pastes]:
            bot.socket_mode.wait_for_ack(envelope)
        bot.slack.wait_for("chat.postMessage")
        wait_until(lambda: bot.queued_replies() == 2)
        if group:
            os.killpg(bot.process.pid, stop)
        else:
            bot.process.send_signal(stop)
        wait_until(lambda: not bot.socket_mode.current_or_none(), 30)  # serve has closed its connection
        bot.slack.hold.set()
        assert bot.process.wait(timeout=60) == 0, bot.log()
        for paste in pastes:
            assert len(replies_in(bot, paste["ts"])) == 1, bot.log()
        assert bot.queued_replies() == 0
        assert "Traceback" not in bot.log() and "ERROR" not in bot.log(), bot.log()


def test_a_delivery_acked_right_before_a_crash_is_already_stored(
    tmp_path: Path, aps_paste: tuple[str, Diagnosis]
) -> None:
    """Acked means stored: SIGKILL to serve and its worker (an OOM kill of the group) the moment Slack has the
    ack still finds the delivery and its reply job in the database, for the next start to answer."""
    event_id = f"Ev{uuid.uuid4().hex[:10].upper()}"
    with socket_mode_bot(tmp_path, own_group=True) as bot:
        bot.slack.hold = threading.Event()  # the worker cannot answer and delete the job before the kill
        bot.socket_mode.wait_for_ack(
            bot.socket_mode.send_event(message_event(aps_paste[0]), event_id=event_id)
        )
        os.killpg(bot.process.pid, signal.SIGKILL)
        bot.process.wait(timeout=60)
        bot.slack.hold.set()
        db = Database(bot.db_path)
        try:
            assert DedupeStore(db).state(event_key(event_id)) == "done", bot.log()  # stored with its job
            with db.transaction() as conn:
                [(jobs,)] = conn.execute("SELECT count(*) FROM jobs WHERE kind = ?", (REPLY_JOB,)).fetchall()
            assert jobs == 1
        finally:
            db.close()

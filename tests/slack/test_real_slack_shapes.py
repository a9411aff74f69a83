"""The diagnosis reply against what Slack really sends and answers: Slack Connect file stubs, transient errors
answered `ok: false` with HTTP 200, and the like (shapes from Slack's docs and public reports)."""

from __future__ import annotations

import pytest

from bot.diagnosis.result import Diagnosis
from tests.fakes.bolt_server import CHANNEL, BotServer, mention_event, message_event, running_bot
from tests.fakes.slack_api import BOT_USER_ID, FakeSlackApi

TOKEN = "eyJhbGciOiJSUzI1NiJ9." + "eyJzY29wZSI6WyJkYXRhOnJlYWQiXX0." + "c2lnbmF0dXJlLXBhcnQtOTg3NjU0"
BEARER = f"Authorization: Bearer {TOKEN}"


def block_text(post) -> str:  # type: ignore[no-untyped-def]
    return str(post.json("blocks"))


@pytest.mark.parametrize(
    ("error", "taken"),
    [
        ("internal_error", False),
        ("fatal_error", False),
        ("fatal_error", True),
        ("service_unavailable", False),
        ("request_timeout", False),
    ],
)
def test_a_transient_slack_error_in_an_ok_false_answer_is_retried_not_dropped(
    settings, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], error: str, taken: bool
) -> None:
    """Slack answers these with HTTP 200 and `{"ok": false, "error": "internal_error"}` ("likely due to a
    transient issue on our end"; node-slack-sdk#1680 saw `fatal_error` so): the reply is retried like a 5xx,
    not dropped like `channel_not_found`, and posted once even when Slack had taken it ("it's possible some
    aspect of the operation succeeded")."""
    now = [1_800_000_000.0]
    event = message_event(aps_paste[0])
    slack.add_message(CHANNEL, event["ts"], event["text"])
    slack.fail_next("chat.postMessage", error=error, taken=taken)
    with running_bot(settings, clock=lambda: now[0]) as bot:
        bot.send_event(event)
        slack.wait_for("chat.postMessage")
        bot.drain()
        now[0] += 2  # the worker's first retry falls due
        bot.runtime.deps.wake_worker()
        slack.wait_for("conversations.replies" if taken else "chat.postMessage", count=1 if taken else 2)
        bot.drain()
    answers = [m for m in slack.thread(CHANNEL, event["ts"]) if m["ts"] != event["ts"]]
    assert len(answers) == 1


def test_a_snippet_in_a_slack_connect_channel_is_read_with_files_info(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """In a Slack Connect channel the file_share event carries only `{"id", "file_access":
    "check_file_info"}` (no preview): the snippet is read with files.info and diagnosed."""
    paste, expected = aps_paste
    slack.add_file("F0CONNECT1", paste)
    event = message_event(
        "",
        subtype="file_share",
        files=[{"id": "F0CONNECT1", "file_access": "check_file_info", "created": 1764421234}],
        is_ext_shared_channel=True,
    )
    bot.send_event(event)
    [post] = slack.wait_for("chat.postMessage")
    assert post.params["thread_ts"] == event["ts"]
    assert expected.best.title in block_text(post)


def forwarded(text: str, *, author: str = "U0OTHER01", **extra: object) -> dict:
    """A forwarded Slack message as the event carries it (Slack's "Forward message": `is_share`)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {
        "ts": "1724966776.474889",
        "author_id": author,
        "channel_id": "C0ELSEWHERE",
        "is_msg_unfurl": True,
        "is_share": True,
        "from_url": "https://fake-workspace.slack.com/archives/C0ELSEWHERE/p1724966776474889",
        "fallback": f"[November 29th, 2026 2:26 PM] someone: {escaped[:40]}",
        "text": escaped,
        "footer": "Slack Conversation",
        **extra,
    }


@pytest.mark.parametrize("where", ["dm", "channel", "mention"])
def test_a_forwarded_error_is_diagnosed(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], where: str
) -> None:
    """Forwarding a colleague's error (to the bot's DM, into the support channel, or with "@aps-bot what is
    this?") puts the error in `attachments`, not `text`: it is what gets diagnosed."""
    paste, expected = aps_paste
    attachments = [forwarded(paste)]
    if where == "mention":
        event = mention_event("what is this?", attachments=attachments)
    else:
        channel = "D0BOTDM01" if where == "dm" else CHANNEL
        kind = "im" if where == "dm" else "channel"
        event = message_event("", channel=channel, channel_type=kind, attachments=attachments)
    bot.send_event(event)
    [post] = slack.wait_for("chat.postMessage")
    assert post.params["thread_ts"] == event["ts"]
    assert expected.best.title in block_text(post)


def test_a_forwarded_answer_of_the_bot_is_not_answered_again(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], not_aps: str
) -> None:
    """Someone forwards the bot's diagnosis to the support channel ("see what the bot said"): its text names
    an APS cause, but it is the bot's own answer, not a paste."""
    paste = message_event(aps_paste[0])
    bot.send_event(paste)
    [post] = slack.wait_for("chat.postMessage")
    answer = {"blocks": post.json("blocks")}
    for author in (BOT_USER_ID, ""):  # posted by the bot, or Slack names no author: its blocks tell
        share = forwarded(post.params["text"], author=author, message_blocks=[{"message": answer}])
        bot.send_event(message_event("see what the bot said", attachments=[share]))
    bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_a_token_in_a_forwarded_message_is_diagnosed_but_warns_no_forwarder(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """The token sits in the forwarded message: it is not the forwarder's to rotate, and never echoed."""
    paste, expected = aps_paste
    event = message_event(
        "", channel="D0BOTDM01", channel_type="im", attachments=[forwarded(f"{paste}\n{BEARER}")]
    )
    bot.send_event(event)
    [post] = slack.wait_for("chat.postMessage")
    assert expected.best.title in block_text(post)
    bot.drain()
    assert slack.calls_to("chat.postEphemeral") == []
    assert TOKEN not in str([c.params for c in slack.calls])
    assert bot.runtime.deps.db.connection().execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


@pytest.mark.parametrize("failure", [{"status": 500}, {"status": 429, "retry_after": 30}])
def test_a_rotate_it_warning_slack_fails_to_take_is_retried_without_a_second_answer(
    settings, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], failure: dict
) -> None:
    """chat.postEphemeral answers 5xx (or a long 429) once: the poster of the token still hears to rotate it,
    when the reply job is retried, and the answer already posted is not posted again."""
    now = [1_800_000_000.0]
    event = message_event(f"{aps_paste[0]}\n{BEARER}")
    slack.fail_next("chat.postEphemeral", **failure)
    with running_bot(settings, clock=lambda: now[0]) as bot:
        bot.send_event(event)
        slack.wait_for("chat.postEphemeral")
        bot.drain()
        now[0] += 60  # past the worker's back-off and Slack's Retry-After
        bot.runtime.deps.wake_worker()
        slack.wait_for("chat.postEphemeral", count=2)
        bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1
    warning = slack.calls_to("chat.postEphemeral")[-1]
    assert warning.params["user"] == event["user"] and "rotate" in warning.params["text"]

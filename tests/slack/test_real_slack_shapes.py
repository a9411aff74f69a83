"""The diagnosis reply against what Slack really sends and answers: Slack Connect file stubs, transient errors
answered `ok: false` with HTTP 200, and the like (shapes from Slack's docs and public reports)."""

from __future__ import annotations

import pytest

from bot.diagnosis.result import Diagnosis
from tests.fakes.bolt_server import CHANNEL, BotServer, message_event, running_bot
from tests.fakes.slack_api import FakeSlackApi


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

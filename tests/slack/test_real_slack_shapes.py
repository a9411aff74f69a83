"""The diagnosis reply against what Slack really sends and answers: Slack Connect file stubs, transient errors
answered `ok: false` with HTTP 200, and the like (shapes from Slack's docs and public reports)."""

from __future__ import annotations

import threading

import pytest

from bot.diagnosis.result import Diagnosis
from tests.fakes.bolt_server import CHANNEL, BotServer, mention_event, message_event, next_ts, running_bot
from tests.fakes.polling import wait_until
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


def edit_of(original: dict, text: str, **changes: object) -> dict:
    """The `message_changed` Slack sends when the poster edits `original` (a message event) to `text`."""
    edited_ts = next_ts()
    message = {k: v for k, v in original.items() if k not in ("channel", "channel_type", "event_ts")}
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": original["channel"],
        "channel_type": original.get("channel_type", "channel"),
        "ts": edited_ts,
        "event_ts": edited_ts,
        "message": {
            **message,
            "text": text,
            "edited": {"user": original["user"], "ts": edited_ts},
            **changes,
        },
        "previous_message": message,
    }


def test_a_message_edited_into_an_aps_error_is_answered_once(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], not_aps: str
) -> None:
    """ "getting a 403 from the hubs call, any idea?" then, a minute later, edited to add the response body:
    the edit is what is diagnosed (once, however often Slack sends it: an unfurl sends it again)."""
    paste, expected = aps_paste
    original = message_event(not_aps)
    slack.add_message(CHANNEL, original["ts"], original["text"])
    bot.send_event(original)
    bot.drain()
    assert slack.calls_to("chat.postMessage") == []
    edit = edit_of(original, f"{not_aps}\n{paste}")
    bot.send_event(edit)
    [post] = slack.wait_for("chat.postMessage")
    assert post.params["thread_ts"] == original["ts"]
    assert expected.best.title in block_text(post)
    slack.wait_for_thread(CHANNEL, original["ts"], count=2)
    bot.send_event(edit)  # the same edit again, a new event id (an unfurl added to it)
    bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_an_edit_of_an_answered_paste_gets_no_second_answer(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    original = message_event(aps_paste[0])
    slack.add_message(CHANNEL, original["ts"], original["text"])
    bot.send_event(original)
    slack.wait_for_thread(CHANNEL, original["ts"], count=2)
    bot.send_event(edit_of(original, f"{aps_paste[0]}\n(edit: this is from the hubs call)"))
    bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize("where", ["top-level", "thread reply", "dm"])
def test_an_edit_that_adds_a_token_warns_its_poster(
    bot: BotServer, slack: FakeSlackApi, not_aps: str, where: str
) -> None:
    """The poster pastes the rest of their request, bearer token included, into a message they edit."""
    extra: dict = {"thread_ts": next_ts()} if where == "thread reply" else {}
    if where == "dm":
        extra = {"channel": "D0BOTDM01", "channel_type": "im"}
    original = message_event(not_aps, **extra)
    bot.send_event(original)
    bot.drain()
    bot.send_event(edit_of(original, f"{not_aps}\ncurl -H '{BEARER}' https://example.com"))
    [warning] = slack.wait_for("chat.postEphemeral")
    assert warning.params["user"] == original["user"] and "rotate" in warning.params["text"]
    bot.drain()
    assert TOKEN not in str([c.params for c in slack.calls])


def test_a_message_edited_to_mention_the_bot_is_answered(
    bot: BotServer, slack: FakeSlackApi, not_aps: str
) -> None:
    """Forgot to tag the bot, edited the message to add "@aps-bot": Slack sends the edit (and an app_mention
    marked `edited`); the mention gets its answer, once."""
    original = message_event(not_aps)
    slack.add_message(CHANNEL, original["ts"], original["text"])
    bot.send_event(original)
    bot.drain()
    text = f"<@{BOT_USER_ID}> {not_aps}"
    bot.send_event(edit_of(original, text))
    bot.send_event(
        mention_event(not_aps, ts=original["ts"], edited={"user": original["user"], "ts": next_ts()})
    )
    [post] = slack.wait_for("chat.postMessage")
    assert post.params["thread_ts"] == original["ts"] and "recognise" in post.params["text"]
    bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_an_unfurl_or_a_bots_edit_is_not_read_as_an_edit(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """Slack sends `message_changed` when it adds a link preview (no `edited`) and when a bot updates its
    own message: neither is someone editing a paste."""
    original = message_event(f"see {aps_paste[0]}")
    unfurl = edit_of(original, original["text"], attachments=[{"from_url": "https://aps.autodesk.com/x"}])
    del unfurl["message"]["edited"]
    bot.send_event(unfurl)
    bot.send_event(edit_of(message_event(aps_paste[0], user=BOT_USER_ID, bot_id="B0FAKEBOT"), aps_paste[0]))
    bot.drain()
    assert slack.calls_to("chat.postMessage") == []


def test_an_edit_queued_beside_its_messages_own_reply_waits_for_it(
    settings, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """A paste and its edit (a typo fixed seconds later) both queued while the worker was busy: taken side by
    side, the edit would read the thread before the paste's answer lands and answer again. The edit waits
    for the message's own reply to finish, then finds its answer."""
    now = [1_800_000_000.0]
    original = message_event(aps_paste[0])
    slack.add_message(CHANNEL, original["ts"], original["text"])
    with running_bot(settings, clock=lambda: now[0], worker=False) as bot:
        bot.send_event(original)
        bot.send_event(edit_of(original, f"{aps_paste[0]}\n(from the hubs call)"))
        bot.drain()
        db = bot.runtime.deps.db.connection()
        slack.hold = threading.Event()  # the paste's answer is stuck in Slack
        try:
            bot.runtime.start_worker(in_process=True)
            slack.wait_for("conversations.replies")  # its message edited, the paste's job looks first

            def edit_deferred() -> bool:
                row = db.execute("SELECT status, run_at FROM jobs ORDER BY id DESC LIMIT 1").fetchone()
                return row is not None and row["status"] == "pending" and row["run_at"] > now[0]

            wait_until(edit_deferred)
            assert len(slack.calls_to("conversations.replies")) == 1  # the edit has not read the thread
        finally:
            slack.hold.set()
        slack.wait_for_thread(CHANNEL, original["ts"], count=2)
        bot.drain()
        now[0] += 60
        bot.runtime.deps.wake_worker()
        slack.wait_for("conversations.replies", count=2)
        bot.drain()
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
    assert len(slack.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize("file", ["long snippet", "slack connect"])
def test_a_token_in_a_snippet_posted_in_a_thread_warns_its_poster(
    bot: BotServer, slack: FakeSlackApi, not_aps: str, file: str
) -> None:
    """A whole `curl -v` uploaded as a snippet in a support thread: the token sits past the preview Slack puts
    in the event (or the event names the file only): the snippet is read, and its poster warned."""
    head = "curl -v https://developer.api.autodesk.com/project/v1/hubs\n" + "> Accept: */*\n" * 6
    content = f"{head}{BEARER}\n< HTTP/1.1 403 Forbidden"
    slack.add_file("F0THREAD01", content)
    if file == "long snippet":
        stub = {"id": "F0THREAD01", "mode": "snippet", "preview": head, "preview_is_truncated": True}
    else:
        stub = {"id": "F0THREAD01", "file_access": "check_file_info"}
    event = message_event(not_aps, subtype="file_share", files=[stub], thread_ts=next_ts())
    bot.send_event(event)
    [warning] = slack.wait_for("chat.postEphemeral")
    assert warning.params["user"] == event["user"] and warning.params["thread_ts"] == event["thread_ts"]
    bot.drain()
    assert slack.calls_to("chat.postMessage") == []


def test_a_thank_you_in_the_thread_of_a_dm_answer_gets_no_canned_reply(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """In the bot's DM, "that fixed it, thanks!" under its answer got "I don't recognise this as an APS access
    error…" with the whole checklist, every time. A thread reply there is answered when it holds an error."""
    paste, expected = aps_paste
    dm = {"channel": "D0BOTDM01", "channel_type": "im"}
    question = message_event(paste, **dm)
    bot.send_event(question)
    slack.wait_for("chat.postMessage")
    bot.send_event(message_event("that fixed it, thanks!", thread_ts=question["ts"], **dm))
    bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1
    bot.send_event(message_event(f"now the hubs call says\n{paste}", thread_ts=question["ts"], **dm))
    posts = slack.wait_for("chat.postMessage", count=2)
    assert posts[1].params["thread_ts"] == question["ts"]
    assert expected.best.title in block_text(posts[1])


def test_a_thank_you_in_a_dm_thread_edited_to_hold_an_error_is_answered(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], not_aps: str
) -> None:
    """A reply in the bot's DM thread gets no canned answer, so it has no answer yet: edited to add the error
    it is answered, as the same reply posted with the error is (the edit was read for a secret only)."""
    paste, expected = aps_paste
    dm = {"channel": "D0BOTDM01", "channel_type": "im"}
    question = message_event(not_aps, **dm)
    slack.add_message(question["channel"], question["ts"], question["text"])
    bot.send_event(question)
    slack.wait_for("chat.postMessage")
    reply = message_event("thanks, trying that", thread_ts=question["ts"], **dm)
    slack.add_message(reply["channel"], reply["ts"], reply["text"], thread_ts=question["ts"])
    bot.send_event(reply)
    bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1
    bot.send_event(edit_of(reply, f"still failing:\n{paste}"))
    posts = slack.wait_for("chat.postMessage", count=2)
    assert posts[1].params["thread_ts"] == question["ts"]
    assert expected.best.title in block_text(posts[1])
    slack.wait_for_thread(question["channel"], question["ts"], count=4)
    bot.send_event(edit_of(reply, f"still failing (hubs call):\n{paste}"))  # a second edit: no second answer
    bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 2


def test_a_paste_whose_first_delivery_comes_after_its_edit_is_answered_once(
    bot: BotServer, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """The paste's delivery got a 503 (the database stuck a moment) and Slack retries it a minute later; the
    typo fix made meanwhile was stored and answered first. The paste's own job reads the thread first too."""
    original = message_event(aps_paste[0])
    slack.add_message(CHANNEL, original["ts"], original["text"])
    bot.send_event(edit_of(original, f"{aps_paste[0]}\n(from the hubs call)"))
    slack.wait_for("chat.postMessage")
    slack.wait_for_thread(CHANNEL, original["ts"], count=2)
    bot.send_event(original, retry_num=1)
    bot.drain()
    assert len(slack.calls_to("chat.postMessage")) == 1

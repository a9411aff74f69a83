"""Messages, mentions and DMs → a queued reply job, answered by the reply worker (`bot/worker.py`).

- Passive: every new top-level human message in a channel (with a message it forwards) is queued; the
  worker replies only when the core flags an APS error scoring at least `settings.bot_passive_min_score`.
- `app_mention`, DMs: always answered (an "I don't recognise this" answer when nothing matches; not to a
  thread reply in a DM); a mention inside a thread diagnoses the thread's parent message.
- A thread reply holding a secret (in a snippet past its preview too) gets only the ephemeral "rotate it"
  warning.
- An edit (`message_changed` with `edited`) is read like a new message, but answered only if its message
  has no answer yet (the worker reads the thread first); a secret it adds earns the warning.
- Bots (this one included), deletions and every other subtype are acked and ignored (so is an edited
  app_mention: its `message_changed` carries the edit).

The intake answers each delivery itself, as listener middleware: it hands the delivery to the inbox
(`bot/store/inbox.py`), which stores its keys (`event:<event_id>`, `msg:<channel>:<ts>`) together with the
job, and the ack goes out once they are committed. So retries, restarts and the app_mention +
message.channels pair produce one reply, and a crash right after the ack loses nothing; a delivery that
cannot be stored gets a 503 (Slack sends it again).
Diagnosing and posting happen in the worker, away from the process that acks Slack.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltResponse

from bot.diagnosis import redact
from bot.slack.attachments import attached_text
from bot.slack.deps import Deps
from bot.slack.replies import ANSWER, PASSIVE, REPLY_JOB, WARN, message_text, reply_job, truncated_snippets
from bot.store.dedupe import edit_key, event_key, message_key

log = logging.getLogger(__name__)

HANDLED_SUBTYPES = (None, "file_share", "thread_broadcast")
STORE_WAIT_SECONDS = 2.0  # Slack waits 3 s for an ack; a delivery not stored by then gets a 503
# A delivery still unstored after this long means a stuck database: the ones arriving then get a 503 at once
# instead of each holding a server thread for STORE_WAIT_SECONDS (slash commands and clicks need them).
STALLED_AFTER_SECONDS = 1.0


class NotStored(Exception):
    """A delivery that could not be stored in time: Slack must not hear that it was taken."""


def is_from_bot(event: dict[str, Any], bot_user_id: str) -> bool:
    return bool(
        event.get("bot_id")
        or event.get("subtype") == "bot_message"
        or event.get("bot_profile")
        or (bot_user_id and event.get("user") == bot_user_id)
        or not event.get("user")
    )


class MessageIntake:
    """Turns each message delivery into at most one queued reply job."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.inbox = deps.inbox  # created here, once, before any delivery arrives

    def on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if is_from_bot(event, self.deps.bot_user_id) or event.get("subtype") not in HANDLED_SUBTYPES:
            return
        is_dm = event.get("channel_type") == "im"
        top_level = event.get("thread_ts") in (None, event.get("ts"))
        if not is_dm and self.deps.bot_user_id and f"<@{self.deps.bot_user_id}" in (event.get("text") or ""):
            if event.get("files"):  # answered as the mention, files and all (its app_mention may lack them)
                self.on_mention(body, event)
            return  # else the app_mention delivery of this message answers it
        attached = attached_text(event, bot_user_id=self.deps.bot_user_id)  # a forwarded message
        if is_dm:
            text = message_text(event, drop_mentions=True)
            job = reply_job(ANSWER, event, text, attached=attached)
            # a reply in a thread ("thanks, that fixed it") gets an answer only when it holds an error
            self._accept(body, event, {**job, "quiet": not top_level})
        elif top_level:
            self._accept(body, event, reply_job(PASSIVE, event, message_text(event), attached=attached))
        elif redact(text := message_text(event)).found or truncated_snippets(event):
            self._accept(body, event, reply_job(WARN, event, text))  # the worker reads cut snippets whole

    def on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if is_from_bot(event, self.deps.bot_user_id) or event.get("edited"):
            return  # Slack sends an edited mention again: it was answered when it was posted
        thread_ts = event.get("thread_ts")
        in_thread = bool(thread_ts) and thread_ts != event.get("ts")
        text = message_text(event, drop_mentions=True)
        attached = attached_text(event, bot_user_id=self.deps.bot_user_id)
        unseen = not in_thread and not event.get("files")  # Slack may leave a snippet out of an app_mention
        job = reply_job(ANSWER, event, text, attached=attached, parent=in_thread, files_unseen=unseen)
        self._accept(body, event, job)

    def on_edit(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """A message its poster edited (`message_changed` whose message carries `edited`): the edit that
        turns chatter into an APS error is answered, one that adds "@aps-bot" gets the answer a mention gets,
        one that adds a secret earns the warning. The job reads the thread first (`again`), so a message
        answered already (before or after its edit) gets no second answer."""
        message = event.get("message") or {}
        edited = {**message, "channel": event.get("channel", ""), "channel_type": event.get("channel_type")}
        if is_from_bot(edited, self.deps.bot_user_id) or edited.get("subtype") not in HANDLED_SUBTYPES:
            return
        bot, text = self.deps.bot_user_id, message_text(edited)
        is_dm = edited.get("channel_type") == "im"
        thread_ts = edited.get("thread_ts")
        in_thread = bool(thread_ts) and thread_ts != edited.get("ts")
        attached = attached_text(edited, bot_user_id=bot)
        if not is_dm and bot and f"<@{bot}" in (edited.get("text") or ""):
            own = message_text(edited, drop_mentions=True)
            job = reply_job(ANSWER, edited, own, attached=attached, parent=in_thread)
        elif not is_dm and not in_thread:
            job = reply_job(PASSIVE, edited, text, attached=attached)
        elif is_dm:  # as a DM is: its thread replies, answered only when they hold an error, are now too
            own = message_text(edited, drop_mentions=True)
            job = {**reply_job(ANSWER, edited, own, attached=attached), "quiet": True}
        elif redact(text).found:
            job = reply_job(WARN, edited, text)
        else:
            return
        key = edit_key(edited["channel"], edited.get("ts", ""), str((message.get("edited") or {}).get("ts")))
        self._accept(body, edited, {**job, "again": True, "edit": True}, key=key)

    @staticmethod
    def on_ignored(event: dict[str, Any]) -> None:
        """Acked (Bolt did it) and dropped: edits, deletions, joins, bot posts and other subtypes."""
        log.debug("ignored message subtype %s", event.get("subtype"))

    def _accept(
        self, body: dict[str, Any], event: dict[str, Any], job: dict[str, Any], *, key: str | None = None
    ) -> None:
        """Store the delivery's keys and job (together, in the inbox's next batch) before returning. `key`:
        the delivery's own key instead of the message's (an edit of a message delivered before)."""
        channel, ts = event.get("channel", ""), event.get("ts", "")
        keys = [event_key(body.get("event_id", "")), key or message_key(channel, ts)]
        if (waited := self.inbox.waiting_for()) > STALLED_AFTER_SECONDS:
            raise NotStored(f"{keys[0]} (the inbox has been stuck for {waited:.1f} s)")
        if not self.inbox.put(keys, REPLY_JOB, job).wait(STORE_WAIT_SECONDS):
            raise NotStored(f"{keys[0]} (not stored within {STORE_WAIT_SECONDS:.0f} s)")


def acks_once_stored(intake: Callable[[dict[str, Any], dict[str, Any]], None]) -> Callable[..., BoltResponse]:
    """Bolt listener middleware that answers the delivery itself: `intake(body, event)`, then the ack (Bolt
    would ack an event before its listener runs, so the listener is never reached). A delivery that could
    not be stored is answered 503, not acked; one the intake fails on (a bug) is logged and acked, as
    Slack's retries would only fail the same way."""

    def middleware(body: dict[str, Any], event: dict[str, Any]) -> BoltResponse:
        try:
            intake(body, event)
        except NotStored as exc:
            log.warning("delivery %s not stored: Slack gets a 503 and retries it", exc)
            return BoltResponse(status=503, body="")
        except Exception:
            log.exception("delivery %s could not be taken in; acked all the same", body.get("event_id"))
        return BoltResponse(status=200, body="")

    return middleware


def never_reached() -> None:
    """Bolt needs a listener to attach middleware to; `acks_once_stored` answers every delivery first.
    (Running a listener that does nothing cost the acking process about a tenth of its throughput.)"""


def register(app: App, deps: Deps) -> None:
    """Channel/group/DM messages and mentions (`register_ignored` adds the ack-only listener for the rest).

    Bolt tries listeners in registration order and each failed match costs about as much as our whole
    intake, so the most frequent event, a plain message, is matched first."""
    intake = MessageIntake(deps)
    app.event(
        {"type": "message", "subtype": HANDLED_SUBTYPES}, middleware=[acks_once_stored(intake.on_message)]
    )(never_reached)
    app.event("app_mention", middleware=[acks_once_stored(intake.on_mention)])(never_reached)
    app.event(
        {"type": "message", "subtype": "message_changed"},
        matchers=[is_user_edit],
        middleware=[acks_once_stored(intake.on_edit)],
    )(never_reached)


def is_user_edit(event: dict[str, Any]) -> bool:
    """A `message_changed` made by editing the message (not an unfurl, a language tag or a deletion that left
    a tombstone, which `listeners/checklist.py` looks at)."""
    message = event.get("message")
    return isinstance(message, dict) and bool(message.get("edited")) and message.get("subtype") != "tombstone"


def register_ignored(app: App, deps: Deps) -> None:
    """The ack-only listener for every other message subtype: registered last, after the other modules'
    listeners for particular subtypes (a deleted checklist parent)."""
    app.event("message")(MessageIntake.on_ignored)

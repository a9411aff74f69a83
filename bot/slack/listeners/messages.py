"""Messages, mentions and DMs → a diagnosis in the thread.

- Passive: a new top-level human message in a channel is diagnosed; the bot replies only when the core
  flags an APS error scoring at least `settings.bot_passive_min_score`.
- `app_mention`, DMs: always answered (an "I don't recognise this" answer when nothing matches); a mention
  inside a thread diagnoses the thread's parent message.
- Bots (this one included), edits, deletions and every other subtype are acked and ignored.
- Every delivery claims `event:<event_id>` and `msg:<channel>:<ts>` in the dedupe store before any work, so
  retries, restarts and the app_mention + message.channels pair produce one reply.

Listeners (on Bolt's workers, after the automatic ack) filter, claim, and for passive messages diagnose
(pure, sub-millisecond, so chatter costs no thread hop and no storage); every Web API call runs on
`deps.executor`.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.diagnosis import Diagnosis, redact
from bot.slack.blocks import (
    diagnosis_blocks,
    secret_warning_text,
    slack_to_plain,
    unrecognised_blocks,
)
from bot.slack.deps import Deps
from bot.store.dedupe import DedupeStore, event_key, message_key
from bot.store.feedback import FeedbackStore

log = logging.getLogger(__name__)

HANDLED_SUBTYPES = (None, "file_share", "thread_broadcast")
PURGE_EVERY_CLAIMS = 1000
DEDUPE_MEMORY_SECONDS = 86_400  # Slack stops retrying within minutes; a day is plenty
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")


def is_retriable(exc: BaseException) -> bool:
    """A failure worth Slack's retry: 5xx, rate limit left after our own retries, or a network error."""
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200)
        return status >= 500 or status == 429
    return isinstance(exc, OSError)


def log_slack_error(what: str, exc: BaseException) -> None:
    """Log a failure by its Slack error code or exception type only: never a token, never the paste."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        log.warning(
            "%s: Slack answered %s %s", what, getattr(response, "status_code", "?"), response.get("error")
        )
    else:
        log.error("%s failed: %s", what, type(exc).__name__, exc_info=not isinstance(exc, OSError))


def message_text(message: dict[str, Any], *, drop_mentions: bool = False) -> str:
    """The text worth diagnosing: the message (without user mentions if asked), its code blocks, and the
    preview of attached snippets, as plain text."""
    text = message.get("text") or ""
    parts = [_MENTION.sub(" ", text).strip() if drop_mentions else text]
    for file in message.get("files") or []:
        snippet = file.get("preview") or file.get("plain_text") or ""
        if snippet:
            parts.append(snippet)
    text = slack_to_plain("\n".join(p for p in parts if p))
    return text.replace("```", "\n")


def is_from_bot(event: dict[str, Any], bot_user_id: str) -> bool:
    return bool(
        event.get("bot_id")
        or event.get("subtype") == "bot_message"
        or event.get("bot_profile")
        or (bot_user_id and event.get("user") == bot_user_id)
        or not event.get("user")
    )


class DiagnosisResponder:
    """Turns one message into at most one threaded reply (and an ephemeral secret warning)."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.dedupe = DedupeStore(deps.db)
        self.feedback = FeedbackStore(deps.db)
        self.owner = f"responder-{uuid.uuid4().hex[:12]}"
        self._claims = 0

    # -- listeners (run on Bolt's workers after the automatic ack) ----------------------------------------
    def on_message(self, body: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
        if is_from_bot(event, self.deps.bot_user_id) or event.get("subtype") not in HANDLED_SUBTYPES:
            return
        channel, ts = event.get("channel", ""), event.get("ts", "")
        is_dm = event.get("channel_type") == "im"
        top_level = event.get("thread_ts") in (None, ts)
        if not is_dm and self.deps.bot_user_id and f"<@{self.deps.bot_user_id}" in (event.get("text") or ""):
            return  # the app_mention delivery of this message answers it
        if not is_dm and not top_level:
            self._submit(self._warn_only, client, event)
            return
        keys = [event_key(body.get("event_id", "")), message_key(channel, ts)]
        if is_dm:
            if self._claim(keys):
                self._submit(self._answer, client, event, keys, in_thread_parent=False)
        else:
            self._passive(client, event, keys)

    def on_mention(self, body: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
        if is_from_bot(event, self.deps.bot_user_id):
            return
        keys = [
            event_key(body.get("event_id", "")),
            message_key(event.get("channel", ""), event.get("ts", "")),
        ]
        if self._claim(keys):
            thread_ts = event.get("thread_ts")
            in_thread = bool(thread_ts) and thread_ts != event.get("ts")
            self._submit(self._answer, client, event, keys, in_thread_parent=in_thread)

    def on_ignored(self, event: dict[str, Any]) -> None:
        """Acked (Bolt did it) and dropped: edits, deletions, joins, bot posts and other subtypes."""
        log.debug("ignored message subtype %s", event.get("subtype"))

    def _passive(self, client: WebClient, event: dict[str, Any], keys: list[str]) -> None:
        """Channel message: diagnose here (pure and sub-millisecond), and only when there is something to
        post claim the keys and hand the posting to deps.executor. Chatter costs no storage and no thread
        hop; a retry of chatter is diagnosed the same way and stays silent too."""
        text = message_text(event)
        diagnosis = self.deps.diagnoser.diagnose(text)
        best = diagnosis.best
        confident = (
            diagnosis.is_aps_error
            and best is not None
            and best.score >= self.deps.settings.bot_passive_min_score
        )
        secret = redact(text).found
        if (confident or secret) and self._claim(keys):
            self._submit(self._post_passive, client, event, keys, diagnosis if confident else None, secret)

    # -- work (runs on deps.executor) ---------------------------------------------------------------------
    def _post_passive(
        self,
        client: WebClient,
        event: dict[str, Any],
        keys: list[str],
        diagnosis: Diagnosis | None,
        secret: bool,
    ) -> None:
        channel, ts = event["channel"], event["ts"]
        try:
            if secret:
                self.warn_poster(client, event)
            if diagnosis is not None:
                self.post_answer(client, diagnosis, channel=channel, thread_ts=ts)
        except Exception as exc:
            self._finish_failed(keys, exc)
            return
        self.dedupe.done(keys, now=self.deps.clock())

    def _answer(
        self, client: WebClient, event: dict[str, Any], keys: list[str], *, in_thread_parent: bool
    ) -> None:
        """Mention or DM (already claimed): always answer, in the thread."""
        channel, ts = event["channel"], event["ts"]
        thread_ts = event.get("thread_ts") or ts
        try:
            text = message_text(event, drop_mentions=True)
            self.warn_if_secret(client, event, text)
            if in_thread_parent:
                parent = self._parent(client, channel, thread_ts)
                text = f"{message_text(parent)}\n{text}" if parent else text
            self.reply(client, text, channel=channel, thread_ts=thread_ts)
        except Exception as exc:
            self._finish_failed(keys, exc)
            return
        self.dedupe.done(keys, now=self.deps.clock())

    def reply(self, client: WebClient, text: str, *, channel: str, thread_ts: str) -> None:
        """Diagnose `text` and post the answer (or "I don't recognise this") in `thread_ts`."""
        self.post_answer(client, self.deps.diagnoser.diagnose(text), channel=channel, thread_ts=thread_ts)

    def post_answer(self, client: WebClient, diagnosis: Diagnosis, *, channel: str, thread_ts: str) -> None:
        best = diagnosis.best
        recognised = diagnosis.is_aps_error and best is not None
        if recognised:
            fallback, blocks = diagnosis_blocks(diagnosis, self.deps.kb, channel=channel, ts=thread_ts)
        else:
            fallback, blocks = unrecognised_blocks(self.deps.kb, channel=channel, ts=thread_ts)
        client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=fallback, blocks=blocks, unfurl_links=False
        )
        if recognised:
            self.feedback.record_diagnosis(channel, thread_ts, best.id, self.deps.clock())

    def _warn_only(self, client: WebClient, event: dict[str, Any]) -> None:
        try:
            self.warn_if_secret(client, event, message_text(event))
        except Exception as exc:
            log_slack_error("chat.postEphemeral", exc)

    def warn_if_secret(self, client: WebClient, event: dict[str, Any], text: str) -> None:
        if redact(text).found:
            self.warn_poster(client, event)

    def warn_poster(self, client: WebClient, event: dict[str, Any]) -> None:
        """Ephemeral "rotate it" to whoever posted `event` (the secret itself is never repeated)."""
        thread_ts = event.get("thread_ts")
        extra = {"thread_ts": thread_ts} if thread_ts else {}
        client.chat_postEphemeral(
            channel=event["channel"], user=event["user"], text=secret_warning_text(), **extra
        )

    def _parent(self, client: WebClient, channel: str, thread_ts: str) -> dict[str, Any] | None:
        response = client.conversations_replies(channel=channel, ts=thread_ts, limit=1)
        messages = response.get("messages") or []
        return messages[0] if messages else None

    # -- plumbing -----------------------------------------------------------------------------------------
    def _claim(self, keys: list[str]) -> bool:
        now = self.deps.clock()
        claimed = self.dedupe.claim(keys, owner=self.owner, now=now)
        self._claims += 1
        if self._claims % PURGE_EVERY_CLAIMS == 0:
            self.dedupe.purge(before=now - DEDUPE_MEMORY_SECONDS)
        if not claimed:
            log.info("duplicate delivery dropped (%s)", keys[0])
        return claimed

    def _finish_failed(self, keys: list[str], exc: Exception) -> None:
        log_slack_error("diagnosis reply", exc)
        if is_retriable(exc):
            self.dedupe.release(keys, owner=self.owner)  # Slack's retry gets another go
        else:
            self.dedupe.done(keys, now=self.deps.clock())  # permanent (channel_not_found, …): stop here

    def _submit(self, work: Any, *args: Any, **kwargs: Any) -> None:
        def run() -> None:
            try:
                work(*args, **kwargs)
            except Exception as exc:
                log_slack_error(getattr(work, "__name__", "work"), exc)

        self.deps.executor.submit(run)


def register(app: App, deps: Deps) -> None:
    """Mentions, channel/group/DM messages, and an ack-only listener for every other message subtype."""
    responder = DiagnosisResponder(deps)
    app.event("app_mention")(responder.on_mention)
    app.event({"type": "message", "subtype": HANDLED_SUBTYPES})(responder.on_message)
    app.event("message")(responder.on_ignored)

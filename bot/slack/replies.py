"""The work behind a message: diagnose it and post the answer in its thread, warn a poster who pasted a
secret, record what was diagnosed. Runs in the reply worker (`bot/worker.py`) for messages and on
`deps.executor` for the message shortcut; never inside a listener that Slack waits on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.diagnosis import Diagnosis, redact
from bot.slack.attachments import attached_text, snippet_preview
from bot.slack.blocks import diagnosis_blocks, secret_warning_text, slack_to_plain, unrecognised_blocks
from bot.slack.deps import Deps
from bot.slack.failures import is_retriable
from bot.store.dedupe import DedupeStore, message_key, warned_key
from bot.store.feedback import FeedbackStore

log = logging.getLogger(__name__)

_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")

Answered = Callable[[dict[str, Any]], None]  # stores a reply job's payload, marked answered
REPLY_JOB = "reply"  # the kind of the stored job (bot/store/jobs.py) that carries one message's reply
# what a queued reply job asks for (payload["action"])
PASSIVE = "passive"  # channel message: answer only when confident, warn about a pasted secret
ANSWER = "answer"  # mention or DM: always answer
WARN = "warn"  # thread reply holding a secret: only the ephemeral warning
# The event_type of the (invisible) message metadata on a queued reply's answer, naming the message answered:
# a job taken again after its worker died looks for it before answering, so the answer is posted once.
ANSWER_METADATA = "aps_bot_answer"


def log_slack_error(what: str, exc: BaseException) -> None:
    """Log a failure by its Slack error code or exception type only: never a token, never the paste."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        log.warning(
            "%s: Slack answered %s %s", what, getattr(response, "status_code", "?"), response.get("error")
        )
    else:
        log.error("%s failed: %s", what, type(exc).__name__, exc_info=not isinstance(exc, OSError))


def tell_clicker(
    client: WebClient,
    respond: Callable[..., Any] | None,
    *,
    channel: str,
    user: str,
    text: str,
    thread_ts: str | None = None,
) -> None:
    """An ephemeral message to whoever clicked. Someone reading a public channel without being in it can
    click, but Slack refuses them an ephemeral message (`user_not_in_channel`): they get it through the
    click's response_url (`respond`) instead. Other Slack errors are raised."""
    try:
        client.chat_postEphemeral(
            channel=channel, user=user, text=text, **({"thread_ts": thread_ts} if thread_ts else {})
        )
    except SlackApiError as exc:
        if exc.response.get("error") != "user_not_in_channel" or respond is None:
            raise
        respond(text=text, response_type="ephemeral", replace_original=False)


def respond_privately(respond: Callable[..., Any], text: str) -> None:
    """`text` to whoever clicked or ran the shortcut, through its response_url; a failure is only logged."""
    try:
        respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception as exc:
        log_slack_error("response_url", exc)


def message_text(message: dict[str, Any], *, drop_mentions: bool = False) -> str:
    """The text worth diagnosing: the message (without user mentions if asked), its code blocks, and the
    preview of attached snippets, as plain text."""
    text = message.get("text") or ""
    parts = [_MENTION.sub(" ", text).strip() if drop_mentions else text]
    parts += [snippet_preview(file) for file in message.get("files") or []]
    text = slack_to_plain("\n".join(p for p in parts if p))
    return text.replace("```", "\n")


MAX_SNIPPETS_READ = 3
MAX_SNIPPET_CHARS = 40_000  # Slack's message limit: a longer snippet is read this far


def truncated_snippets(message: dict[str, Any]) -> list[str]:
    """Ids of the message's snippets whose preview Slack cut short (a long `curl -v` whose error sits past the
    first lines), or left out (a Slack Connect channel's event carries only `{"id", "file_access":
    "check_file_info"}`): their whole text is read with files.info before diagnosing."""
    return [
        str(file["id"])
        for file in message.get("files") or []
        if file.get("id")
        and (
            file.get("preview_is_truncated")
            or file.get("lines_more")
            or file.get("file_access") == "check_file_info"
        )
    ][:MAX_SNIPPETS_READ]


def reply_job(
    action: str,
    event: dict[str, Any],
    text: str,
    *,
    attached: str = "",
    parent: bool = False,
    files_unseen: bool = False,
) -> dict[str, Any]:
    """The payload of a queued reply: where to answer and the text with every secret already redacted
    (the queue is stored on disk; the paste's secrets never are). `attached`: what the message carries from
    elsewhere (a forwarded message), diagnosed with `text`, but a secret in it is not the poster's to rotate.
    `parent`: the thread's parent message is the paste; `files_unseen`: the message may carry snippets the
    event did not, read them if need be."""
    redaction = redact("\n".join(p for p in (text, attached) if p))
    return {
        "action": action,
        "channel": event.get("channel", ""),
        "ts": event.get("ts", ""),
        "thread_ts": event.get("thread_ts"),
        "user": event.get("user", ""),
        "text": redaction.text,
        "secret": redact(text).found if attached else redaction.found,
        "parent": parent,
        "files_unseen": files_unseen,
        "snippets": truncated_snippets(event),
    }


class Replier:
    """Diagnoses and posts; every method may raise the Web API's errors for its caller to handle."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.feedback = FeedbackStore(deps.db)
        self.dedupe = DedupeStore(deps.db)

    def handle(
        self,
        client: WebClient,
        job: dict[str, Any],
        answered: Answered = lambda _: None,
        *,
        again: bool = False,
    ) -> None:
        """Carry out one queued reply (see `reply_job`). When a warning follows the answer, `answered(job)`
        is called with the job marked answered as soon as the answer is out, for the caller to store: a job
        run again after a crash in between then posts no second answer, and only warns. `again`: an earlier
        run of this job may have posted the answer before it died (or lost Slack's reply): the thread is
        read first, and an answer found there (or a warning recorded as given) is not sent twice. A job queued
        with `"again": True` (the shortcut's post failed, perhaps after Slack took it) is read first too."""
        again = again or bool(job.get("again"))
        secret = job["secret"]
        if not job.get("answered"):
            found, parent = self._answer(client, job, again=again)
            secret = found or secret
            if secret:
                job = {**job, "answered": True, "secret": True, "secret_parent": parent}
                answered(job)
        # After the answer: a retried job then warns once, and a failed warning loses no answer (nor does a
        # warning an earlier run recorded as given go out again: see `warn_poster`).
        if secret:
            self.warn_poster(
                client,
                channel=job["channel"],
                user=job["user"],
                ts=job["ts"],
                thread_ts=job.get("thread_ts"),
                parent=job.get("secret_parent"),
                retry_later=True,  # the job, stored answered, is retried for the warning alone
            )

    def _answer(
        self, client: WebClient, job: dict[str, Any], *, again: bool = False
    ) -> tuple[bool, str | None]:
        """Post the job's answer, if it gets one (once: see `handle`); (whether what was diagnosed held a
        secret of the asker's, the ts of their own parent when its secret is among them)."""
        channel, ts = job["channel"], job["ts"]
        if job["action"] == PASSIVE:
            diagnosis = self.deps.diagnoser.diagnose(
                self.with_snippets(client, job["text"], job.get("snippets"))
            )
            best = diagnosis.best
            if diagnosis.is_aps_error and best and best.score >= self.deps.settings.bot_passive_min_score:
                self._post_once(client, diagnosis, job, thread_ts=ts, again=again)
            return diagnosis.secrets_found, None
        if job["action"] != ANSWER:  # WARN: a secret in the snippets past their preview is the poster's too
            snippets = job.get("snippets")
            return bool(snippets) and redact(self.with_snippets(client, "", snippets)).found, None
        thread_ts = job.get("thread_ts") or ts
        own = self.with_snippets(client, job["text"], job.get("snippets"))
        text, own_parent = own, None
        if job["parent"] and (parent := self._parent(client, channel, thread_ts)):
            parent_text = message_text(parent)
            attached = attached_text(parent, bot_user_id=self.deps.bot_user_id)
            text = "\n".join(p for p in (parent_text, attached, own) if p)
            if parent.get("user") == job["user"] and not self._delivered(channel, thread_ts):
                # the asker's own parent, which the bot never saw (so never warned about); what it forwards
                # is someone else's
                own = f"{parent_text}\n{own}"
                own_parent = thread_ts if redact(parent_text).found else None
        diagnosis = self.deps.diagnoser.diagnose(text)
        if not diagnosis.is_aps_error and job.get("files_unseen"):
            diagnosis = self._with_files(client, channel, ts) or diagnosis
        # "quiet": a reply in a DM thread, answered only when it holds an error
        if not job.get("quiet") or (diagnosis.is_aps_error and diagnosis.best is not None):
            self._post_once(client, diagnosis, job, thread_ts=thread_ts, again=again)
        # Only what the asker posted: a secret in the parent is its author's to rotate, not theirs.
        return (redact(own).found if text is not own else diagnosis.secrets_found), own_parent

    def with_snippets(self, client: WebClient, text: str, snippets: list[str] | None) -> str:
        """`text` followed by the whole text of the given snippets (files.info), as far as Slack gives it: a
        snippet it will not give (`missing_scope` before the app is reinstalled, a deleted file) is left at
        its preview. A failure worth retrying is raised for the worker to retry."""
        parts = [text]
        for file_id in snippets or []:
            try:
                content = client.files_info(file=file_id).get("content")
            except SlackApiError as exc:
                if is_retriable(exc):
                    raise
                log_slack_error("snippet", exc)
                continue
            if isinstance(content, str):
                parts.append(content[:MAX_SNIPPET_CHARS])
        return "\n".join(parts)

    def reply(self, client: WebClient, text: str, *, channel: str, thread_ts: str, answers: str = "") -> None:
        """Diagnose `text` and post the answer (or "I don't recognise this") in `thread_ts` (`answers`: see
        `post_answer`)."""
        diagnosis = self.deps.diagnoser.diagnose(text)
        self.post_answer(client, diagnosis, channel=channel, thread_ts=thread_ts, answers=answers)

    def post_answer(
        self, client: WebClient, diagnosis: Diagnosis, *, channel: str, thread_ts: str, answers: str = ""
    ) -> None:
        """Post the diagnosis in `thread_ts`; `answers`: the ts of the message it answers, kept in the post's
        metadata for `_answered_before`."""
        best = diagnosis.best
        recognised = diagnosis.is_aps_error and best is not None
        if recognised:
            fallback, blocks = diagnosis_blocks(diagnosis, self.deps.kb, channel=channel, ts=thread_ts)
        else:
            fallback, blocks = unrecognised_blocks(self.deps.kb, channel=channel, ts=thread_ts)
        metadata = {"event_type": ANSWER_METADATA, "event_payload": {"ts": answers}} if answers else None
        client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=fallback,
            blocks=blocks,
            unfurl_links=False,
            metadata=metadata,
        )
        self._count(diagnosis, channel=channel, thread_ts=thread_ts)

    def _count(self, diagnosis: Diagnosis, *, channel: str, thread_ts: str) -> None:
        """Record the diagnosis answered in `thread_ts` for the stats, if it named a cause (counted once)."""
        if diagnosis.is_aps_error and diagnosis.best is not None:
            self.feedback.record_diagnosis(channel, thread_ts, diagnosis.best.id, self.deps.clock())

    def warn_poster(
        self,
        client: WebClient,
        *,
        channel: str,
        user: str,
        ts: str,
        thread_ts: str | None,
        parent: str | None = None,
        retry_later: bool = False,
    ) -> None:
        """Ephemeral "rotate it" to whoever posted the secret in message `ts` (the secret itself is never
        repeated), once per message. Best effort: a poster who left the channel (`user_not_in_channel`) or any
        other failure is only logged; with `retry_later`, a failure worth retrying (5xx, 429, network) is
        raised instead, for the reply worker to try again. A warning given is remembered for good (delivery
        keys are forgotten after a day): a mention under this message by its poster, the shortcut run on it or
        a retried job, however much later, adds no second warning. `parent`: their own thread parent whose
        secret the warning covered too (remembered the same way)."""
        if self.dedupe.state(warned_key(channel, ts)) is not None:
            return
        extra = {"thread_ts": thread_ts} if thread_ts else {}
        try:
            client.chat_postEphemeral(channel=channel, user=user, text=secret_warning_text(), **extra)
            for warned in (ts, parent):
                if warned:
                    self.dedupe.record([warned_key(channel, warned)], now=self.deps.clock())
        except Exception as exc:
            if retry_later and is_retriable(exc):
                raise
            log_slack_error("secret warning", exc)

    def _post_once(
        self, client: WebClient, diagnosis: Diagnosis, job: dict[str, Any], *, thread_ts: str, again: bool
    ) -> None:
        """Post the job's answer in `thread_ts`, unless `again` and the thread holds it already: then only
        count it, as the worker that posted it may have died before it could."""
        channel, ts = job["channel"], job["ts"]
        if again and self._answered_before(client, channel, thread_ts, ts):
            if not job.get("edit"):  # an edit's diagnosis is not what was answered (and counted)
                self._count(diagnosis, channel=channel, thread_ts=thread_ts)
        else:
            self.post_answer(client, diagnosis, channel=channel, thread_ts=thread_ts, answers=ts)

    def _answered_before(self, client: WebClient, channel: str, thread_ts: str, ts: str) -> bool:
        """Whether the thread holds the bot's answer to message `ts` (its metadata names `ts`). A thread Slack
        will not read (deleted, `missing_scope`) counts as unanswered; a failure worth retrying is raised for
        the worker to retry."""
        try:
            response = client.conversations_replies(
                channel=channel, ts=thread_ts, oldest=ts, inclusive=True, include_all_metadata=True, limit=200
            )
        except SlackApiError as exc:
            if is_retriable(exc):
                raise
            log_slack_error("thread read before answering again", exc)
            return False
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == ANSWER_METADATA
                and (metadata.get("event_payload") or {}).get("ts") == ts
            ):
                log.info("reply to %s was posted by a worker that died; not posting it again", ts)
                return True
        return False

    def _delivered(self, channel: str, ts: str) -> bool:
        """Whether Slack delivered this message to the bot (whose reply job warned its poster then): its
        delivery key (kept a day) or the warning (kept for good) is stored."""
        keys = (message_key(channel, ts), warned_key(channel, ts))
        return any(self.dedupe.state(key) is not None for key in keys)

    def _with_files(self, client: WebClient, channel: str, ts: str) -> Diagnosis | None:
        """The diagnosis of the mentioning message read back with its snippets, if it has any."""
        message = self._parent(client, channel, ts)  # a top-level message is its own thread's parent
        if not message or not message.get("files"):
            return None
        text = self.with_snippets(
            client, message_text(message, drop_mentions=True), truncated_snippets(message)
        )
        return self.deps.diagnoser.diagnose(text)

    def _parent(self, client: WebClient, channel: str, thread_ts: str) -> dict[str, Any] | None:
        """The thread's parent message; None when Slack will not give it (deleted: `thread_not_found`; a
        conversation whose history the app may not read: `missing_scope`), so the mention alone is answered.
        A failure worth retrying (5xx, 429, network) is raised for the worker to retry."""
        try:
            response = client.conversations_replies(channel=channel, ts=thread_ts, limit=1)
        except SlackApiError as exc:
            if is_retriable(exc):
                raise
            log_slack_error("thread parent", exc)
            return None
        messages = response.get("messages") or []
        return messages[0] if messages else None

"""Message shortcut "Diagnose this error" (callback_id `diagnose_message`): answer in the message's thread.

The answer is posted at once from the serving process; if Slack fails in a way worth retrying (5xx, a 429
past the client's own retries, the network), the reply is queued for the reply worker, which retries it.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.diagnosis import redact
from bot.slack.attachments import attached_text
from bot.slack.blocks import diagnosis_blocks, unrecognised_blocks
from bot.slack.deps import Deps
from bot.slack.failures import failure_name, is_retriable
from bot.slack.listeners.messages import is_from_bot
from bot.slack.replies import (
    ANSWER,
    REPLY_JOB,
    Replier,
    log_slack_error,
    message_text,
    reply_job,
    respond_privately,
    truncated_snippets,
)

log = logging.getLogger(__name__)

DIAGNOSE_MESSAGE = "diagnose_message"
NOT_IN_CHANNEL = (
    ":wave: Only you can see this: I'm not in this conversation. Invite me with `/invite @aps-bot` and run "
    "the shortcut again for an answer in the thread, with the checklist and feedback buttons."
)
OWN_ANSWER = (
    ":information_source: That is my own answer. Run *Diagnose this error* on the message that holds the "
    "error (in this thread, the one I answered)."
)
RESTRICTED = (
    ":wave: Only you can see this: this channel does not let me post (it is read-only, or its threads are "
    "off). For an answer in a thread, with the checklist and feedback buttons, paste the error in a channel "
    "I'm in or in a DM to me."
)
NOT_IN = ("not_in_channel", "channel_not_found")
# Slack's answers to a post the bot may never make there: the answer goes to the shortcut's user alone.
CANNOT_POST = (
    *NOT_IN,
    "restricted_action",
    "restricted_action_read_only_channel",
    "restricted_action_non_threadable_channel",
)
NOT_IN_DM = (
    ":wave: Only you can see this: I can't post in a direct message between people. For an answer in a "
    "thread, with the checklist and feedback buttons, paste the error in a channel I'm in or in a DM to me."
)


def register(app: App, deps: Deps) -> None:
    replier = Replier(deps)

    def diagnose_message(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        deps.submit(_diagnose, replier, body, client, respond)

    app.shortcut(DIAGNOSE_MESSAGE)(diagnose_message)


def _diagnose(replier: Replier, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id", "")
    thread_ts = message.get("thread_ts") or message.get("ts", "")
    if replier.deps.bot_user_id and message.get("user") == replier.deps.bot_user_id:
        # diagnosing its own words would only answer itself in the thread
        respond_privately(respond, OWN_ANSWER)
        return
    full, own = None, ""
    try:
        # The poster's own words, snippets read whole (a token past a preview is theirs to rotate too), and
        # then what the message carries from elsewhere (a forwarded message's secret is not theirs).
        own = replier.with_snippets(client, message_text(message), truncated_snippets(message))
        full = "\n".join(p for p in (own, attached_text(message)) if p)
        replier.reply(client, full, channel=channel, thread_ts=thread_ts, answers=message.get("ts", ""))
        _warn_poster(replier, client, message, channel, own)
    except Exception as exc:
        log_slack_error("diagnose_message shortcut", exc)
        if is_retriable(exc):
            _queue(replier, body, message, channel)
        elif isinstance(exc, SlackApiError) and (error := exc.response.get("error")) in CANNOT_POST:
            _answer_privately(replier, respond, full or shortcut_text(message), body, error)
            if error not in NOT_IN:  # a channel without threads still takes an ephemeral (best effort)
                _warn_poster(replier, client, message, channel, own)
        else:
            again = f":warning: I could not answer ({failure_name(exc)}). Try the shortcut again."
            respond_privately(respond, again)


def _warn_poster(
    replier: Replier, client: WebClient, message: dict[str, Any], channel: str, own: str
) -> None:
    """The "rotate it" warning to the message's poster, if `own` (their words) holds a secret."""
    if not is_from_bot(message, replier.deps.bot_user_id) and redact(own).found:
        replier.warn_poster(
            client,
            channel=channel,
            user=message.get("user", ""),
            ts=message.get("ts", ""),
            thread_ts=message.get("thread_ts"),
        )


def shortcut_text(message: dict[str, Any]) -> str:
    """What the shortcut diagnoses: the message (text, code blocks, snippet previews) and what it carries
    elsewhere (`attached_text`)."""
    return "\n".join(p for p in (message_text(message), attached_text(message)) if p)


def _queue(replier: Replier, body: dict[str, Any], message: dict[str, Any], channel: str) -> None:
    """Hand the answer to the reply worker, which retries it (once per shortcut run)."""
    job = reply_job(ANSWER, {**message, "channel": channel}, shortcut_text(message))
    job["secret"] = redact(message_text(message)).found and not is_from_bot(message, replier.deps.bot_user_id)
    job["again"] = True  # Slack may have taken the failed post: the worker looks in the thread first
    replier.deps.inbox.put([f"shortcut:{body.get('trigger_id', '')}"], REPLY_JOB, job)


def _answer_privately(
    replier: Replier, respond: Respond, text: str, body: dict[str, Any], error: str
) -> None:
    """The answer, seen by the shortcut's user alone (response_url works where the bot cannot post), without
    the buttons: they need the bot's answer in the conversation. A direct message between people cannot take
    the bot (adding someone makes another conversation), a channel can; a read-only one lets no app post."""
    conversation = body.get("channel") or {}
    diagnosis = replier.deps.diagnoser.diagnose(text)
    where = {"channel": str(conversation.get("id", "")), "ts": str((body.get("message") or {}).get("ts", ""))}
    if diagnosis.is_aps_error and diagnosis.best is not None:
        fallback, blocks = diagnosis_blocks(diagnosis, replier.deps.kb, **where)
    else:
        fallback, blocks = unrecognised_blocks(replier.deps.kb, **where)
    direct = where["channel"].startswith("D") or str(conversation.get("name", "")).startswith("mpdm-")
    note = {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": NOT_IN_DM if direct else NOT_IN_CHANNEL if error in NOT_IN else RESTRICTED,
            }
        ],
    }
    blocks = [*(b for b in blocks if b.get("type") != "actions"), note]
    try:
        respond(text=fallback, blocks=blocks, response_type="ephemeral", replace_original=False)
    except Exception as exc:
        log_slack_error("response_url", exc)

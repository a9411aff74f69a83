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
from bot.slack.deps import Deps
from bot.slack.listeners.messages import is_from_bot
from bot.slack.replies import (
    ANSWER,
    REPLY_JOB,
    Replier,
    failure_name,
    is_retriable,
    log_slack_error,
    message_text,
    reply_job,
    truncated_snippets,
)

log = logging.getLogger(__name__)

DIAGNOSE_MESSAGE = "diagnose_message"
NOT_IN_CHANNEL = (
    ":wave: I can't post in this conversation yet. Invite me with `/invite @aps-bot` and run the "
    "shortcut again."
)


def register(app: App, deps: Deps) -> None:
    replier = Replier(deps)

    def diagnose_message(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        deps.executor.submit(_diagnose, replier, body, client, respond)

    app.shortcut(DIAGNOSE_MESSAGE)(diagnose_message)


def _diagnose(replier: Replier, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id", "")
    thread_ts = message.get("thread_ts") or message.get("ts", "")
    try:
        text = message_text(message)
        full = replier.with_snippets(client, text, truncated_snippets(message))
        replier.reply(client, full, channel=channel, thread_ts=thread_ts)
        if not is_from_bot(message, replier.deps.bot_user_id) and redact(text).found:
            replier.warn_poster(
                client, channel=channel, user=message.get("user", ""), thread_ts=message.get("thread_ts")
            )
    except Exception as exc:
        log_slack_error("diagnose_message shortcut", exc)
        if is_retriable(exc):
            _queue(replier, body, message, channel)
        elif isinstance(exc, SlackApiError) and exc.response.get("error") in (
            "not_in_channel",
            "channel_not_found",
        ):
            _tell(respond, NOT_IN_CHANNEL)
        else:
            _tell(respond, f":warning: I could not answer ({failure_name(exc)}). Try the shortcut again.")


def _queue(replier: Replier, body: dict[str, Any], message: dict[str, Any], channel: str) -> None:
    """Hand the answer to the reply worker, which retries it (once per shortcut run)."""
    job = reply_job(ANSWER, {**message, "channel": channel}, message_text(message))
    job["secret"] = job["secret"] and not is_from_bot(message, replier.deps.bot_user_id)
    replier.deps.inbox.put([f"shortcut:{body.get('trigger_id', '')}"], REPLY_JOB, job)


def _tell(respond: Respond, text: str) -> None:
    try:
        respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception as exc:
        log_slack_error("response_url", exc)

"""Buttons on a diagnosis reply: "Fixed it" / "Not it" feedback (one vote per user, the reply updated to
thank the voter). "Start checklist" and "Run live check" belong to listeners/checklist.py and
listeners/check_command.py."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.blocks import CHECK_HINT, FIXED, NOT_IT, with_feedback_note
from bot.slack.deps import Deps
from bot.slack.replies import log_slack_error, respond_privately, tell_clicker
from bot.store.feedback import FeedbackStore

log = logging.getLogger(__name__)

ALREADY_VOTED = "You already gave feedback on this diagnosis — thanks!"
COUNTED = "Thanks, your feedback on this diagnosis is counted."
MAX_TALLY_UPDATES = 3  # one update, and up to two more if votes landed meanwhile


def parse_value(value: str | None) -> dict[str, Any]:
    """The button value JSON {"cause", "channel", "ts"}; {} when it is not that."""
    try:
        data = json.loads(value or "")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class FeedbackButtons:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.store = FeedbackStore(deps.db)

    def on_click(
        self, ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        self.deps.submit(self._vote, body, action, client, respond)

    def _vote(
        self, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        helpful = action.get("action_id") == FIXED
        value = parse_value(action.get("value"))
        user = (body.get("user") or {}).get("id", "")
        channel = (body.get("channel") or {}).get("id") or value.get("channel", "")
        cause = value.get("cause")
        if not (cause and value.get("channel") and value.get("ts") and user):
            log.warning("feedback click with an unusable button value ignored")
            return
        voted: bool | None = None
        try:
            voted = self.store.record_vote(
                value["channel"], value["ts"], user, cause, helpful, self.deps.clock()
            )
            if not voted:
                tell_clicker(
                    client, respond, channel=channel, user=user, text=ALREADY_VOTED, thread_ts=value["ts"]
                )
                return
            self._show_votes(client, body, value, user, helpful, channel)
        except Exception as exc:
            log_slack_error(f"{action.get('action_id')} button", exc)
            if voted is not None and isinstance(exc, (SlackApiError, OSError)):
                # The reply could not show it (the bot was removed from the channel, Slack failed): the
                # voter still hears what became of the click, through its response_url.
                respond_privately(respond, COUNTED if voted else ALREADY_VOTED)

    def _show_votes(
        self,
        client: WebClient,
        body: dict[str, Any],
        value: dict[str, Any],
        user: str,
        helpful: bool,
        channel: str,
    ) -> None:
        """Update the reply with the stored tally. chat.update has no version check, so a concurrent voter's
        update may land after ours with an older tally: read the tally again once ours has landed, and
        update again until what the reply shows is what is stored."""
        message = body.get("message") or {}
        thanks = (
            f":pray: Thanks <@{user}>, glad it's fixed!"
            if helpful
            else f":pray: Thanks <@{user}>. Try *Start checklist* or {CHECK_HINT}."
        )
        shown: tuple[int, int] | None = None
        for _ in range(MAX_TALLY_UPDATES):
            tally = self.store.votes_on(value["channel"], value["ts"], value["cause"])
            if tally == shown:
                return
            yes, no = shown = tally
            client.chat_update(
                channel=channel,
                ts=message.get("ts") or (body.get("container") or {}).get("message_ts", ""),
                text=message.get("text") or "Diagnosis",
                blocks=with_feedback_note(
                    message.get("blocks") or [],
                    f"{thanks}  Feedback so far: :white_check_mark: {yes} · :x: {no}",
                ),
            )


def register(app: App, deps: Deps) -> None:
    buttons = FeedbackButtons(deps)
    app.action(FIXED)(buttons.on_click)
    app.action(NOT_IT)(buttons.on_click)

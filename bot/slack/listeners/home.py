"""Listeners: App Home. Lists the open checklists the user can see, the most frequent causes of the last
30 days, and a "Start checklist" button that opens a modal (channel, client id, project)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.check.command import SMART_QUOTES, looks_secret
from bot.check.request import project_refusal
from bot.checklist.state import DAY_SECONDS
from bot.slack.checklist_blocks import HOME_START, START_MODAL, HomeEntry, home_view, start_modal
from bot.slack.checklist_threads import ChecklistThreads
from bot.slack.deps import Deps
from bot.slack.listeners.checklist import ARG_RE, start_and_report
from bot.store.feedback import FeedbackStore

log = logging.getLogger(__name__)

TOP_CAUSE_DAYS = 30
TOP_CAUSE_LIMIT = 5
OPEN_LIMIT = 15
ROTATE_FIELD = (
    "That looks like a client secret. I never take secrets from Slack: rotate it in the APS developer "
    "portal, and give the client id (or the app's name) and the project id here."
)


def visible_channels(client: WebClient, user: str) -> set[str]:
    """Channels `user` is in (so Home never shows a private channel's checklist to an outsider)."""
    channels: set[str] = set()
    cursor = None
    while True:
        page = client.users_conversations(
            user=user,
            types="public_channel,private_channel,mpim,im",
            exclude_archived=True,
            limit=999,
            cursor=cursor,
        )
        channels.update(c["id"] for c in page.get("channels") or [] if isinstance(c, dict) and "id" in c)
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return channels


def top_causes(deps: Deps, now: float) -> list[tuple[str, int]]:
    """(cause title, count) for the most frequent diagnoses of the last 30 days."""
    rows = FeedbackStore(deps.db).top_causes(now - TOP_CAUSE_DAYS * DAY_SECONDS, TOP_CAUSE_LIMIT)
    return [
        ((cause.title if (cause := deps.kb.cause(cause_id)) else cause_id), count) for cause_id, count in rows
    ]


def publish_home(deps: Deps, client: WebClient, user: str) -> None:
    threads = ChecklistThreads(deps)
    try:
        allowed = visible_channels(client, user)
    except SlackApiError as exc:  # publishing now would show "No open checklists": keep the Home tab as it is
        log.warning("users.conversations failed for Home, not republished: %s", exc.response.get("error"))
        return
    entries = []
    for state in threads.store.open_checklists(limit=OPEN_LIMIT * 2, channels=allowed):
        if not state.parent_ts:
            continue
        try:
            link = client.chat_getPermalink(channel=state.channel, message_ts=state.parent_ts)["permalink"]
        except SlackApiError:
            link = None
        entries.append(HomeEntry(state, link))
        if len(entries) >= OPEN_LIMIT:
            break
    view = home_view(entries, top_causes(deps, deps.clock()), TOP_CAUSE_DAYS)
    client.views_publish(user_id=user, view=view)


def _modal_value(values: dict[str, Any], block: str, key: str) -> Any:
    return ((values.get(block) or {}).get(block) or {}).get(key)


def _text_field(values: dict[str, Any], block: str) -> str | None:
    """A text field as `/aps-check` reads its words: the invisible characters copied along with an id
    dropped, odd spaces made plain, then trimmed; None when empty."""
    return str(_modal_value(values, block, "value") or "").translate(SMART_QUOTES).strip() or None


def register(app: App, deps: Deps) -> None:
    """Register this module's listeners on `app`."""

    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home" or not isinstance(event.get("user"), str):
            return
        deps.submit(publish_home, deps, client, event["user"])

    @app.action(HOME_START)
    def on_start_button(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=start_modal())

    @app.view(START_MODAL)
    def on_start_submitted(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
        channel = _modal_value(values, "channel", "selected_conversation")
        client_id, project = (_text_field(values, block) for block in ("client_id", "project"))
        errors = {
            block: "No spaces or < > &, at most 100 characters."
            for block, text in (("client_id", client_id), ("project", project))
            if text is not None and not ARG_RE.fullmatch(text)
        }
        ids = [app.client_id for app in deps.settings.aps_apps]
        for block, words in (("client_id", [client_id]), ("project", ["app", project])):
            if block not in errors and words[-1] and looks_secret(" ".join(words), words, ids):
                errors[block] = ROTATE_FIELD
        if project and "project" not in errors and (refused := project_refusal(project)):
            errors["project"] = refused
        if not isinstance(channel, str):
            errors["channel"] = "Pick a channel."
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        user = body["user"]["id"]
        start_and_report(deps, client, None, channel=channel, user=user, client_id=client_id, project=project)

"""Listeners: checklist threads (`/aps-check checklist`, "Start checklist", tick/untick, assign, re-check,
a deleted parent or archived channel) and their scheduled work. Every click is acked first; the work runs
on `deps.executor` in `ChecklistThreads` (bot/slack/checklist_threads.py)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.check.request import project_refusal
from bot.checklist import ChecklistState
from bot.slack.blocks import escape
from bot.slack.checklist_blocks import ASSIGN, RECHECK, TICK, UNASSIGN, actor
from bot.slack.checklist_threads import (
    NOT_VISIBLE,
    POST_STEPS_JOB,
    RECHECK_JOB,
    ChecklistThreads,
    SlackUnavailable,
    is_member,
)
from bot.slack.client import make_client
from bot.slack.deps import Deps
from bot.slack.failures import failure_name
from bot.store.dedupe import DedupeStore, checklist_from_key
from bot.store.jobs import Job

log = logging.getLogger(__name__)

ARG_RE = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
TS_RE = re.compile(r"^\d{9,11}\.\d{6}$")
USAGE = (
    "Usage: `/aps-check checklist [client-id] [project-id]`, e.g. `/aps-check checklist AbC123… b.1234abcd-…`"
)

ALREADY_STARTED = (
    ":clipboard: A checklist was already started from this diagnosis: it is in this channel (the diagnosis "
    "thread links it)."
)
GONE_CHANNEL_EVENTS = ("channel_archive", "group_archive", "channel_deleted", "group_deleted")


def handle_command(
    body: dict[str, Any], client: WebClient, respond: Respond, deps: Deps, args: Sequence[str]
) -> None:
    """`/aps-check checklist [client-id] [project]`, routed here by the /aps-check listener once it has
    acked and refused any text that looks like a secret."""
    words = [str(arg) for arg in args]
    if len(words) > 2 or not all(ARG_RE.fullmatch(word) for word in words):
        respond(response_type="ephemeral", text=USAGE)
        return
    client_id, project = [*words, None, None][:2]
    if project and (refused := project_refusal(project)):  # its re-checks would all fail
        respond(response_type="ephemeral", text=f":warning: {escape(refused)}\n{USAGE}")
        return
    start_and_report(
        deps,
        client,
        respond,
        channel=body["channel_id"],
        user=body["user_id"],
        client_id=client_id,
        project=project,
    )


def start_and_report(
    deps: Deps,
    client: WebClient,
    respond: Respond | None,
    *,
    channel: str,
    user: str,
    client_id: str | None = None,
    project: str | None = None,
    cause: str | None = None,
    diagnosis_ts: str | None = None,
) -> None:
    """Start a checklist on the executor; tell the user (ephemeral or DM) when it cannot be posted.
    With `diagnosis_ts`, also link the new checklist from that diagnosis thread."""

    def work() -> None:
        origin = checklist_from_key(channel, diagnosis_ts) if diagnosis_ts else None
        claimed = started = False  # released only if this click recorded it: another's is not ours
        try:
            # In a channel its starter is not in (picked in the App Home modal) they could tick nothing.
            if not channel.startswith("D") and not is_member(client, channel, user):
                tell(f":warning: You are not in <#{channel}>: join it first, or pick a channel you are in.")
                return
            # One checklist per diagnosis: a double click, or a teammate clicking too, gets a pointer to it.
            if origin is not None:
                claimed = DedupeStore(deps.db).record([origin], now=deps.clock())
                if not claimed:
                    tell(ALREADY_STARTED)
                    return
            state = ChecklistThreads(deps).start(
                client, channel=channel, user=user, client_id=client_id, project=project, cause=cause
            )
            started = True
            if diagnosis_ts and state.parent_ts:
                _link_from_diagnosis(
                    client, channel=channel, diagnosis_ts=diagnosis_ts, state=state, user=user
                )
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.warning("could not post a checklist in %s: %s", channel, error)
            if error in NOT_VISIBLE:
                text = f":warning: I couldn't post the checklist in <#{channel}> ({error}). Invite me first."
            else:
                text = f":warning: Slack refused the checklist in <#{channel}> ({error}). Please try again."
            tell(text)
        except SlackUnavailable:
            tell(f":hourglass: Slack did not answer in time; nothing was started in <#{channel}>. Try again.")
        except Exception:  # storage failed (a full disk, say): the user is told, the details are logged
            log.exception("checklist in %s could not be started", channel)
            tell(":x: The checklist could not be started (the error is in the bot's log). Try again later.")
        finally:
            if origin is not None and claimed and not started:  # nothing started: the next click may try
                _forget(deps, origin)

    def tell(text: str) -> None:
        if respond is not None:
            respond(response_type="ephemeral", text=text)
        else:
            dm = client.conversations_open(users=user)["channel"]["id"]
            client.chat_postMessage(channel=dm, text=text)

    deps.submit(work)


def _link_from_diagnosis(
    client: WebClient, *, channel: str, diagnosis_ts: str, state: ChecklistState, user: str
) -> None:
    """Best effort: the checklist is posted in the channel already; a failed link is no failed start (told
    "try again", the starter would only hear that it was started already)."""
    try:
        link = client.chat_getPermalink(channel=channel, message_ts=state.parent_ts)["permalink"]
        client.chat_postMessage(
            channel=channel,
            thread_ts=diagnosis_ts,
            text=f":clipboard: {actor(user)} started the provisioning checklist: <{link}|open it>.",
            unfurl_links=False,
        )
    except Exception as exc:
        log.warning("checklist %s not linked from its diagnosis thread: %s", state.id, failure_name(exc))


def _forget(deps: Deps, key: str) -> None:
    try:
        DedupeStore(deps.db).forget(key)
    except Exception:
        log.exception("could not release %s; a new checklist from that diagnosis waits a day", key)


def background_client(deps: Deps) -> WebClient:
    """The Web API client for work that runs outside a listener: the app's, or one from the settings."""
    return deps.client if deps.client is not None else make_client(deps.settings)


def scheduled_work(
    deps: Deps, client: WebClient
) -> tuple[dict[str, Callable[[Job, float], None]], list[Callable[[float], None]]]:
    """The job handlers and sweeps of checklists: automatic re-checks, step posting, stale reminders and
    re-rendering messages a crash or a Slack failure left showing an older state."""
    threads = ChecklistThreads(deps)

    def recheck(job: Job, now: float) -> None:
        threads.run_recheck_job(client, job)

    def post_steps(job: Job, now: float) -> None:
        threads.run_post_steps_job(client, job)

    def remind(now: float) -> None:
        threads.remind_stale(client, now)

    def repair(now: float) -> None:
        threads.repair_renders(client, now)

    return {RECHECK_JOB: recheck, POST_STEPS_JOB: post_steps}, [remind, repair]


def register(app: App, deps: Deps) -> None:
    """Register this module's listeners on `app`."""
    threads = ChecklistThreads(deps)

    @app.action(re.compile(rf"^({TICK}|{ASSIGN}|{UNASSIGN}|{RECHECK}):"))
    def on_checklist_action(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        deps.submit(threads.click, body, client)

    @app.event({"type": "message", "subtype": ("message_deleted", "message_changed")})
    def on_message_gone(event: dict[str, Any]) -> None:
        channel, ts = event.get("channel"), deleted_ts(event)
        if isinstance(channel, str) and ts is not None:
            deps.submit(threads.close_thread, channel, ts)

    def on_channel_gone(event: dict[str, Any]) -> None:
        if isinstance(channel := event.get("channel"), str):
            deps.submit(threads.close_thread, channel)

    for gone in GONE_CHANNEL_EVENTS:
        app.event(gone)(on_channel_gone)

    @app.action("start_checklist")
    def on_start_from_diagnosis(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        channel = (body.get("channel") or {}).get("id")
        value = _button_value(body)
        user = (body.get("user") or {}).get("id")
        if value is None or not channel or value.get("channel") not in (None, channel) or not user:
            log.warning("start_checklist rejected: malformed value")
            return
        cause = value.get("cause") if isinstance(value.get("cause"), str) else None
        ts = value.get("ts") if isinstance(value.get("ts"), str) and TS_RE.fullmatch(value["ts"]) else None
        start_and_report(deps, client, respond, channel=channel, user=user, cause=cause, diagnosis_ts=ts)


def deleted_ts(event: dict[str, Any]) -> str | None:
    """The ts of the message a `message` event says was deleted: `message_deleted`, or a `message_changed`
    into a tombstone ("This message was deleted."), which is what deleting a message with replies sends."""
    if event.get("subtype") == "message_deleted":
        ts = event.get("deleted_ts")
    else:
        message = event.get("message") or {}
        ts = message.get("ts") if message.get("subtype") == "tombstone" else None
    return ts if isinstance(ts, str) else None


def _button_value(body: dict[str, Any]) -> dict[str, Any] | None:
    actions = body.get("actions") or [{}]
    try:
        value = json.loads(actions[0].get("value") or "")
    except (TypeError, ValueError, AttributeError):
        return None
    return value if isinstance(value, dict) else None

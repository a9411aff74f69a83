"""The Slack side of checklists: post a checklist's thread, apply its clicks (checked against storage and
the clicker's channel membership, applied with compare-and-set), run its re-checks and reminders, and
re-render the touched messages from storage. The listeners in `listeners/checklist.py` call it."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.check.access import find_app, may_use, needs_usergroups
from bot.checklist import (
    INTEGRATION_STEP,
    TEST_STEP,
    ChecklistCompleted,
    ChecklistError,
    ChecklistState,
    Event,
    IntegrationStepCompleted,
    StepAssigned,
    Transition,
)
from bot.checklist.state import DAY_SECONDS
from bot.settings import Settings
from bot.slack.check_blocks import spacing_text
from bot.slack.checklist_blocks import (
    ASSIGN,
    BOT_ACTOR,
    TICK,
    UNASSIGN,
    ActionRef,
    actor,
    duration,
    escape,
    parent_blocks,
    parent_text,
    parse_action_id,
    selected_in_message,
    slack_date,
    step_block_id,
    step_blocks,
    step_text,
)
from bot.slack.deps import Deps
from bot.slack.failures import failure_name, is_retriable, may_have_acted, retry_after
from bot.slack.replies import tell_clicker
from bot.store.checklists import PARENT, ChecklistStore, ConcurrentUpdate, new_checklist_id
from bot.store.jobs import PENDING, Job, JobStore

log = logging.getLogger(__name__)

RECHECK_JOB = "checklist.recheck"
POST_STEPS_JOB = "checklist.post_steps"
POST_STEPS_RETRY_SECONDS = 60.0
POST_STEPS_ATTEMPTS = 5
RECHECK_RETRY_SECONDS = 60.0
RECHECK_ATTEMPTS = 5
USER_RE = re.compile(r"^[UW][A-Z0-9]{1,20}$")
RENDER_ROUNDS = 5
RENDER_REPAIR_AFTER_SECONDS = 60.0  # a message still marked unrendered this long after its change: repaired
RENDER_REPAIR_BATCH = 2  # checklists per scheduler pass (at most 6 chat.update each: Slack's rate limits)


@dataclass(frozen=True)
class CheckOutcome:
    """A live check as the thread shows it."""

    passed: bool
    text: str
    blocks: list[dict[str, Any]]


LiveCheck = Callable[[Settings, str, str], CheckOutcome]


def run_check(settings: Settings, client_id: str, project: str) -> CheckOutcome:
    """The live-check service (`bot.check`) rendered by its Block Kit renderer."""
    from bot.check.service import run_live_check
    from bot.slack.check_blocks import report_blocks, report_text

    report = run_live_check(settings, client_id, project)
    return CheckOutcome(report.passed, report_text(report), list(report_blocks(report)))


TRY_AGAIN = ":hourglass: Slack did not answer in time; nothing changed. Try again."
CLOSED_TEXT = (
    ":lock: This checklist was closed when its first message was deleted or its channel archived. "
    "Start a new one with `/aps-check checklist`."
)
NOT_SAVED = ":x: That click was not saved (the error is in the bot's log). Try again in a moment."
HIDDEN_TEXT = (
    ":warning: I was removed from this channel, so I can't record that click. Invite me back "
    "(`/invite @aps-bot`) and click again."
)
NOT_VISIBLE = ("channel_not_found", "not_in_channel")  # Slack's answer about a channel the bot is not in


class SlackUnavailable(Exception):
    """Slack did not answer a lookup the click depends on (or a re-check click's result post); the user is
    asked to try again."""


class Click(NamedTuple):
    """One authorised click on a step's checkboxes or assignee menu."""

    state: ChecklistState
    step_id: str
    action: dict[str, Any]
    body: dict[str, Any]
    user: str


class TooSoon(Exception):
    """A "Re-check now" click right after another re-check of the same checklist."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"{wait:.0f} s to wait")
        self.wait = wait


class Rejected(Exception):
    """A click that must not change anything (unknown ids, wrong channel, not a member, forged values)."""


def recheck_key(checklist_id: str) -> str:
    return f"recheck:{checklist_id}"


def post_steps_key(checklist_id: str) -> str:
    return f"post-steps:{checklist_id}"


class ChecklistThreads:
    """The Slack side of checklists: posts threads, applies clicks, runs re-checks and reminders."""

    def __init__(self, deps: Deps, *, live_check: LiveCheck = run_check) -> None:
        self.deps = deps
        self.live_check = live_check
        self.store = ChecklistStore(deps.db, deps.kb.checklist)
        self.jobs = JobStore(deps.db)

    # --- starting ------------------------------------------------------------------------------------

    def start(
        self,
        client: WebClient,
        *,
        channel: str,
        user: str,
        client_id: str | None = None,
        project: str | None = None,
        cause: str | None = None,
    ) -> ChecklistState:
        """Post the parent message and one message per step in its thread; store where they are. An app
        given by its registered name is stored by its client id, the string admins paste into Custom
        Integrations."""
        app = find_app(self.deps.settings, client_id) if client_id else None
        client_id = app.client_id if app is not None else client_id
        state = ChecklistState.start(
            new_checklist_id(),
            self.deps.kb.checklist,
            channel=channel,
            started_by=user,
            at=self.deps.clock(),
            client_id=client_id,
            project=project,
            cause=cause if cause and self.deps.kb.cause(cause) else None,
        )
        parent = client.chat_postMessage(
            channel=channel, text=parent_text(state), blocks=self._parent_blocks(state)
        )
        try:
            # A safety net stored before the checklist and its step messages: if posting them stops half-way
            # (Slack down, a crash, even right after the checklist is stored), the scheduler posts the
            # missing ones later; it is cancelled once they are all posted (and finds nothing if the store
            # never came).
            self.jobs.schedule(
                POST_STEPS_JOB,
                self.deps.clock() + POST_STEPS_RETRY_SECONDS,
                {"checklist": state.id, "attempt": 1},
                key=post_steps_key(state.id),
            )
            state = self.store.create(state.with_messages(parent["ts"], {}))
        except Exception:
            self._withdraw(client, channel, str(parent["ts"]))  # its buttons would name no checklist
            raise
        try:
            state = self.post_missing_steps(client, state.id) or state
        except Exception as exc:
            log.warning(
                "checklist %s: step messages failed (%s); finished later", state.id, failure_name(exc)
            )
            return self.store.get(state.id) or state
        self.jobs.cancel(post_steps_key(state.id))
        return state

    @staticmethod
    def _withdraw(client: WebClient, channel: str, ts: str) -> None:
        """Delete a parent message whose checklist could not be stored (best effort: logged if it stays)."""
        try:
            client.chat_delete(channel=channel, ts=ts)
        except Exception as exc:  # the storage error that brought us here is the one to raise
            log.error("orphan checklist message %s in %s left: %s", ts, channel, failure_name(exc))

    def post_missing_steps(
        self, client: WebClient, checklist_id: str, *, adopt: bool = False
    ) -> ChecklistState | None:
        """Post, in order, the step messages not posted yet, storing each one's ts as soon as it is posted;
        a failure stops here and raises (what was posted stays recorded). `adopt`: first look in the thread
        for step messages Slack took but whose ts was never stored (a crash, or a timeout after the post), so
        no step is posted twice."""
        state = self.store.get(checklist_id)
        if state is None or not state.parent_ts or state.closed:
            return state
        found = self._posted_steps(client, state) if adopt else {}
        for step in state.template.steps:
            if step.id in state.step_ts:
                continue
            ts = found.get(step.id)
            if ts is None:
                posted = client.chat_postMessage(
                    channel=state.channel,
                    thread_ts=state.parent_ts,
                    text=step_text(state, step.id),
                    blocks=step_blocks(state, step.id),
                )
                ts = posted["ts"]
            result = self.store.update(
                checklist_id,
                lambda s, step_id=step.id, ts=ts: Transition(
                    s.with_messages(s.parent_ts or "", {**s.step_ts, step_id: ts})
                ),
            )
            state = result[0].state if result else state
        return state

    def _posted_steps(self, client: WebClient, state: ChecklistState) -> dict[str, str]:
        """Step id → ts of the bot's step messages already in the checklist's thread."""
        wanted = {step_block_id(state.id, step.id): step.id for step in state.template.steps}
        try:
            response = client.conversations_replies(
                channel=state.channel, ts=state.parent_ts or "", limit=200
            )
        except SlackApiError as exc:
            if is_retriable(exc):
                raise
            log.warning(
                "checklist %s: thread not readable (%s); posting what is missing", state.id, failure_name(exc)
            )
            return {}
        found: dict[str, str] = {}
        for message in response.get("messages") or []:
            if message.get("user") != self.deps.bot_user_id or message.get("ts") == state.parent_ts:
                continue  # only this bot's own messages (another app could carry the same block id)
            blocks = message.get("blocks") or []
            blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
            for block in blocks:
                step_id = wanted.get(block.get("block_id", "")) if isinstance(block, dict) else None
                if step_id is not None:
                    found.setdefault(step_id, str(message["ts"]))
        return found

    def run_post_steps_job(self, client: WebClient, job: Job) -> None:
        """The safety net: post what is missing; after a failure try again later, a few times."""
        checklist_id = str(job.payload.get("checklist", ""))
        attempt = int(job.payload.get("attempt", 1))
        try:
            self.post_missing_steps(client, checklist_id, adopt=True)
        except Exception as exc:
            if attempt >= POST_STEPS_ATTEMPTS:
                log.error("checklist %s: step messages missing after %s attempts", checklist_id, attempt)
                raise
            log.warning(
                "checklist %s: step messages failed (%s); will retry", checklist_id, failure_name(exc)
            )
            self.jobs.schedule(
                POST_STEPS_JOB,
                self.deps.clock() + POST_STEPS_RETRY_SECONDS,
                {"checklist": checklist_id, "attempt": attempt + 1},
                key=post_steps_key(checklist_id),
            )

    # --- clicks --------------------------------------------------------------------------------------

    def click(self, body: dict[str, Any], client: WebClient) -> None:
        """Handle one checkbox, users-select or re-check click; reject anything that does not add up."""
        try:
            action = _single_action(body)
            ref = parse_action_id(str(action.get("action_id", "")))
            if ref is None:
                raise Rejected("not a checklist action id")
            state = self._authorize(body, client, ref, action)
            user = body["user"]["id"]
            if state.closed:
                self._tell_clicker(client, body, CLOSED_TEXT)
                return
            if ref.kind in (TICK, ASSIGN):
                change = self._tick if ref.kind == TICK else self._assign
                change(client, Click(state, str(ref.step_id or ""), action, body, user))
            elif ref.kind == UNASSIGN:
                step_id, now = str(ref.step_id), self.deps.clock()
                self._apply(client, state.id, lambda s: s.unassign(step_id, user, now), steps=[step_id])
            else:
                self.recheck(client, state.id, requested_by=user)
        except Rejected as exc:
            self._reject(client, body, str(exc))
        except SlackUnavailable as exc:
            log.warning("checklist click: Slack did not answer (%s)", exc)
            self._tell_clicker(client, body, TRY_AGAIN)
        except TooSoon as exc:
            self._tell_clicker(client, body, spacing_text("This checklist's app and project", exc.wait))
        except (sqlite3.Error, ConcurrentUpdate):
            log.exception("checklist click not stored")
            self._tell_clicker(client, body, NOT_SAVED)
        except SlackApiError as exc:
            if is_retriable(exc):  # the re-check's result not taken: the click can be tried again at once
                log.warning("checklist click: Slack failed (%s)", failure_name(exc))
                self._tell_clicker(client, body, TRY_AGAIN)
            elif exc.response.get("error") in NOT_VISIBLE:
                log.warning("checklist click in a channel Slack hides from the bot: %s", failure_name(exc))
                _respond(body, HIDDEN_TEXT)  # no ephemeral message in a channel the bot cannot see
            else:
                raise

    def _authorize(
        self, body: dict[str, Any], client: WebClient, ref: ActionRef, action: dict[str, Any]
    ) -> ChecklistState:
        state = self.store.get(ref.checklist_id)
        if state is None:
            raise Rejected(f"unknown checklist {ref.checklist_id}")
        if ref.step_id is not None:
            if state.template.step(ref.step_id) is None:
                raise Rejected(f"unknown step {ref.step_id}")
            if action.get("block_id") != step_block_id(state.id, ref.step_id):
                raise Rejected("block id does not match the action id")
        expected_ts = state.step_ts.get(ref.step_id or state.template.steps[-1].id)
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        if channel != state.channel:
            raise Rejected(f"action from channel {channel}, checklist lives in {state.channel}")
        if expected_ts is None or container.get("message_ts") != expected_ts:
            raise Rejected("action does not come from this step's message")
        user = (body.get("user") or {}).get("id")
        if not isinstance(user, str) or not is_member(client, state.channel, user):
            raise Rejected(f"user {user} is not a member of {state.channel}")
        return state

    def _tick(self, client: WebClient, click: Click) -> None:
        state, step_id, action, body, user = click
        options = action.get("selected_options")
        if not isinstance(options, list) or not all(isinstance(o, dict) for o in options):
            raise Rejected("selected_options missing or malformed")
        selected = {str(option.get("value")) for option in options}
        seen = selected_in_message(body.get("message"), str(action.get("block_id")), str(action["action_id"]))
        now = self.deps.clock()

        def change(current: ChecklistState) -> Transition:
            before = current.ticked_items(step_id) if seen is None else seen
            return current.apply_selection(step_id, before, selected, user, now)

        # Re-rendered even when nothing changed: the clicker sees their click until the message is
        # updated, and a stale box would be read as a change on their next click.
        self._apply(client, state.id, change, steps=[step_id], always_render=True)

    def _assign(self, client: WebClient, click: Click) -> None:
        state, step_id, action, body, user = click
        assignee = action.get("selected_user")
        if not isinstance(assignee, str) or not USER_RE.fullmatch(assignee):
            raise Rejected("selected_user missing or malformed")
        if not is_member(client, state.channel, assignee):  # they could not tick the step they own
            self._tell_clicker(
                client,
                body,
                f":warning: <@{assignee}> is not in <#{state.channel}>, so they could not tick this step. "
                "Invite them to the channel first, then assign it again.",
            )
            self.render(client, state.id, [step_id])  # the menu goes back to the stored assignee
            return
        now = self.deps.clock()
        self._apply(client, state.id, lambda s: s.assign(step_id, assignee, user, now), steps=[step_id])

    def _apply(
        self,
        client: WebClient,
        checklist_id: str,
        change: Callable[[ChecklistState], Transition],
        *,
        steps: Sequence[str],
        always_render: bool = False,
    ) -> ChecklistState:
        def follow_up(conn: sqlite3.Connection, before: ChecklistState, after: ChecklistState) -> None:
            self._schedule_recheck(conn, before, after)
            # Until their render lands (a crash or a Slack failure may stop it), these show an older state.
            self.store.mark_unrendered_in(conn, after.id, [*steps, PARENT], self.deps.clock())

        try:
            result = self.store.update(checklist_id, change, on_commit=follow_up)
        except ChecklistError as exc:
            raise Rejected(str(exc)) from exc
        if result is None:
            raise Rejected(f"unknown checklist {checklist_id}")
        transition, _before = result
        state = transition.state
        if transition.events or always_render:
            try:
                self.render(client, checklist_id, steps)
            except Exception as exc:  # the change is stored: its notices still go out
                log.warning("checklist %s: could not render: %s", state.id, failure_name(exc))
        for event in transition.events:
            try:
                self._notify(client, state, event)
            except Exception as exc:
                log.warning("checklist %s: could not post about %s: %s", state.id, event, failure_name(exc))
        return state

    def _schedule_recheck(
        self, conn: sqlite3.Connection, before: ChecklistState, after: ChecklistState
    ) -> None:
        """The automatic re-check follows the stored state, in the transaction that stores it: scheduled when
        the Custom Integrations step becomes done (unless that finished the checklist), cancelled when it is
        reopened. So a crash cannot leave a done step without its re-check, nor two admins' clicks leave a
        re-check behind for a reopened step."""
        was, done = before.step_done(INTEGRATION_STEP), after.step_done(INTEGRATION_STEP)
        if done and not was and after.can_recheck and not after.done:
            run_at = self.deps.clock() + self.deps.settings.bot_recheck_delay_seconds
            self.jobs.schedule_in(
                conn, RECHECK_JOB, run_at, {"checklist": after.id}, key=recheck_key(after.id)
            )
        elif was and not done:
            self.jobs.cancel_in(conn, recheck_key(after.id))

    def _notify(self, client: WebClient, state: ChecklistState, event: Event) -> None:
        if isinstance(event, IntegrationStepCompleted) and state.done:
            return  # the same click finished the checklist: no re-check is due, the completion says it all
        if isinstance(event, IntegrationStepCompleted) and state.can_recheck:
            run_at = event.at + self.deps.settings.bot_recheck_delay_seconds
            self._post_in_thread(
                client,
                state,
                ":hourglass: Custom Integrations step done. A new integration can take minutes to reach "
                f"APS, so I'll re-run the live check {slack_date(run_at)}; or press *Re-check now*.",
            )
        elif isinstance(event, IntegrationStepCompleted):
            self._post_in_thread(
                client,
                state,
                ":information_source: Custom Integrations step done. I can't re-check automatically: "
                "this checklist has no client id and project.",
            )
        elif isinstance(event, StepAssigned):
            self._dm_assignee(client, state, event)
        elif isinstance(event, ChecklistCompleted) and event.first:  # done again: the parent says so
            self._post_in_thread(
                client,
                state,
                f":tada: Checklist complete: all {len(state.template.steps)} steps done in "
                f"{duration(event.total_seconds)}.",
            )

    def _dm_assignee(self, client: WebClient, state: ChecklistState, event: StepAssigned) -> None:
        step = state.step(event.step_id)
        number = state.step_number(event.step_id)
        message_ts = state.step_ts.get(event.step_id) or state.parent_ts
        link = client.chat_getPermalink(channel=state.channel, message_ts=message_ts)["permalink"]
        dm = client.conversations_open(users=event.assignee)["channel"]["id"]
        text = (
            f"{actor(event.by)} assigned you step {number}, *{escape(step.title)}*, of the APS checklist for "
            f"{_subject(state)}: <{link}|open the thread>."
        )
        client.chat_postMessage(channel=dm, text=text, unfurl_links=False)

    def close_thread(self, channel: str, parent_ts: str | None = None) -> int:
        """Close the checklists whose thread went away (the parent `parent_ts` deleted; without it, the
        whole channel archived or deleted) and cancel their pending jobs; return how many."""
        now = self.deps.clock()
        closed = self.store.unclosed_ids(channel, parent_ts)
        for checklist_id in closed:
            self.store.update(checklist_id, lambda s: s.close(now))
            self.jobs.cancel(recheck_key(checklist_id))
            self.jobs.cancel(post_steps_key(checklist_id))
            log.info("checklist %s in %s closed: its thread went away", checklist_id, channel)
        return len(closed)

    # --- rendering -----------------------------------------------------------------------------------

    def render(self, client: WebClient, checklist_id: str, steps: Sequence[str]) -> None:
        """chat.update the given steps and the parent from storage, again if a newer version landed
        meanwhile (chat.update has no version check, so the last render must show the last state)."""
        for _ in range(RENDER_ROUNDS):
            state = self.store.get(checklist_id)
            if state is None:
                return
            for step_id in steps:
                if ts := state.step_ts.get(step_id):
                    self._show(
                        client, state, step_id, ts, step_text(state, step_id), step_blocks(state, step_id)
                    )
                else:  # never posted: when it is, it is posted as stored
                    self.store.rendered(state.id, step_id, state.version)
            if state.parent_ts:
                self._show(
                    client, state, PARENT, state.parent_ts, parent_text(state), self._parent_blocks(state)
                )
            latest = self.store.get(checklist_id)
            if latest is None or latest.version == state.version:
                return

    def _show(
        self, client: WebClient, state: ChecklistState, message: str, ts: str, text: str, blocks: list[Any]
    ) -> None:
        """chat.update one message and record whether it shows `state`: a failure worth another attempt
        (5xx, 429, network) leaves it marked for `repair_renders`; a permanent one (the message deleted,
        the channel archived) is given up."""
        failure = _update(client, state, ts, text, blocks)
        if failure is not None and is_retriable(failure):
            self.store.mark_unrendered(state.id, [message], self.deps.clock())
        else:
            self.store.rendered(state.id, message, state.version)

    def repair_renders(self, client: WebClient, now: float) -> int:
        """Re-render the messages that may still show an older state (the bot died between storing a change
        and updating them, or Slack failed the update), a few checklists per pass; return how many."""
        due = self.store.unrendered(now - RENDER_REPAIR_AFTER_SECONDS, RENDER_REPAIR_BATCH)
        for checklist_id, messages in due.items():
            self.render(client, checklist_id, [m for m in messages if m != PARENT])
        return len(due)

    def render_parent(self, client: WebClient, checklist_id: str) -> None:
        """Re-render the parent alone (e.g. its "re-check scheduled" line once the re-check has run)."""
        self.render(client, checklist_id, ())

    def _parent_blocks(self, state: ChecklistState) -> list[dict[str, Any]]:
        cause = self.deps.kb.cause(state.cause) if state.cause else None
        pending = [job.run_at for job in self.jobs.by_key(recheck_key(state.id)) if job.status == PENDING]
        cause_line = None
        if cause is not None and (step := state.template.step(cause.checklist_step)) is not None:
            cause_line = f"{cause.title} (the fix is step {state.step_number(step.id)}: {step.title})"
        return parent_blocks(state, cause_title=cause_line, recheck_at=min(pending) if pending else None)

    def _post_in_thread(self, client: WebClient, state: ChecklistState, text: str, **kw: Any) -> None:
        client.chat_postMessage(channel=state.channel, thread_ts=state.parent_ts, text=text, **kw)

    def _reject(self, client: WebClient, body: dict[str, Any], reason: str) -> None:
        log.warning("checklist action rejected: %s", reason)
        self._tell_clicker(client, body, ":no_entry: That checklist button is not valid for you here.")

    def _tell_clicker(self, client: WebClient, body: dict[str, Any], text: str) -> None:
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        user = (body.get("user") or {}).get("id")
        if not (isinstance(channel, str) and isinstance(user, str)):
            return
        url = body.get("response_url")
        respond = Respond(response_url=url) if isinstance(url, str) and url else None
        try:
            tell_clicker(client, respond, channel=channel, user=user, text=text)
        except SlackApiError as exc:
            log.info("could not tell %s about their click: %s", user, exc.response.get("error"))

    # --- re-checks and reminders ---------------------------------------------------------------------

    def recheck(
        self,
        client: WebClient,
        checklist_id: str,
        *,
        requested_by: str | None = None,
        on_posted: Callable[[bool], None] | None = None,
    ) -> None:
        """Run the live check of the client id + project, post it, tick the test step on a pass; the parent
        is re-rendered whatever the outcome (its "re-check scheduled" line is over). `on_posted(passed)` is
        called as soon as the result is in the thread."""
        try:
            self._recheck(client, checklist_id, requested_by, on_posted)
        finally:
            self.render_parent(client, checklist_id)

    def _recheck(
        self,
        client: WebClient,
        checklist_id: str,
        requested_by: str | None,
        on_posted: Callable[[bool], None] | None,
    ) -> None:
        state = self.store.get(checklist_id)
        if state is None:
            return
        if not state.can_recheck:
            missing = " and ".join(
                name
                for name, value in (("client id", state.client_id), ("project", state.project))
                if not value
            )
            self._post_in_thread(
                client,
                state,
                f"I need a client id and a project to re-check; this checklist has no {missing}. Start one "
                "with both: `/aps-check checklist &lt;client-id&gt; &lt;project&gt;`.",
            )
            return
        who = f"Re-check requested by {actor(requested_by)}" if requested_by else "Automatic re-check"
        user = requested_by or state.started_by
        if not self._may_check(client, state, user):
            self._post_in_thread(
                client,
                state,
                f":lock: {who}: {actor(user)} may not run live checks with this app in <#{state.channel}>. "
                "An admin can allow it in the bot's `APS_APPS` settings.",
            )
            return
        if requested_by:  # a click: spaced out (the automatic re-check runs once, when it is due)
            wait = self.deps.check_runs.claim(
                f"checklist:{state.id}", self.deps.clock(), self.deps.settings.bot_check_spacing_seconds
            )
            if wait > 0:
                raise TooSoon(wait)
        try:
            outcome = self.live_check(self.deps.settings, state.client_id or "", state.project or "")
        except Exception as exc:
            self._post_in_thread(
                client, state, f":x: {who}: the live check could not run ({type(exc).__name__})."
            )
            raise
        intro = f"*{who}* of {_subject(state)}:"
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": intro}}, *outcome.blocks]
        try:
            self._post_in_thread(client, state, f"{who}: {outcome.text}"[:3000], blocks=blocks[:50])
        except Exception as exc:
            if requested_by:  # nobody saw this check: the clicker may run the next one at once
                self.deps.check_runs.forget(f"checklist:{state.id}")
                if isinstance(exc, OSError):  # no answer from Slack, as a 503: the click is tried again
                    raise SlackUnavailable(failure_name(exc)) from exc
            raise
        if on_posted is not None:
            on_posted(outcome.passed)
        if outcome.passed:  # a scheduled re-check has nothing left to show (a failed one leaves it due)
            self.jobs.cancel(recheck_key(state.id))
            self._tick_test_step(client, state)

    def _tick_test_step(self, client: WebClient, state: ChecklistState) -> None:
        """A passed live check ticks every item of the test step, as the bot."""
        now = self.deps.clock()
        items = [item.id for item in state.step(TEST_STEP).items]
        self._apply(client, state.id, lambda s: _tick_all(s, TEST_STEP, items, now), steps=[TEST_STEP])

    def _may_check(self, client: WebClient, state: ChecklistState, user: str) -> bool:
        """The live-check permissions of the app (users, user groups, channels); unknown apps are left to
        the check itself, which refuses them with a hint."""
        app = find_app(self.deps.settings, state.client_id or "")
        if app is None:
            return True
        groups: list[str] = []
        if needs_usergroups(app, user, state.channel):
            try:
                groups = self.deps.usergroups.of(client, user, app.allowed_usergroups)
            except (SlackApiError, OSError) as exc:  # Slack failed to say: no refusal, try again
                raise SlackUnavailable(failure_name(exc)) from exc
        return may_use(app, user, state.channel, groups)

    def run_recheck_job(self, client: WebClient, job: Job) -> None:
        """The automatic re-check. Its result is marked in the job once posted, so a run after a crash only
        finishes what followed it; Slack failing to take the result (5xx, 429, network) tries it all again
        a minute later (or when Slack said), a few times."""
        state = self.store.get(str(job.payload.get("checklist")))
        if state is None or state.done or state.closed or not state.step_done(INTEGRATION_STEP):
            return
        if "passed" in job.payload:  # posted by a run that died before it ended
            if job.payload["passed"]:
                self._tick_test_step(client, state)
            self.render_parent(client, state.id)
            return

        def posted(passed: bool) -> None:
            self.jobs.update(job.id, {**job.payload, "passed": passed})

        attempt = int(job.payload.get("attempt", 1))
        try:
            self.recheck(client, state.id, on_posted=posted)
        except Exception as exc:
            retriable = is_retriable(exc) or isinstance(exc, SlackUnavailable)
            # a result Slack may have posted (`internal_error`, `fatal_error`) is not run and posted again
            if not retriable or may_have_acted(exc) or attempt >= RECHECK_ATTEMPTS:
                raise
            wait = max(RECHECK_RETRY_SECONDS, retry_after(exc) or 0.0)
            log.warning("checklist %s: re-check not posted (%s); will retry", state.id, failure_name(exc))
            self.jobs.schedule(
                RECHECK_JOB,
                self.deps.clock() + wait,
                {"checklist": state.id, "attempt": attempt + 1},
                key=recheck_key(state.id),
            )
            self.render_parent(client, state.id)  # the parent shows when it runs again

    def remind_stale(self, client: WebClient, now: float) -> int:
        """Post ONE reminder in each checklist idle for `bot_stale_checklist_days`; return how many."""
        days = self.deps.settings.bot_stale_checklist_days
        sent = 0
        for checklist_id in self.store.stale_ids(now - days * DAY_SECONDS):

            def claim(state: ChecklistState) -> Transition:
                if state.reminded_at is None and state.is_stale(now, days):
                    return Transition(state.remind(now))
                return Transition(state)

            result = self.store.update(checklist_id, claim)
            if result is None or result[1].reminded_at is not None or result[0].state.reminded_at is None:
                continue  # someone else reminded it, or it moved on meanwhile
            state = result[0].state
            try:
                self._post_in_thread(client, state, _reminder_text(state, days))
            except (SlackApiError, OSError) as exc:
                # 5xx, 429, network: a later pass posts it (not when Slack says it may have: `may_have_acted`)
                if is_retriable(exc) and not may_have_acted(exc):
                    log.warning(
                        "checklist %s: reminder not posted (%s); retried", state.id, failure_name(exc)
                    )
                    self.store.update(state.id, lambda s: Transition(s.forget_reminder(now)))
                else:  # e.g. the bot left the channel: the reminder is spent anyway
                    log.warning("checklist %s: reminder not posted: %s", state.id, failure_name(exc))
                continue
            sent += 1
        return sent


def _update(
    client: WebClient, state: ChecklistState, ts: str, text: str, blocks: list[dict[str, Any]]
) -> Exception | None:
    """chat.update one of the checklist's messages; return its failure. A failure (the message deleted, the
    bot removed, a long rate limit) is logged and skipped: the change is stored; the other messages and
    notices still go out."""
    try:
        client.chat_update(channel=state.channel, ts=ts, text=text, blocks=blocks)
    except Exception as exc:  # a Slack error, or the network's (a reset, a read timeout)
        log.warning("checklist %s: could not update message %s: %s", state.id, ts, failure_name(exc))
        return exc
    return None


def _tick_all(state: ChecklistState, step_id: str, items: list[str], at: float) -> Transition:
    result = Transition(state)
    events: list[Event] = []
    for item_id in items:
        result = result.state.tick(step_id, item_id, BOT_ACTOR, at)
        events.extend(result.events)
    return Transition(result.state, tuple(events))


def _subject(state: ChecklistState) -> str:
    return f"`{escape(state.client_id or '?')}` / `{escape(state.project or '?')}`"


def _reminder_text(state: ChecklistState, days: int) -> str:
    text = f":wave: No activity on this checklist for {days} days ({state.progress})."
    step = next((s for s in state.template.steps if not state.step_done(s.id)), None)
    if step is not None:
        text += f" Next open step: *{escape(step.title)}*"
        if assignment := state.assignments.get(step.id):
            text += f", assigned to {actor(assignment.assignee)}"
        text += "."
    return text


def _respond(body: dict[str, Any], text: str) -> None:
    """Answer the clicker through the click's response_url (best effort: logged if Slack refuses)."""
    url = body.get("response_url")
    if not (isinstance(url, str) and url):
        return
    try:
        Respond(response_url=url)(text=text, response_type="ephemeral", replace_original=False)
    except Exception as exc:
        log.info("could not answer a click through its response_url: %s", failure_name(exc))


def _single_action(body: dict[str, Any]) -> dict[str, Any]:
    actions = body.get("actions")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise Rejected("expected exactly one action")
    return actions[0]


def is_member(client: WebClient, channel: str, user: str) -> bool:
    """Whether `user` is in `channel` (conversations.members, every page). Slack's own error if the bot cannot
    see the channel (NOT_VISIBLE), SlackUnavailable for any other failure."""
    cursor = None
    try:
        while True:
            page = client.conversations_members(channel=channel, cursor=cursor, limit=500)
            if user in (page.get("members") or []):
                return True
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return False
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error in NOT_VISIBLE:  # the bot is not in it (a private channel): trying again will not help
            raise
        log.warning("conversations.members %s failed: %s", channel, error)  # not a "no": click again
        raise SlackUnavailable(str(error)) from exc

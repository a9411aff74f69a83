"""`/aps-check`: the live access check from Slack, plus the `run_live_check` and `share_check_report` buttons.

    /aps-check <client-id|app-name> <project-id|"project name"> [account-id] [region] [user=<email or id>]
    /aps-check help
    /aps-check checklist …            (handed to the checklist listeners)

Cheap refusals (help, bad arguments, a secret in the text, unknown app) are answered in the ack itself.
Everything else runs on `deps.executor`: authorisation (user, user group or channel of the app), then an
ephemeral "checking…" message through `response_url`, replaced in place as steps finish (response_url allows
5 uses, so progress updates are rationed), ending with the report and a "Share in channel" button.

An accepted check is stored as a job due `RESUME_AFTER` later and deleted once it has answered; while the bot
answering it lives, the scheduler's passes keep pushing that time back (a heartbeat). If the bot
dies mid-check, the scheduler of the restarted bot runs it again and answers through the same `response_url`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.check.access import REGISTER_HINT, find_app, may_use, needs_usergroups
from bot.check.command import UsageError, check_key, looks_secret, parse_check_args, split_words
from bot.check.report import CheckReport, StepResult
from bot.check.request import REGIONS, CheckRequest, InvalidRequest
from bot.check.service import run_live_check
from bot.settings import ApsApp
from bot.slack.blocks import escape
from bot.slack.check_blocks import (
    SHARE_ACTION,
    progress_blocks,
    report_blocks,
    report_text,
    spacing_text,
)
from bot.slack.deps import Deps
from bot.slack.failures import failure_name
from bot.slack.listeners.checklist import handle_command
from bot.slack.replies import tell_clicker
from bot.store.jobs import Job, JobStore
from bot.store.shared_reports import KeptReport, SharedReports

log = logging.getLogger(__name__)

COMMAND = "/aps-check"
RUN_LIVE_CHECK = "run_live_check"
USAGE = escape(  # `<…>` would be read as Slack link syntax
    '*Live access check*: `/aps-check <client-id|app-name> <project-id|"project name"> [account-id] [region] '
    "[user=<email or Autodesk id>]`\n"
    'e.g. `/aps-check "Integration Bot" b.9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a '
    "6a3c5f0e-1b2d-4c3e-9f4a-0b1c2d3e4f50 EMEA user=jane@example.com`\n"
    "Ids work with or without `b.`; the region is one of " + ", ".join(REGIONS) + ".\n"
    "`/aps-check checklist [client-id] [project-id]` starts a provisioning checklist; "
    "`/aps-check help` shows this."
)
ROTATE_WARNING = (
    ":rotating_light: That looks like a client secret. I never take secrets from Slack, and I did not use "
    "or log it. *Rotate it now* in the APS developer portal (Slack has stored the message), then register "
    "the app in the bot's `APS_APPS` setting and check it by client id or name. (A project name that only "
    "looks random: give the project id instead.)"
)
MAX_PROGRESS_UPDATES = 3  # response_url: 5 uses = 1 "checking…" + 3 progress + 1 final report
PROGRESS_MIN_INTERVAL = 0.3
REPORT_TTL = 30 * 60.0  # as long as a response_url lives
CHECK_JOB = "aps-check"
RESUME_AFTER = 5 * 60.0  # a job not renewed for this long had its bot die (the scheduler passes every 15 s)
RESUMED_NOTE = ":arrows_counterclockwise: The bot restarted during this check, so it ran again."
GROUPS_UNREAD = (
    ":hourglass: Slack did not say who is in the user groups allowed to run this check, so it did not run. "
    "Try again in a minute."
)
GROUPS_UNLISTED = (
    "Slack did not say who is in the user groups allowed to use some apps, so they are not listed; try "
    "`/aps-check` with them in a minute."
)
REPORT_RETRY_WAITS = (1.0, 5.0)  # a final answer Slack did not take (5xx, 429, no answer) is sent again after


class ProgressView:
    """Replaces the ephemeral "checking…" message as steps finish, within response_url's 5 uses."""

    def __init__(self, respond: Respond, app: ApsApp, project: str, clock: Callable[[], float]) -> None:
        self.respond, self.app, self.project, self.clock = respond, app, project, clock
        self.done: list[StepResult] = []
        self.updates = 0
        self.last = float("-inf")
        self.lock = threading.Lock()

    def start(self) -> None:
        """Post "checking…"; best effort like the updates: a Slack that does not answer it now may take the
        report, which the check must still produce."""
        try:
            self.respond(
                response_type="ephemeral",
                text=f"Checking {escape(self.app.name)} → {escape(self.project)}…",
                blocks=progress_blocks(self.app.name, self.project, []),
            )
        except Exception as exc:
            log.warning("'checking…' message failed: %s", type(exc).__name__)
        self.last = self.clock()

    def on_step(self, step: StepResult) -> None:
        with self.lock:
            self.done.append(step)
            now = self.clock()
            if self.updates >= MAX_PROGRESS_UPDATES or now - self.last < PROGRESS_MIN_INTERVAL:
                return
            self.updates += 1
            self.last = now
            done = list(self.done)
        try:
            self.respond(
                replace_original=True,
                text=f"Checking {escape(self.app.name)} → {escape(self.project)}…",
                blocks=progress_blocks(self.app.name, self.project, done),
            )
        except Exception as exc:  # progress is best effort; the final report still comes
            log.warning("progress update failed: %s", type(exc).__name__)


_ANSWERING: set[str] = set()  # job keys of the checks this process accepted and has not answered yet


class CheckCommand:
    """The listeners, with the reports awaiting a Share click."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.reports = SharedReports(deps.db)
        self.jobs = JobStore(deps.db)

    # --- /aps-check --------------------------------------------------------------------------------

    def on_command(self, ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        text = str(body.get("text") or "")
        user, channel = str(body.get("user_id", "")), str(body.get("channel_id", ""))
        try:
            words = split_words(text)
        except UsageError as exc:
            ack(response_type="ephemeral", text=f":warning: {exc}\n{USAGE}")
            return
        if not words or words[0].lower() in ("help", "-h", "--help"):
            ack(response_type="ephemeral", text=USAGE)
            return
        if looks_secret(text, words, (a.client_id for a in self.deps.settings.aps_apps)):
            log.warning(
                "/aps-check from %s in %s refused: the text contained a secret (not logged)", user, channel
            )
            ack(response_type="ephemeral", text=ROTATE_WARNING)
            return
        if words[0].lower() == "checklist":
            ack()
            self._checklist(body, client, respond, words[1:])
            return
        try:
            args = parse_check_args(words)
            CheckRequest.build(
                args["project"] or "", account=args["account"], region=args["region"], user=args["user"]
            )
        except (UsageError, InvalidRequest) as exc:
            ack(response_type="ephemeral", text=f":warning: {escape(str(exc))}\n{USAGE}")
            return
        app = find_app(self.deps.settings, args["app"] or "")
        if app is None:
            ack(
                response_type="ephemeral",
                text=f":warning: I don't know an APS app `{escape(args['app'] or '')}`. "
                + escape(REGISTER_HINT),
            )
            return
        job = self._store(body, app, args)  # before the ack: once Slack has its answer, the check is kept
        if job is not None:
            _ANSWERING.add(job)  # from now until it has answered (queued behind other checks too)
        ack()
        log.info("/aps-check by %s in %s: app=%s project=%s", user, channel, app.client_id, args["project"])
        try:
            self.deps.submit(self._answer, job, client, respond, app, user, channel, args)
        except RuntimeError:  # the pool is shut down: this bot is stopping, its successor runs the check
            _ANSWERING.discard(job or "")
            log.warning("/aps-check not started: the bot is stopping; it runs after the restart")

    def _store(self, body: dict[str, Any], app: ApsApp, args: dict[str, Any]) -> str | None:
        """Keep the accepted check until it has answered; its job key (None: storage failed; the check
        still runs)."""
        now = self.deps.clock()
        key = f"{CHECK_JOB}:{uuid.uuid4().hex}"
        payload = {
            "user": str(body.get("user_id", "")),
            "channel": str(body.get("channel_id", "")),
            "client_id": app.client_id,
            "args": args,
            "response_url": str(body.get("response_url", "")),
            "accepted_at": now,
        }
        try:
            self.jobs.schedule(CHECK_JOB, now + self._resume_after(), payload, key=key)
        except Exception:
            log.exception("/aps-check could not be stored; it runs, but a crash would lose it")
            return None
        return key

    def _answer(self, key: str | None, *args: Any) -> None:
        """Run the check, then forget its stored job (also when it failed: it has answered)."""
        try:
            self._run(*args)
        finally:
            if key is not None:
                _ANSWERING.discard(key)  # first: a failing delete must not keep renewing an answered job
                self.jobs.delete_key(key)

    def renew(self, now: float) -> None:
        """Keep the jobs of the checks this process is still answering from coming due: while it lives, a
        slow check (or one queued behind others) is its own; once it dies, its jobs come due."""
        for key in list(_ANSWERING):
            self.jobs.renew(key, now + self._resume_after())

    def _resume_after(self) -> float:
        """How long a job waits for its next renewal: several scheduler passes, whatever their interval."""
        return max(RESUME_AFTER, 3 * self.deps.settings.bot_scheduler_poll_seconds)

    def resume(self, job: Job, now: float, client: WebClient) -> None:
        """Run again a check whose bot died before it answered (its job was no longer renewed), if its
        response_url still lives."""
        payload = job.payload
        expired = now - float(payload.get("accepted_at", 0)) >= REPORT_TTL
        if job.key in _ANSWERING and not expired:  # ours, still answering: a slow pass let it come due
            self.jobs.schedule(CHECK_JOB, now + self._resume_after(), payload, key=job.key)
            if (
                job.key not in _ANSWERING
            ):  # it answered meanwhile, and may have deleted its jobs before this one
                self.jobs.delete_key(job.key)
            return
        if job.key:  # it held a response_url: nothing of it outlives this run
            self.jobs.delete_key(job.key)
        else:
            self.jobs.delete(job.id)
        app = find_app(self.deps.settings, str(payload.get("client_id", "")))
        response_url = str(payload.get("response_url", ""))
        if expired or not response_url or app is None:
            log.info("interrupted /aps-check %s dropped: its response_url expired or its app is gone", job.id)
            return
        respond = Respond(response_url=response_url)
        user, channel, args = str(payload["user"]), str(payload["channel"]), dict(payload["args"])
        self._run(client, respond, app, user, channel, args, resumed=True)

    def _checklist(self, body: dict[str, Any], client: WebClient, respond: Respond, args: list[str]) -> None:
        handle_command(body, client, respond, self.deps, args)

    def _run(
        self,
        client: WebClient,
        respond: Respond,
        app: ApsApp,
        user: str,
        channel: str,
        args: dict[str, Any],
        *,
        resumed: bool = False,
    ) -> None:
        """Authorise, space, check, report. `resumed`: a re-run after a restart, which answers with the
        report alone (the first run may have used up all but one of the response_url's uses)."""
        try:
            allowed = self.allowed(client, app, user, channel)
        except (SlackApiError, OSError) as exc:  # Slack failed to say who is in the app's user groups
            log.warning("/aps-check by %s: user groups not read (%s)", user, failure_name(exc))
            respond(response_type="ephemeral", text=GROUPS_UNREAD)
            return
        if not allowed:
            respond(
                response_type="ephemeral",
                text=f":no_entry: You may not run checks with *{escape(app.name)}* here. An admin can add "
                "you (or a user group of yours, or this channel) to its `allowed_users` / "
                "`allowed_usergroups` / `allowed_channels` in `APS_APPS`.",
            )
            return
        project = args["project"]
        key = check_key(user, app.client_id, args)
        spacing = self.deps.settings.bot_check_spacing_seconds
        wait = 0.0 if resumed else self.deps.check_runs.claim(key, self.deps.clock(), spacing)  # claimed once
        if wait > 0:
            respond(
                response_type="ephemeral",
                text=spacing_text(f"*{escape(app.name)}* → {escape(project)}", wait),
            )
            return
        view = None if resumed else ProgressView(respond, app, project, self.deps.clock)
        if view is not None:
            view.start()
        try:
            report = run_live_check(
                self.deps.settings,
                app.client_id,
                project,
                account=args["account"],
                region=args["region"],
                user=args["user"],
                on_step=None if view is None else view.on_step,
                kb=self.deps.kb,
            )
        except Exception:
            log.exception("live check of %s crashed", app.client_id)
            self.deps.check_runs.forget(key)  # nothing was reported: trying again at once is fair
            _final(respond, text=":x: The live check crashed; the error is in the bot's log.")
            return
        share_id = self._keep(report, user)
        _final(
            respond,
            text=report_text(report),
            blocks=report_blocks(report, share_id=share_id, note=RESUMED_NOTE if resumed else None),
            resend_while=lambda: self.reports.waiting(share_id),  # a Share click replaced it meanwhile
        )

    # --- authorisation ------------------------------------------------------------------------------

    def allowed(self, client: WebClient, app: ApsApp, user: str, channel: str) -> bool:
        if not needs_usergroups(app, user, channel):
            return may_use(app, user, channel)
        return may_use(app, user, channel, self.deps.usergroups.of(client, user, app.allowed_usergroups))

    # --- share -------------------------------------------------------------------------------------

    def _keep(self, report: CheckReport, user: str) -> str:
        share_id, now, text = uuid.uuid4().hex, self.deps.clock(), report_text(report)
        self.reports.keep(
            share_id,
            user=user,
            now=now,
            expires_at=now + REPORT_TTL,
            post={"text": text, "blocks": report_blocks(report, note=f"Shared by <@{user}>.")},
            shared={"text": text, "blocks": report_blocks(report, note="Shared in the channel.")},
        )
        return share_id

    def on_share(self, ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        user = str((body.get("user") or {}).get("id", ""))
        channel = str(
            (body.get("channel") or {}).get("id", "") or (body.get("container") or {}).get("channel_id", "")
        )
        try:
            value = json.loads((body.get("actions") or [{}])[0].get("value") or "{}")
            share_id = str(value.get("report", ""))
        except (ValueError, AttributeError, IndexError):
            share_id = ""
        kept = self.reports.take(share_id, user=user, now=self.deps.clock())  # a double click gets it once
        if kept is None:
            respond(
                response_type="ephemeral",
                replace_original=False,
                text="That report was already shared, or it expired: run `/aps-check` again.",
            )
            return
        try:
            self.deps.submit(self._share, client, respond, kept, channel, share_id)
        except RuntimeError:  # the pool is shut down: this bot is stopping; a click after the restart works
            self.reports.put_back(share_id, kept, now=self.deps.clock())

    def _share(
        self, client: WebClient, respond: Respond, kept: KeptReport, channel: str, share_id: str
    ) -> None:
        try:
            client.chat_postMessage(channel=channel, **kept.post, unfurl_links=False)
        except SlackApiError as exc:
            self.reports.put_back(share_id, kept, now=self.deps.clock())  # invited, they can click again
            error = exc.response.get("error")
            respond(
                response_type="ephemeral",
                replace_original=False,
                text=f":warning: I couldn't post in this channel ({error}). Invite me first.",
            )
            return
        except Exception:
            self.reports.put_back(share_id, kept, now=self.deps.clock())
            raise
        respond(replace_original=True, **kept.shared)

    # --- "Run live check" button on diagnosis replies --------------------------------------------------

    def on_run_live_check(self, ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        user = str((body.get("user") or {}).get("id", ""))
        try:
            value = json.loads((body.get("actions") or [{}])[0].get("value") or "{}")
        except ValueError:
            value = {}
        value = value if isinstance(value, dict) else {}
        channel = str(value.get("channel") or (body.get("channel") or {}).get("id", ""))
        self.deps.submit(self._hint, client, respond, user, channel, value)

    def _hint(
        self, client: WebClient, respond: Respond, user: str, channel: str, value: dict[str, Any]
    ) -> None:
        usable: list[ApsApp] = []
        unread = False
        for app in self.deps.settings.aps_apps:
            try:
                if self.allowed(client, app, user, channel):
                    usable.append(app)
            except (SlackApiError, OSError) as exc:  # Slack failed to say who is in the app's user groups
                log.warning("run_live_check hint: user groups not read (%s)", failure_name(exc))
                unread = True
        apps = ", ".join(f"*{escape(a.name)}* (`{escape(a.client_id)}`)" for a in usable[:10])
        lines = [":mag: Run a live access check here, with the project of the failing call:"]
        cause = self.deps.kb.cause(str(value.get("cause", ""))) if value.get("cause") else None
        if cause is not None:
            lines.append(
                f"It tests the suspected cause, *{escape(cause.title)}* (`{cause.id}`), against APS."
            )
        lines.append(USAGE)
        if apps:
            lines.append(f"Apps you can check with: {apps}.")
        if unread:
            lines.append(GROUPS_UNLISTED)
        elif not apps:
            lines.append(f"No APS app is registered for you yet. {escape(REGISTER_HINT)}")
        text, thread_ts = "\n".join(lines), str(value.get("ts") or "") or None
        try:
            tell_clicker(client, respond, channel=channel, user=user, text=text, thread_ts=thread_ts)
        except SlackApiError as exc:
            log.warning("run_live_check hint failed: %s", exc.response.get("error"))


def _final(respond: Respond, *, resend_while: Callable[[], bool] = lambda: True, **message: Any) -> None:
    """Replace the "checking…" message with the check's answer. Replacing twice shows it once, so an answer
    Slack did not take (5xx, 429, no answer) is sent again, up to len(REPORT_RETRY_WAITS) more times, while
    `resend_while()` holds: Slack may have shown it anyway, and a click on it replaced it with a newer one."""
    for attempt, wait in enumerate((*REPORT_RETRY_WAITS, None)):
        if attempt and not resend_while():
            return
        try:
            status = respond(replace_original=True, **message).status_code
        except Exception as exc:  # no answer from Slack
            log.warning("the check's answer was not delivered: %s", type(exc).__name__)
            status = 0
        if status and status < 500 and status != 429:
            if status >= 400:
                log.warning("Slack refused the check's answer: HTTP %s", status)
            return
        if wait is None:
            log.warning("the check's answer was not delivered after %d attempts", len(REPORT_RETRY_WAITS) + 1)
            return
        time.sleep(wait)


def scheduled_work(
    deps: Deps, client: WebClient
) -> tuple[dict[str, Callable[[Job, float], None]], list[Callable[[float], None]]]:
    """The job handler that runs again the checks a dead bot left unanswered, and the sweep that keeps the
    checks this bot is still answering from coming due."""
    handler = CheckCommand(deps)
    return {CHECK_JOB: lambda job, now: handler.resume(job, now, client)}, [handler.renew]


def register(app: App, deps: Deps) -> None:
    """Register `/aps-check` and the `run_live_check` / `share_check_report` buttons."""
    handler = CheckCommand(deps)
    app.command(COMMAND)(handler.on_command)
    app.action(RUN_LIVE_CHECK)(handler.on_run_live_check)
    app.action(SHARE_ACTION)(handler.on_share)

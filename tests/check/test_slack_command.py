"""`/aps-check` over signed HTTP: the real Bolt app, the fake Slack Web API and the fake APS server."""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from bot.scheduler import Scheduler
from bot.settings import ApsApp, Settings
from bot.slack.listeners.check_command import (
    CHECK_JOB,
    GROUPS_UNREAD,
    REPORT_TTL,
    RESUME_AFTER,
    RUN_LIVE_CHECK,
)
from bot.slack.usergroups import USERGROUP_TTL
from tests.check.conftest import ALLOWED_CHANNEL, ALLOWED_GROUP, ALLOWED_USER, app_entry
from tests.check.test_scenarios import FAILURES
from tests.fakes.aps_server import ACCOUNT_ID, APP_NAME, CLIENT_ID, CLIENT_SECRET, PROJECT_ID, FakeAps
from tests.fakes.bolt_server import BotServer, block_action_payload, make_settings, running_bot
from tests.fakes.clock import Clock
from tests.fakes.polling import wait_until
from tests.fakes.slack_api import Call, FakeSlackApi

OTHER_CHANNEL = "C0RANDOM"
STRANGER = "U0STRANGER"
KB_FIX = "Ask the account admin to add the client id under Custom Integrations (test KB)."
STEP_TITLES = {
    "token": "Two-legged token",
    "scopes": "Granted scopes",
    "hub": "Account hub (custom integration)",
    "account_admin": "ACC Admin API project",
    "project": "Data Management project",
}


def write_kb(folder: Path) -> Path:
    """A small valid knowledge base, so these tests depend on the KB format but not on its content."""
    folder.mkdir()
    steps = ["create-app", "admin-rights", "add-integration", "project-access", "test-access"]
    checklist = {
        "title": "Provisioning checklist",
        "steps": [
            {
                "id": s,
                "title": s.replace("-", " "),
                "why": "because",
                "items": [{"id": f"{s}-1", "text": "do it"}],
            }
            for s in steps
        ],
    }
    cause = {
        "id": "integration-not-provisioned",
        "title": "Custom integration missing (test KB)",
        "summary": "The client id is not added in the account.",
        "http_status": [403],
        "signatures": {"error_codes": ["BIM360DM_ERROR"], "messages": [], "endpoints": []},
        "fix": KB_FIX,
        "checklist_step": "add-integration",
        "examples": ["Unable to get hubs from BIM360DM US."],
    }
    (folder / "checklist.yml").write_text(yaml.safe_dump(checklist))
    (folder / "integration-not-provisioned.yml").write_text(yaml.safe_dump(cause))
    return folder


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as fake:
        yield fake


@pytest.fixture
def bot_settings(tmp_path: Path, slack: FakeSlackApi, aps: FakeAps) -> Settings:
    return make_settings(
        tmp_path,
        slack,
        bot_kb_dir=write_kb(tmp_path / "knowledge"),
        aps_base_url=aps.url,
        aps_apps=[app_entry()],
        aps_max_retry_after_seconds=0,
    )


@pytest.fixture
def bot(bot_settings: Settings) -> Iterator[BotServer]:
    with running_bot(bot_settings) as server:
        yield server


def is_final(call: Call) -> bool:
    return (
        "APS access check" in str(call.params.get("text", "")) and call.params.get("replace_original") is True
    )


def final_report(slack: FakeSlackApi) -> Call:
    [final] = slack.wait_for("response_url", predicate=is_final)
    return final


def command(
    bot: BotServer, text: str, *, user: str = ALLOWED_USER, channel: str = OTHER_CHANNEL
) -> dict[str, Any]:
    response = bot.send_command(text, user_id=user, channel_id=channel)
    assert response.status == 200
    return response.json() if response.body else {}


def all_text(slack: FakeSlackApi) -> str:
    return json.dumps([c.params for c in slack.calls])


def test_healthy_check_progress_then_report_with_share_button(bot: BotServer, slack: FakeSlackApi) -> None:
    assert command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}") == {}
    final = final_report(slack)
    calls = slack.calls_to("response_url")
    assert len(calls) <= 5  # response_url allows five uses
    first = calls[0]
    assert first.params["response_type"] == "ephemeral" and "Checking" in first.params["text"]
    assert calls[-1] is final and "passed" in final.params["text"]
    buttons = [e for b in final.json("blocks") if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == ["share_check_report"]
    assert all(c.params.get("replace_original") is True for c in calls[1:])


@pytest.mark.parametrize("scenario", sorted(FAILURES))
def test_each_scenario_reports_failing_step_and_cause(
    bot: BotServer, slack: FakeSlackApi, aps: FakeAps, scenario: str
) -> None:
    aps.scenario = scenario
    command(bot, f"{APP_NAME.lower()!r} b.{PROJECT_ID} b.{ACCOUNT_ID}".replace("'", '"'))
    final = final_report(slack)
    step, cause = FAILURES[scenario]
    assert f"failed at *{STEP_TITLES[step]}*" in final.params["text"]
    blocks = json.dumps(final.json("blocks"))
    if cause is not None:
        assert f"(`{cause}`)" in blocks
    assert CLIENT_SECRET not in all_text(slack)


def test_fix_comes_from_the_knowledge_base(bot: BotServer, slack: FakeSlackApi, aps: FakeAps) -> None:
    aps.scenario = "integration_missing_403"
    command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
    blocks = json.dumps(final_report(slack).json("blocks"))
    assert KB_FIX in blocks and "Custom integration missing (test KB)" in blocks


def test_user_check_by_email_from_slack_mailto(bot: BotServer, slack: FakeSlackApi, aps: FakeAps) -> None:
    aps.scenario = "user_no_access"
    command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID} user=<mailto:member@example.com|member@example.com>")
    final = final_report(slack)
    assert "failed at *User's project access*" in final.params["text"]
    assert "user-lacks-project-access" in json.dumps(final.json("blocks"))


def test_stranger_is_refused_and_nothing_reaches_aps(
    bot: BotServer, slack: FakeSlackApi, aps: FakeAps
) -> None:
    command(bot, f"{CLIENT_ID} {PROJECT_ID}", user=STRANGER)
    [refusal] = slack.wait_for("response_url")
    assert "may not run checks" in refusal.params["text"]
    bot.runtime.deps.executor.submit(lambda: None).result(timeout=10)
    assert aps.calls == []


def test_an_app_without_user_groups_is_refused_to_strangers(
    bot_settings: Settings, slack: FakeSlackApi, aps: FakeAps
) -> None:
    """No group to look up does not open the app: only its listed users and channels may use it."""
    settings = bot_settings.model_copy(update={"aps_apps": [ApsApp(**app_entry(allowed_usergroups=[]))]})
    with running_bot(settings) as bot:
        command(bot, f"{CLIENT_ID} {PROJECT_ID}", user=STRANGER)
        [refusal] = slack.wait_for("response_url")
        assert "may not run checks" in refusal.params["text"]
        bot.runtime.deps.executor.submit(lambda: None).result(timeout=10)
    assert aps.calls == [] and slack.calls_to("usergroups.users.list") == []


def test_allowed_channel_lets_anyone_check(bot: BotServer, slack: FakeSlackApi) -> None:
    command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}", user=STRANGER, channel=ALLOWED_CHANNEL)
    assert "passed" in final_report(slack).params["text"]


def test_user_group_membership_is_looked_up_and_cached(bot_settings: Settings, slack: FakeSlackApi) -> None:
    slack.usergroups[ALLOWED_GROUP] = [STRANGER]
    clock = Clock()
    with running_bot(bot_settings, clock=clock) as bot:
        for expected in (1, 2):
            command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}", user=STRANGER)
            slack.wait_for("response_url", count=expected, predicate=is_final)
            clock.now += bot_settings.bot_check_spacing_seconds  # (the cache lives longer than the spacing)
    assert len(slack.calls_to("usergroups.users.list")) == 1


def test_a_slack_failure_reading_user_groups_asks_to_try_again_and_a_known_answer_stands(
    bot_settings: Settings, slack: FakeSlackApi, aps: FakeAps
) -> None:
    """A 503 from usergroups.users.list is no refusal ("may not run checks"): the user is asked to try again.
    Once the membership is known, a failure after its minute's cache ran out keeps the last answer."""
    slack.usergroups[ALLOWED_GROUP] = [STRANGER]
    clock = Clock()
    args = f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}"
    with running_bot(bot_settings, clock=clock) as bot:
        slack.fail_next("usergroups.users.list", status=503)
        command(bot, args, user=STRANGER)
        [answer] = slack.wait_for("response_url")
        assert answer.params["text"] == GROUPS_UNREAD
        bot.runtime.deps.executor.submit(lambda: None).result(timeout=10)
        assert aps.calls == []
        command(bot, args, user=STRANGER)  # Slack answers: the check runs
        slack.wait_for("response_url", predicate=is_final)
        clock.now += max(USERGROUP_TTL, bot_settings.bot_check_spacing_seconds) + 1
        slack.fail_next("usergroups.users.list", status=503)
        command(bot, args, user=STRANGER)  # Slack fails again once the cache has run out: the answer stands
        slack.wait_for("response_url", count=2, predicate=is_final)
    assert len(slack.calls_to("usergroups.users.list")) == 3


def is_spacing_refusal(call: Call) -> bool:
    return "Try again in" in str(call.params.get("text", ""))


def test_a_repeated_check_is_refused_until_the_spacing_has_passed(
    bot_settings: Settings, slack: FakeSlackApi, aps: FakeAps
) -> None:
    clock = Clock()
    args = f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}"
    with running_bot(bot_settings, clock=clock) as bot:
        command(bot, args)
        final_report(slack)
        token_calls = aps.count("/authentication/v2/token")
        clock.now += bot_settings.bot_check_spacing_seconds - 5
        command(bot, f"{CLIENT_ID} b.{PROJECT_ID} {ACCOUNT_ID}")  # the same project, spelled with its prefix
        [refusal] = slack.wait_for("response_url", predicate=is_spacing_refusal)
        assert "Try again in 5 s" in refusal.params["text"]
        assert refusal.params["response_type"] == "ephemeral"
        bot.drain()
        assert aps.count("/authentication/v2/token") == token_calls  # APS was not called again
        command(bot, args, user=STRANGER, channel=ALLOWED_CHANNEL)  # someone else's check is theirs
        command(bot, f"{args} US")  # a corrected region is a new check, not a repeat
        slack.wait_for("response_url", count=3, predicate=is_final)
        clock.now += 5
        command(bot, args)  # and the spacing is over
        slack.wait_for("response_url", count=4, predicate=is_final)
    assert len(slack.wait_for("response_url", predicate=is_spacing_refusal)) == 1


def test_a_check_that_crashed_can_be_run_again_at_once(
    bot_settings: Settings, slack: FakeSlackApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.slack.listeners import check_command

    real, calls = check_command.run_live_check, []

    def crash_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(check_command, "run_live_check", crash_once)
    with running_bot(bot_settings, clock=Clock()) as bot:  # the clock stands still: no spacing passes
        command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
        slack.wait_for("response_url", predicate=lambda c: "crashed" in str(c.params.get("text", "")))
        command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
        assert "passed" in final_report(slack).params["text"]
    assert not [c for c in slack.calls_to("response_url") if is_spacing_refusal(c)]


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 429, "retry_after": 1}])
def test_a_report_slack_did_not_take_is_sent_again(
    bot_settings: Settings, slack: FakeSlackApi, monkeypatch: pytest.MonkeyPatch, fault: dict[str, Any]
) -> None:
    """The report replaces the "checking…" message, so sending it again shows it once; not sending it
    leaves the user looking at "checking…" for good."""
    from bot.slack.listeners import check_command

    monkeypatch.setattr(check_command, "REPORT_RETRY_WAITS", (0.05, 0.05))
    slack.fail_next("response_url", times=2, **fault)  # the "checking…" message, then the report
    with running_bot(bot_settings, clock=Clock()) as bot:  # a still clock: no progress updates between
        command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
        first, again = slack.wait_for("response_url", count=2, predicate=is_final)
        bot.drain()
    assert again.params == first.params and "passed" in again.params["text"]
    assert len(slack.calls_to("response_url")) == 3


def test_a_report_resent_after_a_share_click_does_not_undo_the_share(
    bot_settings: Settings, slack: FakeSlackApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack may show a report it answered 500 for (or never answered): its user clicks Share before the
    report is sent again, and the resend must not put the report (and a dead Share button) back over
    "Shared in the channel"."""
    from bot.slack.listeners import check_command

    resend = threading.Event()
    monkeypatch.setattr(check_command, "REPORT_RETRY_WAITS", (1.0,))
    monkeypatch.setattr(check_command, "time", SimpleNamespace(sleep=lambda _: resend.wait(10)))
    slack.fail_next("response_url", times=2, status=500)  # the "checking…" message, then the report
    with running_bot(bot_settings, clock=Clock()) as bot:
        command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
        bot.send_action(share_button(slack))
        slack.wait_for("chat.postMessage")
        slack.wait_for("response_url", predicate=lambda c: "Shared in the channel" in str(c.params))
        resend.set()
        bot.drain()
    replaced = [c for c in slack.calls_to("response_url") if c.params.get("replace_original") is True]
    assert "Shared in the channel" in str(replaced[-1].params)


def test_a_report_slack_refuses_for_good_is_not_sent_again(
    bot_settings: Settings, slack: FakeSlackApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.slack.listeners import check_command

    monkeypatch.setattr(check_command, "REPORT_RETRY_WAITS", (0.05, 0.05))
    slack.fail_next("response_url", status=404, times=2)  # an expired response_url
    with running_bot(bot_settings, clock=Clock()) as bot:
        command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
        final_report(slack)
        bot.drain()
    assert len(slack.calls_to("response_url")) == 2


def test_a_checking_message_slack_does_not_answer_does_not_stop_the_check(
    bot_settings: Settings, aps: FakeAps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The "checking…" post is best effort: the check runs and its report is still sent."""
    from bot.slack.listeners import check_command

    monkeypatch.setattr(check_command, "REPORT_RETRY_WAITS", (0.05,))
    with FakeAps() as gone:  # a response_url nobody answers: the connection is refused
        dead = f"{gone.url}/response/{CHECK_JOB}"
    with running_bot(bot_settings) as bot:
        text = f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}"
        bot.send_command(text, user_id=ALLOWED_USER, channel_id=OTHER_CHANNEL, response_url=dead)
        wait_until(lambda: aps.count("/project/v1/hubs/") > 0)  # the check ran
        wait_until(lambda: stored_checks(bot) == 0)  # and answered, as well as it could


def stored_checks(bot: BotServer) -> int:
    """Checks kept in the jobs table (each holds a response_url: none may outlive its check)."""
    row = bot.runtime.deps.db.connection().execute("SELECT COUNT(*) FROM jobs WHERE kind = ?", (CHECK_JOB,))
    return int(row.fetchone()[0])


def accepted_then_died(settings: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bot takes one /aps-check and dies before answering it."""
    with monkeypatch.context() as patch:
        _dies_before_answering(patch)
        with running_bot(settings, clock=clock) as bot:
            command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
            bot.drain()


def hold_hubs(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Make APS's hubs endpoint wait until the returned event is set (a slow APS)."""
    release = threading.Event()
    real = FakeAps._hubs

    def slow_hubs(self: FakeAps, query: dict) -> Any:
        release.wait(30)
        return real(self, query)

    monkeypatch.setattr(FakeAps, "_hubs", slow_hubs)
    return release


def _dies_before_answering(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot acks `/aps-check`, starts the check (its spacing slot taken) and dies: the check never
    answers, and its stored job stays behind."""
    from bot.slack.listeners import check_command

    def started_then_died(self: Any, job: str, client: Any, respond: Any, app: Any, *rest: Any) -> None:
        user, _, args = rest
        spacing = self.deps.settings.bot_check_spacing_seconds
        key = check_command.check_key(user, app.client_id, args)
        assert self.deps.check_runs.claim(key, self.deps.clock(), spacing) == 0
        check_command._ANSWERING.discard(job)  # the process's memory dies with it

    monkeypatch.setattr(check_command.CheckCommand, "_answer", started_then_died)


def test_a_check_the_bot_died_during_is_run_again_after_the_restart(
    bot_settings: Settings, slack: FakeSlackApi, aps: FakeAps, monkeypatch: pytest.MonkeyPatch
) -> None:
    aps.scenario = "integration_missing_403"
    # spaced longer than the wait before the re-run: the re-run is the same check, not a repeat of it
    bot_settings = bot_settings.model_copy(update={"bot_check_spacing_seconds": 2 * RESUME_AFTER})
    clock = Clock()
    accepted_then_died(bot_settings, clock, monkeypatch)
    assert slack.calls_to("response_url") == [] and aps.calls == []
    with running_bot(bot_settings, clock=clock) as bot:
        scheduler = Scheduler(bot.runtime.deps)
        assert scheduler.run_due(clock.now + RESUME_AFTER - 1) == 0  # it might still be running: not yet
        assert scheduler.run_due(clock.now + RESUME_AFTER) == 1
        final = final_report(slack)
        assert "integration-not-provisioned" in json.dumps(final.json("blocks"))
        assert "restarted during this check" in json.dumps(final.json("blocks"))
        assert scheduler.run_due(clock.now + 2 * RESUME_AFTER) == 0  # run again once, never twice
        assert stored_checks(bot) == 0
    assert len(slack.calls_to("response_url")) == 1  # the report alone: the first run may have used the rest


def test_a_strangers_check_the_bot_died_during_is_refused_after_the_restart(
    bot_settings: Settings, slack: FakeSlackApi, aps: FakeAps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check is stored before it is authorised: its re-run authorises the same user in the same channel."""
    clock = Clock()
    with monkeypatch.context() as patch:
        _dies_before_answering(patch)
        with running_bot(bot_settings, clock=clock) as bot:
            command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}", user=STRANGER)
            bot.drain()
    with running_bot(bot_settings, clock=clock) as bot:
        assert Scheduler(bot.runtime.deps).run_due(clock.now + RESUME_AFTER) == 1
        [refusal] = slack.wait_for("response_url")
        assert "may not run checks" in refusal.params["text"]
        bot.drain()
        assert stored_checks(bot) == 0
    assert aps.calls == []


def test_a_check_still_on_its_way_is_not_run_again_when_its_job_comes_due(
    bot_settings: Settings, slack: FakeSlackApi, aps: FakeAps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow APS (or a queue of checks ahead) keeps a check past the wait: the live bot runs it once."""
    release = hold_hubs(monkeypatch)
    clock = Clock()
    with running_bot(bot_settings, clock=clock) as bot:
        command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
        wait_until(lambda: aps.count("/project/v1/hubs") == 1)  # the check waits on APS
        scheduler = Scheduler(bot.runtime.deps)
        # the scheduler's passes (every 15 s) keep the job of a check this bot is answering from coming due
        for elapsed in (RESUME_AFTER / 2, RESUME_AFTER * 1.2, RESUME_AFTER * 1.9, RESUME_AFTER * 2.5):
            assert scheduler.run_due(clock.now + elapsed) == 0
        release.set()
        final_report(slack)
        bot.drain()
        assert scheduler.run_due(clock.now + 3 * RESUME_AFTER) == 0 and stored_checks(bot) == 0
    finals = [c for c in slack.calls_to("response_url") if is_final(c)]
    assert len(finals) == 1 and "restarted during this check" not in json.dumps(finals[0].params)


def test_a_live_checks_job_that_came_due_anyway_is_left_to_its_run(
    bot_settings: Settings, slack: FakeSlackApi, aps: FakeAps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduler pass slowed by long jobs can let a renewal slip: the job of a check this bot is still
    answering is then put back, not run a second time."""
    from bot.slack.listeners import check_command
    from bot.slack.listeners import scheduled_work as all_work

    release = hold_hubs(monkeypatch)
    clock = Clock()
    answering_before = set(check_command._ANSWERING)
    with running_bot(bot_settings, clock=clock) as bot:
        command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
        wait_until(lambda: aps.count("/project/v1/hubs") == 1)
        handlers, _sweeps = all_work(bot.runtime.deps)
        no_renewal = Scheduler(bot.runtime.deps, handlers=handlers, sweeps=[])
        assert no_renewal.run_due(clock.now + RESUME_AFTER) == 1  # came due, and was put back
        release.set()
        final_report(slack)
        bot.drain()
        assert no_renewal.run_due(clock.now + 3 * RESUME_AFTER) == 0 and stored_checks(bot) == 0
        assert not check_command._ANSWERING - answering_before
    finals = [c for c in slack.calls_to("response_url") if is_final(c)]
    assert len(finals) == 1 and "restarted during this check" not in json.dumps(finals[0].params)


def test_a_check_that_answers_while_its_job_is_put_back_leaves_no_job(
    bot_settings: Settings, slack: FakeSlackApi, aps: FakeAps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check answers (and deletes its jobs) just after the scheduler saw it still answering and just
    before it put the job back: the put-back job must not outlive it, or it comes due and runs the check
    a second time."""
    from bot.slack.listeners import scheduled_work as all_work
    from bot.store.jobs import JobStore

    release = hold_hubs(monkeypatch)
    answered = threading.Event()
    real_schedule, real_delete_key = JobStore.schedule, JobStore.delete_key

    def delete_key(self: JobStore, key: str) -> None:
        real_delete_key(self, key)
        answered.set()

    def schedule(self: JobStore, kind: str, run_at: float, payload: dict, *, key: str | None = None) -> int:
        if kind == CHECK_JOB and not answered.is_set():  # the put-back: let the check answer first
            release.set()
            assert answered.wait(30)
        return real_schedule(self, kind, run_at, payload, key=key)

    clock = Clock()
    with running_bot(bot_settings, clock=clock) as bot:
        command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
        wait_until(lambda: aps.count("/project/v1/hubs") == 1)
        monkeypatch.setattr(JobStore, "schedule", schedule)
        monkeypatch.setattr(JobStore, "delete_key", delete_key)
        handlers, _sweeps = all_work(bot.runtime.deps)
        no_renewal = Scheduler(bot.runtime.deps, handlers=handlers, sweeps=[])
        assert no_renewal.run_due(clock.now + RESUME_AFTER) == 1  # came due while still answering
        final_report(slack)
        bot.drain()
        assert stored_checks(bot) == 0
        assert no_renewal.run_due(clock.now + 3 * RESUME_AFTER) == 0
    assert len([c for c in slack.calls_to("response_url") if is_final(c)]) == 1


def test_a_check_whose_job_cannot_be_deleted_is_no_longer_renewed(
    bot_settings: Settings, slack: FakeSlackApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.slack.listeners import check_command
    from bot.store.jobs import JobStore

    def locked(self: Any, key: str) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(JobStore, "delete_key", locked)
    answering_before = set(check_command._ANSWERING)
    with running_bot(bot_settings) as bot:
        command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
        final_report(slack)
        bot.drain()
    assert not check_command._ANSWERING - answering_before  # else its job would be renewed, run again


def test_an_interrupted_check_whose_response_url_expired_is_dropped(
    bot_settings: Settings, slack: FakeSlackApi, aps: FakeAps, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    accepted_then_died(bot_settings, clock, monkeypatch)
    with running_bot(bot_settings, clock=clock) as bot:
        scheduler = Scheduler(bot.runtime.deps)
        assert stored_checks(bot) == 1
        assert scheduler.run_due(clock.now + REPORT_TTL) == 1
        assert stored_checks(bot) == 0
    assert slack.calls_to("response_url") == [] and aps.calls == []


def test_an_answered_check_leaves_nothing_to_run_again(
    bot_settings: Settings, slack: FakeSlackApi, aps: FakeAps
) -> None:
    clock = Clock()
    with running_bot(bot_settings, clock=clock) as bot:
        command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")  # passes
        command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")  # refused: too soon
        command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}", user=STRANGER)  # refused: not allowed
        final_report(slack)
        bot.drain()
        answers = len(slack.calls_to("response_url"))
        assert stored_checks(bot) == 0
        assert Scheduler(bot.runtime.deps).run_due(clock.now + RESUME_AFTER) == 0
    assert len(slack.calls_to("response_url")) == answers


def test_secret_in_the_text_is_refused_with_rotation_warning(
    bot: BotServer, slack: FakeSlackApi, aps: FakeAps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for text in (
        f"{CLIENT_ID} {CLIENT_SECRET} {PROJECT_ID}",
        f"{CLIENT_ID} {PROJECT_ID} secret=hunter2",
        f"checklist {CLIENT_ID} {CLIENT_SECRET}",
    ):
        answer = command(bot, text)
        assert answer["response_type"] == "ephemeral" and "Rotate it now" in answer["text"]
        assert CLIENT_SECRET not in answer["text"] and "hunter2" not in answer["text"]
    assert CLIENT_SECRET not in caplog.text and "hunter2" not in caplog.text
    assert aps.calls == [] and slack.calls_to("response_url") == []
    assert slack.calls_to("chat.postMessage") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "Live access check"),
        ("help", "Live access check"),
        (CLIENT_ID, "give the project id or name"),
        (f"{CLIENT_ID} {PROJECT_ID} MARS-REGION-X extra", "unexpected argument"),
        (f"{CLIENT_ID} {PROJECT_ID} region=MARS", "unknown region"),
        (f'{CLIENT_ID} "unterminated', "cannot read the arguments"),
    ],
)
def test_bad_arguments_get_usage_with_an_example(
    bot: BotServer, aps: FakeAps, text: str, expected: str
) -> None:
    answer = command(bot, text)
    assert expected in answer["text"] and "e.g. `/aps-check" in answer["text"]
    assert aps.calls == []


ACC_LINK = (
    f"https://acc.autodesk.com/docs/files/projects/{PROJECT_ID}?folderUrn=urn%3Aadsk.wipprod%3Afs.folder"
)


@pytest.mark.parametrize(
    ("project", "expected"),
    [
        (f"<{ACC_LINK}>", f"holds the project id `{PROJECT_ID}`"),  # as Slack sends a link it escaped
        (ACC_LINK, f"holds the project id `{PROJECT_ID}`"),
        (f"urn:adsk.workspace:prod.project:{PROJECT_ID}", f"holds the project id `{PROJECT_ID}`"),
        ("https://acc.autodesk.com/projects", "is a link or URN, not a project"),
        ("<@U0TEAMMATE|jane>", "is a Slack mention, not a project"),
        ("<!here>", "is a Slack mention, not a project"),
    ],
)
def test_a_link_or_mention_in_the_projects_place_gets_usage(
    bot: BotServer, aps: FakeAps, project: str, expected: str
) -> None:
    """Searched as a project name it is never found, after reading every page of the app's hubs."""
    answer = command(bot, f"{CLIENT_ID} {project} {ACCOUNT_ID}")
    assert expected in answer.get("text", ""), answer
    assert "e.g. `/aps-check" in answer["text"] and aps.calls == []


@pytest.mark.parametrize(
    "words",
    [
        f"{PROJECT_ID}\u200b {ACCOUNT_ID}",  # an invisible zero-width space copied along with the id
        f"\ufeff{PROJECT_ID} account=\u2060{ACCOUNT_ID}",
        f"B.{PROJECT_ID} account=B.{ACCOUNT_ID}",  # the prefix typed in capitals
    ],
)
def test_ids_with_invisible_characters_or_a_capital_prefix_are_ids(
    bot: BotServer, slack: FakeSlackApi, aps: FakeAps, words: str
) -> None:
    assert command(bot, f"{CLIENT_ID} {words}") == {}
    assert "passed" in final_report(slack).params["text"]
    assert not any(c.path.endswith("/projects") for c in aps.calls)  # looked up by id, not searched by name


@pytest.mark.parametrize("account", ["Contoso", "ContosoConstruction", "b.Contoso-2024"])
def test_an_account_name_where_the_account_id_belongs_gets_usage(
    bot: BotServer, aps: FakeAps, account: str
) -> None:
    """Checked as an account id, a name is an account the app does not reach: "custom integration missing"."""
    answer = command(bot, f'{CLIENT_ID} "Tower A" {account}')
    assert "is not an account id" in answer.get("text", ""), answer
    assert aps.calls == []


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("Tower Extension", "'Extension' is not an account id"),
        ("Tower A Extension", "unexpected argument 'Extension'"),  # the hint's own example, unquoted
    ],
)
def test_a_project_name_with_spaces_but_no_quotes_gets_usage(
    bot: BotServer, aps: FakeAps, name: str, refused: str
) -> None:
    """Its second word took the account's place and was checked as an account the app does not reach."""
    answer = command(bot, f"{CLIENT_ID} {name}")
    assert refused in answer.get("text", ""), answer
    assert "goes in quotes" in answer["text"] and aps.calls == []


def test_unknown_app_explains_registration(bot: BotServer, aps: FakeAps) -> None:
    answer = command(bot, f"NoSuchApp {PROJECT_ID}")
    assert "APS_APPS" in answer["text"] and aps.calls == []
    assert "<" not in answer["text"]  # placeholders escaped: no accidental Slack links


def test_share_posts_the_report_in_the_channel(bot: BotServer, slack: FakeSlackApi, aps: FakeAps) -> None:
    aps.scenario = "integration_missing_403"
    command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
    final = final_report(slack)
    [button] = [e for b in final.json("blocks") if b["type"] == "actions" for e in b["elements"]]
    payload = block_action_payload(
        "share_check_report", button["value"], user=ALLOWED_USER, channel=OTHER_CHANNEL
    )
    assert bot.send_action(payload).status == 200
    [post] = slack.wait_for("chat.postMessage")
    assert post.params["channel"] == OTHER_CHANNEL
    assert "integration-not-provisioned" in json.dumps(post.json("blocks"))
    assert f"Shared by <@{ALLOWED_USER}>" in json.dumps(post.json("blocks"))
    slack.wait_for(
        "response_url", predicate=lambda c: "Shared in the channel" in json.dumps(c.params.get("blocks"))
    )


def share_button(slack: FakeSlackApi) -> dict[str, Any]:
    final = final_report(slack)
    [button] = [e for b in final.json("blocks") if b["type"] == "actions" for e in b["elements"]]
    return block_action_payload(
        "share_check_report", button["value"], user=ALLOWED_USER, channel=OTHER_CHANNEL
    )


def test_share_still_works_after_a_restart(bot_settings: Settings, slack: FakeSlackApi, aps: FakeAps) -> None:
    aps.scenario = "integration_missing_403"
    with running_bot(bot_settings) as bot:
        command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
        payload = share_button(slack)
    with running_bot(bot_settings) as bot:
        assert bot.send_action(payload).status == 200
        [post] = slack.wait_for("chat.postMessage")
    assert "integration-not-provisioned" in json.dumps(post.json("blocks"))


def test_share_after_the_response_url_expired_is_refused(
    bot_settings: Settings, slack: FakeSlackApi, aps: FakeAps
) -> None:
    aps.scenario = "integration_missing_403"
    now = [1_800_000_000.0]
    with running_bot(bot_settings, clock=lambda: now[0]) as bot:
        command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
        payload = share_button(slack)
        now[0] += REPORT_TTL + 1
        bot.send_action(payload)
        slack.wait_for("response_url", predicate=lambda c: "expired" in str(c.params.get("text")))
        bot.drain()
    assert slack.calls_to("chat.postMessage") == []


def test_share_of_an_unknown_report_is_refused(bot: BotServer, slack: FakeSlackApi) -> None:
    payload = block_action_payload("share_check_report", json.dumps({"report": "forged"}), user=ALLOWED_USER)
    bot.send_action(payload)
    [answer] = slack.wait_for("response_url")
    assert "expired" in answer.params["text"]
    assert slack.calls_to("chat.postMessage") == []


def test_only_the_user_who_ran_the_check_shares_its_report_and_only_once(
    bot: BotServer, slack: FakeSlackApi, aps: FakeAps
) -> None:
    aps.scenario = "integration_missing_403"
    command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
    payload = share_button(slack)
    someone_else = json.loads(json.dumps(payload))
    someone_else["user"] = {**someone_else["user"], "id": STRANGER}
    bot.send_action(someone_else)
    slack.wait_for("response_url", predicate=lambda c: "expired" in str(c.params.get("text")))
    bot.drain()
    assert slack.calls_to("chat.postMessage") == []
    for _ in range(2):  # the owner's share, then a second click on the same button
        bot.send_action(payload)
        bot.drain()
    [post] = slack.calls_to("chat.postMessage")
    assert f"Shared by <@{ALLOWED_USER}>" in json.dumps(post.json("blocks"))


def test_a_double_click_on_share_posts_the_report_once(
    bot: BotServer, slack: FakeSlackApi, aps: FakeAps
) -> None:
    """The second click of a double click arrives while the first is still posting: it posts nothing."""
    aps.scenario = "integration_missing_403"
    command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
    payload = share_button(slack)
    slack.hold = threading.Event()  # Slack is slow to take the first click's post
    try:
        bot.send_action(payload)
        slack.wait_for("chat.postMessage")
        bot.send_action(payload)
        wait_until(  # the second click has been answered, with a second post or a refusal
            lambda: (
                len(slack.calls_to("chat.postMessage")) > 1
                or any("already shared" in str(c.params.get("text")) for c in slack.calls_to("response_url"))
            )
        )
    finally:
        slack.hold.set()
    bot.drain()
    [post] = slack.calls_to("chat.postMessage")
    assert f"Shared by <@{ALLOWED_USER}>" in json.dumps(post.json("blocks"))
    slack.wait_for(
        "response_url", predicate=lambda c: "Shared in the channel" in json.dumps(c.params.get("blocks"))
    )


def test_a_share_slack_refused_can_be_clicked_again(
    bot: BotServer, slack: FakeSlackApi, aps: FakeAps
) -> None:
    """Not in the channel yet: the report stays for a second click once the bot is invited."""
    aps.scenario = "integration_missing_403"
    command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
    payload = share_button(slack)
    slack.fail_next("chat.postMessage", error="not_in_channel")
    bot.send_action(payload)
    slack.wait_for("response_url", predicate=lambda c: "Invite me" in str(c.params.get("text")))
    bot.drain()
    bot.send_action(payload)
    slack.wait_for("chat.postMessage", count=2)
    bot.drain()
    assert "Shared by" in json.dumps(slack.calls_to("chat.postMessage")[-1].json("blocks"))


def test_run_live_check_button_prompts_for_the_command(
    bot: BotServer, slack: FakeSlackApi, aps: FakeAps
) -> None:
    value = json.dumps(
        {"cause": "integration-not-provisioned", "channel": OTHER_CHANNEL, "ts": "1690000001.000001"}
    )
    bot.send_action(block_action_payload("run_live_check", value, user=ALLOWED_USER, channel=OTHER_CHANNEL))
    [hint] = slack.wait_for("chat.postEphemeral")
    assert hint.params["user"] == ALLOWED_USER and hint.params["channel"] == OTHER_CHANNEL
    assert hint.params["thread_ts"] == "1690000001.000001"  # in the diagnosis thread the button is in
    assert "/aps-check" in hint.params["text"] and CLIENT_ID in hint.params["text"]
    assert "Custom integration missing (test KB)" in hint.params["text"]
    assert aps.calls == []


def test_run_live_check_by_someone_reading_the_channel_without_being_in_it_gets_the_hint(
    bot: BotServer, slack: FakeSlackApi
) -> None:
    """Slack refuses an ephemeral message to a non-member of a public channel (`user_not_in_channel`): the
    hint goes through the click's response_url instead of nowhere."""
    value = json.dumps({"cause": None, "channel": OTHER_CHANNEL, "ts": "1690000001.000001"})
    slack.fail_next("chat.postEphemeral", error="user_not_in_channel")
    bot.send_action(block_action_payload(RUN_LIVE_CHECK, value, user=ALLOWED_USER, channel=OTHER_CHANNEL))
    [hint] = slack.wait_for("response_url")
    assert "/aps-check" in hint.params["text"] and CLIENT_ID in hint.params["text"]
    assert hint.params["response_type"] == "ephemeral" and hint.params["replace_original"] in (False, "false")


def test_run_live_check_hint_comes_when_slack_fails_to_say_the_user_groups(
    bot: BotServer, slack: FakeSlackApi, aps: FakeAps
) -> None:
    """The hint lists the apps the clicker may use; a user group Slack did not list (503) leaves that app
    unknown, and the hint still comes, saying so, rather than nothing at all."""
    value = json.dumps({"cause": None, "channel": OTHER_CHANNEL, "ts": "1690000001.000001"})
    slack.fail_next("usergroups.users.list", status=503)
    bot.send_action(block_action_payload(RUN_LIVE_CHECK, value, user=STRANGER, channel=OTHER_CHANNEL))
    [hint] = slack.wait_for("chat.postEphemeral")
    assert "/aps-check" in hint.params["text"] and hint.params["user"] == STRANGER
    assert "Slack did not say who is in the user groups" in hint.params["text"]
    assert "No APS app is registered for you" not in hint.params["text"]


def test_checklist_subcommand_is_routed_to_the_checklist_listeners(
    bot: BotServer, slack: FakeSlackApi, aps: FakeAps
) -> None:
    slack.members[OTHER_CHANNEL] = [ALLOWED_USER]
    answer = command(bot, "checklist")
    assert "Live access check" not in json.dumps(answer)
    slack.wait_for("chat.postMessage")
    assert aps.calls == []


def test_no_token_or_secret_in_any_reply_or_log(
    bot: BotServer, slack: FakeSlackApi, aps: FakeAps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    aps.scenario = "token_expiring"
    command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID} user=member@example.com")
    final_report(slack)
    seen = all_text(slack) + caplog.text
    assert CLIENT_SECRET not in seen
    assert len(aps.issued_tokens()) == 2
    assert all(token not in seen for token in aps.issued_tokens())


def test_progress_is_updated_in_place_while_a_slow_check_runs(
    bot: BotServer, slack: FakeSlackApi, aps: FakeAps
) -> None:
    aps.latency = 0.12  # five dependent calls: the check outlasts the progress throttle
    command(bot, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}")
    final = final_report(slack)
    calls = slack.calls_to("response_url")
    progress = calls[1:-1]
    assert calls[-1] is final and 1 <= len(progress) <= 3
    shown = []  # each update lists the steps finished so far, in the order they finished
    for update in progress:
        assert update.params["replace_original"] is True
        [_, finished, _] = update.json("blocks")
        shown.append(finished["text"]["text"].split("\n"))
    assert all(later[: len(earlier)] == earlier for earlier, later in itertools.pairwise(shown))


@pytest.mark.parametrize(("user", "in_group", "listed"), [(STRANGER, False, False), (STRANGER, True, True)])
def test_run_live_check_hint_lists_only_the_apps_the_user_may_check(
    bot: BotServer, slack: FakeSlackApi, user: str, in_group: bool, listed: bool
) -> None:
    slack.usergroups[ALLOWED_GROUP] = [user] if in_group else []
    bot.send_action(block_action_payload(RUN_LIVE_CHECK, json.dumps({}), user=user, channel=OTHER_CHANNEL))
    [hint] = slack.wait_for("chat.postEphemeral")
    assert (CLIENT_ID in hint.params["text"]) is listed

"""`aps-bot check` end to end: settings from the environment, the fake APS server, output and exit codes."""

from __future__ import annotations

import json
import logging

import pytest

from bot.cli import main
from tests.check.conftest import apps_env
from tests.check.test_scenarios import FAILURES
from tests.fakes.aps_server import ACCOUNT_ID, APP_NAME, CLIENT_ID, CLIENT_SECRET, PROJECT_ID, FakeAps


@pytest.fixture
def env(aps: FakeAps, monkeypatch: pytest.MonkeyPatch) -> FakeAps:
    monkeypatch.setenv("APS_BASE_URL", aps.url)
    monkeypatch.setenv("APS_APPS", apps_env())
    monkeypatch.setenv("APS_MAX_RETRY_AFTER_SECONDS", "0")
    return aps


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_healthy_exits_0_with_text_report(env: FakeAps, capsys) -> None:
    code, out, _ = run(capsys, "--client-id", CLIENT_ID, "--project", PROJECT_ID, "--account", ACCOUNT_ID)
    assert code == 0
    assert "Result: all steps passed" in out and out.count("PASS") == 8


@pytest.mark.parametrize("scenario", sorted(FAILURES))
def test_each_scenario_json_names_failing_step_and_cause(env: FakeAps, capsys, scenario: str) -> None:
    env.scenario = scenario
    code, out, _ = run(
        capsys, "--client-id", CLIENT_ID, "--project", PROJECT_ID, "--account", ACCOUNT_ID, "--json"
    )
    report = json.loads(out)
    assert code == 1
    assert (report["failed_step"], report["cause_id"]) == FAILURES[scenario]
    assert report["passed"] is False


REPORT_FIELDS = {
    "app",
    "project",
    "account",
    "region",
    "user",
    "passed",
    "failed_step",
    "cause_id",
    "duration_ms",
    "steps",
}
STEP_FIELDS = {
    "name",
    "title",
    "status",
    "observed",
    "cause_id",
    "cause_title",
    "fix",
    "checklist_step",
    "duration_ms",
}


def test_the_json_report_has_every_field_of_the_check_and_its_steps(env: FakeAps, capsys) -> None:
    """`--json` is read by scripts: its field names are an interface."""
    env.scenario = "integration_missing_403"
    _, out, _ = run(
        capsys, "--client-id", CLIENT_ID, "--project", PROJECT_ID, "--account", ACCOUNT_ID, "--json"
    )
    report = json.loads(out)
    assert set(report) == REPORT_FIELDS
    assert report["app"] == {"name": APP_NAME, "client_id": CLIENT_ID} and report["project"] == PROJECT_ID
    assert report["account"] == ACCOUNT_ID and report["user"] is None
    hub = next(step for step in report["steps"] if step["name"] == report["failed_step"])
    assert set(hub) == STEP_FIELDS
    assert set(hub["observed"]) == {"status", "code", "message"} and hub["observed"]["status"] == 403
    assert (hub["status"], hub["cause_id"], hub["checklist_step"]) == (
        "fail",
        "integration-not-provisioned",
        "add-integration",
    )
    assert hub["fix"] and hub["cause_title"] and hub["title"]


def test_text_report_shows_cause_fix_and_checklist_step(env: FakeAps, capsys) -> None:
    env.scenario = "integration_missing_403"
    code, out, _ = run(capsys, "--client-id", CLIENT_ID, "--project", PROJECT_ID, "--account", ACCOUNT_ID)
    assert code == 1
    assert "cause: integration-not-provisioned" in out and "checklist step: add-integration" in out
    assert "Result: FAILED at step 'hub'" in out


def test_user_check_from_the_cli(env: FakeAps, capsys) -> None:
    env.scenario = "user_no_access"
    code, out, _ = run(
        capsys,
        "--client-id",
        "integration bot",
        "--project",
        PROJECT_ID,
        "--account",
        ACCOUNT_ID,
        "--user",
        "member@example.com",
        "--json",
    )
    assert code == 1 and json.loads(out)["failed_step"] == "user_access"


def test_unknown_app_is_a_usage_error_explaining_registration(env: FakeAps, capsys) -> None:
    code, out, err = run(capsys, "--client-id", "nobody", "--project", PROJECT_ID)
    assert code == 2 and out == ""
    assert "APS_APPS" in err and env.calls == []


def test_bad_region_is_a_usage_error(env: FakeAps, capsys) -> None:
    code, _, err = run(capsys, "--client-id", CLIENT_ID, "--project", PROJECT_ID, "--region", "MARS")
    assert code == 2 and "unknown region" in err and env.calls == []


def test_missing_project_is_an_argparse_usage_error(env: FakeAps, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--client-id", CLIENT_ID])
    assert exit_info.value.code == 2


def test_invalid_apps_setting_is_a_usage_error(env: FakeAps, capsys, monkeypatch) -> None:
    monkeypatch.setenv("APS_APPS", "[{")
    code, _, err = run(capsys, "--client-id", CLIENT_ID, "--project", PROJECT_ID)
    assert code == 2 and "invalid settings" in err
    assert CLIENT_SECRET not in err


def test_no_secret_or_token_in_output_or_logs(env: FakeAps, capsys, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for scenario in ("healthy", "token_expiring", "bad_secret", "missing_scope"):
        env.scenario = scenario
        for extra in ([], ["--json"]):
            _, out, err = run(
                capsys, "--client-id", CLIENT_ID, "--project", PROJECT_ID, "--account", ACCOUNT_ID, *extra
            )
            seen = out + err + caplog.text
            assert CLIENT_SECRET not in seen
            assert all(token not in seen for token in env.issued_tokens())

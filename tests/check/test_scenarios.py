"""Every aps-facts §8 scenario through the real client and the core: the exact failing step and cause."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from bot.check.service import client_for, run_live_check
from bot.settings import Settings
from tests.check.conftest import check_settings
from tests.fakes.aps_server import (
    ACCOUNT_ID,
    APP_NAME,
    CLIENT_ID,
    CLIENT_SECRET,
    HTML_403,
    OTHER_ACCOUNT_ID,
    PROJECT_ID,
    PROJECT_NAME,
    SIGN_IN_PAGE,
    USER_EMAIL,
    USER_ID,
    FakeAps,
    dm_error,
    dm_warning,
    hub_json,
)

# scenario -> (failing step, cause id); None = the check passes
FAILURES: dict[str, tuple[str, str | None]] = {
    "bad_secret": ("token", "invalid-client-credentials"),
    "archived_app": ("token", "app-not-in-developer-hub"),
    "dm_not_enabled": ("hub", "app-api-access-missing"),
    "integration_missing_403": ("hub", "integration-not-provisioned"),
    "integration_missing_200": ("hub", "integration-not-provisioned"),
    "integration_missing_legacy": ("hub", "integration-not-provisioned"),
    "integration_missing_here": ("hub", "integration-not-provisioned"),
    "other_region": ("hub", "integration-not-provisioned"),  # added in another account: add it in this one
    "missing_scope": ("scopes", "missing-scope"),
    "acc_api_not_enabled": ("account_admin", "app-api-access-missing"),
    "admin_access_missing": ("account_admin", "integration-not-provisioned"),
    "project_not_found": ("project", "project-not-found"),
    "project_archived": ("account_admin", "project-not-found"),
    "project_not_in_docs": ("project", "project-service-not-activated"),
    "rate_limited": ("hub", "rate-limited"),
    "html_502": ("hub", None),
}


def check(settings: Settings, **kwargs):
    kwargs.setdefault("account", ACCOUNT_ID)
    return run_live_check(settings, CLIENT_ID, kwargs.pop("project", PROJECT_ID), **kwargs)


def test_healthy_passes_every_step(aps: FakeAps, settings: Settings) -> None:
    report = check(settings)
    assert report.passed and report.failed_step is None
    assert [s.name for s in report.steps] == [
        "ids",
        "token",
        "scopes",
        "hub",
        "account_admin",
        "project",
        "top_folders",
        "folder_contents",
    ]
    assert {s.status for s in report.steps} == {"pass"}
    assert report.region == "US" and report.app_name == APP_NAME
    admin = [c for c in aps.calls if c.path.startswith("/construction/admin/")]
    assert admin and all(c.headers.get("region") == "US" for c in admin)
    hubs = [c for c in aps.calls if c.path == "/project/v1/hubs"]
    assert hubs[0].query == {"filter[id]": [f"b.{ACCOUNT_ID}"]}


@pytest.mark.parametrize("scenario", sorted(FAILURES))
def test_scenario_fails_at_the_right_step(aps: FakeAps, settings: Settings, scenario: str) -> None:
    aps.scenario = scenario
    report = check(settings)
    step, cause = FAILURES[scenario]
    assert not report.passed
    assert report.failed_step is not None
    assert (report.failed_step.name, report.failed_step.cause_id) == (step, cause)
    assert report.to_json()["failed_step"] == step
    # a failure skips only its dependants
    for result in report.steps:
        if result.status == "skipped":
            assert result.observed.message.startswith("skipped: needs")


def test_bad_secret_names_both_explanations(aps: FakeAps, settings: Settings) -> None:
    aps.scenario = "bad_secret"
    message = check(settings).failed_step.observed.message
    assert "client id/secret is wrong" in message and "Developer Hub" in message


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"developerMessage": "Unauthorized"}),  # no OAuth error code: the 401 tells
        (400, {"error": "invalid_client", "error_description": "Client authentication failed."}),
    ],
)
def test_a_token_refusal_of_the_client_is_invalid_credentials(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch, status: int, body: dict
) -> None:
    monkeypatch.setattr(FakeAps, "_token", lambda self, headers, raw: self._json(status, body))
    failed = check(settings).failed_step
    assert (failed.name, failed.cause_id) == ("token", "invalid-client-credentials"), failed


def test_a_wrong_secret_in_settings_is_invalid_credentials(aps: FakeAps) -> None:
    settings = check_settings(
        aps.url, aps_apps=[{"name": "x", "client_id": CLIENT_ID, "client_secret": "nope"}]
    )
    report = check(settings)
    assert (report.failed_step.name, report.failed_step.cause_id) == ("token", "invalid-client-credentials")
    assert [s.status for s in report.steps][2:] == ["skipped"] * 6


@pytest.mark.parametrize(
    "scenario", ["integration_missing_403", "integration_missing_200", "integration_missing_legacy"]
)
def test_missing_integration_lists_regions_from_warnings(
    aps: FakeAps, settings: Settings, scenario: str
) -> None:
    aps.scenario = scenario
    failed = check(settings).failed_step
    assert "US, EMEA" in failed.observed.message
    assert failed.observed.status == (200 if scenario == "integration_missing_200" else 403)


@pytest.mark.parametrize("account", [ACCOUNT_ID, None])
def test_a_re_check_right_after_the_integration_is_added_sees_it(
    aps: FakeAps, settings: Settings, account: str | None
) -> None:
    """The app reaches other accounts in every region (no warnings); an admin adds it in this account and
    the user re-runs the check at once, as the report tells them to: the hub lookup asks APS again."""
    aps.scenario = "integration_missing_here"
    assert not check(settings, account=account).passed
    aps.scenario = "healthy"
    report = check(settings, account=account)
    assert report.passed, json.dumps(report.to_json(), indent=1)


def test_other_region_names_where_it_is_provisioned(aps: FakeAps, settings: Settings) -> None:
    aps.scenario = "other_region"
    failed = check(settings).failed_step
    assert f"b.{OTHER_ACCOUNT_ID}, US)" in failed.observed.message
    assert failed.observed.code == "BIM360DM_ERROR"  # APS answered 200, with a region's warning
    assert "in no account in region(s) EMEA" in failed.observed.message
    assert f"add the custom integration in account {ACCOUNT_ID}" in failed.observed.message


def test_region_warnings_of_the_unfiltered_hub_list_name_the_regions(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer filtered to the account id carries no region warning; the app's full hub list does."""
    real = FakeAps._hubs

    def hubs(self: FakeAps, query: dict) -> Any:
        status, content_type, body, headers = real(self, query)
        if query.get("filter[id]"):
            body = json.dumps({**json.loads(body), "meta": {}})
        return status, content_type, body, headers

    monkeypatch.setattr(FakeAps, "_hubs", hubs)
    aps.scenario = "other_region"
    failed = check(settings).failed_step
    assert (failed.name, failed.cause_id) == ("hub", "integration-not-provisioned")
    assert "in no account in region(s) EMEA" in failed.observed.message


@pytest.mark.parametrize("project", [PROJECT_ID, PROJECT_NAME])
def test_without_an_account_id_a_project_in_a_region_the_app_does_not_reach_is_a_missing_integration(
    aps: FakeAps, settings: Settings, project: str
) -> None:
    """The app reaches one US account, and no account in EMEA (a BIM360DM warning): a project that is not in
    that one account is most likely in an EMEA account without the integration, not in a region mismatch of
    an account the user never named, nor simply "not found"."""
    aps.scenario = "other_region"
    report = run_live_check(settings, CLIENT_ID, project)
    failed = report.failed_step
    assert (failed.name, failed.cause_id) == ("hub", "integration-not-provisioned"), failed
    assert "no account in region(s) EMEA" in failed.observed.message
    assert report.step("account_admin").status == "skipped"


def test_the_only_account_hub_beside_a_region_warning_is_used_when_it_holds_the_project(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = hub_json(f"b.{ACCOUNT_ID}", "Contoso Construction", "US")
    monkeypatch.setattr(FakeAps, "_reachable_hubs", lambda self: ([target], [dm_warning("EMEA")], 200))
    report = run_live_check(settings, CLIENT_ID, PROJECT_NAME)
    assert report.passed, json.dumps(report.to_json(), indent=1)
    assert report.step("hub").observed.message.startswith("hub 'Contoso Construction'")


@pytest.mark.parametrize("status", [500, 503, 429])
@pytest.mark.parametrize("project", [PROJECT_ID, PROJECT_NAME])
def test_a_hub_that_does_not_answer_leaves_the_project_search_open(
    aps: FakeAps, settings: Settings, status: int, project: str
) -> None:
    """No account id: the project is looked for in each hub. A 503 or 429 from its hub is no "not found"."""
    aps.scenario = "two_accounts"
    aps.unavailable_hubs = {f"b.{ACCOUNT_ID}": status}
    failed = run_live_check(settings, CLIENT_ID, project).failed_step
    assert failed.name == "hub" and failed.observed.status == status
    assert failed.cause_id == ("rate-limited" if status == 429 else None)
    assert "looking for the project" in failed.observed.message


def test_a_probe_that_does_not_answer_gives_no_provisioning_verdict(aps: FakeAps, settings: Settings) -> None:
    """The account id given is not reachable; whether the project sits in an account the app does reach
    cannot be told while that account's hub answers 503, so neither verdict is given."""
    aps.scenario = "two_accounts"
    aps.unavailable_hubs = {f"b.{ACCOUNT_ID}": 503}
    failed = run_live_check(settings, CLIENT_ID, PROJECT_ID, account=str(uuid.UUID(int=7))).failed_step
    assert (failed.name, failed.cause_id, failed.observed.status) == ("hub", None, 503)


@pytest.mark.parametrize(
    ("scenario", "cause"),
    [("archived_app", "app-not-in-developer-hub"), ("bad_secret", "invalid-client-credentials")],
)
def test_a_token_that_cannot_be_renewed_is_judged_as_the_token_endpoint_said(
    aps: FakeAps, settings: Settings, scenario: str, cause: str
) -> None:
    """The cached token still passes the token step; the next call gets 401, and the token endpoint refuses a
    new one: the report names that refusal, not a missing project or an expired token."""
    assert check(settings).passed  # caches the token
    aps.scenario = scenario
    aps.revoke_tokens()
    failed = check(settings).failed_step
    assert failed.name != "token" and failed.cause_id == cause, failed
    assert failed.observed.message.startswith("token not renewed: ")


def test_a_hub_list_aps_did_not_give_gives_no_provisioning_verdict(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong account id typed: which accounts the app reaches decides the verdict, and that list got 503."""
    real = FakeAps._hubs

    def hubs(self: FakeAps, query: dict) -> Any:
        if not query.get("filter[id]"):
            return 503, "text/html", "<html><head><title>503 Service Unavailable</title></head></html>", {}
        return real(self, query)

    monkeypatch.setattr(FakeAps, "_hubs", hubs)
    failed = run_live_check(settings, CLIENT_ID, PROJECT_ID, account=OTHER_ACCOUNT_ID).failed_step
    assert (failed.name, failed.cause_id, failed.observed.status) == ("hub", None, 503)


def test_a_token_refused_during_the_hub_search_names_the_credentials(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The secret is revoked right after the hub list is served (an unfiltered list is never cached, so the
    list itself has to succeed): the search's first project call cannot renew its token."""
    real = FakeAps._hubs

    def hubs(self: FakeAps, query: dict) -> Any:
        answer = real(self, query)
        if not query.get("filter[id]"):
            self.scenario = "bad_secret"
            self.revoke_tokens()
        return answer

    monkeypatch.setattr(FakeAps, "_hubs", hubs)
    aps.scenario = "two_accounts"
    failed = check_without_account(settings).failed_step
    assert (failed.name, failed.cause_id) == ("hub", "invalid-client-credentials"), failed
    assert "looking for the project in the app's hubs: token not renewed" in failed.observed.message


def check_without_account(settings: Settings) -> Any:
    return run_live_check(settings, CLIENT_ID, PROJECT_ID)


def test_aps_text_under_an_html_content_type_is_judged_as_aps_text(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """APS's bare "Token does not have the privilege" sent as text/html is a missing scope, not a proxy's
    page."""
    real = FakeAps._route

    def route(self: FakeAps, *args: Any) -> Any:
        status, content_type, payload, extra = real(self, *args)
        return status, ("text/html" if content_type == "text/plain" else content_type), payload, extra

    monkeypatch.setattr(FakeAps, "_route", route)
    aps.scenario = "missing_scope"
    admin = check(settings).step("account_admin")
    assert (admin.status, admin.cause_id, admin.observed.code) == ("fail", "missing-scope", "AUTH-010"), admin


def test_missing_scope_also_fails_the_admin_call_with_auth_010(aps: FakeAps, settings: Settings) -> None:
    aps.scenario = "missing_scope"
    report = check(settings)
    admin = report.step("account_admin")
    assert (admin.status, admin.cause_id, admin.observed.code) == ("fail", "missing-scope", "AUTH-010")
    assert report.step("project").status == "pass"  # data:read still works: only dependants stop


def test_acc_admin_failure_does_not_stop_data_management_steps(aps: FakeAps, settings: Settings) -> None:
    aps.scenario = "acc_api_not_enabled"
    report = check(settings)
    assert [report.step(n).status for n in ("project", "top_folders", "folder_contents")] == ["pass"] * 3


def test_token_expiring_mid_check_refreshes_once(aps: FakeAps, settings: Settings) -> None:
    aps.scenario = "token_expiring"
    report = check(settings)
    assert report.passed
    assert aps.count("/authentication/v2/token") == 2
    first_hubs = [i for i, c in enumerate(aps.calls) if c.path == "/project/v1/hubs"]
    assert len(first_hubs) == 2  # the 401 call and its retry


def test_brief_rate_limit_waits_retry_after_then_succeeds(aps: FakeAps, settings: Settings) -> None:
    aps.scenario = "rate_limited_brief"
    aps.retry_after = 1
    waits: list[float] = []
    app = settings.aps_apps[0]
    report = run_live_check(
        settings, CLIENT_ID, PROJECT_ID, account=ACCOUNT_ID, api=client_for(settings, app, sleep=waits.append)
    )
    assert report.passed and waits == [1.0]


def test_rate_limit_longer_than_the_cap_is_reported_not_waited(aps: FakeAps, settings: Settings) -> None:
    aps.scenario = "rate_limited"
    waits: list[float] = []
    app = settings.aps_apps[0]
    report = run_live_check(
        settings, CLIENT_ID, PROJECT_ID, account=ACCOUNT_ID, api=client_for(settings, app, sleep=waits.append)
    )
    assert waits == []
    assert "Retry-After 60" in report.failed_step.observed.message


def test_slow_responses_time_out(aps: FakeAps) -> None:
    aps.latency = 0.5
    report = check(check_settings(aps.url, aps_timeout_seconds=0.1))
    failed = report.failed_step
    assert (failed.name, failed.cause_id, failed.observed.status) == ("token", None, 0)
    assert "timed out" in failed.observed.message


def test_unreachable_aps() -> None:
    with FakeAps() as gone:
        url = gone.url
    report = check(check_settings(url))
    failed = report.failed_step
    assert (failed.name, failed.observed.status) == ("token", 0)
    assert "unreachable" in failed.observed.message


def test_html_502_is_a_non_json_body(aps: FakeAps, settings: Settings) -> None:
    aps.scenario = "html_502"
    failed = check(settings).failed_step
    assert (
        failed.observed.status == 502
        and "non-JSON body (HTML page: 502 Bad Gateway)" in failed.observed.message
    )


def test_an_html_403_from_a_gateway_is_no_provisioning_verdict(aps: FakeAps, settings: Settings) -> None:
    """A proxy's or gateway's own "403 Forbidden" page says nothing about the custom integration."""
    aps.scenario = "html_403"
    failed = check(settings).failed_step
    assert failed.name == "hub" and failed.cause_id is None, failed
    assert failed.observed.status == 403 and "HTML page: 403 Forbidden" in failed.observed.message


def test_user_member_by_email_passes(aps: FakeAps, settings: Settings) -> None:
    report = check(settings, user=USER_EMAIL)
    assert report.passed and report.step("user_access").status == "pass"
    topfolders = [c for c in aps.calls if c.path.endswith("/topFolders") and "x-user-id" in c.headers]
    assert [c.headers["x-user-id"] for c in topfolders] == [USER_ID]


def test_user_by_email_is_found_among_members_whose_email_contains_it(
    aps: FakeAps, settings: Settings
) -> None:
    """The ACC Admin `filter[email]` matches partially by default: "jo.member@example.com" also contains
    "member@example.com" and may list first."""
    aps.other_members = [("jo.member@example.com", "JOMEMBER0001")]
    report = check(settings, user=USER_EMAIL)
    assert report.passed and report.step("user_access").status == "pass", report.step("user_access")
    topfolders = [c for c in aps.calls if c.path.endswith("/topFolders") and "x-user-id" in c.headers]
    assert [c.headers["x-user-id"] for c in topfolders] == [USER_ID]


def test_a_member_list_the_admin_api_refuses_is_not_not_a_member(aps: FakeAps, settings: Settings) -> None:
    """The ACC Admin API refuses (403) to list the project's members: that says nothing about the user."""
    aps.scenario = "admin_access_missing"
    user = check(settings, user=USER_EMAIL).step("user_access")
    assert user.status == "fail" and user.cause_id != "user-lacks-project-access", user
    assert "not a member" not in user.observed.message and user.observed.status == 403


def test_user_not_member_of_the_project(aps: FakeAps, settings: Settings) -> None:
    report = check(settings, user="stranger@example.com")
    failed = report.failed_step
    assert (failed.name, failed.cause_id) == ("user_access", "user-lacks-project-access")
    assert "not a member" in failed.observed.message


def test_user_without_project_access_by_id(aps: FakeAps, settings: Settings) -> None:
    aps.scenario = "user_no_access"
    report = check(settings, user=USER_ID)
    failed = report.failed_step
    assert (failed.name, failed.cause_id) == ("user_access", "user-lacks-project-access")
    assert "You do not have permission to access this project" in failed.observed.message


def test_account_with_b_prefix_warns_about_the_admin_api_and_still_checks(
    aps: FakeAps, settings: Settings
) -> None:
    report = check(settings, account=f"b.{ACCOUNT_ID}", project=f"b.{PROJECT_ID}")
    assert report.passed
    ids = report.step("ids")
    assert (ids.status, ids.cause_id) == ("warn", "id-prefix-mismatch")
    admin_paths = [c.path for c in aps.calls if c.path.startswith("/construction/admin/")]
    assert admin_paths == [f"/construction/admin/v1/projects/{PROJECT_ID}"]  # the admin API got no b.


def test_account_id_given_as_project_id(aps: FakeAps, settings: Settings) -> None:
    report = check(settings, project=ACCOUNT_ID)
    failed = report.failed_step
    assert (failed.name, failed.cause_id) == ("project", "id-prefix-mismatch")


def test_project_by_name_without_account(aps: FakeAps, settings: Settings) -> None:
    report = run_live_check(settings, APP_NAME.upper(), PROJECT_NAME.lower())
    assert report.passed, json.dumps(report.to_json(), indent=1)
    assert report.account is None and report.region == "US"
    assert any(c.path == f"/construction/admin/v1/accounts/{ACCOUNT_ID}/projects" for c in aps.calls)


@pytest.mark.parametrize("account", [ACCOUNT_ID, None])
def test_project_by_name_in_a_big_account(aps: FakeAps, settings: Settings, account: str | None) -> None:
    """250 other projects list first (past one 200-project page), half of them named "Tower A (archive n)":
    the project is found on the second page, and the ACC Admin lookup asks for the exact name."""
    aps.other_projects = 250
    report = run_live_check(settings, CLIENT_ID, PROJECT_NAME, account=account)
    assert report.passed, json.dumps(report.to_json(), indent=1)
    pages = [c for c in aps.calls if c.path == f"/project/v1/hubs/b.{ACCOUNT_ID}/projects"]
    assert {c.query["page[number]"][0] for c in pages} == {"0", "1"}
    admin = [c for c in aps.calls if c.path == f"/construction/admin/v1/accounts/{ACCOUNT_ID}/projects"]
    assert admin and all(c.query["filterTextMatch"] == ["equals"] for c in admin)


def test_an_app_in_many_accounts_does_not_claim_the_project_is_in_none_it_did_not_search(
    aps: FakeAps, settings: Settings
) -> None:
    """Without an account id only the first hubs are searched; the project is in the 13th of 13."""
    aps.extra_accounts = 12
    report = run_live_check(settings, CLIENT_ID, PROJECT_ID)
    failed = report.failed_step
    assert failed.name == "hub" and failed.cause_id is None, failed
    assert "none of the first 10 of the 13 account hubs" in failed.observed.message
    assert "pass the account id" in failed.observed.message


def test_a_project_name_past_the_listed_pages_is_looked_up_by_its_admin_id(
    aps: FakeAps, settings: Settings
) -> None:
    """5,001 projects list before it: the name search stops at its page cap, and the ACC Admin API's id for
    the name finds the project in Data Management (it is served: no 'Docs not activated')."""
    aps.other_projects = 5001
    report = run_live_check(settings, CLIENT_ID, PROJECT_NAME, account=ACCOUNT_ID)
    assert report.passed, json.dumps(report.to_json(), indent=1)
    assert any(c.path == f"/project/v1/hubs/b.{ACCOUNT_ID}/projects/b.{PROJECT_ID}" for c in aps.calls)


def test_a_project_name_past_the_listed_pages_without_an_admin_id_asks_for_the_id(
    aps: FakeAps, settings: Settings
) -> None:
    aps.other_projects = 5001
    aps.scenario = "acc_api_not_enabled"
    project = run_live_check(settings, CLIENT_ID, PROJECT_NAME, account=ACCOUNT_ID).step("project")
    assert project.status == "fail" and project.cause_id is None, project
    assert "pass the project id" in project.observed.message


def test_a_hub_search_by_name_that_stopped_listing_gives_no_verdict(aps: FakeAps, settings: Settings) -> None:
    """No account id, two account hubs, and the project's account lists it past the page cap."""
    aps.scenario = "two_accounts"
    aps.other_projects = 5001
    hub = run_live_check(settings, CLIENT_ID, PROJECT_NAME).step("hub")
    assert hub.status == "fail" and hub.cause_id is None, hub
    assert f"b.{ACCOUNT_ID}" in hub.observed.message and "pass the project id" in hub.observed.message


def test_region_given_differs_from_the_hub(aps: FakeAps, settings: Settings) -> None:
    report = check(settings, region="emea")
    hub = report.step("hub")
    assert report.passed and (hub.status, hub.cause_id) == ("warn", "region-mismatch")
    assert {s.status for s in report.steps if s.name != "hub"} == {"pass"}  # a warning blocks nothing


def test_unknown_app_is_a_failed_first_step_with_registration_help(settings: Settings) -> None:
    report = run_live_check(settings, "no-such-app", PROJECT_ID)
    assert [s.name for s in report.steps] == ["app"]
    assert "APS_APPS" in report.failed_step.observed.message
    assert report.duration_ms == 0  # no call was made


def test_no_token_or_secret_in_report_json(aps: FakeAps, settings: Settings) -> None:
    for scenario in ("healthy", "missing_scope", "token_expiring", "bad_secret"):
        aps.scenario = scenario
        dumped = json.dumps(check(settings, user=USER_EMAIL).to_json())
        assert CLIENT_SECRET not in dumped
        for token in aps.issued_tokens():
            assert token not in dumped and token.split(".")[1] not in dumped


def test_wrong_account_id_when_the_project_is_in_another_reachable_account(
    aps: FakeAps, settings: Settings
) -> None:
    report = check(settings, account=OTHER_ACCOUNT_ID)
    failed = report.failed_step
    assert (failed.name, failed.cause_id) == ("hub", "project-not-found")
    assert ACCOUNT_ID in failed.observed.message


def test_project_of_another_account_the_app_also_reaches(aps: FakeAps, settings: Settings) -> None:
    aps.scenario = "two_accounts"
    report = check(settings, account=OTHER_ACCOUNT_ID)
    failed = report.failed_step
    assert (failed.name, failed.cause_id) == ("account_admin", "project-not-found")
    assert f"belongs to account {ACCOUNT_ID}" in failed.observed.message
    assert report.step("project").cause_id == "project-not-found"


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_on_the_project_is_no_verdict(aps: FakeAps, settings: Settings, status: int) -> None:
    """A plain 500 is an APS failure like a 503: "retry later", not "Docs is not activated" (which the ACC
    Admin API's knowing the project would otherwise conclude)."""
    aps.unavailable_hubs = {f"b.{ACCOUNT_ID}": status}
    failed = check(settings).failed_step
    assert (failed.name, failed.cause_id, failed.observed.status) == ("project", None, status)
    assert "retry later" in failed.observed.message


def test_a_401_with_a_fresh_token_is_an_invalid_token(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hubs call refuses even the renewed token: the token is the problem, not a missing integration."""
    monkeypatch.setattr(
        FakeAps, "_hubs", lambda self, query: self._json(401, {"developerMessage": "The token is not valid"})
    )
    failed = check(settings).failed_step
    assert (failed.name, failed.cause_id, failed.observed.status) == ("hub", "expired-or-invalid-token", 401)
    assert "The token is not valid" in failed.observed.message


def test_account_id_given_as_project_id_in_another_case(aps: FakeAps, settings: Settings) -> None:
    """GUIDs copied from different places differ in case; the same id is still the same id."""
    report = check(settings, account=ACCOUNT_ID.upper(), project=ACCOUNT_ID.lower())
    ids = report.step("ids")
    assert (ids.status, ids.cause_id) == ("warn", "id-prefix-mismatch")
    assert "equals the account id" in ids.observed.message


def test_the_only_account_hub_is_used_without_searching_it(aps: FakeAps, settings: Settings) -> None:
    """No account id and one account hub: the check goes on in it, so a project Docs does not serve is
    named as such, not as "in none of the account hubs"."""
    aps.scenario = "project_not_in_docs"
    report = check_without_account(settings)
    assert report.step("hub").status == "pass"
    failed = report.failed_step
    assert (failed.name, failed.cause_id) == ("project", "project-service-not-activated")


@pytest.mark.parametrize(
    ("resource", "step"), [("topFolders", "top_folders"), ("contents", "folder_contents")]
)
def test_a_folder_the_integration_may_not_read_is_a_folder_permission(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch, resource: str, step: str
) -> None:
    real = FakeAps._data_management

    def data_management(self: FakeAps, path: str, query: dict, headers: Any) -> Any:
        if path.endswith(f"/{resource}"):
            return self._json(403, dm_error(403, "ERR_NOT_ALLOWED", "You don't have permission to view it"))
        return real(self, path, query, headers)

    monkeypatch.setattr(FakeAps, "_data_management", data_management)
    failed = check(settings).failed_step
    assert (failed.name, failed.cause_id, failed.observed.status) == (step, "folder-permission-denied", 403)
    # the app's own two-legged call was refused: the fix shown must say how that happens (an integration
    # attached to a Secure Service Account has the SSA's folder permissions), not that it cannot
    assert "Secure Service Account" in failed.fix, failed.fix


@pytest.mark.parametrize(("status", "cause"), [(503, None), (429, "rate-limited")])
@pytest.mark.parametrize(
    ("resource", "step"), [("topFolders", "top_folders"), ("contents", "folder_contents")]
)
def test_a_folder_aps_does_not_answer_is_no_folder_verdict(
    aps: FakeAps,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    resource: str,
    step: str,
    status: int,
    cause: str | None,
) -> None:
    """An outage or a rate limit on the folders is told as on any endpoint, not as a folder permission."""
    real = FakeAps._data_management

    def data_management(self: FakeAps, path: str, query: dict, headers: Any) -> Any:
        if path.endswith(f"/{resource}"):
            return self._json(status, {"developerMessage": "Service Unavailable"}, **{"Retry-After": "60"})
        return real(self, path, query, headers)

    monkeypatch.setattr(FakeAps, "_data_management", data_management)
    failed = check(settings).failed_step
    assert (failed.name, failed.cause_id, failed.observed.status) == (step, cause, status)
    assert ("rate limited" if status == 429 else "retry later") in failed.observed.message


@pytest.mark.parametrize("project", [PROJECT_ID, PROJECT_NAME])
def test_a_project_data_management_does_not_serve_is_named_in_the_verdict(
    aps: FakeAps, settings: Settings, project: str
) -> None:
    aps.scenario = "project_not_found"
    failed = check(settings, project=project).failed_step
    assert (failed.name, failed.cause_id) == ("project", "project-not-found")
    assert f"project {project!r} not found in hub b.{ACCOUNT_ID}" in failed.observed.message


def test_a_user_who_sees_no_folder_lacks_project_access(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """APS may answer the user's top folders with 200 and an empty list: they can see nothing."""
    monkeypatch.setattr(
        FakeAps,
        "_user_denied",
        lambda self, headers: self._json(200, {"data": []}) if headers.get("x-user-id") else None,
    )
    failed = check(settings, user=USER_ID).failed_step
    assert (failed.name, failed.cause_id) == ("user_access", "user-lacks-project-access")
    assert "no folders visible" in failed.observed.message


def hubs_with_the_project_at(position: int, total: int = 11) -> Any:
    """A `FakeAps._reachable_hubs` answering `total` account hubs, the project's own at `position` (1-based)."""

    def reachable(self: FakeAps) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
        hubs = [hub_json(f"b.{uuid.UUID(int=n)}", f"Account {n}", "US") for n in range(1, total)]
        hubs.insert(position - 1, hub_json(f"b.{ACCOUNT_ID}", self.account_name, self.region))
        return hubs, [], 200

    return reachable


def hubs_asked_for_the_project(aps: FakeAps) -> set[str]:
    return {c.path.split("/")[4] for c in aps.calls if c.path.startswith("/project/v1/hubs/b.")}


@pytest.mark.parametrize(("position", "found"), [(10, True), (11, False)])
def test_the_project_is_looked_for_in_ten_hubs_at_most(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch, position: int, found: bool
) -> None:
    """No account id: each hub is one call against the hubs quota (50/min), so ten are searched at most."""
    monkeypatch.setattr(FakeAps, "_reachable_hubs", hubs_with_the_project_at(position))
    report = check_without_account(settings)
    assert len(hubs_asked_for_the_project(aps)) == 10
    hub = report.step("hub")
    assert hub.status == ("pass" if found else "fail") and hub.cause_id is None
    assert found or "the others were not searched" in hub.observed.message


@pytest.mark.parametrize(
    ("position", "cause"), [(5, "project-not-found"), (6, "integration-not-provisioned")]
)
def test_an_unreachable_account_probes_five_reachable_hubs_for_the_project(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch, position: int, cause: str
) -> None:
    """A wrong account id: the first five hubs the app reaches are asked whether they hold the project (the
    "wrong account id" verdict); past them, the verdict is the missing integration."""
    monkeypatch.setattr(FakeAps, "_reachable_hubs", hubs_with_the_project_at(position))
    failed = check(settings, account=str(uuid.UUID(int=999))).failed_step
    assert (failed.name, failed.cause_id) == ("hub", cause)
    assert len(hubs_asked_for_the_project(aps)) == 5


def test_a_failed_token_skips_every_step_that_needs_it(aps: FakeAps, settings: Settings) -> None:
    """Steps after a failure are skipped, not run without their facts (an "internal error" each)."""
    aps.scenario = "bad_secret"
    report = check(settings, user=USER_ID)
    statuses = {s.name: s.status for s in report.steps}
    assert statuses.pop("ids") == "pass" and statuses.pop("token") == "fail"
    assert set(statuses.values()) == {"skipped"}, statuses
    assert {s.duration_ms for s in report.steps if s.status == "skipped"} == {0}  # nothing was run
    assert report.step("hub").observed.message == "skipped: needs Two-legged token"
    assert report.step("folder_contents").observed.message == "skipped: needs Top folders"


def test_a_failure_points_at_its_causes_checklist_step_not_the_steps(
    aps: FakeAps, settings: Settings
) -> None:
    """A 429 on the hub lookup is no reason to send an admin to the Custom Integrations step (the hub step's):
    the report names the rate-limited cause's step (knowledge/rate-limited.yml)."""
    aps.scenario = "rate_limited"
    failed = check(settings).failed_step
    assert (failed.name, failed.cause_id, failed.checklist_step) == ("hub", "rate-limited", "test-access")


def test_a_403_from_the_acc_admin_api_is_the_missing_account_administration_access(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        FakeAps,
        "_admin",
        lambda self, path, query, headers: self._json(
            403, {"code": "ERR_ACCESS_DENIED", "message": "You do not have access to this resource"}
        ),
    )
    report = check(settings)
    admin = report.step("account_admin")
    assert (admin.status, admin.cause_id) == ("fail", "integration-not-provisioned")
    assert "Account Administration" in admin.observed.message
    assert report.step("project").status == "pass"  # Data Management still serves it


def test_a_403_on_the_project_is_the_integration_not_a_docs_activation(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ACC Admin API knows the project; Data Management refuses it: no "Docs is not activated" guess."""
    real = FakeAps._data_management

    def data_management(self: FakeAps, path: str, query: dict, headers: Any) -> Any:
        if path == f"/project/v1/hubs/b.{ACCOUNT_ID}/projects/b.{PROJECT_ID}":
            return self._json(403, dm_error(403, "ERR_NOT_ALLOWED", "No access to the project"))
        return real(self, path, query, headers)

    monkeypatch.setattr(FakeAps, "_data_management", data_management)
    failed = check(settings).failed_step
    assert (failed.name, failed.cause_id, failed.observed.status) == (
        "project",
        "integration-not-provisioned",
        403,
    )
    assert "No access to the project" in failed.observed.message  # APS's own words, not a placeholder


def test_a_project_answer_without_the_project_is_judged_not_crashed_on(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 200 whose `data` is empty holds no project: a verdict on the project, not an internal error."""
    real = FakeAps._data_management

    def data_management(self: FakeAps, path: str, query: dict, headers: Any) -> Any:
        if path == f"/project/v1/hubs/b.{ACCOUNT_ID}/projects/b.{PROJECT_ID}":
            return self._json(200, {"jsonapi": {"version": "1.0"}, "data": []})
        return real(self, path, query, headers)

    monkeypatch.setattr(FakeAps, "_data_management", data_management)
    failed = check(settings).failed_step
    assert failed.name == "project" and failed.cause_id is not None
    assert "internal error" not in failed.observed.message


def test_a_project_without_top_folders_skips_opening_one(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = FakeAps._data_management

    def data_management(self: FakeAps, path: str, query: dict, headers: Any) -> Any:
        if path.endswith("/topFolders"):
            return self._json(200, {"data": []})
        return real(self, path, query, headers)

    monkeypatch.setattr(FakeAps, "_data_management", data_management)
    report = check(settings)
    assert report.passed
    assert (report.step("top_folders").status, report.step("folder_contents").status) == ("warn", "skipped")
    assert not any("/contents" in c.path for c in aps.calls)


def html_403_on_the_projects_of(hub_id: str) -> Any:
    """A `FakeAps._data_management` whose answers for `hub_id`'s projects are a gateway's HTML 403 page."""
    real = FakeAps._data_management

    def data_management(self: FakeAps, path: str, query: dict, headers: Any) -> Any:
        if path.startswith(f"/project/v1/hubs/{hub_id}/projects"):
            return 403, "text/html", HTML_403, {}
        return real(self, path, query, headers)

    return data_management


@pytest.mark.parametrize("account", [None, str(uuid.UUID(int=999))])
def test_an_html_403_while_the_project_is_looked_for_is_no_verdict(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch, account: str | None
) -> None:
    """The project's own hub answers the search with a gateway's page: neither "in none of the hubs" (no
    account id) nor "integration missing" (an account the app does not reach) can be told from it."""
    aps.scenario = "two_accounts"
    monkeypatch.setattr(FakeAps, "_data_management", html_403_on_the_projects_of(f"b.{ACCOUNT_ID}"))
    failed = run_live_check(settings, CLIENT_ID, PROJECT_ID, account=account).failed_step
    assert (failed.name, failed.cause_id, failed.observed.status) == ("hub", None, 403), failed
    assert "HTML page: 403 Forbidden" in failed.observed.message


def test_no_account_hub_without_an_account_id_asks_for_the_hub_list_once(
    aps: FakeAps, settings: Settings
) -> None:
    """The list the check started from is every hub the app reaches: the verdict reads it, not a second
    identical GET hubs (50 requests/min per client id)."""
    aps.scenario = "integration_missing_200"
    failed = check_without_account(settings).failed_step
    assert (failed.name, failed.cause_id) == ("hub", "integration-not-provisioned")
    assert sum(1 for c in aps.calls if c.path == "/project/v1/hubs") == 1


@pytest.mark.parametrize("account", [ACCOUNT_ID, None])
@pytest.mark.parametrize("scenario", ["sign_in_redirect", "sign_in_page_200"])
def test_a_sign_in_proxy_is_no_provisioning_verdict(
    aps: FakeAps, settings: Settings, scenario: str, account: str | None
) -> None:
    """A network's sign-in proxy answering for APS (a redirect to its page, or the page served with 200) is
    neither "no hub reachable" nor an empty hub list: the report says who answered."""
    aps.scenario = scenario
    failed = run_live_check(settings, CLIENT_ID, PROJECT_ID, account=account).failed_step
    assert (failed.name, failed.cause_id) == ("hub", None), failed
    assert "a proxy or gateway answered" in failed.observed.message
    if scenario == "sign_in_redirect":  # where it was sent, without the page's session
        assert "https://login.proxy.example/sso/start" in failed.observed.message
        assert "s3ss10nT0k3n" not in json.dumps(failed.to_json())


def sign_in_page_on_the_projects_of(hub_id: str) -> Any:
    """A `FakeAps._data_management` whose answers for `hub_id`'s projects are a sign-in page served with 200."""
    real = FakeAps._data_management

    def data_management(self: FakeAps, path: str, query: dict, headers: Any) -> Any:
        if path.startswith(f"/project/v1/hubs/{hub_id}/projects"):
            return 200, "text/html", SIGN_IN_PAGE, {}
        return real(self, path, query, headers)

    return data_management


@pytest.mark.parametrize("account", [ACCOUNT_ID, None])
def test_a_sign_in_page_served_with_200_for_the_project_is_no_verdict(
    aps: FakeAps, settings: Settings, monkeypatch: pytest.MonkeyPatch, account: str | None
) -> None:
    """A 200 that is no APS answer neither finds the project in a hub nor says it is missing."""
    aps.scenario = "two_accounts"
    monkeypatch.setattr(FakeAps, "_data_management", sign_in_page_on_the_projects_of(f"b.{ACCOUNT_ID}"))
    report = run_live_check(settings, CLIENT_ID, PROJECT_ID, account=account)
    failed = report.failed_step
    assert failed.name == ("project" if account else "hub") and failed.cause_id is None, failed
    assert "HTML page: Sign in to continue" in failed.observed.message
    assert "a proxy or gateway answered" in failed.observed.message


def test_ids_typed_in_capitals_are_the_same_account_and_project(aps: FakeAps, settings: Settings) -> None:
    """A GUID in capitals (as some tools print them) is the same id: not "an account the app does not reach,
    add the custom integration there" about the account the app does reach."""
    report = check(settings, project=PROJECT_ID.upper(), account=ACCOUNT_ID.upper())
    assert report.passed, json.dumps(report.to_json(), indent=1)


@pytest.mark.parametrize("scenario", ["healthy", "two_accounts"])
def test_an_account_id_given_as_the_project_is_told_without_an_account_id(
    aps: FakeAps, settings: Settings, scenario: str
) -> None:
    """Not "the project is in none of the hubs; pass the account id": the user did pass it, as the project."""
    aps.scenario = scenario
    failed = run_live_check(settings, CLIENT_ID, ACCOUNT_ID).failed_step
    assert (failed.name, failed.cause_id) == ("hub", "id-prefix-mismatch"), failed
    assert "is the id of account 'Contoso Construction'" in failed.observed.message
    assert not any(c.path.startswith("/project/v1/hubs/") for c in aps.calls)  # no hub searched for it


@pytest.mark.parametrize("project", [PROJECT_ID, PROJECT_NAME])
def test_the_project_found_by_the_hub_search_is_not_asked_for_again(
    aps: FakeAps, settings: Settings, project: str
) -> None:
    """Projects endpoints allow 50 requests a minute per app: listing a big hub twice (once to find the hub,
    once for the project step) spent twice that for one check."""
    aps.scenario = "two_accounts"
    aps.other_projects = 450  # three pages of 200
    report = run_live_check(settings, CLIENT_ID, project)
    assert report.passed, json.dumps(report.to_json(), indent=1)
    calls = [c.path for c in aps.calls if c.path.startswith(f"/project/v1/hubs/b.{ACCOUNT_ID}/projects")]
    own = [path for path in calls if not path.endswith("/topFolders")]
    assert len(own) == (1 if project == PROJECT_ID else 3), own


@pytest.mark.parametrize(
    ("status", "told"),
    [
        ("pending", "is a member of the project with status pending: the invitation to the project is not"),
        ("deleted", "is not a member of the project"),  # removed members are not listed by default
    ],
)
def test_a_member_who_has_not_accepted_the_invitation_is_told_as_such(
    aps: FakeAps, settings: Settings, status: str, told: str
) -> None:
    """The commonest "the user cannot see the project" answer: invited, not yet accepted. (ACC's project
    members are active, pending or deleted; "inactive" is an account user's status.)"""
    aps.member_status = status
    failed = check(settings, user=USER_EMAIL).failed_step
    assert (failed.name, failed.cause_id) == ("user_access", "user-lacks-project-access"), failed
    assert told in failed.observed.message


def test_a_missing_integration_without_an_account_id_names_no_placeholder(
    aps: FakeAps, settings: Settings
) -> None:
    aps.scenario = "integration_missing_403"
    failed = run_live_check(settings, CLIENT_ID, PROJECT_ID).failed_step
    assert failed.cause_id == "integration-not-provisioned"
    assert failed.observed.message.endswith("the custom integration is missing in the project's account")

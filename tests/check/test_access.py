"""Finding a registered app and deciding who may use it; argument normalisation."""

from __future__ import annotations

import pytest

from bot.check import causes as C
from bot.check.access import find_app, may_use, needs_usergroups
from bot.check.causes import CauseText, describe
from bot.check.request import CheckRequest, InvalidRequest
from bot.settings import ApsApp, Settings


def app(**lists: list[str]) -> ApsApp:
    return ApsApp(name="Integration Bot", client_id="ABCDEF123456", client_secret="s3cr3t", **lists)


def test_find_app_by_client_id_or_case_insensitive_name() -> None:
    settings = Settings(_env_file=None, aps_apps=[app()])  # type: ignore[call-arg]
    assert find_app(settings, "ABCDEF123456").name == "Integration Bot"
    assert find_app(settings, "integration BOT").client_id == "ABCDEF123456"
    assert find_app(settings, "abcdef123456") is None  # client ids are exact
    assert find_app(settings, "") is None


def test_an_empty_reference_names_no_app_even_one_registered_without_a_name() -> None:
    nameless = ApsApp(name=" ", client_id="ABCDEF123456", client_secret="s3cr3t", allowed_users=["U1"])
    settings = Settings(_env_file=None, aps_apps=[nameless])  # type: ignore[call-arg]
    assert find_app(settings, "") is None and find_app(settings, "  ") is None


@pytest.mark.parametrize(
    ("lists", "user", "channel", "groups", "allowed"),
    [
        ({}, "U1", "C1", ["S1"], False),  # nobody when every list is empty
        ({"allowed_users": ["U1"]}, "U1", "C9", [], True),
        ({"allowed_users": ["U1"]}, "U2", "C9", [], False),
        ({"allowed_channels": ["C1"]}, "U2", "C1", [], True),
        ({"allowed_usergroups": ["S1"]}, "U2", "C9", ["S1"], True),
        ({"allowed_usergroups": ["S1"]}, "U2", "C9", ["S2"], False),
    ],
)
def test_may_use(lists, user, channel, groups, allowed) -> None:
    assert may_use(app(**lists), user, channel, groups) is allowed


@pytest.mark.parametrize(
    ("lists", "user", "channel", "needed"),
    [
        ({"allowed_usergroups": ["S1"]}, "U2", "C9", True),  # only the groups can tell
        ({"allowed_usergroups": ["S1"], "allowed_users": ["U2"]}, "U2", "C9", False),  # allowed anyway
        ({"allowed_usergroups": ["S1"], "allowed_channels": ["C9"]}, "U2", "C9", False),
        ({"allowed_users": ["U1"]}, "U2", "C9", False),  # no group would allow: no lookup
        ({}, "U2", "C9", False),
    ],
)
def test_group_memberships_are_looked_up_only_when_they_decide(lists, user, channel, needed) -> None:
    assert needs_usergroups(app(**lists), user, channel) is needed


def test_request_accepts_ids_with_or_without_prefix() -> None:
    guid = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
    with_prefix = CheckRequest.build(f"b.{guid}", account=f"b.{guid}")
    without = CheckRequest.build(guid, account=guid)
    assert with_prefix.dm_project_id == without.dm_project_id == f"b.{guid}"
    assert with_prefix.hub_id == without.hub_id == f"b.{guid}"
    assert with_prefix.account_had_prefix and not without.account_had_prefix
    assert not CheckRequest.build(guid).account_had_prefix  # no account: nothing to warn about
    assert CheckRequest.build("Tower A").project_name == "Tower A"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"project": ""},
        {"project": "x" * 256},  # ACC project names have at most 255 characters
        {"project": "b.not an id"},  # `b.` makes it an id: told at once, not as "project not found"
        {"project": "x", "region": "MARS"},
        {"project": "x", "account": "not an id"},
        {"project": "x", "user": "a b"},
    ],
)
def test_request_rejects_bad_arguments(kwargs) -> None:
    with pytest.raises(InvalidRequest):
        CheckRequest.build(kwargs.pop("project"), **kwargs)


def test_a_project_name_of_255_characters_is_accepted() -> None:
    assert CheckRequest.build("x" * 255).project_name == "x" * 255


def test_region_aliases() -> None:
    assert CheckRequest.build("x", region="eu").region == "EMEA"


def test_without_a_knowledge_base_a_cause_keeps_its_own_title_fix_and_step() -> None:
    """A bare CLI run (no KB loaded) still tells what to do about each cause the check concludes."""
    text = describe(C.INTEGRATION_MISSING, None)
    assert text.checklist_step == "add-integration"
    assert "Custom Integrations" in text.fix and text.title != C.INTEGRATION_MISSING
    assert describe("no-such-cause", None) == CauseText("no-such-cause", "", "test-access")


def test_the_fallbacks_name_the_checklist_step_the_knowledge_base_names() -> None:
    """Without a KB the report must send the admin to the same checklist step as with it."""
    from pathlib import Path

    from bot.knowledge import load_kb

    kb = load_kb(Path(__file__).resolve().parents[2] / "knowledge")
    for cause_id, fallback in C.FALLBACK.items():
        cause = kb.cause(cause_id)
        assert cause is not None, cause_id
        assert fallback.checklist_step == cause.checklist_step, cause_id

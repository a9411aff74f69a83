"""The gate: reply to APS access failures only; stay silent on APS questions, chatter and other systems."""

from __future__ import annotations

import pytest

from bot.diagnosis import Diagnoser
from bot.diagnosis.topic import topic_tokens

APS_QUESTIONS = [
    "How do I add a custom integration in ACC for my APS app?",
    "what's the rate limit for the APS hubs endpoint?",
    "Does the APS token expire after an hour? should I cache it?",
    "We moved our BIM 360 account to the EMEA region last year, any APS gotchas?",
    "where is the redirect URI configured for my APS app?",
    "the ACC admin asked who should be account admin for the new project",
    "reminder: rotate the APS client secret before friday",
]


@pytest.mark.parametrize("text", APS_QUESTIONS)
def test_questions_about_aps_get_no_reply(diagnoser: Diagnoser, text: str) -> None:
    assert not diagnoser.diagnose(text).is_aps_error


OTHER_SYSTEMS = [
    "GitHub Actions: HttpError: Resource not accessible by integration (403), client_credentials token",
    "Puppet Forge: Error login to the forge as bob [401 Unauthorized]: Client ID and client secret do not match",
    "Laravel Forge API: 429 Too Many Requests when listing servers",
]


@pytest.mark.parametrize("text", OTHER_SYSTEMS)
def test_other_systems_named_in_any_case_get_no_reply(diagnoser: Diagnoser, text: str) -> None:
    assert not diagnoser.diagnose(text).is_aps_error


def test_sample_env_var_names_make_an_aps_context(diagnoser: Diagnoser) -> None:
    text = 'login fails with 400 "Invalid redirect_uri". APS_CALLBACK_URL=http://localhost:8080/api/auth/callback'
    diagnosis = diagnoser.diagnose(text)
    assert diagnosis.is_aps_error
    assert diagnosis.best is not None and diagnosis.best.id == "redirect-uri-mismatch"


def test_a_described_problem_ranks_by_topic(diagnoser: Diagnoser) -> None:
    text = (
        "BIM 360: we can see every project in the browser, but GET hubs with our app's two-legged token "
        "returns an empty list, did the admin forget something?"
    )
    diagnosis = diagnoser.diagnose(text)
    assert diagnosis.is_aps_error
    assert diagnosis.best is not None and diagnosis.best.id == "integration-not-provisioned"
    assert any(e.startswith("talks about") for e in diagnosis.best.evidence)


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("a 2-legged token", "twolegged"),
        ("two legged", "twolegged"),
        ("grant_type=client_credentials", "twolegged"),
        ("the user's 3-legged token", "threelegged"),
        ("three-legged", "threelegged"),
        ("response_type=code&grant_type=authorization_code", "threelegged"),
    ],
)
def test_grant_type_spellings_fold_to_one_word(text: str, word: str) -> None:
    assert word in topic_tokens(text)

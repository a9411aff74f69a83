"""Ranking rules beyond single signatures: what the user says they already ruled out."""

from __future__ import annotations

from bot.diagnosis import Diagnoser


def _first(diagnoser: Diagnoser, text: str) -> str:
    return diagnoser.diagnose(text).causes[0].id


def test_credentials_the_user_checked_drop_behind_other_causes(diagnoser: Diagnoser) -> None:
    base = "Request failed with status code 401 from our BIM 360 sync, wrong client id or client secret?"
    assert _first(diagnoser, base) == "invalid-client-credentials"
    checked = base.replace("wrong client id or client secret?", "I double checked the client id and secret.")
    assert _first(diagnoser, checked + " The hub is not listed either.") != "invalid-client-credentials"


def test_a_code_outweighs_what_the_user_says_they_checked(diagnoser: Diagnoser) -> None:
    text = (
        'I double checked the client id and secret, still {"errorCode": "AUTH-003", '
        '"developerMessage": "The client_id and client_secret combination is not valid"}'
    )
    assert _first(diagnoser, text) == "invalid-client-credentials"


def test_a_fresh_token_is_not_an_expired_one(diagnoser: Diagnoser) -> None:
    text = 'Calling the ACC forms API fails with HTTP 401 Unauthorized, message "Authorization failed."'
    assert _first(diagnoser, text) == "expired-or-invalid-token"
    for said in (
        "with a freshly generated token",
        "with a token I have successfully used for other ACC APIs",
    ):
        assert _first(diagnoser, f"{text} This is {said}.") != "expired-or-invalid-token"


def test_auth_001_with_credentials_never_set_is_the_credentials(diagnoser: Diagnoser) -> None:
    body = '{"developerMessage":"The client_id specified does not have access to the api product","errorCode":"AUTH-001"}'
    assert _first(diagnoser, body) == "app-api-access-missing"
    unset = f"{body}\nI started the server without setting APS_CLIENT_ID and APS_CLIENT_SECRET"
    assert _first(diagnoser, unset) == "invalid-client-credentials"  # an unknown client id gets AUTH-001 too


def test_json_literals_are_no_topic(diagnoser: Diagnoser) -> None:
    """`null`, `true`, `false` fill every JSON body: a reply citing them as what the paste "talks about"
    reads as noise, and they would pull causes whose examples hold JSON toward any JSON paste."""
    paste = (
        '{"jsonapi":{"version":"1.0"},"meta":{"warnings":[{"Id":null,"HttpStatusCode":"403",'
        '"ErrorCode":"BIM360DM_ERROR","Title":"Unable to get hubs from BIM360DM EMEA.","Detail":'
        '"You don\'t have permission to access this API","AboutLink":null,"Source":[],"meta":[]}]},'
        '"data":[],"links":{"self":{"href":"https://developer.api.autodesk.com/project/v1/hubs"}}}'
    )
    diagnosis = diagnoser.diagnose(paste)
    assert diagnosis.causes[0].id == "integration-not-provisioned"
    topics = [e for cause in diagnosis.causes for e in cause.evidence if e.startswith("talks about")]
    assert topics, "the paste's words should still name topics"
    for literal in ("null", "true", "false"):
        assert not any(literal in e.split("(")[0].replace(",", " ").split() for e in topics), topics

"""Signal extraction on the messy shapes developers really paste."""

from __future__ import annotations

import pytest

from bot.diagnosis import Diagnoser
from bot.diagnosis.extract import extract, separate_scripts

AUTH_001 = (
    '{"developerMessage":"The client_id specified does not have access to the api product",'
    '"moreInfo": "https://aps.autodesk.com/en/docs/oauth/v2/developers_guide/error_handling/",'
    '"errorCode": "AUTH-001"}'
)
WARNINGS_BODY = (
    '{"jsonapi": {"version": "1.0"}, "data": [], "meta": {"warnings": [{"Id": null, "HttpStatusCode": "403", '
    '"ErrorCode": "BIM360DM_ERROR", "Title": "Unable to get hubs from BIM360DM EMEA.", '
    '"Detail": "You don\'t have permission to access this API", "AboutLink": null, "Source": null, '
    '"meta": null}]}}'
)


def test_gateway_body_in_a_code_fence_after_a_log_prefix() -> None:
    signals = extract(f"2026-01-02 10:00:01 ERROR requests failed:\n```\n{AUTH_001}\n```")
    assert signals.codes == ("AUTH-001",)
    assert signals.messages[0] == "The client_id specified does not have access to the api product"
    assert signals.aps_host  # the moreInfo link points at APS docs
    assert signals.endpoints == ()  # a docs link is not an API endpoint


def test_json_escaped_inside_a_string() -> None:
    escaped = AUTH_001.replace('"', '\\"')
    signals = extract(f'Exception: "{escaped}"')
    assert "AUTH-001" in signals.codes
    assert any("does not have access to the api product" in m for m in signals.messages)


def test_truncated_body_still_yields_its_fields() -> None:
    signals = extract(WARNINGS_BODY[:230])
    assert "BIM360DM_ERROR" in signals.codes
    assert 403 in signals.statuses


def test_jsonapi_warnings_are_grouped_per_object() -> None:
    signals = extract("HTTP/1.1 200 OK\n" + WARNINGS_BODY)
    assert signals.statuses == (200, 403)
    (warning,) = signals.warnings
    assert (warning.status, warning.code) == ("403", "BIM360DM_ERROR")
    assert warning.title == "Unable to get hubs from BIM360DM EMEA."
    assert "EMEA" in signals.regions


def test_legacy_errors_array_with_lower_case_keys() -> None:
    body = (
        '{"errors": [{"status": "403", "code": "BIM360DM_ERROR", "title": "Unable to get hubs from BIM360DM US.", '
        '"detail": "You don\'t have permission to access this API"}]}'
    )
    signals = extract(body)
    assert signals.warnings[0].detail == "You don't have permission to access this API"
    assert signals.statuses == (403,)


def test_python_repr_body() -> None:
    signals = extract(
        "{'developerMessage': 'Token does not have the privilege for this request.', 'errorCode': 'AUTH-010'}"
    )
    assert signals.codes == ("AUTH-010",)
    assert signals.messages == ("Token does not have the privilege for this request.",)


def test_oauth_error_fields() -> None:
    signals = extract('{"error":"invalid_client","error_description":"The client credentials are invalid."}')
    assert signals.codes == ("invalid_client",)
    assert signals.messages == ("The client credentials are invalid.",)


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("< HTTP/1.1 403 Forbidden", 403),
        ("HTTP/2 401", 401),
        ("Response: 403 Forbidden", 403),
        ("Request failed with status code 401", 401),
        ("statusCode: 429", 429),
        ('"status": 404,', 404),
        ("The remote server returned an error: (403) Forbidden.", 403),
        ("getting 403 on /project/v1/hubs", 403),
        ("Status Code: 400 Bad Request", 400),
        ('fails with: 406 "Not Acceptable"', 406),
        ('{"code":401,"message":"Unauthorized"}', 401),
    ],
)
def test_status_spellings(text: str, status: int) -> None:
    assert status in extract(text).statuses


def test_numbers_inside_ids_and_ports_are_not_statuses() -> None:
    signals = extract("listening on 127.0.0.1:4030, item 12403, version 1.403.2")
    assert signals.statuses == ()


def test_line_numbers_and_header_numbers_are_not_statuses() -> None:
    """A frame at line 429 of a 401 traceback made rate-limited the best cause."""
    trace = (
        "requests.exceptions.HTTPError: 401 Client Error: Unauthorized for url: "
        "https://developer.api.autodesk.com/project/v1/hubs\n"
        '  File "/srv/app/aps.py", line 429, in fetch_hubs\n'
        "   at Aps.Client.Get() in C:\\src\\Client.cs:line 403\n"
        "Content-Length: 403\nRetry-After: 429\n"
    )
    assert extract(trace).statuses == (401,)


def test_endpoints_families_and_ids() -> None:
    text = (
        "GET https://developer.api.autodesk.com/project/v1/hubs/b.0f1c2d3e-1111-2222-3333-444455556666/projects"
        "?page[limit]=50 -> 403\n"
        "then /construction/admin/v1/accounts/0f1c2d3e-1111-2222-3333-444455556666/projects"
    )
    signals = extract(text)
    assert signals.endpoints == (
        "/project/v1/hubs/b.0f1c2d3e-1111-2222-3333-444455556666/projects",
        "/construction/admin/v1/accounts/0f1c2d3e-1111-2222-3333-444455556666/projects",
    )
    assert signals.api_families == ("project/v1", "construction/admin")
    assert signals.prefixed_ids == ("0f1c2d3e-1111-2222-3333-444455556666",)
    assert signals.bare_ids == ()  # the same GUID, once with b. and once without: recorded once, as prefixed


def test_host_less_paths_of_every_api_root_are_endpoints() -> None:
    signals = extract("POST /data-connector/v1/accounts/0f1c2d3e/requests answered 403")
    assert signals.endpoints == ("/data-connector/v1/accounts/0f1c2d3e/requests",)
    assert extract("POST /my-connector/v1/requests answered 403").endpoints == ()  # not an APS root


def test_grant_hints() -> None:
    assert extract("grant_type=client_credentials").grant_hints == ("2-legged",)
    assert extract("using a 3-legged token with x-user-id").grant_hints == ("3-legged",)


@pytest.mark.parametrize(
    "frame",
    [
        '  File "/srv/app/integrations/aps/client.py", line 43, in fetch_projects',
        "   at Autodesk.Forge.Client.ApiClient.CallApiAsync(String path, Method method) in ApiClient.cs:line 409",
        "    at IncomingMessage.<anonymous> (/app/node_modules/forge-apis/src/ApiClient.js:409:21)",
        "\tat com.autodesk.client.auth.OAuth2TwoLegged.authenticate(OAuth2TwoLegged.java:182)",
    ],
)
def test_stack_frames_are_no_candidate_lines(frame: str) -> None:
    error = "requests.exceptions.HTTPError: 403 Client Error: Forbidden for url: /project/v1/hubs"
    candidates = extract(
        f"Traceback (most recent call last):\n{frame}\n    resp.raise_for_status()\n{error}"
    ).candidates
    assert error in candidates
    assert " ".join(frame.split()) not in candidates  # (a short paste is also a candidate as a whole)
    assert extract(frame.replace(" at ", " failed at ").replace("File ", "Error ")).candidates  # not a frame


@pytest.mark.parametrize(
    "option",
    [
        '-d "client_id=<client id>&client_secret=<client secret>&grant_type=client_credentials"',
        '-H "Authorization: Basic <base64 of id:secret>" \\',
        "--data-urlencode 'scope=data:read data:write' \\",
    ],
)
def test_curl_option_lines_are_the_request_not_candidate_lines(option: str) -> None:
    answer = "Token scope not set. This request does not have the required privilege."
    paste = (
        f'curl -v "https://developer.api.autodesk.com/oss/v2/buckets" \\\n{option}\n{answer}\n' + "x" * 400
    )
    candidates = extract(paste).candidates
    assert answer in candidates and not [c for c in candidates if "client_id" in c or "scope=" in c]
    assert not [c for c in candidates if c.startswith(("-d ", "-H ", "--data"))]


def test_candidates_are_bounded_for_huge_pastes() -> None:
    text = "\n".join(f"  at frame {i} error in module_{i}.py" for i in range(5000))
    assert len(extract(text).candidates) <= 60


def test_a_paragraph_on_one_long_line_is_read_to_its_end() -> None:
    prose = "We have a web app with an Angular front end that we deploy with a pipeline to our servers; " * 4
    text = prose + "the manifest request then fails with error 401 unauthorized error on the server only"
    assert len(text) > 400
    assert any("401 unauthorized" in c for c in extract(text).candidates)
    assert len(extract("access denied " * 5_000).candidates) <= 60


@pytest.mark.parametrize(
    ("text", "code", "status"),
    [
        ("使用APS Viewer时遭遇AUTH-001错误,返回403", "AUTH-001", 403),
        ("トークン取得でAUTH-003エラー、HTTP 401が返る", "AUTH-003", 401),
        ("호출하면 403에러와 AUTH-010코드가 나옵니다", "AUTH-010", 403),
    ],
)
def test_codes_and_statuses_glued_to_cjk_letters_are_read(
    diagnoser: Diagnoser, text: str, code: str, status: int
) -> None:
    signals = diagnoser.diagnose(text).signals
    assert code in signals["error_codes"]
    assert status in signals["http_status"]


def test_separate_scripts_spaces_only_cjk_seams() -> None:
    assert separate_scripts("AUTH-001错误 accès denied") == "AUTH-001 错误 accès denied"
    assert separate_scripts("plain ASCII stays") == "plain ASCII stays"


def test_a_nested_object_after_a_key_is_read_inside_not_swallowed() -> None:
    """The API gateway's own 401 body, and an error object nested under "error"."""
    gateway = extract(
        'HTTP/1.1 401 Unauthorized\n{"fault":{"faultstring":"Invalid ApiKey for given resource",'
        '"detail":{"errorcode":"oauth.v2.InvalidApiKeyForGivenResource"}}}'
    )
    assert gateway.codes == ("oauth.v2.InvalidApiKeyForGivenResource",)
    assert gateway.messages == ("Invalid ApiKey for given resource",)
    nested = extract('{"error":{"code":"BIM360DM_ERROR","message":"No hubs"}}')
    assert nested.codes == ("BIM360DM_ERROR",) and nested.messages == ("No hubs",)

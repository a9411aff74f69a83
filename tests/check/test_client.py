"""The APS client on its own: token cache, hub cache, 401 refresh, 429, timeouts, error-body parsing."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from bot.aps.client import ApsCaches, ApsClient
from bot.aps.parse import decode_token_info, parse_body, parse_retry_after
from tests.fakes import aps_server
from tests.fakes.aps_server import (
    ACCOUNT_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    HTML_502,
    OTHER_ACCOUNT_ID,
    SIGN_IN_PAGE,
    Answer,
    FakeAps,
)
from tests.fakes.clock import Clock


def make_client(aps: FakeAps, **kwargs) -> ApsClient:
    return ApsClient(aps.url, CLIENT_ID, CLIENT_SECRET, **kwargs)


def jwt(payload: dict) -> str:
    def seg(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{seg({'alg': 'RS256'})}.{seg(payload)}.sig"


def test_token_request_is_basic_auth_with_both_scopes(aps: FakeAps) -> None:
    client = make_client(aps)
    response = client.token()
    assert response.ok and response.token.scopes == ("data:read", "account:read")
    [call] = aps.calls
    assert call.method == "POST" and call.path == "/authentication/v2/token"
    assert call.headers["authorization"] == "Basic <redacted>"


def test_token_is_cached_until_shortly_before_expiry(aps: FakeAps) -> None:
    import time

    clock = Clock(time.time())
    client = make_client(aps, clock=clock)
    assert not client.token().from_cache
    assert client.token().from_cache
    clock.now += 3599 - 30  # inside the refresh margin
    assert not client.token().from_cache
    assert aps.count("/authentication/v2/token") == 2


def test_token_cache_is_keyed_by_client_and_scopes(aps: FakeAps) -> None:
    caches = ApsCaches()
    make_client(aps, caches=caches).token()
    make_client(aps, caches=caches).token()
    make_client(aps, caches=caches, scopes=("data:read",)).token()
    assert aps.count("/authentication/v2/token") == 2


def test_hub_lookups_are_cached_per_client_for_their_ttl(aps: FakeAps) -> None:
    import time

    clock = Clock(time.time())
    client = make_client(aps, clock=clock)
    hub = f"b.{ACCOUNT_ID}"
    assert not client.hubs(hub).from_cache
    assert client.hubs(hub).from_cache
    clock.now += 61
    assert not client.hubs(hub).from_cache
    assert aps.count("/project/v1/hubs") == 2


def test_a_hub_found_beside_another_regions_warning_is_cached(aps: FakeAps) -> None:
    """An app added in a US account only gets its hub plus a warning for the region where it is in no
    account (aps-facts §3): the hub was found, so a repeated check asks for it no more than any other."""
    aps.scenario = "other_region"
    client = make_client(aps)
    hub = f"b.{OTHER_ACCOUNT_ID}"
    first = client.hubs(hub)
    assert first.warnings and any(item["id"] == hub for item in first.items)
    assert client.hubs(hub).from_cache
    assert aps.count("/project/v1/hubs") == 1


def test_hub_answers_with_warnings_are_not_cached(aps: FakeAps) -> None:
    aps.scenario = "integration_missing_200"
    client = make_client(aps)
    client.hubs()
    client.hubs()
    assert aps.count("/project/v1/hubs") == 2


def test_401_refreshes_once_then_reports(aps: FakeAps) -> None:
    aps.scenario = "token_expiring"
    client = make_client(aps)
    assert client.hubs().ok
    assert aps.count("/authentication/v2/token") == 2


def test_timeout_on_every_call(aps: FakeAps) -> None:
    aps.latency = 0.4
    response = make_client(aps, timeout=0.05).token()
    assert response.status == 0 and response.error.body_kind == "timeout"


def test_429_waits_are_bounded(aps: FakeAps) -> None:
    aps.scenario = "rate_limited"
    aps.retry_after = 3
    waits: list[float] = []
    client = make_client(aps, sleep=waits.append, max_retry_after=5)
    response = client.hubs()
    assert response.status == 429 and response.retry_after == 3
    assert waits == [3.0, 3.0]  # two waits, then it reports instead of looping
    assert response.message == "Quota limit exceeded."


def test_no_token_or_secret_in_logs_or_repr(aps: FakeAps, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    aps.scenario = "token_expiring"
    client = make_client(aps)
    client.hubs(f"b.{ACCOUNT_ID}")
    text = caplog.text + repr(client) + repr(client.caches)
    assert CLIENT_SECRET not in text
    assert aps.issued_tokens()
    for token in aps.issued_tokens():
        assert token not in text


@pytest.mark.parametrize(
    ("status", "ctype", "body", "code", "message", "kind"),
    [
        (
            403,
            "application/json",
            {
                "developerMessage": "The client_id specified does not have access to the api product",
                "more info": "x",
                "errorCode": "AUTH-001",
            },
            "AUTH-001",
            "The client_id specified does not have access to the api product",
            "json",
        ),
        (
            401,
            "application/json",
            {"error": "invalid_client", "error_description": "The client credentials are invalid."},
            "invalid_client",
            "The client credentials are invalid.",
            "json",
        ),
        (
            403,
            "text/plain",
            json.dumps(
                {
                    "developerMessage": "Token does not have the privilege for this request.",
                    "errorCode": "AUTH-010",
                }
            ),
            "AUTH-010",
            "Token does not have the privilege for this request.",
            "json",
        ),
        (
            403,
            "text/plain",
            "AUTH-010 Token does not have the privilege for this request.",
            "AUTH-010",
            "AUTH-010 Token does not have the privilege for this request.",
            "text",
        ),
        (  # APS's bare text under an HTML content type is still APS's text, not a proxy's page
            403,
            "text/html; charset=utf-8",
            "Token does not have the privilege for this request.",
            "AUTH-010",
            "Token does not have the privilege for this request.",
            "text",
        ),
        (401, "", "", "", "empty body", "empty"),
        (200, "", "", "", "empty body", "non-json"),  # every call of the check answers JSON on success
        (200, "text/html", SIGN_IN_PAGE, "", "non-JSON body (HTML page: Sign in to continue)", "non-json"),
        (403, "text/html", "<h1>403 Forbidden</h1>", "", "non-JSON body (HTML page)", "html"),
        (502, "text/html", HTML_502, "", "non-JSON body (HTML page: 502 Bad Gateway)", "html"),
        (
            404,
            "application/json",
            {"code": 1004, "message": "this account doesn't exist."},
            "1004",
            "this account doesn't exist.",
            "json",
        ),
        (
            429,
            "application/json",
            {"developerMessage": "Quota limit exceeded."},
            "",
            "Quota limit exceeded.",
            "json",
        ),
        (500, "application/json", '{"developerMessage": "trunc', "", '{"developerMessage": "trunc', "text"),
    ],
)
def test_error_bodies_of_any_shape(status, ctype, body, code, message, kind) -> None:
    raw = body if isinstance(body, str) else json.dumps(body)
    _, error, _ = parse_body(status, ctype, raw.encode())
    assert (error.code, error.message, error.body_kind) == (code, message, kind)


def test_jsonapi_warnings_and_legacy_errors_give_regions() -> None:
    warnings_body = {
        "data": [],
        "meta": {
            "warnings": [
                {
                    "HttpStatusCode": "403",
                    "ErrorCode": "BIM360DM_ERROR",
                    "Title": "Unable to get hubs from BIM360DM EMEA.",
                    "Detail": "d",
                }
            ]
        },
    }
    legacy_body = {
        "errors": [
            {
                "status": "403",
                "code": "BIM360DM_ERROR",
                "title": "Unable to get hubs from BIM360DM US.",
                "detail": "d",
            }
        ]
    }
    _, error, warnings = parse_body(403, "application/json", json.dumps(warnings_body).encode())
    assert [w.region for w in warnings] == ["EMEA"] and error.code == "BIM360DM_ERROR"
    _, _, legacy = parse_body(403, "application/json", json.dumps(legacy_body).encode())
    assert [(w.status, w.region) for w in legacy] == [("403", "US")]
    _, ok_error, ok_warnings = parse_body(200, "application/json", json.dumps(warnings_body).encode())
    assert ok_error is None and len(ok_warnings) == 1


def test_jwt_payload_gives_scopes_and_expiry_without_verifying() -> None:
    info = decode_token_info(
        jwt({"scope": ["data:read"], "client_id": "abc", "exp": 1234}), client_id="x", fallback_exp=9
    )
    assert (info.scopes, info.client_id, info.expires_at) == (("data:read",), "abc", 1234.0)
    spaced = decode_token_info(jwt({"scope": "data:read account:read"}), client_id="x", fallback_exp=9)
    assert spaced.scopes == ("data:read", "account:read") and spaced.expires_at == 9
    assert decode_token_info("opaque", client_id="x", fallback_exp=5).scopes == ()


def test_retry_after_header_values() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_retry_after_that_is_no_number_of_seconds_is_reported_not_raised(aps: FakeAps, value: str) -> None:
    aps.scenario = "rate_limited"
    aps.retry_after = value  # type: ignore[assignment]
    response = make_client(aps, max_retry_after=0.5).hubs()  # the real sleep: nan made it raise
    assert (response.status, response.retry_after) == (429, None)


class EchoingAps(FakeAps):
    """A gateway in front of APS that quotes the credentials it refused in its error bodies."""

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad = pad  # characters before the echoed token: past the 300 kept, the excerpt cuts the token

    def _route(self, method: str, path: str, query: dict, headers: Any, body: bytes) -> Answer:
        authorization = headers.get("Authorization", "")
        if path == "/authentication/v2/token" and self.scenario == "bad_secret":
            return (
                400,
                "text/plain",
                f"invalid_request: malformed header 'Authorization: {authorization}'",
                {},
            )
        if path.startswith("/project/v1/hubs") and authorization.startswith("Bearer "):
            token = authorization.removeprefix("Bearer ")
            detail = f"Rejected{'.' * self.pad} {token} (expired)"
            return self._json(401, {"developerMessage": detail, "errorCode": "AUTH-006"})
        return super()._route(method, path, query, headers, body)


@pytest.mark.parametrize("pad", [0, 260])  # the token whole, and cut by the 300-character excerpt
def test_an_answer_quoting_the_bearer_token_is_scrubbed(pad: int) -> None:
    with EchoingAps(pad) as aps:
        response = make_client(aps).hubs()
        tokens = aps.issued_tokens()  # the first, and the one fetched again after the 401
    quoted = json.dumps([response.message, response.code, [w.detail for w in response.warnings]])
    assert response.status == 401 and "[REDACTED]" in quoted
    for token in tokens:
        assert not any(token[i : i + 8] in quoted for i in range(len(token) - 8)), quoted


def test_an_answer_quoting_the_basic_credentials_is_scrubbed() -> None:
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    with EchoingAps(0) as aps:
        aps.scenario = "bad_secret"
        response = make_client(aps).token()
    assert response.status == 400 and "Authorization: Basic [REDACTED]" in response.message
    assert basic not in response.message and CLIENT_SECRET not in response.message


def test_a_redirect_is_not_followed_and_is_reported_without_credentials_or_query(
    aps: FakeAps, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = "https://sso-user:pa55word@login.proxy.example:8443/start?session=s3ss10n#top"
    monkeypatch.setattr(aps_server, "SIGN_IN_URL", target)
    aps.scenario = "sign_in_redirect"
    response = make_client(aps).hubs()
    assert (response.status, response.ok, response.error.body_kind) == (302, False, "redirect")
    assert response.message == "redirect to https://login.proxy.example:8443/start"
    assert [c.path for c in aps.calls if c.method == "GET"] == ["/project/v1/hubs"]  # not followed


def test_an_answer_trickling_in_times_out_as_a_whole(aps: FakeAps) -> None:
    """Each byte comes in time for httpx's per-read timeout; the whole answer does not come within the
    call's timeout (APS_TIMEOUT_SECONDS bounds one call, not one read)."""
    aps.trickle = 0.01
    response = make_client(aps, timeout=0.3).token()
    assert (response.status, response.error.body_kind) == (0, "timeout")


def test_a_huge_answer_is_not_read_past_the_limit(aps: FakeAps, monkeypatch: pytest.MonkeyPatch) -> None:
    huge = b'{"data": [], "padding": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    monkeypatch.setattr(FakeAps, "_hubs", lambda self, query: (200, "application/json", huge, {}))
    response = make_client(aps).hubs()
    assert response.status == 200 and not response.ok
    assert "bytes, not read" in response.message


def test_why_aps_is_unreachable_is_said(aps: FakeAps) -> None:
    """A refused connection and a failed TLS handshake (a proxy's certificate, or no TLS at all) need
    different fixes: the report says which it was."""
    with FakeAps() as gone:
        closed = gone.url
    refused = ApsClient(closed, CLIENT_ID, CLIENT_SECRET).token()
    assert refused.status == 0 and "Connection refused" in refused.message, refused.message
    handshake = ApsClient(aps.url.replace("http://", "https://"), CLIENT_ID, CLIENT_SECRET).token()
    assert handshake.status == 0 and "SSL" in handshake.message, handshake.message

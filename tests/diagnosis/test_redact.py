"""Secrets in pastes are found, blanked, and never reach any output."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from bot.cli.diagnose import render_text
from bot.diagnosis import Diagnoser, redact, scan
from tests.diagnosis.test_properties import R, _plain_redact

APS_ID = "aB3dE5gH7jK9mN2pQ4rS6tU8vW0xY1zA"  # 32 letters and digits, as APS client ids are
SECRET = "Hk29sLq0pXv7Zx8C"
OPAQUE = "0cJuuGr8a5fQlWOhWcL2ebk8Imxz"  # an APS opaque (non-JWT) access token
SIGNED = "fb05b392-76d9-4324-9e06-ef2fb726d6c5"  # an OSS signed resource: whoever holds its URL may use it
JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IlUzc1QifQ.eyJzY29wZSI6WyJkYXRhOnJlYWQiXSwiY2xpZW50X2lkIjoiYWJjIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"Authorization: Bearer {JWT}", JWT),
        ("Authorization: Bearer 0123456789abcdefABCDEF", "0123456789abcdefABCDEF"),
        ("-H 'Authorization: Basic dXNlcjpzM2NyM3RWYWx1ZQ=='", "dXNlcjpzM2NyM3RWYWx1ZQ=="),
        ("curl -u aB3dE5gH7jK9:Zx8Cv7Bn6Mq5 https://developer.api.autodesk.com", "Zx8Cv7Bn6Mq5"),
        ('{"access_token":"q1w2e3r4t5y6u7i8","token_type":"Bearer"}', "q1w2e3r4t5y6u7i8"),
        ("client_secret=Hk29sLq0pXv7", "Hk29sLq0pXv7"),
        ("APS_CLIENT_SECRET='Hk29sLq0pXv7'", "Hk29sLq0pXv7"),
        ("xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
        ("https://user:hunter2hunter@example.com/x", "hunter2hunter"),
        # shapes a red-team review found missed: prefixed env names, code, configs, curl spellings
        ("AUTODESK_CLIENT_SECRET=Hk29sLq0pXv7", "Hk29sLq0pXv7"),
        ("APS_DEV_CLIENT_SECRET=Hk29sLq0pXv7 APS_DEV_CLIENT_ID=undefined", "Hk29sLq0pXv7"),
        ("VITE_APS_CLIENT_SECRET: Hk29sLq0pXv7", "Hk29sLq0pXv7"),
        ("SLACK_SIGNING_SECRET=8f14e45fceea167a5a36dedd4bea2543", "8f14e45fceea167a5a36dedd4bea2543"),
        ('"ForgeClientSecret": "Hk29sLq0pXv7"', "Hk29sLq0pXv7"),
        ('{"client_secret":"mYq8Zt3LkP0wX7vB","client_id":null}', "mYq8Zt3LkP0wX7vB"),
        ('os.environ["APS_CLIENT_SECRET"] = "Hk29sLq0pXv7"', "Hk29sLq0pXv7"),
        ('os.getenv("APS_CLIENT_SECRET", "Hk29sLq0pXv7")', "Hk29sLq0pXv7"),
        ('clientSecret: string = "Hk29sLq0pXv7";', "Hk29sLq0pXv7"),
        ('secret := "Hk29sLq0pXv7"', "Hk29sLq0pXv7"),
        ("'client_secret' => 'Hk29sLq0pXv7',", "Hk29sLq0pXv7"),
        ('builder.setClientSecret("Hk29sLq0pXv7")', "Hk29sLq0pXv7"),
        ("<client_secret>Hk29sLq0pXv7</client_secret>", "Hk29sLq0pXv7"),
        ('{"key": "client_secret", "value": "Hk29sLq0pXv7", "enabled": true}', "Hk29sLq0pXv7"),
        ("\\nAPS_CLIENT_SECRET=Hk29sLq0pXv7\\n", "Hk29sLq0pXv7"),
        ("my client secret is Hk29sLq0pXv7 and the token comes back null", "Hk29sLq0pXv7"),
        ("authenticate%3Fclient_id%3Dabc%26client_secret%3DHk29sLq0pXv7", "Hk29sLq0pXv7"),
        ('curl -u"aB3dE5gH7jK9:Zx8Cv7Bn6Mq5" https://x', "Zx8Cv7Bn6Mq5"),
        ("curl -uaB3dE5gH7jK9:Zx8Cv7Bn6Mq5 https://x", "Zx8Cv7Bn6Mq5"),
        ("curl --user=aB3dE5gH7jK9:Zx8Cv7Bn6Mq5 https://x", "Zx8Cv7Bn6Mq5"),
        ("echo -n aB3dE5gH7jK9:Zx8Cv7Bn6Mq5 | base64", "Zx8Cv7Bn6Mq5"),
        ("base64.b64encode(b'aB3dE5gH7jK9:Zx8Cv7Bn6Mq5')", "Zx8Cv7Bn6Mq5"),
        ("failed for 0123456789abcdefABCDEF0123456789:Zx8Cv7Bn6Mq5Lk4J -> 401", "Zx8Cv7Bn6Mq5Lk4J"),
        ("authorization: basic dXNlcjpzM2NyM3RWYWx1ZQ==", "dXNlcjpzM2NyM3RWYWx1ZQ=="),
        ("Authorization: BASIC dXNlcjpzM2NyM3RWYWx1ZQ==", "dXNlcjpzM2NyM3RWYWx1ZQ=="),
        ("Authorization: Bearer:0123456789abcdefABCDEF", "0123456789abcdefABCDEF"),
        ("xoxe-1-AbCdEfGhIjKlMn", "xoxe-1-AbCdEfGhIjKlMn"),
        ("xoxc-1234567890-AbCdEfGh", "xoxc-1234567890-AbCdEfGh"),
        (
            "https://cdn.us.oss.api.autodesk.com/f?Expires=1&Signature=Zk3mQ9~x-Yy&Key-Pair-Id=K2",
            "Zk3mQ9~x-Yy",
        ),
        ("https://s3.amazonaws.com/b/k?X-Amz-Signature=9f86d081884c7d65", "9f86d081884c7d65"),
        ("GET /callback?code=ZKvsfZXFN8J4ns0w&state=1", "ZKvsfZXFN8J4ns0w"),
        (
            '{"grant_type":"authorization_code","code":"ZKvsfZXFN8J4ns0wtnRkqV9vVnVfm0gW"}',
            "ZKvsfZXFN8J4ns0wtnRkqV9vVnVfm0gW",
        ),
        ("curl -d grant_type=authorization_code -d code=ZKvsfZXFN8J4ns0wtnRk", "ZKvsfZXFN8J4ns0wtnRk"),
        (
            "exchange({'grant_type': 'authorization_code', 'code': 'ZKvsfZXFN8J4ns0wtnRkqV9v'})",
            "ZKvsfZXFN8J4ns0wtnRkqV9v",
        ),
        ("Error: APS auth failed (clientSecret Hk29sLq0pXv7) status 401", "Hk29sLq0pXv7"),
        ("client_secret\tHk29sLq0pXv7\tclient_id\t(empty)", "Hk29sLq0pXv7"),
        ('{"message": "token failed: {\\"client_secret\\":\\"Hk29sLq0pXv7\\"}"}', "Hk29sLq0pXv7"),
        # a short id joined to its secret (the id trimmed for the paste, or an app of one's own)
        ("RuntimeError: token request failed for abc123:Zx8Cv7Bn6Mq5Lk4J -> 401", "Zx8Cv7Bn6Mq5Lk4J"),
        ("log " * 700 + "failed for myapp01:Zx8Cv7Bn6Mq5Lk4J", "Zx8Cv7Bn6Mq5Lk4J"),  # a long paste (indexed)
        # an access or refresh token named in prose, or quoted after its name (an invalid_grant answer)
        ("The refresh token mK3vQ8zR5tY7uI9oP is invalid or expired", "mK3vQ8zR5tY7uI9oP"),
        ("refresh_token 'mK3vQ8zR5tY7uI9oP' was already used", "mK3vQ8zR5tY7uI9oP"),
        ('accessToken "AbCdEf123456GhIjKl" rejected', "AbCdEf123456GhIjKl"),
        ("the refresh token `mK3vQ9xLp2Rt7Ws4Yz8B` is rejected", "mK3vQ9xLp2Rt7Ws4Yz8B"),
        (
            "auth token mK3vQ9xLp2Rt7Ws4Yz8B! expired, refresh token (nP4wR0yMq3Su8Xt5Za9C).",
            "mK3vQ9xLp2Rt7Ws4Yz8B",
        ),
        ("refresh token mK3vQ9xLp2Rt%2F7Ws4Yz8B%3D%3D rejected", "7Ws4Yz8B"),  # URL-encoded: masked whole
        ("access token ya29.a0AfH6SMBx1234abcd expired", "a0AfH6SMBx1234abcd"),  # dots inside it
        # a "/" JSON-escaped (PHP's json_encode), another header name, another scheme, a webhook URL
        ('{"header":"Authorization: Basic YWJjZGVmZ2hp\\/amtsbW5vcA=="}', "amtsbW5vcA=="),
        ("x-api-key: Hk29sLq0pXv7Zx8C", "Hk29sLq0pXv7Zx8C"),
        ("Authorization: Token 9f86d081884c7d659a2f", "9f86d081884c7d659a2f"),
        ("posting to https://hooks.slack.com/services/T0001/B0002/XXXXyyyyZZZZ failed", "XXXXyyyyZZZZ"),
        ('{"url":"https:\\/\\/hooks.slack.com\\/services\\/T0001\\/B0002\\/XXXXyyyyZZZZ"}', "XXXXyyyyZZZZ"),
        ('{"client_secret":"Ab3dEfGh1jK2lM\\/xyzUVW123"}', "xyzUVW123"),  # a named value: the "\\/" inside
        ("APS_CLIENT_SECRET=Ab3dE\\/fGh1jK2lM", "fGh1jK2lM"),
        ("Sending a request - url: https://hooks.slack.com/commands/T0001/1234/abcDEF123xyz", "abcDEF123xyz"),
        # the boundaries: an id trimmed to 24 characters still takes any value as its secret; six characters
        # are no placeholder; a 12-character token after its name, a 13-letter word after "client secret"
        ("failed for abcdefghijklmnopqrstuvwx:zx8cv7bn6mq5lk4jab -> 401", "zx8cv7bn6mq5lk4jab"),
        ("client_secret=Ab3dE6", "Ab3dE6"),
        ("Authorization: Bearer Ab3dEf6h", "Ab3dEf6h"),  # eight characters after the scheme
        ("The refresh token Ab3dEf6hIj9k is invalid", "Ab3dEf6hIj9k"),
        ("my client secret QWERTZUIOPASD is wrong", "QWERTZUIOPASD"),
    ],
)
def test_known_secret_shapes_are_blanked(text: str, secret: str) -> None:
    result = redact(text)
    assert result.found
    assert secret not in result.text
    assert "[REDACTED]" in result.text


@pytest.mark.parametrize(
    "text",
    [
        "client_secret=YOUR_CLIENT_SECRET",
        "Authorization: Bearer <token>",
        "token: ${APS_TOKEN}",
        '"token_type": "Bearer", "expires_in": 3599',
        "password=*****",
        # words in a secret's place: what the paste says, needed for the diagnosis (and no "rotate it")
        "Access token: expired. Getting 401 on https://developer.api.autodesk.com/project/v1/hubs",
        '"detail":"Token is not valid: token=expired"',
        "the token is invalid",
        "client_id and client_secret in the body and the Basic authorization header and get 400",
        "Basic authentication fails; Bearer authorization too",
        'WWW-Authenticate: Basic realm="Autodesk"',
        "password: required field missing",
        "token_url: https://developer.api.autodesk.com/authentication/v2/token",
        '{"errorCode": "AUTH-001", "code": "BIM360DM_ERROR"}',
        "urn:adsk.objects:os.object:my-bucket/model.rvt",
        "client_secret: YourClientSecret",
        '{"developerMessage":"Invalid access token","errorCode":"AUTH-006"}',  # the next key is no value
        "I provided the correct FORGE_CLIENT_ID and FORGE_CLIENT_SECRET AFAIK.",
        "expiration date for the secret is 31/12/2299",
        "the token data:read is missing",
        "Basic authentication with passwords is deprecated",
        '"APS_CLIENT_ID" = "id", "APS_CLIENT_SECRET" = "secret"',
        "{auth:{username:id,password:secret}}",
        # a name and a value joined by ":" that no secret is: ids of items, encoded URNs, object keys
        "urn:adsk.wipprod:dm.lineage:hC6k4hndRWaeIVhIjvHu8w",
        "derivative model01:dXJuOmFkc2sub2JqZWN0czpvcy5vYmplY3Q6YnVja2V0L21vZGVsLnJ2dA",
        "objectKey:MyHouseModel2024v3 uploaded",
        "x-ads-request-id3:Zx8Cv7Bn6Mq5Lk4J",
        'curl -H "Authorization: token ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxx" https://api.github.com/user',
        # words after a token's name: the sentence goes on, or names a code, a grant, a property
        "the access token is invalid; the refresh token endpoint returns 400",
        "Failed to get access token AUTH-001: the client_id specified does not have access to the api product",
        "Access token (2-legged) expired; refresh token grant_type=refresh_token; access token AccessToken.Value",
        "access token GetThreeLeggedTokenAsync failed: refresh token InvalidRefreshTokenException",
        "Access Token を取得して、expires_in にある秒数が経過すると",
        "when using 3-legged oauth token. (Parameter 'Signatures.ActivityId')",
        "client secret を入力しましたがエラーになりました。どうすればいいですか",
        "client_secret=Ab3dE",  # five characters or fewer: a placeholder ("abc", "12345")
    ],
)
def test_placeholders_are_not_secrets(text: str) -> None:
    result = redact(text)
    assert not result.found and result.text == text


def test_secrets_of_two_kinds_in_one_paste_are_both_blanked() -> None:
    """Blanking the first shortens the paste: the second is still found where it now is."""
    text = "Authorization: Bearer abcdefgh12345678abcd then client_secret=Hk29sLq0pXv7 failed"
    result = redact(text)
    assert result.text == "Authorization: Bearer [REDACTED] then client_secret=[REDACTED] failed"
    assert set(result.kinds) == {"bearer", "key-value"}


# Real secrets mix letters and digits; all-"x" or "YOUR…" strings are placeholders the redactor keeps on purpose.
_secret_chars = st.text(alphabet=string.ascii_letters + string.digits, min_size=12, max_size=60).filter(
    lambda s: (
        any(c.isdigit() for c in s)
        and any(c.isalpha() for c in s)
        and not s.lower().startswith(("your", "my"))
    )
)


def _embed(shape: int, secret: str) -> tuple[str, str]:
    shapes = [
        (f"Authorization: Bearer {secret}", secret),
        (f'{{"access_token": "{secret}", "token_type": "Bearer"}}', secret),
        (f"client_secret={secret}&grant_type=client_credentials", secret),
        (f"eyJ{secret}.eyJ{secret}.{secret}", f"eyJ{secret}.eyJ{secret}.{secret}"),
        (f"curl -u myclientid:{secret} https://developer.api.autodesk.com/authentication/v2/token", secret),
        (f"VITE_APS_CLIENT_SECRET={secret}", secret),
        (f'os.getenv("APS_CLIENT_SECRET", "{secret}")', secret),
        (f"Error: token request failed (clientSecret {secret}) status 401", secret),
        (f"<ClientSecret>{secret}</ClientSecret>", secret),
        (f'{{"key": "client_secret", "value": "{secret}"}}', secret),
        (f'{{\\"client_secret\\": \\"{secret}\\"}}', secret),
        (f"The refresh token {secret} is invalid or expired", secret),
        # shapes a review (round 15) found unmasked
        (f'new Credentials("{APS_ID}", "{secret}")', secret),
        (f'{{"name": "client_secret", "value": "{secret}"}}', secret),
        (f'<add key="ForgeClientSecret" value="{secret}" />', secret),
        (f"PUT https://developer.api.autodesk.com/oss/v2/signedresources/{secret}?region=US", secret),
        (f"Authorization: {secret}{secret}", secret + secret),
        (f"client_secret：{secret}", secret),
        (f'"{{\\\\\\"client_secret\\\\\\":\\\\\\"{secret}\\\\\\"}}"', secret),
        (f'{{"password": "{secret[:4]}&{secret[4:]}"}}', secret[4:]),
        # one shape for every other kind of pattern, so that dropping any pattern fails this test
        (f"Authorization: Basic {secret}", secret),
        (f"Authorization: Token {secret}", secret),
        (f'new AuthenticationHeaderValue("Bearer", "{secret}")', secret),
        (f"posting to https://hooks.slack.com/services/T0001/B0002/{secret} failed", secret),
        (f"chat.postMessage with xoxb-{secret} failed", f"xoxb-{secret}"),
        (f"echo -n myapp:{secret} | base64", secret),
        (f"token request failed for {APS_ID}:{secret}{secret} -> 401", secret + secret),
        (f"https://myapp:{secret}@developer.api.autodesk.com/authentication/v2/token", secret),
        (f"https://cdn.us.oss.api.autodesk.com/f?Expires=1&Signature={secret}&Key-Pair-Id=K2", secret),
        (f"GET /callback?code={secret}{secret}&state=1", secret + secret),
        (f'{{"grant_type": "authorization_code", "code": "Ab1{secret}{secret}"}}', f"Ab1{secret}{secret}"),
        (f"The token Ab1{secret}x has expired", f"Ab1{secret}x"),
        (f"Authorization: Bearer {secret}\nAb1{secret}x", f"Ab1{secret}x"),
    ]
    return shapes[shape % len(shapes)]


LOG = "INFO GET https://developer.api.autodesk.com/project/v1/hubs 200\n" * 40  # past 2,000: the indexed path


@settings(max_examples=400, deadline=None)
@given(
    shape=st.integers(0, 32),
    secret=_secret_chars,
    before=st.text(max_size=200),
    after=st.text(max_size=200),
    long=st.booleans(),
)
def test_redaction_never_leaks(
    diagnoser: Diagnoser, shape: int, secret: str, before: str, after: str, long: bool
) -> None:
    assume(secret not in before + after)  # a bare string with no secret-shaped context cannot be spotted
    paste, hidden = _embed(shape, secret)
    text = f"{LOG if long else ''}{before}\n{paste}\n{after}"
    assert hidden not in redact(text).text
    assert (
        hidden not in redact(text, scan.word_index(text.lower())).text
    )  # as the diagnosis redacts a long one
    diagnosis = diagnoser.diagnose(text)
    assert diagnosis.secrets_found
    shown = json.dumps(diagnosis.to_json(), ensure_ascii=False) + render_text(diagnosis)
    assert hidden not in shown


def test_credentials_unset_evidence_never_quotes_the_words_between(diagnoser: Diagnoser) -> None:
    """The evidence names the credential and its state only: what sits between may be a secret that no
    pattern recognises."""
    value = "Hk29sLq0pXv7Zx8C"
    diagnosis = diagnoser.diagnose(
        f"401 from /authentication/v2/token: client secret, {value}, comes back null"
    )
    assert any("client secret … null" in e for c in diagnosis.causes for e in c.evidence)
    assert value.lower() not in json.dumps(diagnosis.to_json()).lower()


# A review of round 15: shapes that on main reached the stored text, the JSON output or the log unmasked.


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        # a client id and its secret as a call's arguments (SDK samples, requests' auth tuple)
        (f'var creds = new Credentials("{APS_ID}", "{SECRET}");', SECRET),
        (f"new ForgeSDK.AuthClientTwoLegged('{APS_ID}', '{SECRET}', ['data:read'], false);", SECRET),
        (f"auth.getTwoLeggedToken('{APS_ID}', '{SECRET}', [Scopes.DataRead])", SECRET),
        (f"requests.post(url, auth=('{APS_ID}', '{SECRET}'), data=body)", SECRET),
        (f'{{"log": "Credentials(\\"{APS_ID}\\", \\"{SECRET}\\")"}}', SECRET),
        # a quoted value runs to its closing quote, whatever punctuation it holds
        ('{"client_secret":"Hk29&Lq0pXv7Zx8C"}', "Lq0pXv7Zx8C"),
        ('{"password": "Hk29,Lq0p}Xv7;Zx8C"}', "Xv7;Zx8C"),
        ("client_secret='Hk29\"Lq0pXv7Zx8C'", "Lq0pXv7Zx8C"),
        # JSON escaped twice (a log line inside a JSON log), full-width punctuation, a Markdown table
        (f'"{{\\\\\\"client_secret\\\\\\":\\\\\\"{SECRET}\\\\\\"}}"', SECRET),
        (f"client_secret：{SECRET}", SECRET),
        (f"APS_CLIENT_SECRET＝{SECRET}", SECRET),
        (f"| Client ID | {APS_ID} |\n| Client Secret | {SECRET} |", SECRET),
        # a token after "token" or "Authorization" alone (the scheme forgotten: a cause of 401s)
        (f'{{"developerMessage":"The token {OPAQUE} has expired","errorCode":"AUTH-006"}}', OPAQUE),
        (f"Access token provided '{OPAQUE}' is invalid or expired.", OPAQUE),
        (f"calling /project/v1/hubs with token {OPAQUE} gives 401", OPAQUE),
        (f"Authorization: {OPAQUE}\nHTTP/1.1 401 Unauthorized", OPAQUE),
        (f'headers: {{"Authorization": "{OPAQUE}"}}', OPAQUE),
        # named values in HAR files and .NET's appSettings, a second argument before more
        (
            f'"params":[{{"name":"client_id","value":"{APS_ID}"}},{{"name":"client_secret","value":"{SECRET}"}}]',
            SECRET,
        ),
        (f'<add key="ForgeClientSecret" value="{SECRET}" />', SECRET),
        (f'[Environment]::SetEnvironmentVariable("APS_CLIENT_SECRET", "{SECRET}", "User")', SECRET),
        # a header's value in code: .NET, Spring; a Basic header's makings with a short id
        (f'new AuthenticationHeaderValue("Bearer", "{OPAQUE}");', OPAQUE),
        (f'headers.setBearerAuth("{OPAQUE}");', OPAQUE),
        (f"fetch(url, {{ headers: {{ Authorization: 'Basic ' + btoa('myapp:{SECRET}') }} }})", SECRET),
        (f'Convert.ToBase64String(Encoding.UTF8.GetBytes("myapp:{SECRET}"))', SECRET),
        # a token in Markdown, a Basic header URL-encoded
        (f"Authorization: Bearer `{OPAQUE}`", OPAQUE),
        (f"Authorization=Basic%20{SECRET}bGtqaA", SECRET),
        # the rest of a token a console wrapped onto the next lines
        (f"Authorization: Bearer {JWT[:50]}\n{JWT[50:]}\nHTTP/1.1 401", JWT[50:]),
        (f"Bearer {OPAQUE}\n{OPAQUE}Zx8Cv7Bn6Mq5Lk4J\n{OPAQUE}", OPAQUE + "Zx8Cv7Bn6Mq5Lk4J"),
        # a secret in brackets (no placeholder), or on the line after its name with more after it
        (f"client_secret=[{SECRET}]", SECRET),
        (f"Client Secret\n{SECRET}  Regenerate", SECRET),
        # an invisible character (zero-width space, word joiner) inside a token
        (f"Authorization: Bearer {OPAQUE[:10]}\u200b{OPAQUE[10:]}", OPAQUE[10:]),
        (f"sent {JWT[:-10]}\u200b{JWT[-10:]} and got 401", JWT[-10:]),
        (f"Authorization: Basic {SECRET[:8]}\u2060{SECRET[8:]}bGtqaA==", SECRET[8:]),
        # an OSS signed resource URL, also as JSON escapes it
        (f"GET https://developer.api.autodesk.com/oss/v2/signedresources/{SIGNED}?region=US -> 403", SIGNED),
        (
            f'{{"signedUrl":"https:\\/\\/cdn.us.oss.api.autodesk.com\\/oss\\/v2\\/signedresources\\/{SIGNED}"}}',
            SIGNED,
        ),
    ],
)
def test_review_shapes_are_blanked_and_flagged(diagnoser: Diagnoser, text: str, secret: str) -> None:
    result = redact(text)
    assert result.found
    assert secret not in result.text
    diagnosis = diagnoser.diagnose(text)
    assert diagnosis.secrets_found
    assert secret not in json.dumps(diagnosis.to_json(), ensure_ascii=False) + render_text(diagnosis)


@pytest.mark.parametrize(
    "text",
    [
        # each shape of a secret was (on main) quoted in the JSON output's signals
        f'{{"developerMessage":"The token {OPAQUE} has expired","errorCode":"AUTH-006"}}',
        f'{{"errors":[{{"detail":"Access token provided \'{OPAQUE}\' is invalid","code":"AUTH-004"}}]}}',
        f'{{"error":"invalid_client","error_description":"Authorization: {OPAQUE}"}}',
        f'{{"developerMessage":"new Credentials(\\"{APS_ID}\\", \\"{SECRET}\\") failed"}}',
        f'{{"developerMessage":"client_secret：{SECRET} rejected","errorCode":"AUTH-003"}}',
        f"PUT https://developer.api.autodesk.com/oss/v2/signedresources/{SIGNED}?region=US 403 Forbidden",
    ],
)
def test_no_secret_reaches_the_signals_or_the_human_output(diagnoser: Diagnoser, text: str) -> None:
    diagnosis = diagnoser.diagnose(text)
    shown = json.dumps(diagnosis.to_json(), ensure_ascii=False) + render_text(diagnosis)
    assert not any(secret in shown for secret in (OPAQUE, SECRET, SIGNED))
    assert diagnosis.secrets_found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the keys after an id are no secret: only the values are blanked
        (
            f'{{"clientId":"{APS_ID}","clientSecret":"{SECRET}"}}',
            f'{{"clientId":"{APS_ID}","clientSecret":"[REDACTED]"}}',
        ),
        (f"'{APS_ID}', 'client_secret' => '{SECRET}'", f"'{APS_ID}', 'client_secret' => '[REDACTED]'"),
    ],
)
def test_only_the_secret_is_blanked(text: str, expected: str) -> None:
    assert redact(text).text == expected


@pytest.mark.parametrize(
    "text",
    [
        # after an id: a scope, a grant type, a URL; two hashes (one case) are no id and secret
        f"getTwoLeggedToken2('{APS_ID}', 'data:read')",
        f'["{APS_ID}", "client_credentials"]',
        f"AuthClientThreeLegged('{APS_ID}', 'http://localhost:3000/callback')",
        '["8f14e45fceea167a5a36dedd4bea2543", "c9f0f895fb98ab9159f51fd0297e236d"]',
        # after "token" or "Authorization": words, codes, URNs, names without digits
        "Authorization: required; Authorization header missing",
        "Authorization=3-legged token AUTH-004 on /project/v1/hubs",
        "the token GetThreeLeggedTokenAsync failed",
        "job token dXJuOmFkc2sub2JqZWN0czpvcy5vYmplY3Q6YnVja2V0L21vZGVsLnJ2dA failed",
        "the token b.0f1c2d3e-1111-2222-3333-444455556666 project",
        # a signed resource named, not given
        "DELETE /oss/v2/signedresources/{id} returns 403",
        # the line after a blanked secret is kept unless it is nothing but a token's characters
        "Authorization: Bearer <token>\nHTTP/1.1 401 Unauthorized",
        "APS_CLIENT_SECRET\nHTTP/1.1 401 Unauthorized",
        # what the diagnosis reads after a credential's name: an error code
        "Invalid client secret AUTH-003; client secret (AUTH-003)",
        '{"token": "BIM360DM_ERROR"}',
        "client secret | YourClientSecret |",
        # code that reads a secret from elsewhere (as it should): no secret pasted, no "rotate it"
        "clientSecret: process.env.APS_CLIENT_SECRET,",
        'client_secret = os.environ["APS_CLIENT_SECRET"]',
        'ClientSecret = Environment.GetEnvironmentVariable("APS_CLIENT_SECRET"),',
        "const token = response.data.access_token;",
        "token = get_token(CLIENT_ID, CLIENT_SECRET)",
        'token = authResponse.json()["access_token"]',
        "refresh_token = self.refresh_token; api_key=settings.API_KEY",
        f"auth.getTwoLeggedToken('{APS_ID}', process.env.APS_CLIENT_SECRET, scopes)",
        # a quoted value with white space is a sentence, not a credential
        '{"password": "required field missing"}',
        # a log line's time after a credential's name
        "Missing client secret\n2024-05-01T10:00:00.123Z ERROR 401 Unauthorized",
        # a list of names: the one after a credential's name is no value
        'required: ["client_secret", "grant_type", "scope"]',
        # the next line's name after a secret read from the environment; a constant's name
        "AUTODESK_CLIENT_SECRET = ENV['AUTODESK_CLIENT_SECRET']\nAUTODESK_URL = 'https://developer.api.autodesk.com'",
        "'client_secret': AUTODESK_CLIENT_SECRET, 'grant_type': 'client_credentials'",
        # names and placeholders in code, prose in another script, a .NET assembly's public key token
        "new Token { client_id = ClientId, client_secret = ClientSecret, code = Code }",
        "client_id: [clientid], client_secret: [clientsecret], scope: data:read",
        '-d "username=REDACTED" -d "password=REDACTED" -d "client_secret=####"',
        "curl -u id:secret https://developer.api.autodesk.com/authentication/v2/token",
        "使用ForgeRock JS SDK获取Token遇invalid_client错误:如何设置Client Secret?",
        "Version=18.0.0.0, Culture=neutral, PublicKeyToken=eed84259d7cbf30b",
    ],
)
def test_review_placeholders_and_ids_are_kept(text: str) -> None:
    result = redact(text)
    assert not result.found and result.text == text


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"Authorization: Bearer {OPAQUE}\nHTTP/1.1 401 Unauthorized", "HTTP/1.1 401 Unauthorized"),
        (f"client_secret={SECRET}\nAPS_CALLBACK_URL=http://localhost:8080/cb", "APS_CALLBACK_URL=http://"),
        (f"Bearer {OPAQUE}\ndeveloper.api.autodesk.com", "developer.api.autodesk.com"),
        (f"Bearer {OPAQUE}\n403 Forbidden AUTH-001", "403 Forbidden AUTH-001"),
    ],
)
def test_the_line_after_a_secret_stays(text: str, kept: str) -> None:
    result = redact(text)
    assert result.found and kept in result.text


HUB = "b.0f1c2d3e-1111-2222-3333-444455556666"
LINEAGE = "urn:adsk.wipprod:dm.lineage:hC6k4hndRWaeIVhIjvHu8w"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        # what the diagnosis reads, where a secret could sit: it is no secret and is kept
        (f"the access token {HUB} returns 403", HUB),
        (f"refresh token {HUB[2:]} rejected", HUB[2:]),
        (f"client_secret: {LINEAGE}", LINEAGE),
        ("api_key=dXJuOmFkc2sub2JqZWN0czpvcy5vYmplY3Q6YnVja2V0L21vZGVsLnJ2dA", "dXJuOmFkc2sub2JqZWN0"),
        ("Authorization: /project/v1/hubs 401", "/project/v1/hubs"),
        (f"APS_CLIENT_SECRET\n{HUB}", HUB),
    ],
)
def test_ids_after_a_credentials_name_are_kept(text: str, kept: str) -> None:
    result = redact(text)
    assert kept in result.text and not result.found


def test_the_diagnosis_still_reads_the_hub_id_after_token(diagnoser: Diagnoser) -> None:
    """A hub id named after "access token" is what tells a missing b. prefix: it must reach the signals."""
    diagnosis = diagnoser.diagnose(f"GET /project/v1/hubs/{HUB[2:]}/projects with the access token {HUB} 403")
    assert diagnosis.signals["ids"]["prefixed"] == [HUB.removeprefix("b.")]  # listed without its prefix
    assert not diagnosis.secrets_found


# The anchored scans must find what plain substitution finds for the patterns this review added, whose starts
# sit before a quote, a backslash or a "/" (tests/diagnosis/test_properties.py holds the general test).
REVIEW_FRAGMENTS = [
    '"', "'", "\\", ", ", " ", "\n", "(", ")", ".", SECRET, APS_ID, f'"{APS_ID}", "', f"\\'{APS_ID}\\', \\'",
    f'\\"{APS_ID}\\", \\"', "/signedresources/", "\\/signedresources\\/", "Authorization: ", '"Authorization":"',
    "token ", "Token provided '", "[REDACTED]\n", "[REDACTED]\r\n", '{"key": "client_secret", "value": "',
    '<add key="ClientSecret" value="', '{"name":"api_key","value":"', 'name = "password", value = "',
    'AuthenticationHeaderValue("Bearer", "', 'setBearerAuth("', "btoa('myapp:", 'GetBytes("myapp:', "Buffer.from('a:",
    "\u200b", "client_secret：", "Bearer `", "Basic%20", "eyJhbGciOi", "AUTH-003", "process.env.X", "client secret | ",
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(
    text=st.lists(st.one_of(st.sampled_from(REVIEW_FRAGMENTS), st.text(max_size=4)), max_size=30).map("".join)
)
@example(text=f'x{{"key": "client_secret", "value": "{SECRET}"}}')  # each start that is not an anchor's own
@example(text=f'<add key="ClientSecret" value="{SECRET}" /><add name="api_key" value="{SECRET}"/>')
@example(text=f'x("{APS_ID}", "{SECRET}") {{"log": "f(\\"{APS_ID}\\", \\"{SECRET}\\")"}}')
@example(
    text=f"GET /oss/v2/signedresources/{SIGNED} and https:\\/\\/x\\/oss\\/v2\\/signedresources\\/{SIGNED}"
)
@example(text=f"Authorization: Bearer {OPAQUE}\n{OPAQUE}1\n" + "log line\n" * 300)
def test_review_patterns_scan_exactly(text: str) -> None:
    result = R.redact(text)
    assert (result.text, result.kinds) == _plain_redact(text)
    assert R.redact(text, scan.word_index(text.lower())) == result


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('{"password": "Spring(2024)!"}', "Spring(2024"),
        ('"clientSecret": "AbCdEfGh12(34)"', "AbCdEfGh12(34"),
        ("client_secret=Ab(3dE5gH7jK9", "Ab(3dE5gH7jK9"),
        ("password: 'Tr0ub4dor[&3]'", "Tr0ub4dor[&3"),
    ],
)
def test_a_secret_with_a_bracket_is_no_code(text: str, secret: str) -> None:
    """Code reads a secret with a name and a bracket ("os.getenv(", "config[", "get_token(CLIENT_ID"); a value
    that goes on after its bracket with anything but a name is the secret itself."""
    result = redact(text)
    assert result.found and secret not in result.text


def test_a_base64_urn_on_the_line_after_a_token_is_kept(diagnoser: Diagnoser) -> None:
    """A wrapped token's next lines are blanked with it, but not a base64-encoded URN on its own line: the
    diagnosis reads it (README: URNs, also base64-encoded, are kept)."""
    urn = "dXJuOmFkc2sub2JqZWN0czpvcy5vYmplY3Q6YnVja2V0L21vZGVsLnJ2dA"
    text = f"Authorization: Bearer {OPAQUE}\n{urn}\n401 Unauthorized: the access token has expired"
    result = redact(text)
    assert result.found and OPAQUE not in result.text and urn in result.text
    diagnosis = diagnoser.diagnose(text)  # the URN is what says this is APS
    assert (
        diagnosis.is_aps_error
        and diagnosis.best is not None
        and diagnosis.best.id == "expired-or-invalid-token"
    )


@pytest.mark.parametrize(
    "text",
    ['password = "MyApp.Secret9";', '"client_secret": "Kx9.mP2qR7sT"', "my client secret is 'Kx9.mP2qR7sT'"],
)
def test_a_quoted_secret_is_no_code(text: str) -> None:
    """A string literal is never code reading a secret from elsewhere (process.env.X), whatever its dots."""
    result = redact(text)
    assert result.found and "Secret9" not in result.text and "mP2qR7sT" not in result.text

"""Secrets in pastes are found, blanked, and never reach any output."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.diagnosis import Diagnoser, redact
from bot.knowledge import KnowledgeBase

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
    ],
)
def test_placeholders_are_not_secrets(text: str) -> None:
    assert redact(text) == redact(text)  # deterministic
    assert not redact(text).found


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
    ]
    return shapes[shape % len(shapes)]


@settings(max_examples=150, deadline=None)
@given(
    shape=st.integers(0, 4), secret=_secret_chars, before=st.text(max_size=200), after=st.text(max_size=200)
)
def test_redaction_never_leaks(kb: KnowledgeBase, shape: int, secret: str, before: str, after: str) -> None:
    assume(secret not in before + after)  # a bare string with no secret-shaped context cannot be spotted
    paste, hidden = _embed(shape, secret)
    text = f"{before}\n{paste}\n{after}"
    assert hidden not in redact(text).text
    diagnosis = Diagnoser(kb).diagnose(text)
    assert diagnosis.secrets_found
    assert secret not in json.dumps(diagnosis.to_json(), ensure_ascii=False)

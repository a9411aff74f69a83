"""Any text up to Slack's 40,000-character limit: diagnosis never raises and is deterministic."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.diagnosis import Diagnoser

FRAGMENTS = [
    '{"developerMessage":"',
    '","errorCode":"AUTH-001"}',
    '"HttpStatusCode": "403", "ErrorCode": "BIM360DM_ERROR"',
    "HTTP/1.1 403 Forbidden",
    "https://developer.api.autodesk.com/project/v1/hubs?filter[id]=b.",
    "Bearer eyJ",
    '\\"',
    "{",
    "}",
    "```",
    "\n",
    "b.0f1c2d3e-1111-2222-3333-444455556666",
    "Token does not have the privilege for this request.",
    "client_secret=",
    "Quota limit exceeded.",
]
pastes = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=300)), max_size=60).map("".join)
long_pastes = st.tuples(pastes, st.integers(1, 130)).map(lambda p: (p[0] * p[1])[:40_000])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(pastes, long_pastes))
def test_diagnose_never_raises_and_is_deterministic(diagnoser: Diagnoser, text: str) -> None:
    first = diagnoser.diagnose(text)
    second = diagnoser.diagnose(text)
    assert first == second
    assert all(0 <= c.score <= 100 for c in first.causes)
    assert [c.score for c in first.causes] == sorted((c.score for c in first.causes), reverse=True)
    assert not first.is_aps_error or first.causes

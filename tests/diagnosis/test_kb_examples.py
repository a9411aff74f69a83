"""The knowledge base proves itself: each cause's examples rank it first, its counter-examples do not."""

from __future__ import annotations

import pytest

from bot.diagnosis import Diagnoser
from bot.knowledge import load_kb
from tests.diagnosis.conftest import KB_DIR

_KB = load_kb(KB_DIR)
EXAMPLES = [
    pytest.param(c.id, text, id=f"{c.id}-{i}") for c in _KB.causes for i, text in enumerate(c.examples)
]
COUNTER = [
    pytest.param(c.id, text, id=f"{c.id}-counter-{i}")
    for c in _KB.causes
    for i, text in enumerate(c.counter_examples)
]

REQUIRED_CAUSES = {
    "integration-not-provisioned", "app-api-access-missing", "app-not-in-developer-hub",
    "plan-quota-or-trial-exhausted", "missing-scope", "invalid-client-credentials", "expired-or-invalid-token",
    "legacy-forge-endpoint", "wrong-user-or-account", "user-lacks-project-access", "folder-permission-denied",
    "project-service-not-activated", "account-admin-required", "two-legged-needs-user-context",
    "three-legged-not-accepted", "region-mismatch", "id-prefix-mismatch", "redirect-uri-mismatch", "rate-limited",
}  # fmt: skip


def test_every_required_cause_is_in_the_kb() -> None:
    assert {c.id for c in _KB.causes} >= REQUIRED_CAUSES


def test_every_cause_has_two_to_five_examples() -> None:
    assert all(2 <= len(c.examples) <= 5 for c in _KB.causes), [
        c.id for c in _KB.causes if len(c.examples) < 2
    ]


@pytest.mark.parametrize(("cause_id", "text"), EXAMPLES)
def test_example_ranks_its_cause_first(diagnoser: Diagnoser, cause_id: str, text: str) -> None:
    diagnosis = diagnoser.diagnose(text)
    assert diagnosis.is_aps_error
    assert diagnosis.best is not None
    assert diagnosis.best.id == cause_id, [(c.id, c.score, c.evidence) for c in diagnosis.causes]


@pytest.mark.parametrize(("cause_id", "text"), COUNTER)
def test_counter_example_does_not_rank_its_cause_first(
    diagnoser: Diagnoser, cause_id: str, text: str
) -> None:
    diagnosis = diagnoser.diagnose(text)
    assert diagnosis.best is None or diagnosis.best.id != cause_id

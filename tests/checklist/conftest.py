"""Fixtures for the checklist tests: a small template with the contract's five step ids."""

from __future__ import annotations

import pytest

from bot.knowledge import Checklist

STEP_IDS = ("create-app", "admin-rights", "add-integration", "project-access", "test-access")


def make_template() -> Checklist:
    """Five steps, two items each except the last (three): 11 items."""
    steps = []
    for number, step_id in enumerate(STEP_IDS, start=1):
        count = 3 if step_id == "test-access" else 2
        steps.append(
            {
                "id": step_id,
                "title": f"Step {number} {step_id}",
                "why": f"Why {step_id} matters.",
                "items": [
                    {"id": f"{step_id}-{n}", "text": f"Do {step_id} part {n}"} for n in range(1, count + 1)
                ],
                "gotchas": [f"Gotcha of {step_id}"],
                "links": ["https://aps.autodesk.com/"],
            }
        )
    return Checklist.model_validate({"title": "APS provisioning checklist", "steps": steps})


@pytest.fixture
def template() -> Checklist:
    return make_template()

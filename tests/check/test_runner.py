"""The step runner: what it reports when a step itself is broken."""

from __future__ import annotations

import pytest

from bot.check.report import StepResult
from bot.check.runner import Context, Outcome, Step, run_steps


def test_a_step_that_raises_reports_the_error_type_only() -> None:
    """An exception's text may quote a request (a URL, a header): the report names its type only."""

    def broken(ctx: Context) -> Outcome:
        raise RuntimeError("GET https://developer.api.autodesk.com/x with Bearer eyJsecret")

    seen: list[StepResult] = []
    steps = [
        Step("a", "A", "test-access", broken),
        Step("b", "B", "test-access", lambda c: Outcome("pass"), ("a",)),
    ]
    a, b = run_steps(steps, Context(), on_step=seen.append)
    assert (a.status, a.observed.message) == ("fail", "internal error: RuntimeError")
    assert (b.status, b.observed.message) == ("skipped", "skipped: needs A")
    assert sorted(r.name for r in seen) == ["a", "b"]


def test_a_step_depending_on_an_unknown_step_is_refused_before_anything_runs() -> None:
    ran: list[str] = []
    steps = [Step("a", "A", "test-access", lambda c: ran.append("a") or Outcome("pass"), ("nope",))]
    with pytest.raises(ValueError, match="nope"):
        run_steps(steps, Context())
    assert ran == []

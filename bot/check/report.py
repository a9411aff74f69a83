"""The live check's report: one result per step, JSON-ready. Never holds a token or a secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "warn", "skipped"]


@dataclass(frozen=True)
class Observed:
    """What APS answered: HTTP status (None when no call was made, 0 when no answer), code, message."""

    status: int | None = None
    code: str = ""
    message: str = ""


@dataclass(frozen=True)
class StepResult:
    name: str
    title: str
    status: Status
    observed: Observed = field(default_factory=Observed)
    cause_id: str | None = None
    cause_title: str | None = None
    fix: str | None = None
    checklist_step: str | None = None
    duration_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "observed": {
                "status": self.observed.status,
                "code": self.observed.code,
                "message": self.observed.message,
            },
            "cause_id": self.cause_id,
            "cause_title": self.cause_title,
            "fix": self.fix,
            "checklist_step": self.checklist_step,
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True)
class CheckReport:
    app_name: str
    client_id: str
    project: str
    account: str | None
    region: str | None
    user: str | None
    steps: tuple[StepResult, ...]
    duration_ms: int = 0

    @property
    def passed(self) -> bool:
        """True when no step failed (warnings allowed)."""
        return bool(self.steps) and all(step.status != "fail" for step in self.steps)

    @property
    def failed_step(self) -> StepResult | None:
        """The first failed step in check order."""
        return next((step for step in self.steps if step.status == "fail"), None)

    @property
    def warnings(self) -> tuple[StepResult, ...]:
        return tuple(step for step in self.steps if step.status == "warn")

    def step(self, name: str) -> StepResult | None:
        return next((step for step in self.steps if step.name == name), None)

    def to_json(self) -> dict[str, Any]:
        failed = self.failed_step
        return {
            "app": {"name": self.app_name, "client_id": self.client_id},
            "project": self.project,
            "account": self.account,
            "region": self.region,
            "user": self.user,
            "passed": self.passed,
            "failed_step": failed.name if failed else None,
            "cause_id": failed.cause_id if failed else None,
            "duration_ms": self.duration_ms,
            "steps": [step.to_json() for step in self.steps],
        }

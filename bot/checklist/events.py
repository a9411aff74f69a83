"""What a checklist transition reports back to the edges (which decide whether to post, schedule, DM)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ItemTicked:
    step_id: str
    item_id: str
    user: str
    at: float


@dataclass(frozen=True)
class ItemUnticked:
    step_id: str
    item_id: str
    user: str
    at: float


@dataclass(frozen=True)
class StepCompleted:
    step_id: str
    at: float


@dataclass(frozen=True)
class StepReopened:
    step_id: str
    at: float


@dataclass(frozen=True)
class IntegrationStepCompleted:
    """Every item of the Custom Integrations step is ticked: time to schedule the automatic re-check."""

    client_id: str | None
    project: str | None
    at: float


@dataclass(frozen=True)
class ChecklistCompleted:
    at: float
    total_seconds: float
    first: bool = True  # False: done again after a reopening (an untick and a re-tick)


@dataclass(frozen=True)
class ChecklistReopened:
    at: float


@dataclass(frozen=True)
class StepAssigned:
    step_id: str
    assignee: str
    by: str
    at: float


@dataclass(frozen=True)
class StepUnassigned:
    step_id: str
    assignee: str  # who was assigned until now
    by: str
    at: float


Event = (
    ItemTicked
    | ItemUnticked
    | StepCompleted
    | StepReopened
    | IntegrationStepCompleted
    | ChecklistCompleted
    | ChecklistReopened
    | StepAssigned
    | StepUnassigned
)

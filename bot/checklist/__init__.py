"""Pure checklist state machine: tick, untick, assign, complete. No Slack, no storage."""

from bot.checklist.events import (
    ChecklistCompleted,
    ChecklistReopened,
    Event,
    IntegrationStepCompleted,
    ItemTicked,
    ItemUnticked,
    StepAssigned,
    StepCompleted,
    StepReopened,
    StepUnassigned,
)
from bot.checklist.state import (
    INTEGRATION_STEP,
    TEST_STEP,
    Assignment,
    ChecklistError,
    ChecklistState,
    Progress,
    TickRecord,
    Transition,
)

__all__ = [
    "INTEGRATION_STEP",
    "TEST_STEP",
    "Assignment",
    "ChecklistCompleted",
    "ChecklistError",
    "ChecklistReopened",
    "ChecklistState",
    "Event",
    "IntegrationStepCompleted",
    "ItemTicked",
    "ItemUnticked",
    "Progress",
    "StepAssigned",
    "StepCompleted",
    "StepReopened",
    "StepUnassigned",
    "TickRecord",
    "Transition",
]

"""Checklist state and its transitions. Pure: every transition takes the actor and the time as arguments
and returns the new state plus the events that happened, so the edges decide what to do about them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

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
from bot.knowledge import Checklist, ChecklistStep

INTEGRATION_STEP = "add-integration"
TEST_STEP = "test-access"
DAY_SECONDS = 86_400.0


class ChecklistError(ValueError):
    """A transition names a step or item that this checklist does not have."""


@dataclass(frozen=True)
class TickRecord:
    """Who ticked an item, and when."""

    user: str
    at: float


@dataclass(frozen=True)
class Assignment:
    assignee: str
    by: str
    at: float


@dataclass(frozen=True)
class Progress:
    steps_done: int
    steps_total: int
    items_done: int
    items_total: int

    @property
    def done(self) -> bool:
        return self.items_done == self.items_total

    @property
    def fraction(self) -> float:
        return self.items_done / self.items_total if self.items_total else 1.0

    def __str__(self) -> str:
        return f"{self.steps_done}/{self.steps_total} steps · {self.items_done}/{self.items_total} items"


@dataclass(frozen=True)
class Transition:
    state: ChecklistState
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class ChecklistState:
    """One running checklist: the template it follows, where it lives in Slack, and what has been ticked."""

    id: str
    template: Checklist
    channel: str
    started_by: str
    started_at: float
    client_id: str | None = None
    project: str | None = None
    cause: str | None = None
    parent_ts: str | None = None
    step_ts: Mapping[str, str] = field(default_factory=dict)
    ticks: Mapping[tuple[str, str], TickRecord] = field(default_factory=dict)
    assignments: Mapping[str, Assignment] = field(default_factory=dict)
    last_activity: float = 0.0
    completed_at: float | None = None
    first_completed_at: float | None = None  # kept through a reopening: completion is announced once
    closed_at: float | None = None  # its parent message was deleted or its channel archived: nothing to do
    reminded_at: float | None = None
    version: int = 0

    @classmethod
    def start(
        cls,
        checklist_id: str,
        template: Checklist,
        *,
        channel: str,
        started_by: str,
        at: float,
        client_id: str | None = None,
        project: str | None = None,
        cause: str | None = None,
    ) -> ChecklistState:
        return cls(
            id=checklist_id,
            template=template,
            channel=channel,
            started_by=started_by,
            started_at=at,
            client_id=client_id or None,
            project=project or None,
            cause=cause,
            last_activity=at,
        )

    # --- queries -------------------------------------------------------------------------------------

    def step(self, step_id: str) -> ChecklistStep:
        step = self.template.step(step_id)
        if step is None:
            raise ChecklistError(f"unknown step {step_id!r}")
        return step

    def has_item(self, step_id: str, item_id: str) -> bool:
        step = self.template.step(step_id)
        return step is not None and any(item.id == item_id for item in step.items)

    def ticked(self, step_id: str, item_id: str) -> TickRecord | None:
        return self.ticks.get((step_id, item_id))

    def ticked_items(self, step_id: str) -> set[str]:
        return {item.id for item in self.step(step_id).items if (step_id, item.id) in self.ticks}

    def step_done(self, step_id: str) -> bool:
        return all((step_id, item.id) in self.ticks for item in self.step(step_id).items)

    def step_number(self, step_id: str) -> int:
        return next(i for i, step in enumerate(self.template.steps, start=1) if step.id == step_id)

    @property
    def progress(self) -> Progress:
        steps = self.template.steps
        items_total = sum(len(step.items) for step in steps)
        items_done = sum(1 for step in steps for item in step.items if (step.id, item.id) in self.ticks)
        return Progress(
            steps_done=sum(1 for step in steps if self.step_done(step.id)),
            steps_total=len(steps),
            items_done=items_done,
            items_total=items_total,
        )

    @property
    def done(self) -> bool:
        return self.completed_at is not None

    @property
    def total_seconds(self) -> float | None:
        return None if self.completed_at is None else self.completed_at - self.started_at

    @property
    def can_recheck(self) -> bool:
        """A live check needs both the client id and the project."""
        return bool(self.client_id and self.project)

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def is_stale(self, now: float, stale_days: float) -> bool:
        return not self.done and not self.closed and now - self.last_activity >= stale_days * DAY_SECONDS

    # --- transitions ---------------------------------------------------------------------------------

    def tick(self, step_id: str, item_id: str, user: str, at: float) -> Transition:
        self._require_item(step_id, item_id)
        if (step_id, item_id) in self.ticks:
            return Transition(self)
        ticks = {**self.ticks, (step_id, item_id): TickRecord(user, at)}
        new = dataclasses.replace(self, ticks=ticks, last_activity=max(self.last_activity, at))
        events: list[Event] = [ItemTicked(step_id, item_id, user, at)]
        if new.step_done(step_id):
            events.append(StepCompleted(step_id, at))
            if step_id == INTEGRATION_STEP:
                events.append(IntegrationStepCompleted(new.client_id, new.project, at))
        if new.progress.done and not new.done:
            first = new.first_completed_at is None
            new = dataclasses.replace(new, completed_at=at, first_completed_at=new.first_completed_at or at)
            events.append(ChecklistCompleted(at, at - new.started_at, first=first))
        return Transition(new, tuple(events))

    def untick(self, step_id: str, item_id: str, user: str, at: float) -> Transition:
        self._require_item(step_id, item_id)
        if (step_id, item_id) not in self.ticks:
            return Transition(self)
        was_step_done = self.step_done(step_id)
        ticks = {key: rec for key, rec in self.ticks.items() if key != (step_id, item_id)}
        new = dataclasses.replace(self, ticks=ticks, last_activity=max(self.last_activity, at))
        events: list[Event] = [ItemUnticked(step_id, item_id, user, at)]
        if was_step_done:
            events.append(StepReopened(step_id, at))
        if new.done:
            new = dataclasses.replace(new, completed_at=None)
            events.append(ChecklistReopened(at))
        return Transition(new, tuple(events))

    def apply_selection(
        self, step_id: str, seen: set[str], selected: set[str], user: str, at: float
    ) -> Transition:
        """Apply one checkbox click: what the user saw ticked vs what is selected after the click.

        Only the items this click changed are applied, so a concurrent click on another item, which the
        user's (older) view did not show yet, is kept. One click changes one item: when the difference is
        larger the view was stale, and only its ticks are applied (never an untick the user did not see).
        """
        known = {item.id for item in self.step(step_id).items}
        unknown = (seen | selected) - known
        if unknown:
            raise ChecklistError(f"step {step_id!r} has no item {sorted(unknown)[0]!r}")
        added, removed = selected - seen, seen - selected
        if len(added) + len(removed) > 1:
            removed = set()
        result = Transition(self)
        events: list[Event] = []
        for item_id in sorted(added):
            result = result.state.tick(step_id, item_id, user, at)
            events.extend(result.events)
        for item_id in sorted(removed):
            result = result.state.untick(step_id, item_id, user, at)
            events.extend(result.events)
        return Transition(result.state, tuple(events))

    def assign(self, step_id: str, assignee: str, by: str, at: float) -> Transition:
        self.step(step_id)
        current = self.assignments.get(step_id)
        if current is not None and current.assignee == assignee:
            return Transition(self)
        assignments = {**self.assignments, step_id: Assignment(assignee, by, at)}
        new = dataclasses.replace(self, assignments=assignments, last_activity=max(self.last_activity, at))
        return Transition(new, (StepAssigned(step_id, assignee, by, at),))

    def unassign(self, step_id: str, by: str, at: float) -> Transition:
        self.step(step_id)
        current = self.assignments.get(step_id)
        if current is None:
            return Transition(self)
        assignments = {k: v for k, v in self.assignments.items() if k != step_id}
        new = dataclasses.replace(self, assignments=assignments, last_activity=max(self.last_activity, at))
        return Transition(new, (StepUnassigned(step_id, current.assignee, by, at),))

    def with_messages(self, parent_ts: str, step_ts: Mapping[str, str]) -> ChecklistState:
        """Record where the thread was posted (not an activity)."""
        for step_id in step_ts:
            self.step(step_id)
        return dataclasses.replace(self, parent_ts=parent_ts, step_ts=dict(step_ts))

    def close(self, at: float) -> Transition:
        """Its thread is gone (parent deleted, channel archived): no more reminders, re-checks or listing."""
        return Transition(self if self.closed else dataclasses.replace(self, closed_at=at))

    def remind(self, at: float) -> ChecklistState:
        return dataclasses.replace(self, reminded_at=at)

    def forget_reminder(self, at: float) -> ChecklistState:
        """The reminder claimed at `at` never reached the thread: it is due again (unless claimed anew)."""
        return dataclasses.replace(self, reminded_at=None) if self.reminded_at == at else self

    def _require_item(self, step_id: str, item_id: str) -> None:
        self.step(step_id)
        if not self.has_item(step_id, item_id):
            raise ChecklistError(f"step {step_id!r} has no item {item_id!r}")

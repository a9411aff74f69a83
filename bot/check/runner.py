"""Run check steps as a dependency graph: each step starts once its dependencies are done, independent
steps run at the same time, and a failed (or skipped) step skips only the steps that depend on it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bot.check.causes import describe
from bot.check.report import Observed, Status, StepResult
from bot.knowledge import KnowledgeBase


@dataclass(frozen=True)
class Outcome:
    """What a step concluded; the runner adds the title, cause text, checklist step and timing."""

    status: Status
    observed: Observed = field(default_factory=Observed)
    cause_id: str | None = None


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    checklist_step: str
    run: Callable[[Context], Outcome]
    deps: tuple[str, ...] = ()


class Context:
    """Shared state of one check run: facts that steps hand to their dependants, and step results."""

    def __init__(self, **values: Any) -> None:
        self.values = dict(values)
        self._lock = threading.Lock()
        self._futures: dict[str, Future[StepResult]] = {}

    def __getitem__(self, key: str) -> Any:
        with self._lock:
            return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self.values.get(key, default)

    def set(self, **values: Any) -> None:
        with self._lock:
            self.values.update(values)

    def result(self, step_name: str, timeout: float | None = None) -> StepResult | None:
        """Wait for another step's result (None when that step is not part of this run)."""
        future = self._futures.get(step_name)
        return future.result(timeout) if future is not None else None


def run_steps(
    steps: Sequence[Step],
    ctx: Context,
    *,
    kb: KnowledgeBase | None = None,
    on_step: Callable[[StepResult], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[StepResult, ...]:
    """Run `steps` (given in report order, dependencies first) and return their results in that order."""
    names = {step.name for step in steps}
    for step in steps:
        missing = [dep for dep in step.deps if dep not in names]
        if missing:
            raise ValueError(f"step {step.name!r} depends on unknown steps {missing}")
    futures: dict[str, Future[StepResult]] = {step.name: Future() for step in steps}
    titles = {step.name: step.title for step in steps}
    ctx._futures = futures
    callback_lock = threading.Lock()

    def execute(step: Step) -> None:
        result: StepResult
        try:
            blocked = [dep for dep in step.deps if futures[dep].result().status in ("fail", "skipped")]
            if blocked:
                result = StepResult(
                    step.name,
                    step.title,
                    "skipped",
                    Observed(message=f"skipped: needs {', '.join(titles[name] for name in blocked)}"),
                    checklist_step=step.checklist_step,
                )
            else:
                started = clock()
                outcome = step.run(ctx)
                result = _result(step, outcome, kb, int((clock() - started) * 1000))
        except Exception as exc:  # a bug in a step must not hang the check
            result = StepResult(
                step.name,
                step.title,
                "fail",
                Observed(message=f"internal error: {type(exc).__name__}"),
                checklist_step=step.checklist_step,
            )
        futures[step.name].set_result(result)
        if on_step is not None:
            with callback_lock:
                on_step(result)

    with ThreadPoolExecutor(max_workers=len(steps) or 1, thread_name_prefix="aps-check") as pool:
        for step in steps:
            pool.submit(execute, step)
    return tuple(futures[step.name].result() for step in steps)


def _result(step: Step, outcome: Outcome, kb: KnowledgeBase | None, duration_ms: int) -> StepResult:
    if outcome.cause_id is None:
        return StepResult(
            step.name,
            step.title,
            outcome.status,
            outcome.observed,
            checklist_step=step.checklist_step,
            duration_ms=duration_ms,
        )
    text = describe(outcome.cause_id, kb)
    return StepResult(
        step.name,
        step.title,
        outcome.status,
        outcome.observed,
        cause_id=outcome.cause_id,
        cause_title=text.title,
        fix=text.fix,
        checklist_step=text.checklist_step,
        duration_ms=duration_ms,
    )

"""Durable scheduled work: stored jobs (automatic re-checks) and periodic sweeps (stale-checklist reminders).

`Scheduler.run_due(now)` does one pass and is what tests call with their own clock; `start()` runs passes
on a background thread every `settings.bot_scheduler_poll_seconds` until stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence

from bot.slack.deps import Deps
from bot.store.jobs import Job, JobStore

log = logging.getLogger(__name__)

JobHandler = Callable[[Job, float], None]
Sweep = Callable[[float], None]
BATCH = 10
ENDED_JOBS_KEPT_SECONDS = 7 * 86_400  # done, failed and cancelled jobs are kept this long, then purged
PURGE_EVERY_SECONDS = 3600.0


class Scheduler:
    def __init__(
        self,
        deps: Deps,
        *,
        handlers: Mapping[str, JobHandler] | None = None,
        sweeps: Sequence[Sweep] | None = None,
        worker: str | None = None,
    ) -> None:
        self.deps = deps
        self.jobs = JobStore(deps.db)
        if handlers is None or sweeps is None:
            from bot.slack.listeners import scheduled_work  # the edge that knows Slack

            default_handlers, default_sweeps = scheduled_work(deps)
            handlers = default_handlers if handlers is None else handlers
            sweeps = default_sweeps if sweeps is None else sweeps
        self.handlers = dict(handlers)
        self.sweeps = list(sweeps)
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._purged_at: float | None = None

    def run_due(self, now: float | None = None) -> int:
        """Run every sweep, then every job due at `now` (default: the deps clock); return how many jobs ran.
        Sweeps first: one of them renews the jobs of work still in progress, which must not come due."""
        now = self.deps.clock() if now is None else now
        self._purge_ended(now)
        for sweep in self.sweeps:
            try:
                sweep(now)
            except Exception:
                log.exception("scheduler sweep %s failed", getattr(sweep, "__name__", sweep))
        ran = 0
        started = self.deps.clock()
        while True:
            # A later batch of a slow pass is leased from when it is claimed: leased from the pass's start, it
            # would be expired already for another instance's scheduler.
            at = now + max(0.0, self.deps.clock() - started)
            batch = self.jobs.claim_due(at, self.worker, kinds=tuple(self.handlers), limit=BATCH)
            for index, job in enumerate(batch):
                self._run(job, now)
                ran += 1
                # Those still waiting behind it (slow live re-checks) keep their lease, or another instance's
                # scheduler would take them and run them as well.
                waiting = [later.id for later in batch[index + 1 :]]
                self.jobs.extend(waiting, max(now, self.deps.clock()), self.worker)
            if len(batch) < BATCH:
                break
        return ran

    def _purge_ended(self, now: float) -> None:
        """At the first pass and hourly: forget jobs that ended a week ago (every checklist leaves one)."""
        if self._purged_at is not None and now - self._purged_at < PURGE_EVERY_SECONDS:
            return
        self._purged_at = now
        try:
            self.jobs.purge(before=now - ENDED_JOBS_KEPT_SECONDS)
        except Exception:
            log.exception("could not purge ended jobs")

    def _run(self, job: Job, now: float) -> None:
        handler = self.handlers[job.kind]  # claim_due takes only the kinds we have handlers for
        try:
            handler(job, now)
        except Exception as exc:
            log.exception("job %s (%s) failed", job.id, job.kind)
            self.jobs.fail(job.id, now, f"{type(exc).__name__}: {exc}")
        else:
            self.jobs.finish(job.id, now)

    def start(self) -> Callable[[], None]:
        """Poll in a daemon thread; return a function that stops it and waits for the current pass."""
        stop = threading.Event()
        interval = self.deps.settings.bot_scheduler_poll_seconds

        def loop() -> None:
            while not stop.is_set():
                try:
                    self.run_due()
                except Exception:
                    log.exception("scheduler pass failed")
                stop.wait(interval)

        thread = threading.Thread(target=loop, name="aps-bot-scheduler", daemon=True)
        thread.start()

        def stopper() -> None:
            stop.set()
            thread.join(timeout=max(5.0, interval))

        return stopper


def start_scheduler(deps: Deps) -> Callable[[], None]:
    """Start the background scheduler; return a function that stops it."""
    return Scheduler(deps).start()

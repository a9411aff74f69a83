"""What listeners need, built once by the app factory and passed in (tests pass fakes)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from slack_sdk import WebClient

from bot.diagnosis import Diagnoser
from bot.knowledge import KnowledgeBase
from bot.settings import Settings
from bot.slack.usergroups import UserGroups
from bot.store.check_runs import CheckRuns
from bot.store.db import Database
from bot.store.inbox import Inbox

log = logging.getLogger(__name__)


@dataclass
class Deps:
    settings: Settings
    kb: KnowledgeBase
    db: Database
    executor: Executor  # bounded pool for slow work, so Bolt's own workers stay free to ack
    clock: Callable[[], float] = time.time
    client: WebClient | None = None  # the app's Web API client, for work that runs outside a listener
    bot_user_id: str = ""  # the bot's own user id (U…), from auth.test
    wake_worker: Callable[[], None] = lambda: None  # tell the reply worker a job is queued (bot/worker.py)
    worker_running: Callable[[], bool | None] = lambda: None  # is it alive (None: no worker started)

    def submit(self, work: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Run `work` on `executor`, after the ack. What it raises is logged with its traceback: a pool
        keeps a task's exception in a future nobody reads, so it would vanish."""

        def run() -> None:
            try:
                work(*args, **kwargs)
            except Exception:
                log.exception("background work %s failed", getattr(work, "__qualname__", work))

        self.executor.submit(run)

    @cached_property
    def diagnoser(self) -> Diagnoser:
        """One Diagnoser over `kb`, built on first use and shared by every listener."""
        return Diagnoser(self.kb)

    @cached_property
    def usergroups(self) -> UserGroups:
        """User-group members for live-check permissions, cached a minute, shared by every listener."""
        return UserGroups(self.clock)

    @cached_property
    def check_runs(self) -> CheckRuns:
        """When live checks last ran, to space out repeated ones (shared by `/aps-check` and re-checks)."""
        return CheckRuns(self.db)

    @cached_property
    def inbox(self) -> Inbox:
        """Where message listeners leave their deliveries; stored ones wake the reply worker."""
        return Inbox(self.db, clock=self.clock, on_stored=lambda: self.wake_worker())

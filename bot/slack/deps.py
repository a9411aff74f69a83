"""What listeners need, built once by the app factory and passed in (tests pass fakes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from bot.knowledge import KnowledgeBase
from bot.settings import Settings
from bot.store.db import Database


@dataclass
class Deps:
    settings: Settings
    kb: KnowledgeBase
    db: Database
    executor: Executor  # bounded pool for slow work, so Bolt's own workers stay free to ack
    clock: Callable[[], float] = time.time

"""Accepted Slack deliveries, written in batches: a delivery's dedupe keys and its job land together.

Listeners hand deliveries over and wait on their receipt; one writer thread stores everything waiting in a
single transaction (first delivery of its keys wins; a duplicate stores nothing), settles the receipts, then
calls `on_stored` once. Under a burst this makes one commit per batch instead of one per event.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from bot.store.db import Database
from bot.store.dedupe import DedupeStore
from bot.store.jobs import JobStore

log = logging.getLogger(__name__)

BATCH = 500
STORE_ATTEMPTS = 3
STORE_RETRY_SECONDS = 0.5
PURGE_EVERY = 1000  # stored deliveries between two purges of old dedupe keys (and one at the first)
DEDUPE_MEMORY_SECONDS = 86_400  # Slack stops retrying within minutes; a day is plenty
_STOP = object()


class Receipt:
    """Settled once the batch of a delivery is committed (stored, or dropped as a duplicate), or given up."""

    def __init__(self) -> None:
        self._settled = threading.Event()
        self._stored = False

    def settle(self, stored: bool) -> None:
        self._stored = stored
        self._settled.set()

    def wait(self, timeout: float) -> bool:
        """True once the delivery is safe in the database (a duplicate: its first copy is); False if storing
        failed or took longer than `timeout` seconds."""
        return self._settled.wait(timeout) and self._stored


class Inbox:
    def __init__(
        self, db: Database, *, clock: Callable[[], float], on_stored: Callable[[], None] = lambda: None
    ) -> None:
        self.db = db
        self.dedupe = DedupeStore(db)
        self.jobs = JobStore(db)
        self.clock = clock
        self.on_stored = on_stored
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._put_at: deque[float] = deque()  # when each delivery not yet settled was put, oldest first
        self._stored = 0
        self._purge_at = 0  # stored deliveries at the next purge: the first batch purges, then every 1000
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="aps-bot-inbox", daemon=True)
        self._thread.start()

    def put(self, keys: Sequence[str], kind: str, payload: dict[str, Any]) -> Receipt:
        """Queue a delivery: stored with its job unless one of `keys` was seen before."""
        receipt = Receipt()
        with self._idle:
            self._put_at.append(time.monotonic())
            self._queue.put((list(keys), kind, payload, receipt))
        return receipt

    def waiting_for(self) -> float:
        """Seconds the oldest delivery not yet settled has waited (0 when none is): long means the writer is
        stuck (a locked or failing database) or gone."""
        with self._idle:
            return time.monotonic() - self._put_at[0] if self._put_at else 0.0

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything put so far is stored; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._put_at, timeout)

    def close(self) -> None:
        """Store what is queued, then stop the writer."""
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            # Whatever queued up while the last batch was committed shares the next commit: no delivery
            # waits for others (its listener holds Slack's ack until it is stored).
            batch = [self._queue.get()]
            while len(batch) < BATCH and batch[-1] is not _STOP:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            items = [item for item in batch if item is not _STOP]
            stored = self._store(items) if items else 0
            for *_, receipt in items:
                receipt.settle(stored is not None)
            self._purge_now_and_then(stored or 0)
            with self._idle:
                for _ in items:
                    self._put_at.popleft()
                self._idle.notify_all()
            if stored:
                self.on_stored()
            if len(items) < len(batch):
                return

    def _purge_now_and_then(self, stored: int) -> None:
        """Purge at the first stored batch and every PURGE_EVERY deliveries after it: a bot restarted more
        often than every PURGE_EVERY deliveries (daily deploys of a quiet workspace) purges too."""
        self._stored += stored
        if stored and self._stored >= self._purge_at:
            self._purge_at = self._stored + PURGE_EVERY
            try:
                self.dedupe.purge(before=self.clock() - DEDUPE_MEMORY_SECONDS)
            except Exception:
                log.exception("could not purge old dedupe keys")

    def _store(self, items: list[tuple[list[str], str, dict[str, Any], Receipt]]) -> int | None:
        """One transaction for the whole batch: a few statements, however many deliveries; how many were
        new. A failing database is tried again a few times before the batch is given up (None, logged)."""
        for attempt in range(1, STORE_ATTEMPTS + 1):
            try:
                now = self.clock()
                with self.db.transaction() as conn:
                    firsts = self.dedupe.first_seen(conn, [keys for keys, *_ in items], now=now)
                    accepted = [item for item, first in zip(items, firsts, strict=True) if first]
                    self.jobs.insert_many(conn, [(kind, now, payload) for _, kind, payload, _ in accepted])
                break
            except Exception:
                if attempt == STORE_ATTEMPTS:
                    log.exception("could not store %d deliveries", len(items))
                    return None
                log.warning("storing %d deliveries failed (attempt %d); trying again", len(items), attempt)
                time.sleep(attempt * STORE_RETRY_SECONDS)  # backing off a busy or failing database
        for (keys, *_), first in zip(items, firsts, strict=True):
            if not first:
                log.info("duplicate delivery dropped (%s)", keys[0])
        return len(accepted)

"""Durable scheduled jobs (automatic re-checks, stale-checklist reminders). Placeholder until issue 5."""

from __future__ import annotations

from collections.abc import Callable

from bot.slack.deps import Deps


def start_scheduler(deps: Deps) -> Callable[[], None]:
    """Start the background scheduler; return a function that stops it."""
    return lambda: None

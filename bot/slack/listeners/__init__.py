"""Listeners by kind. Each module has `register(app, deps)`; the app factory calls them all."""

from __future__ import annotations

from slack_bolt import App

from bot.scheduler import JobHandler, Sweep
from bot.slack.deps import Deps
from bot.slack.listeners import actions, check_command, checklist, home, messages, shortcuts

MODULES = (messages, shortcuts, actions, check_command, checklist, home)


def register_all(app: App, deps: Deps) -> None:
    for module in MODULES:
        module.register(app, deps)
    messages.register_ignored(app, deps)  # last: Bolt runs the first listener that matches


def scheduled_work(deps: Deps) -> tuple[dict[str, JobHandler], list[Sweep]]:
    """Every job handler (by job kind) and periodic sweep the scheduler runs."""
    client = checklist.background_client(deps)
    handlers, sweeps = checklist.scheduled_work(deps, client)
    check_handlers, check_sweeps = check_command.scheduled_work(deps, client)
    return {**handlers, **check_handlers}, [*check_sweeps, *sweeps]

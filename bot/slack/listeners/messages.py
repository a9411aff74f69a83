"""Listeners: messages (placeholder until its issue lands)."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.deps import Deps


def register(app: App, deps: Deps) -> None:
    """Register this module's listeners on `app`."""

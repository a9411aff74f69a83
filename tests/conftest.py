"""Suite-wide fixtures: no developer setting leaks into a test, no test's logging setup into the next."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Clear SLACK_*, APS_* and BOT_* variables and run from an empty folder (no stray .env)."""
    for name in list(os.environ):
        if name.startswith(("SLACK_", "APS_", "BOT_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`aps-bot serve` run in-process (configure_logging) points the root logger at the test's captured stderr,
    which is closed after the test: put the root logger back, so later records are not written there."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)

"""Suite-wide fixtures: no developer setting leaks into a test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Clear SLACK_*, APS_* and BOT_* variables and run from an empty folder (no stray .env)."""
    for name in list(os.environ):
        if name.startswith(("SLACK_", "APS_", "BOT_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)

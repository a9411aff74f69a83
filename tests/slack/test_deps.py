"""`Deps.submit`: background work after the ack, whose failures reach the log instead of an unread future."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.knowledge import load_kb
from bot.settings import Settings
from bot.slack.deps import Deps
from bot.store.db import Database

ROOT = Path(__file__).resolve().parents[2]


def test_work_that_raises_is_logged_with_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    done: list[str] = []

    def vote(user: str, *, cause: str) -> None:
        done.append(f"{user}:{cause}")
        raise ValueError("the store refused it")

    with ThreadPoolExecutor(1) as executor:
        deps = Deps(
            settings=Settings(_env_file=None, bot_db_path=tmp_path / "bot.db"),
            kb=load_kb(ROOT / "knowledge"),
            db=Database(tmp_path / "bot.db"),
            executor=executor,
        )
        with caplog.at_level(logging.ERROR, logger="bot.slack.deps"):
            deps.submit(vote, "U1", cause="missing-scope")
    # Leaving the `with` waited for the work: it ran with its arguments, and its failure is in the log.
    assert done == ["U1:missing-scope"]
    [record] = [r for r in caplog.records if r.name == "bot.slack.deps"]
    assert "vote" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)

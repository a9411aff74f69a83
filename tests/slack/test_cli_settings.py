"""Operator errors on the command line: a bad setting is one line naming it (never its value) in every
command; a meaningless number is a usage error, not a quietly wrong answer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.cli import main
from bot.store.db import Database
from bot.store.feedback import FeedbackStore

SECRET = "Zq81vNw3Lr5tKe"


@pytest.mark.parametrize(
    "argv", [["stats"], ["kb", "list"], ["kb", "validate"], ["diagnose", "HTTP 403"]], ids=" ".join
)
@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        (
            "APS_APPS",
            f'[{{"name": "x", "client_secret": "{SECRET}"}}]',
            "APS_APPS[0].client_id: Field required",
        ),
        (
            "APS_APPS",
            f'[{{"name": "x", "client_id": "a", "client_secret": "{SECRET}"',
            "APS_APPS is not valid JSON",
        ),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: Value error"),
    ],
    ids=["app-without-client-id", "apps-not-json", "unknown-log-level"],
)
def test_a_bad_setting_is_one_line_naming_it_in_every_command(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    name: str,
    value: str,
    named: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("BOT_DB_PATH", str(tmp_path / "bot.sqlite3"))
    (tmp_path / "bot.sqlite3").touch()  # stats looks for it before anything else
    monkeypatch.setenv(name, value)
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1, lines
    assert lines[0].startswith(f"aps-bot {argv[0]}: invalid settings: {named}"), lines
    assert SECRET not in captured.err


@pytest.mark.parametrize("argv", [["--limit", "-1"], ["--limit", "0"], ["--days", "-3"], ["--days", "0"]])
def test_stats_refuses_counts_below_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """`--limit -1` listed every cause but the last one, `--days -3` reported "0 diagnoses": both exit 0."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bot.sqlite3"
    FeedbackStore(Database(path)).record_diagnosis("C1", "1.0", "missing-scope", time.time())
    monkeypatch.setenv("BOT_DB_PATH", str(path))
    with pytest.raises(SystemExit) as exited:
        main(["stats", *argv])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and f"argument {argv[0]}" in captured.err

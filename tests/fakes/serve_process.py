"""`aps-bot serve` as a real process in Socket Mode, connected to a fake Slack (Web API and Socket Mode).

    with socket_mode_bot(tmp_path, BOT_WORKER_THREADS="1") as bot:
        envelope = bot.socket_mode.send_event(message_event("AUTH-001 …"))
        bot.socket_mode.wait_for_ack(envelope)
        bot.slack.wait_for_thread(CHANNEL, ts)

The process gets the fake tokens, the fakes' URLs, a database in `tmp_path` and the shipped knowledge base
(extra settings as keyword arguments); the context manager returns once it has connected, and on exit stops
it with SIGTERM (unless the test did), then checks that the fake saw no protocol error and that no token was
logged. `own_group=True` starts it in a process group of its own (to signal it and its reply worker at once).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.slack.replies import REPLY_JOB
from bot.store.db import Database
from bot.store.jobs import JobStore
from tests.fakes.bolt_server import APP_TOKEN, BOT_TOKEN, ROOT
from tests.fakes.polling import wait_until
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.socket_mode import FakeSocketMode


@dataclass
class SocketModeBot:
    """A running `aps-bot serve` in Socket Mode and the fakes it talks to."""

    process: subprocess.Popen[str]
    slack: FakeSlackApi
    socket_mode: FakeSocketMode
    db_path: Path
    stderr: list[str]

    def log(self) -> str:
        return "".join(self.stderr)

    def response_url(self) -> str:
        return self.slack.url + f"response/{uuid.uuid4().hex}"

    def queued_replies(self) -> int:
        """Reply jobs stored and not yet finished (read from the bot's database)."""
        db = Database(self.db_path)
        try:
            return JobStore(db).due_count((REPLY_JOB,), float("inf"))
        finally:
            db.close()

    def wait_replies_done(self, timeout: float = 30) -> None:
        wait_until(lambda: self.queued_replies() == 0, timeout)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


@contextmanager
def socket_mode_bot(tmp_path: Path, *, own_group: bool = False, **env_values: str) -> Iterator[SocketModeBot]:
    """Start `aps-bot serve` with an app-level token, connected to a fresh fake Slack; stop it (SIGTERM) on
    exit unless the test did, and check the fake saw no protocol error."""
    with FakeSlackApi() as slack, FakeSocketMode() as socket_mode:
        slack.set_response("apps.connections.open", socket_mode.connections_open)
        db_path = tmp_path / "socket-mode.sqlite3"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "APS_", "BOT_"))}
        env.update(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_API_URL=slack.url,
            BOT_DB_PATH=str(db_path),
            BOT_KB_DIR=str(ROOT / "knowledge"),
            **env_values,
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            cwd=tmp_path,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=own_group,  # a process group of its own, to signal it and its worker together
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(process.stderr or ()), daemon=True)
        reader.start()
        bot = SocketModeBot(process, slack, socket_mode, db_path, lines)
        try:
            wait_until(lambda: socket_mode.connections or process.poll() is not None, 60)
            assert process.poll() is None, bot.log()
            yield bot
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                reader.join(timeout=10)
                if process.stderr:
                    process.stderr.close()
    assert socket_mode.errors == [], socket_mode.errors
    assert BOT_TOKEN not in bot.log() and APP_TOKEN not in bot.log()

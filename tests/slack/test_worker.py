"""The reply worker as `aps-bot serve` runs it: a child process fed by the inbox, restarted if it dies."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.diagnosis.result import Diagnosis
from bot.knowledge import KnowledgeBase
from bot.settings import ApsApp, Settings
from bot.slack.deps import Deps
from bot.slack.failures import retry_after_header
from bot.slack.replies import PASSIVE, REPLY_JOB, reply_job
from bot.store.db import Database
from bot.store.dedupe import event_key
from bot.store.feedback import FeedbackStore
from bot.store.inbox import Inbox
from bot.store.jobs import JobStore
from bot.worker import LEASE_SECONDS, ReplyWorker, WorkerProcess, WorkerStartError
from tests.fakes.bolt_server import BOT_TOKEN, make_settings, message_event
from tests.fakes.polling import wait_until
from tests.fakes.slack_api import FakeSlackApi


def test_settings_reach_the_child_process_exactly(
    tmp_path: Path, slack: FakeSlackApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = ApsApp(name="prod", client_id="cid", client_secret="s3cr3t", allowed_channels=["C1"])
    settings = make_settings(tmp_path, slack, aps_apps=[app], bot_passive_min_score=42)
    for name, value in settings.as_environment().items():
        monkeypatch.setenv(name, value)
    again = Settings(_env_file=None)  # type: ignore[call-arg]
    assert again.model_dump() == settings.model_dump()
    assert again.aps_apps[0].client_secret.get_secret_value() == "s3cr3t"
    assert again.slack_bot_token == settings.slack_bot_token


def test_worker_process_answers_queued_messages_and_is_restarted_when_it_dies(
    tmp_path: Path, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    settings = make_settings(tmp_path, slack)
    db = Database(settings.bot_db_path)
    worker = WorkerProcess(settings)
    inbox = Inbox(db, clock=lambda: 0.0, on_stored=lambda: worker.wake())  # due at once
    try:
        first = message_event(aps_paste[0])
        inbox.put([event_key("EvW1")], REPLY_JOB, reply_job(PASSIVE, first, aps_paste[0]))
        [post] = slack.wait_for("chat.postMessage", timeout=30)
        assert post.params["thread_ts"] == first["ts"]

        dead = worker.pid
        os.kill(dead, 9)
        wait_until(lambda: worker.pid != dead, timeout=30)

        second = message_event(aps_paste[0])
        inbox.put([event_key("EvW2")], REPLY_JOB, reply_job(PASSIVE, second, aps_paste[0]))
        posts = slack.wait_for("chat.postMessage", count=2, timeout=30)
        assert posts[1].params["thread_ts"] == second["ts"]
    finally:
        inbox.close()
        worker.stop()
    assert worker.returncode == 0  # closing the pipe is a clean stop


def ignored_signals(pid: int) -> set[int]:
    """The signals a process ignores, from its SigIgn mask in /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(re.search(r"^SigIgn:\s*([0-9a-f]+)$", status, re.MULTILINE).group(1), 16)
    return {number for number in range(1, 65) if mask & (1 << (number - 1))}


def test_the_worker_under_serve_leaves_stopping_to_serve(
    tmp_path: Path, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """Ctrl-C or a SIGTERM to the whole process group (systemd's default) reaches the worker too. Were it to
    stop on its own, serve's monitor would start another one during the shutdown; serve stops it instead."""
    settings = make_settings(tmp_path, slack)
    worker = WorkerProcess(settings)
    inbox = Inbox(Database(settings.bot_db_path), clock=lambda: 0.0, on_stored=lambda: worker.wake())
    try:
        first = worker.pid
        assert {signal.SIGINT, signal.SIGTERM} <= ignored_signals(first)
        os.kill(first, signal.SIGTERM)
        event = message_event(aps_paste[0])
        inbox.put([event_key("EvT1")], REPLY_JOB, reply_job(PASSIVE, event, aps_paste[0]))
        [post] = slack.wait_for("chat.postMessage", timeout=30)
        assert post.params["thread_ts"] == event["ts"]
        assert worker.pid == first and worker.returncode is None
    finally:
        inbox.close()
        worker.stop()
    assert worker.returncode == 0  # it stopped when serve closed the pipe


def test_a_worker_that_cannot_start_is_reported(tmp_path: Path, slack: FakeSlackApi) -> None:
    broken = tmp_path / "kb"
    broken.mkdir()
    (broken / "bad.yml").write_text("id: [unclosed\n")
    with pytest.raises(WorkerStartError, match=r"did not start \(exit code [1-9]\d*; its error is above\)"):
        WorkerProcess(make_settings(tmp_path, slack, bot_kb_dir=broken))


def test_a_worker_killed_while_it_starts_is_reported_as_killed(
    tmp_path: Path, slack: FakeSlackApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No error of its own was printed: the report must not point the operator at one."""
    real = subprocess.Popen
    suicide = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"

    def killed_at_start(command: list[str], *args: Any, **kwargs: Any) -> subprocess.Popen:
        return real([sys.executable, "-c", suicide], *args, **kwargs)

    monkeypatch.setattr("bot.worker.subprocess.Popen", killed_at_start)
    with pytest.raises(WorkerStartError, match=r"did not start \(killed by signal 9\)"):
        WorkerProcess(make_settings(tmp_path, slack))


TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzY29wZSI6WyJkYXRhOnJlYWQiXX0.c2lnbmF0dXJlLXBhcnQtMTIzNDU2"


def test_a_worker_killed_between_the_answer_and_the_warning_does_not_answer_twice(
    tmp_path: Path, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis]
) -> None:
    """The answer is in the thread; the worker dies (kill -9) while it sends the "rotate it" warning that
    follows. The job the restarted worker takes again warns, and posts no second answer."""
    settings = make_settings(tmp_path, slack)
    db = Database(settings.bot_db_path)
    in_warning, release = threading.Event(), threading.Event()

    def slow_warning(params: dict) -> dict:
        in_warning.set()
        release.wait(30)
        return {"ok": True, "message_ts": "1.1"}

    slack.set_response("chat.postEphemeral", slow_warning)
    worker = WorkerProcess(settings)
    inbox = Inbox(db, clock=time.time, on_stored=worker.wake)
    jobs = JobStore(db)
    try:
        text = f"{aps_paste[0]}\nAuthorization: Bearer {TOKEN}"
        event = message_event(text)
        inbox.put([event_key("EvCRASH1")], REPLY_JOB, reply_job(PASSIVE, event, text))
        slack.wait_for("chat.postMessage", timeout=30)
        assert in_warning.wait(30)
        dead = worker.pid
        os.kill(dead, 9)
        wait_until(lambda: worker.pid != dead, timeout=30)
        release.set()
        with db.transaction() as conn:  # the lease of the dead worker's claim runs out
            conn.execute("UPDATE jobs SET claimed_at = claimed_at - ?", (LEASE_SECONDS + 1,))
        worker.wake()
        wait_until(lambda: jobs.due_count((REPLY_JOB,), time.time()) == 0, timeout=30)
    finally:
        inbox.close()
        worker.stop()
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert len(slack.calls_to("chat.postEphemeral")) == 2  # the warning, cut off, then sent again


@pytest.mark.parametrize("secret", [False, True], ids=["paste", "paste-with-secret"])
def test_a_worker_killed_while_slack_takes_its_answer_does_not_answer_twice(
    tmp_path: Path, slack: FakeSlackApi, aps_paste: tuple[str, Diagnosis], secret: bool
) -> None:
    """The worker dies (kill -9) while its chat.postMessage is with Slack: Slack posts the answer, the worker
    never hears of it and its job stays stored. The job taken again after the lease finds the answer in the
    thread and posts no second one (only the warning that was still owed), and counts the diagnosis the dead
    worker could not."""
    settings = make_settings(tmp_path, slack)
    db = Database(settings.bot_db_path)
    in_post, release = threading.Event(), threading.Event()

    def slow_post(params: dict) -> dict:
        in_post.set()
        release.wait(30)
        return slack._m_chat_postMessage(params)

    slack.set_response("chat.postMessage", slow_post)
    worker = WorkerProcess(settings)
    inbox = Inbox(db, clock=time.time, on_stored=worker.wake)
    jobs = JobStore(db)
    try:
        text = f"{aps_paste[0]}\nAuthorization: Bearer {TOKEN}" if secret else aps_paste[0]
        event = message_event(text)
        slack.add_message(event["channel"], event["ts"], text)  # the paste, in Slack
        inbox.put([event_key("EvCRASH2")], REPLY_JOB, reply_job(PASSIVE, event, text))
        assert in_post.wait(30)
        dead = worker.pid
        os.kill(dead, 9)
        wait_until(lambda: worker.pid != dead, timeout=30)
        release.set()  # Slack finishes posting the answer of the dead worker
        slack.wait_for_thread(event["channel"], event["ts"], count=2, timeout=30)
        with db.transaction() as conn:  # the lease of the dead worker's claim runs out
            conn.execute("UPDATE jobs SET claimed_at = claimed_at - ?", (LEASE_SECONDS + 1,))
        worker.wake()
        wait_until(lambda: jobs.due_count((REPLY_JOB,), time.time()) == 0, timeout=30)
    finally:
        inbox.close()
        worker.stop()
    assert len(slack.thread(event["channel"], event["ts"])) == 2  # the paste and one answer
    assert len(slack.calls_to("chat.postEphemeral")) == int(secret)
    assert FeedbackStore(db).top_causes(0.0, 5) == [(aps_paste[1].best.id, 1)]


def test_a_worker_that_died_after_warning_does_not_warn_again(
    tmp_path: Path, slack: FakeSlackApi, kb: KnowledgeBase, aps_paste: tuple[str, Diagnosis]
) -> None:
    """The worker answered and warned, then died before deleting its job (its delete never ran): the worker
    that takes the job again after the lease finds the warning given and sends no second one."""
    settings = make_settings(tmp_path, slack)
    db = Database(settings.bot_db_path)
    text = f"{aps_paste[0]}\nAuthorization: Bearer {TOKEN}"
    event = message_event(text)
    slack.add_message(event["channel"], event["ts"], text)
    jobs = JobStore(db)
    jobs.schedule(REPLY_JOB, 0.0, reply_job(PASSIVE, event, text))

    def worker() -> ReplyWorker:
        deps = Deps(settings=settings, kb=kb, db=db, executor=ThreadPoolExecutor(1))
        return ReplyWorker(deps, WebClient(token=BOT_TOKEN, base_url=slack.url))

    dying = worker()

    def die(job_id: int) -> None:
        raise SystemExit  # the process ends here: the job stays claimed

    dying.jobs.delete = die  # type: ignore[method-assign]
    dying.drain()
    assert len(slack.calls_to("chat.postEphemeral")) == 1
    with db.transaction() as conn:  # the lease of the dead worker's claim runs out
        conn.execute("UPDATE jobs SET claimed_at = claimed_at - ?", (LEASE_SECONDS + 1,))
    assert worker().drain() == 1
    assert jobs.due_count((REPLY_JOB,), time.time()) == 0
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert len(slack.calls_to("chat.postEphemeral")) == 1


def test_a_worker_that_keeps_failing_to_start_is_retried_less_and_less_often() -> None:
    """A broken knowledge base makes every start fail: the monitor waits 1, 2, 4 … up to 60 s between tries,
    not one second forever (each try reloads the knowledge base)."""
    from bot.worker import MAX_RESTART_DELAY_SECONDS, RESTART_DELAY_SECONDS

    waits: list[float] = []

    class Stopping:
        def wait(self, delay: float) -> bool:
            waits.append(delay)
            return len(waits) > 9  # stop after nine looks

        def is_set(self) -> bool:
            return False

    class Dead:
        def poll(self) -> int:
            return 1

    def fails() -> None:
        raise WorkerStartError("reply worker exited with code 2 before it was ready")

    monitor = WorkerProcess.__new__(WorkerProcess)  # its state only: no child process is started
    monitor._stopping, monitor._lock, monitor._process = Stopping(), threading.Lock(), Dead()
    monitor._spawn = fails  # type: ignore[method-assign]
    monitor._watch()
    assert waits[0] == RESTART_DELAY_SECONDS
    assert waits[1:5] == [2 * RESTART_DELAY_SECONDS, 4 * RESTART_DELAY_SECONDS, 8, 16]
    assert max(waits) == MAX_RESTART_DELAY_SECONDS


def test_a_restart_that_cannot_even_start_a_process_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting the process itself can fail (fork out of memory, the interpreter briefly gone during an
    upgrade): one more failed start, tried again later; not the end of the monitor, and of all replies."""

    class Stopping:
        def __init__(self) -> None:
            self.looks = 0

        def wait(self, delay: float) -> bool:
            self.looks += 1
            return self.looks > 4

        def is_set(self) -> bool:
            return False

    class Process:
        def __init__(self, code: int | None) -> None:
            self.code = code

        def poll(self) -> int | None:
            return self.code

    alive, starts = Process(None), []

    def no_process(*args: object, **kwargs: object) -> None:
        raise OSError(12, "Cannot allocate memory")

    def spawn() -> Process:
        starts.append(alive)
        if len(starts) == 1:
            with monkeypatch.context() as patch:
                patch.setattr("bot.worker.subprocess.Popen", no_process)
                return WorkerProcess._spawn(monitor)  # the real start, with no process to be had
        return alive

    monitor = WorkerProcess.__new__(WorkerProcess)  # its state only: no child process is started
    monitor._stopping, monitor._lock, monitor._process = Stopping(), threading.Lock(), Process(-9)
    monitor.env = {}
    monitor._spawn = spawn  # type: ignore[method-assign]
    monitor._watch()
    assert len(starts) == 2 and monitor._process is alive


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "30"}, 30.0),
        ({"retry-after": ["7"]}, 7.0),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_slacks_retry_after_is_read_as_seconds_and_never_as_forever(
    headers: dict, seconds: float | None
) -> None:
    """`Retry-After: inf` would schedule a reply (or a re-check) that never runs."""
    assert retry_after_header(headers) == seconds

"""The reply worker: runs queued reply jobs (diagnose a message, post the answer) away from the acks.

`aps-bot serve` starts it as a child process (`aps-bot worker --wake-stdin`) at a lower CPU priority and
wakes it through the pipe each time a message is queued, so a burst of Slack events never slows the acks
down; tests run the same `ReplyWorker` on a thread. Jobs are stored, so a crash of either process loses no
message: a job whose worker died is claimed again once its lease has expired.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_any

from slack_sdk import WebClient

from bot.settings import Settings
from bot.slack.deps import Deps
from bot.slack.failures import is_retriable, retry_after
from bot.slack.replies import REPLY_JOB, Replier, log_slack_error
from bot.store.jobs import Job, JobStore

log = logging.getLogger(__name__)

LEASE_SECONDS = 120.0  # renewed while a reply is in flight: not renewed for this long, its worker died
CLAIM_POLL_SECONDS = 0.05  # while replies are in flight and threads are free, look this often for new ones
LEASE_CHECK_SECONDS = 1.0  # while every thread is busy, look this often whether their leases need renewing
MAX_ATTEMPTS = 5
# Waits before the retries of a failed post (5xx, 429, network): about six minutes in all, as long as Slack
# itself goes on retrying an event, so a short Slack incident loses no reply.
RETRY_WAITS_SECONDS = (2.0, 10.0, 60.0, 300.0)
EDIT_WAIT_SECONDS = 2.0  # an edit's job waits this long at a time for the message's earlier reply job
POLL_SECONDS = 1.0  # also look without a wake-up: retries falling due, jobs of a worker that died
NICENESS = 19  # below the acking process: replies wait a moment during a burst, acks never do
RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 60.0
START_TIMEOUT_SECONDS = 60.0
READY = "ready"  # the worker's one line on stdout once it can take jobs

Wait = Callable[[float], bool]  # wait up to n seconds for a wake-up; False means stop


class ReplyWorker:
    """Runs due reply jobs side by side, up to `bot_worker_threads` at once, claiming a new one as soon as a
    thread is free: one slow Web API call holds up no other reply, earlier or later."""

    def __init__(self, deps: Deps, client: WebClient, *, name: str | None = None) -> None:
        self.deps = deps
        self.client = client
        self.jobs = JobStore(deps.db)
        self.replier = Replier(deps)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.batch = deps.settings.bot_worker_threads
        self._pool = ThreadPoolExecutor(self.batch, thread_name_prefix="aps-bot-reply")

    def drain(self) -> int:
        """Run every reply job due now, and those falling due while some still run; return how many ran."""
        ran = 0
        running: dict[Future[None], int] = {}  # job id of each reply in flight
        renewed = self.deps.clock()
        while True:
            free = self.batch - len(running)
            # Our own job still in flight past its lease is claimed again (lease renewed), not run twice.
            claimed = [job for job in self._claim_beside(running, free) if job.id not in running.values()]
            running.update((self._pool.submit(self._run, job), job.id) for job in claimed)
            ran += len(claimed)
            if not running:
                return ran
            # Held half their lease: renewed, busy threads or not, so another worker never takes them.
            now = self.deps.clock()
            if now - renewed >= LEASE_SECONDS / 2 and self._extend(list(running.values()), now):
                renewed = now
            # All threads busy: wait for one to finish. Some free: look again for new jobs shortly.
            done, _ = wait_for_any(
                running, timeout=LEASE_CHECK_SECONDS if len(running) == self.batch else CLAIM_POLL_SECONDS,
                return_when=FIRST_COMPLETED,
            )  # fmt: skip
            for future in done:
                del running[future]
                if future.exception() is not None:
                    log.error("reply job failed", exc_info=future.exception())

    def _extend(self, job_ids: list[int], now: float) -> bool:
        """Renew the leases of the replies in flight; False when the database failed (the replies go on, the
        next pass tries again)."""
        try:
            self.jobs.extend(job_ids, now, self.name)
        except Exception:
            log.exception("could not renew the leases of %d replies in flight", len(job_ids))
            return False
        return True

    def _claim_beside(self, running: dict[Future[None], int], free: int) -> list[Job]:
        """Due jobs for the free threads. With replies in flight, a failed look (the database busy) is logged
        and tried again: leaving the pass would leave them unrenewed, taken again as if nobody ran them."""
        if not free:
            return []
        try:
            return self._claim(free)
        except Exception:
            if not running:
                raise
            log.exception("could not look for new reply jobs; %d in flight go on", len(running))
            return []

    def _claim(self, limit: int) -> list[Job]:
        return self.jobs.claim_due(
            self.deps.clock(), self.name, kinds=(REPLY_JOB,), limit=limit, lease_seconds=LEASE_SECONDS
        )

    def _message_job_left(self, job: Job) -> bool:
        """Whether a reply job about the same message (its first delivery, an earlier edit) is still queued
        or running."""
        fields = {"channel": str(job.payload.get("channel", "")), "ts": str(job.payload.get("ts", ""))}
        return self.jobs.earlier_about(job.id, REPLY_JOB, fields)

    def idle(self) -> bool:
        """No reply job is due or being run (jobs waiting for a later retry don't count)."""
        return self.jobs.due_count((REPLY_JOB,), self.deps.clock()) == 0

    def run(self, wait: Wait) -> None:
        """Drain, wait for a wake-up (or POLL_SECONDS), repeat; drain once more when told to stop."""
        while True:
            try:
                self.drain()
            except Exception:  # the database was busy or gone: log, look again at the next wake-up
                log.exception("reply worker pass failed")
            if not wait(POLL_SECONDS):
                break
        self.drain()
        self._pool.shutdown()

    def _run(self, job: Job) -> None:
        if job.attempts > MAX_ATTEMPTS:  # taken that often without a retry: its handling kills its workers
            log.error("reply job %s dropped: taken %s times, its workers died with it", job.id, job.attempts)
            self.jobs.delete(job.id)
            return
        # An edit's job, or the message's own one once an edit was delivered (Slack retried the message's
        # delivery after the edit's, which may be answered by now): the thread is read before answering.
        edited = bool(job.payload.get("edit")) or self.replier.dedupe.edited(
            str(job.payload.get("channel", "")), str(job.payload.get("ts", ""))
        )
        if edited and self._message_job_left(job):
            # Run beside it, the edit would read the thread before the message's own answer lands there.
            self.jobs.defer(job.id, self.deps.clock() + EDIT_WAIT_SECONDS)
            return
        try:
            self.replier.handle(
                self.client,
                job.payload,
                lambda payload: self.jobs.update(job.id, payload),
                again=job.attempts > 1 or edited,  # a worker that died, a failure after Slack took the post
            )
        except Exception as exc:
            log_slack_error("reply", exc)
            if is_retriable(exc) and job.attempts < MAX_ATTEMPTS:
                wait = RETRY_WAITS_SECONDS[min(job.attempts, len(RETRY_WAITS_SECONDS)) - 1]
                wait = max(wait, retry_after(exc) or 0.0)  # never sooner than Slack asked
                self.jobs.retry(job.id, self.deps.clock() + wait, type(exc).__name__)
                return
            log.warning("reply job %s dropped after %s attempt(s)", job.id, job.attempts)
        self.jobs.delete(job.id)  # done or given up: the (redacted) paste is not kept


def start_thread(
    worker: ReplyWorker,
) -> tuple[Callable[[], None], Callable[[], None], Callable[[], bool]]:
    """Run `worker` on a daemon thread; return (wake, stop, running). `stop` finishes the queued jobs."""
    woken, stopping = threading.Event(), threading.Event()

    def wait(timeout: float) -> bool:
        woken.wait(timeout)
        woken.clear()
        return not stopping.is_set()

    thread = threading.Thread(target=worker.run, args=(wait,), name="aps-bot-replies", daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        woken.set()
        thread.join(timeout=60)

    return woken.set, stop, thread.is_alive


class WorkerStartError(RuntimeError):
    """The worker process exited or stayed silent instead of saying it was ready."""


class WorkerProcess:
    """`aps-bot worker --wake-stdin` as a child process with `settings` in its environment, restarted if it
    dies. `wake()` never blocks: a full pipe already holds a wake-up."""

    def __init__(self, settings: Settings) -> None:
        self.env = {**os.environ, **settings.as_environment()}
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process = self._spawn()
        self._monitor = threading.Thread(target=self._watch, name="aps-bot-worker-monitor", daemon=True)
        self._monitor.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        """Start the worker and wait until it says it is ready; raise WorkerStartError if it doesn't."""
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", "worker", "--wake-stdin"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=self.env,
            )
        except OSError as exc:  # no process at all: fork out of memory, the interpreter gone mid-upgrade
            raise WorkerStartError(f"cannot start the reply worker ({exc.strerror or exc})") from exc
        assert process.stdin is not None and process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_SECONDS)
        line = process.stdout.readline().decode(errors="replace").strip() if ready else ""
        process.stdout.close()
        if line != READY:
            raise WorkerStartError(f"the reply worker did not start ({_start_failure(process, ready)})")
        os.set_blocking(process.stdin.fileno(), False)
        return process

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    def running(self) -> bool:
        """The worker process is alive (False while it is down: dead and not yet, or not, restarted)."""
        return self._process.poll() is None

    def wake(self) -> None:
        stdin = self._process.stdin
        try:
            if stdin is not None:
                os.write(stdin.fileno(), b".")
        except (BlockingIOError, BrokenPipeError, ValueError, OSError):
            pass  # a wake-up is pending already, or the worker is being restarted (it drains on start)

    def _watch(self) -> None:
        """Restart the worker when it dies; after failed starts wait longer each time (up to a minute), so a
        worker that cannot start (a broken knowledge base) is not respawned every second."""
        delay = RESTART_DELAY_SECONDS
        while not self._stopping.wait(delay):
            with self._lock:
                code = self._process.poll()
                if code is None or self._stopping.is_set():
                    delay = RESTART_DELAY_SECONDS
                    continue
                log.error("reply worker exited with code %s; restarting it", code)
                try:
                    self._process = self._spawn()
                    delay = RESTART_DELAY_SECONDS
                except WorkerStartError as exc:  # it said nothing, or no process at all (fork out of memory)
                    delay = min(delay * 2, MAX_RESTART_DELAY_SECONDS)
                    log.error("%s; trying again in %.0f s", exc, delay)

    def stop(self, timeout: float = 60) -> None:
        """Close the pipe: the worker finishes the queued jobs and exits."""
        self._stopping.set()
        self._monitor.join(timeout=RESTART_DELAY_SECONDS * 2)
        with self._lock:
            process = self._process
            if process.stdin is not None:
                process.stdin.close()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.error("reply worker did not finish within %s s; stopping it", timeout)
                process.kill()
                process.wait()


def stdin_wait(stop: threading.Event) -> Wait:
    """Wake-ups are bytes on stdin; end of file (the parent closed the pipe or died) means stop."""
    fd = sys.stdin.fileno()

    def wait(timeout: float) -> bool:
        ready, _, _ = select.select([fd], [], [], timeout)
        if ready and os.read(fd, 65536) == b"":
            return False
        return not stop.is_set()

    return wait


def event_wait(stop: threading.Event) -> Wait:
    """No wake-ups (a worker started on its own): poll until `stop` is set."""
    return lambda timeout: not stop.wait(timeout)


def _start_failure(process: subprocess.Popen[bytes], answered: bool) -> str:
    """Why a worker that did not say it was ready failed, once it is stopped: it was silent past the timeout,
    a signal killed it, or it exited on an error it printed to stderr."""
    if process.poll() is None and not answered:
        process.kill()
        process.wait()
        return f"not ready within {START_TIMEOUT_SECONDS:g} s"
    if process.poll() is None:  # its stdout ended or said something else: it is on its way out, or stuck
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return "it did not say it was ready"
    code = process.returncode
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}; its error is above"

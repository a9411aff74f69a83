"""Chaos and soak for the reply path: is any reply lost or doubled when `aps-bot serve` or its worker is killed?

Chaos (default): starts the real `aps-bot serve --port 0` (HTTP mode, its reply worker child, the scheduler)
against a fake Slack Web API and a fake APS, and streams signed Events API deliveries at it as Slack does:
APS pastes from the knowledge base's examples (some with a secret in them, which also earn a "rotate it"
warning), chatter, and mentions (an `app_mention` plus its `message` copy, two event ids). A delivery without
an HTTP 200 within 3 s (refused, reset, timed out, 5xx) is retried with the same event id and
`X-Slack-Retry-Num`/`X-Slack-Retry-Reason`, up to 3 times (Slack's 1 min / 5 min backoff compressed to
seconds). At seeded moments it SIGKILLs serve, its worker or both (the process group), or sends SIGTERM, and
restarts serve against the same database. At the end it waits until no reply job is left, stops serve, and
prints: events, deliveries, kills by kind, pastes answered exactly once / lost / twice, chatter answered,
warnings, ack latency, restarts, and log lines with tracebacks. A lost reply is classified: never acked
(Slack gave up), stored but never answered, or acked but not stored (the last two are bugs: serve acks a
delivery only once it is stored; the nearest kill is printed).

Soak (`--soak N`): one serve process, N events (pastes, chatter, mentions, retried deliveries, checklist
starts and ticks), sampling RSS, open file descriptors and threads of serve and of its worker, and the
database's size and row counts, every N/10 events.

    .venv/bin/python benchmarks/chaos_replies.py --seed 1 --kills 30
    .venv/bin/python benchmarks/chaos_replies.py --soak 3000
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.diagnosis import Diagnoser, redact  # noqa: E402
from bot.knowledge import load_kb  # noqa: E402
from bot.server import EVENTS_PATH  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.slack.replies import message_text  # noqa: E402
from tests.fakes.aps_server import FakeAps  # noqa: E402
from tests.fakes.bolt_server import BOT_TOKEN, SIGNING_SECRET, mention_event, message_event, sign  # noqa: E402
from tests.fakes.slack_api import FakeSlackApi, event_callback  # noqa: E402

ACK_TIMEOUT = 3.0  # Slack's wait for the HTTP 200
RETRY_WAITS = (0.5, 4.0, 20.0)  # Slack: at once, after 1 min, after 5 min; compressed 15 times
UPTIME_SECONDS = 2.0  # a restarted serve lives at least this long before the next kill
FINAL_TIMEOUT = 400.0  # leases of jobs held by a killed worker expire after 120 s; retries add up to 30 s
CHATTER = (
    "is the deploy done? lunch at noon",
    "anyone seen the build dashboard today",
    "thanks, that fixed it!",
    "meeting moved to 3pm, same room",
)
SECRET_LINE = "\nclient_secret=Hk29sLq0pXv7Zt4bW8yN"
KILL_KINDS = ("serve", "worker", "group", "term")
CAUSE = "integration-not-provisioned"


# -- the workload -------------------------------------------------------------------------------------------


@dataclass
class Delivery:
    """One Events API delivery (an event id), attempted up to 1 + len(RETRY_WAITS) times."""

    event: dict[str, Any]
    event_id: str
    attempts: list[str] = field(default_factory=list)  # outcome of each attempt: "200", "refused", …
    tried_at: list[float] = field(default_factory=list)  # time.monotonic() when each attempt ended
    acked_at: float | None = None  # time.monotonic() of the last 200
    latencies: list[float] = field(default_factory=list)


@dataclass
class Message:
    """One Slack message and what the bot owes it."""

    kind: str  # paste, secret, chatter, mention
    channel: str
    ts: str
    user: str
    replies: int  # expected chat.postMessage in its thread: 0 or 1
    warnings: int  # expected ephemeral warnings: 0 or 1
    deliveries: list[Delivery]

    @property
    def answering(self) -> Delivery:
        """The delivery that carries the reply (a mention's app_mention; its message copy is ignored)."""
        return self.deliveries[0]


def pastes(min_score: int) -> list[str]:
    kb = load_kb(ROOT / "knowledge")
    diagnoser = Diagnoser(kb)
    return [
        example
        for cause in kb.causes
        for example in cause.examples
        if (d := diagnoser.diagnose(example)).is_aps_error and d.best and d.best.score >= min_score
    ]


def workload(rng: random.Random, count: int, *, prefix: str) -> list[Message]:
    """`count` messages: 45 % pastes, 10 % pastes with a secret, 35 % chatter, 10 % mentions of chatter.
    What each deserves is computed the way the worker decides it (redacted text, passive threshold)."""
    min_score = Settings.model_fields["bot_passive_min_score"].default
    kb_pastes = pastes(min_score)
    diagnoser = Diagnoser(load_kb(ROOT / "knowledge"))
    messages: list[Message] = []
    for n in range(count):
        roll = rng.random()
        channel, ts, user = f"C{n % 20:08d}", f"{1_760_000_000 + n}.{n:06d}", f"U{n:08d}"
        if roll < 0.55:
            kind = "paste" if roll < 0.45 else "secret"
            text = rng.choice(kb_pastes) + (SECRET_LINE if kind == "secret" else "")
            event = message_event(text, channel=channel, ts=ts, user=user)
            redaction = redact(message_text(event))
            diagnosis = diagnoser.diagnose(redaction.text)
            best = diagnosis.best
            replies = int(diagnosis.is_aps_error and best is not None and best.score >= min_score)
            deliveries = [Delivery(event, f"Ev{prefix}{n:06d}")]
            warnings = int(redaction.found)
        elif roll < 0.9:
            kind, replies, warnings = "chatter", 0, 0
            event = message_event(rng.choice(CHATTER), channel=channel, ts=ts, user=user)
            deliveries = [Delivery(event, f"Ev{prefix}{n:06d}")]
        else:
            kind, replies, warnings = "mention", 1, 0
            mention = mention_event(rng.choice(CHATTER), channel=channel, ts=ts, user=user)
            copy = message_event(mention["text"], channel=channel, ts=ts, user=user)
            deliveries = [Delivery(mention, f"Ev{prefix}{n:06d}"), Delivery(copy, f"Ev{prefix}{n:06d}M")]
        messages.append(Message(kind, channel, ts, user, replies, warnings, deliveries))
    return messages


# -- the bot under test ---------------------------------------------------------------------------------------


class Bot:
    """`aps-bot serve --port 0` as a process in a session of its own, restarted on demand; logs per start."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.process: subprocess.Popen[bytes] | None = None
        self.url: str | None = None  # the latest one; deliveries to a dead bot are refused
        self.starts = 0
        self.start_seconds: list[float] = []
        self.exit_codes: list[int] = []
        self.old_workers: list[int] = []  # workers of a killed serve, left to finish on their own
        self.downs: list[tuple[float, float]] = []  # (killed, serving again) of each serve kill
        self.serves: list[subprocess.Popen[bytes]] = []  # every serve started, each leading a process group

    def __enter__(self) -> Bot:
        return self

    def __exit__(self, *exc: object) -> None:
        """SIGKILL what is left of every serve started, and of its worker: they run in sessions of their own,
        out of reach of a Ctrl-C of this script, and would run on after it (an interrupted run, a failed
        start, an old worker still alive at the end). Only processes known to be ours: the group of a serve
        not yet reaped (its id cannot have been reused), an old worker still in the group of its serve."""
        groups = {serve.pid for serve in self.serves}
        for serve in self.serves:
            if serve.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(serve.pid, signal.SIGKILL)
        for pid in self.old_workers:
            if alive(pid) and process_group(pid) in groups:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def was_down(self, at: float) -> bool:
        return any(killed <= at <= up for killed, up in self.downs)

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        log = self.logs / f"serve-{self.starts:03d}.log"
        started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", "0"],
            env=self.env,
            cwd=self.logs,
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
            start_new_session=True,
        )
        self.serves.append(self.process)
        deadline = started + timeout
        while time.monotonic() < deadline:
            found = re.search(
                r"serving Slack events on (http://\S+/)slack/events", log.read_text(errors="replace")
            )
            if found:
                self.url = found.group(1)
                self.start_seconds.append(time.monotonic() - started)
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise SystemExit(f"serve did not come up (start {self.starts}); see {log}")

    def worker_pid(self, timeout: float = 10) -> int | None:
        """The reply worker child of the current serve (it may be restarting)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pid in children(self.process.pid):
                try:
                    if b"worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        return pid
                except OSError:  # it exited meanwhile
                    continue
            time.sleep(0.02)
        return None

    def kill(self, kind: str) -> float:
        """Kill as `kind` says; return when (monotonic) the signal went out. Serve kills wait for its exit."""
        assert self.process is not None
        pid = self.process.pid
        if kind == "worker":
            worker = self.worker_pid()
            if worker is None:
                raise SystemExit("serve has no reply worker to kill: it did not restart it")
            at = time.monotonic()
            os.kill(worker, signal.SIGKILL)
            return at
        worker = self.worker_pid(timeout=2)
        at = time.monotonic()
        if kind == "group":
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGTERM if kind == "term" else signal.SIGKILL)
        code = self.process.wait(timeout=120)
        self.exit_codes.append(code)
        if kind == "term" and code != 0:
            print(f"  ! SIGTERM gave exit code {code} (start {self.starts})", flush=True)
        if kind == "serve" and worker is not None:
            self.old_workers.append(worker)
        return at

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=300)


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def process_group(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
    except OSError:
        return None


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# -- Slack's side: deliveries with retries --------------------------------------------------------------------


class Slack:
    """Delivers events to the bot as the Events API does."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    def deliver(self, delivery: Delivery) -> None:
        reason = ""
        for attempt in range(1 + len(RETRY_WAITS)):
            if attempt:
                time.sleep(RETRY_WAITS[attempt - 1])
            outcome = self._post(delivery, attempt, reason)
            delivery.tried_at.append(time.monotonic())
            delivery.attempts.append(outcome)
            if outcome == "200":
                return
            reason = {
                "timeout": "http_timeout",
                "refused": "connection_failed",
                "reset": "connection_failed",
            }.get(outcome, "http_error")

    def _post(self, delivery: Delivery, attempt: int, reason: str) -> str:
        url = self.bot.url
        assert url is not None
        body = json.dumps(event_callback(delivery.event, event_id=delivery.event_id)).encode()
        headers = {"Content-Type": "application/json", **sign(SIGNING_SECRET, body)}
        if attempt:
            headers |= {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": reason}
        parsed = urlparse(url)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=ACK_TIMEOUT)
        started = time.monotonic()
        try:
            conn.request("POST", EVENTS_PATH, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
        except TimeoutError:
            return "timeout"
        except ConnectionRefusedError:
            return "refused"
        except (ConnectionError, http.client.HTTPException, OSError):
            return "reset"
        finally:
            conn.close()
        if response.status != 200:
            return str(response.status)
        delivery.acked_at = time.monotonic()
        delivery.latencies.append(delivery.acked_at - started)
        return "200"


# -- shared set-up --------------------------------------------------------------------------------------------


def bot_env(slack: FakeSlackApi, aps: FakeAps, work: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "APS_", "BOT_"))}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.url,
        APS_BASE_URL=aps.url,
        BOT_DB_PATH=str(work / "chaos.sqlite3"),
        BOT_KB_DIR=str(ROOT / "knowledge"),
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def queued_replies(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM jobs WHERE kind = 'reply'").fetchone()[0])


def stored_keys(db: Path) -> set[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return {row[0] for row in conn.execute("SELECT key FROM dedupe")}


def tracebacks(logs: Path) -> list[str]:
    """`file: first line of the exception` for every traceback in the logs."""
    found = []
    for log in sorted(logs.glob("serve-*.log")):
        lines = log.read_text(errors="replace").splitlines()
        for index, line in enumerate(lines):
            if line.startswith("Traceback"):
                end = next(
                    (j for j in range(index + 1, len(lines)) if not lines[j].startswith((" ", "\t"))), index
                )
                found.append(f"{log.name}: {lines[end] if end < len(lines) else '?'}")
    return found


def paced(messages: list[Message], rate: float, fake_slack: FakeSlackApi) -> Iterator[tuple[int, Message]]:
    """The messages, numbered, at `rate` a second; each stored in the fake Slack as it goes out (the thread a
    reply reads must exist)."""
    started = time.monotonic()
    for n, message in enumerate(messages):
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        fake_slack.add_message(
            message.channel, message.ts, message.answering.event["text"], user=message.user
        )
        yield n, message


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


# -- chaos ------------------------------------------------------------------------------------------------------


def chaos(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    messages = workload(rng, args.events, prefix=f"S{args.seed}X")
    kill_at = sorted(rng.sample(range(20, args.events - 20), args.kills))
    kinds = [rng.choice(KILL_KINDS) for _ in kill_at]
    jitters = [rng.uniform(0.0, 0.3) for _ in kill_at]
    work = Path(tempfile.mkdtemp(prefix="aps-chaos-"))
    kills: list[tuple[str, float]] = []
    dispatched = 0
    progress = threading.Condition()
    failures: list[BaseException] = []  # what stopped the kills early

    with FakeSlackApi() as fake_slack, FakeAps() as aps, Bot(bot_env(fake_slack, aps, work), work) as bot:
        fake_slack._server.handle_error = lambda *_: None  # type: ignore[union-attr]  # a killed worker's pipe
        bot.start()
        sender = Slack(bot)

        def killer() -> None:
            try:
                kill_and_restart()
            except BaseException as exc:  # SystemExit too, which a thread would drop without a word
                failures.append(exc)

        def kill_and_restart() -> None:
            up_since = time.monotonic()
            for index, kind, jitter in zip(kill_at, kinds, jitters, strict=True):
                with progress:
                    progress.wait_for(lambda index=index: dispatched >= index)
                time.sleep(max(jitter, up_since + UPTIME_SECONDS - time.monotonic()))
                kills.append((kind, bot.kill(kind)))
                if kind != "worker":
                    bot.start()
                    up_since = time.monotonic()
                    bot.downs.append((kills[-1][1], up_since))
                elif bot.worker_pid(timeout=30) is None:
                    print("  ! the reply worker did not come back within 30 s", flush=True)

        kill_thread = threading.Thread(target=killer, daemon=True)
        kill_thread.start()
        started = time.monotonic()
        with ThreadPoolExecutor(256) as pool:
            for n, message in paced(messages, args.rate, fake_slack):
                for delivery in message.deliveries:
                    pool.submit(sender.deliver, delivery)
                with progress:
                    dispatched = n + 1
                    progress.notify_all()
            kill_thread.join()
        sent_seconds = time.monotonic() - started

        db = work / "chaos.sqlite3"
        deadline = time.monotonic() + FINAL_TIMEOUT
        while queued_replies(db) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = queued_replies(db)
        settle = time.monotonic() + 10
        while any(alive(pid) for pid in bot.old_workers) and time.monotonic() < settle:
            time.sleep(0.1)
        orphans = [pid for pid in bot.old_workers if alive(pid)]
        final_code = bot.stop()
        posts = Counter(
            (c.params["channel"], c.params.get("thread_ts")) for c in fake_slack.calls_to("chat.postMessage")
        )
        warned = Counter(
            (c.params["channel"], c.params["user"]) for c in fake_slack.calls_to("chat.postEphemeral")
        )
        keys = stored_keys(db)

    report(args, messages, kills, bot, posts, warned, keys, work, sent_seconds, left, orphans, final_code)
    for exc in failures:  # the kills stopped there: what followed is no chaos run, and its losses no finding
        print(f"  ! the kills stopped after {len(kills)} of {args.kills}: {exc!r}", flush=True)
    return 1 if failures else 0


def report(
    args: argparse.Namespace,
    messages: list[Message],
    kills: list[tuple[str, float]],
    bot: Bot,
    posts: Counter[tuple[str, str]],
    warned: Counter[tuple[str, str]],
    keys: set[str],
    work: Path,
    sent_seconds: float,
    left: int,
    orphans: list[int],
    final_code: int,
) -> None:
    deliveries = [d for m in messages for d in m.deliveries]
    unacked = [d for d in deliveries if d.acked_at is None]
    failed_up = sum(not bot.was_down(at) for d in unacked for at in d.tried_at)
    downs = [up - killed for killed, up in bot.downs]
    attempts = Counter(outcome for d in deliveries for outcome in d.attempts)
    latencies = [lat for d in deliveries for lat in d.latencies]
    owed = [m for m in messages if m.replies]
    counts = Counter(min(posts[(m.channel, m.ts)], 2) for m in owed)
    by_kind = Counter(kind for kind, _ in kills)
    lost: Counter[str] = Counter()
    not_stored: list[str] = []
    lost_messages: list[Message] = []
    for m in owed:
        if posts[(m.channel, m.ts)]:
            continue
        lost_messages.append(m)
        d = m.answering
        if d.acked_at is None:
            lost["never acked (Slack gave up)"] += 1
        elif f"event:{d.event_id}" in keys or f"msg:{m.channel}:{m.ts}" in keys:
            lost["stored, never answered"] += 1
        else:
            lost["acked, not stored"] += 1
            near = min(((at - d.acked_at, kind) for kind, at in kills), key=lambda k: abs(k[0]), default=None)
            not_stored.append(f"{m.kind} {d.event_id} attempts {d.attempts}, nearest kill {near}")
    doubled = [(m.kind, m.channel, m.ts) for m in owed if posts[(m.channel, m.ts)] > 1]
    chatter = [m for m in messages if m.kind == "chatter"]
    secret = [m for m in messages if m.warnings]
    warnings = Counter(min(warned[(m.channel, m.user)], 2) for m in secret if m not in lost_messages)
    traces = tracebacks(work)

    print(
        f"chaos seed {args.seed}: {len(messages)} messages in {sent_seconds:.0f} s ({args.rate}/s), work dir {work}"
    )
    print(
        f"  deliveries: {len(deliveries)} events, {sum(attempts.values())} attempts "
        f"({', '.join(f'{k} {v}' for k, v in attempts.most_common())}); "
        f"never acked: {len(unacked)}, {failed_up} of their {sum(len(d.attempts) for d in unacked)} attempts "
        "made while serve was up"
    )
    print(
        f"  ack latency: p50 {percentile(latencies, 0.5) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
    )
    print(
        f"  kills: {len(kills)} ({', '.join(f'{k} {by_kind[k]}' for k in KILL_KINDS)}); serve starts {bot.starts}, "
        f"start time p50 {percentile(bot.start_seconds, 0.5):.2f} s, max {max(bot.start_seconds):.2f} s; "
        f"serve down per kill p50 {percentile(downs, 0.5):.2f} s, max {max(downs, default=0):.2f} s; "
        f"serve exit codes {sorted(Counter(bot.exit_codes).items())}"
    )
    print(
        f"  replies owed {len(owed)}: exactly once {counts[1]}, lost {counts[0]}, twice or more {counts[2]}"
        f"; chatter answered {sum(1 for m in chatter if posts[(m.channel, m.ts)])} of {len(chatter)}"
    )
    for why, n in lost.most_common():
        print(f"    lost: {why}: {n}")
    for line in not_stored:
        print(f"    acked, not stored: {line}")
    for kind, channel, ts in doubled:
        print(f"    doubled: {kind} {channel} {ts} ({posts[(channel, ts)]} replies)")
    print(
        f"  secret warnings owed (reply not lost) {sum(warnings.values())}: once {warnings[1]}, missing {warnings[0]}, twice {warnings[2]}"
    )
    print(
        f"  end: reply jobs left {left}, old workers still running {len(orphans)}, "
        f"final SIGTERM exit code {final_code}, tracebacks in logs {len(traces)}"
    )
    for line in traces[:20]:
        print(f"    {line}")


# -- soak -------------------------------------------------------------------------------------------------------


def proc_figures(pid: int | None) -> tuple[int, int, int]:
    """(RSS in KiB, open file descriptors, threads) of a process; zeros when it is gone."""
    if pid is None:
        return 0, 0, 0
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0, 0, 0
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return rss, fds, threads


def db_figures(db: Path) -> tuple[int, dict[str, int]]:
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = {t: int(conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]) for t in tables}  # noqa: S608
    return size, rows


def soak(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    messages = workload(rng, args.soak, prefix=f"K{args.seed}X")
    work = Path(tempfile.mkdtemp(prefix="aps-soak-"))
    db = work / "chaos.sqlite3"
    every = max(1, args.soak // 10)
    samples: list[tuple[int, tuple[int, int, int], tuple[int, int, int], int, dict[str, int]]] = []
    with FakeSlackApi() as fake_slack, FakeAps() as aps, Bot(bot_env(fake_slack, aps, work), work) as bot:
        fake_slack.members = {f"C{n:08d}": [ADMIN] for n in range(20)}
        bot.start()
        sender = Slack(bot)
        assert bot.process is not None
        url = bot.url
        assert url is not None
        with ThreadPoolExecutor(32) as pool:
            for n, message in paced(messages, args.rate, fake_slack):
                for delivery in message.deliveries:
                    pool.submit(sender.deliver, delivery)
                    if n % 10 == 5:  # Slack's retry of a delivery that was acked (too late for it)
                        pool.submit(resend, sender, delivery)
                if n % 100 == 50:
                    pool.submit(checklist_round, url, fake_slack, db, message.channel, CAUSE)
                if n % every == 0 or n == len(messages) - 1:
                    samples.append(
                        (n, proc_figures(bot.process.pid), proc_figures(bot.worker_pid(2)), *db_figures(db))
                    )
        deadline = time.monotonic() + 120
        while queued_replies(db) and time.monotonic() < deadline:
            time.sleep(0.2)
        samples.append(
            (len(messages), proc_figures(bot.process.pid), proc_figures(bot.worker_pid(2)), *db_figures(db))
        )
        code = bot.stop()
        posts = Counter(
            (c.params["channel"], c.params.get("thread_ts")) for c in fake_slack.calls_to("chat.postMessage")
        )
    owed = [m for m in messages if m.replies]
    print(f"soak: {len(messages)} messages at {args.rate}/s, work dir {work}")
    print(
        f"{'events':>7} {'serve RSS MiB':>13} {'fds':>4} {'thr':>4} {'worker RSS MiB':>14} {'fds':>4} {'thr':>4} {'DB KiB':>8}  rows"
    )
    for n, (srss, sfd, sthr), (wrss, wfd, wthr), size, rows in samples:
        interesting = {k: v for k, v in rows.items() if v and k != "schema_migrations"}
        print(
            f"{n:>7} {srss / 1024:>13.1f} {sfd:>4} {sthr:>4} {wrss / 1024:>14.1f} {wfd:>4} {wthr:>4} "
            f"{size / 1024:>8.0f}  {interesting}"
        )
    doubled = sum(1 for m in owed if posts[(m.channel, m.ts)] > 1)
    lost = sum(1 for m in owed if not posts[(m.channel, m.ts)])
    print(
        f"replies owed {len(owed)}: lost {lost}, doubled {doubled}; exit code {code}; tracebacks {len(tracebacks(work))}"
    )
    return 0


def resend(sender: Slack, delivery: Delivery) -> None:
    """A retry of an acked delivery (Slack thought the first one timed out)."""
    time.sleep(0.2)
    sender._post(delivery, 1, "http_timeout")


def checklist_round(url: str, fake_slack: FakeSlackApi, db: Path, channel: str, cause: str) -> None:
    """An admin starts a checklist from a diagnosis's button, then ticks every item of its first step."""
    from bot.slack.checklist_blocks import TICK, action_id, step_block_id
    from bot.store.checklists import ChecklistStore
    from bot.store.db import Database
    from tests.fakes.bolt_server import BotServer, block_action_payload

    server = BotServer(url=url, runtime=None, secret=SIGNING_SECRET)  # type: ignore[arg-type]
    server.response_url = lambda: fake_slack.url + "response/soak"  # type: ignore[method-assign]
    source = f"{time.time():.6f}"
    value = json.dumps({"cause": cause, "channel": channel, "ts": source})
    server.send_action(block_action_payload("start_checklist", value, user=ADMIN, channel=channel))
    database = Database(db)
    store = ChecklistStore(database, load_kb(ROOT / "knowledge").checklist)
    deadline = time.monotonic() + 30
    state = None
    while time.monotonic() < deadline and state is None:
        found = [c for c in store.open_checklists() if c.channel == channel and len(c.step_ts) == 5]
        state = next((c for c in found if c.id not in TICKED), None)
        time.sleep(0.1)
    database.close()
    if state is None:
        return
    TICKED.add(state.id)
    step_id = "create-app"
    items = [item.id for item in state.step(step_id).items]
    message = {"type": "message", "ts": state.step_ts[step_id], "thread_ts": state.parent_ts, "text": ""}
    payload = block_action_payload(
        action_id(TICK, state.id, step_id),
        "",
        user=ADMIN,
        channel=channel,
        message=message,
        block_id=step_block_id(state.id, step_id),
    )
    action = payload["actions"][0]
    action.pop("value")
    action.pop("text")
    action.update(type="checkboxes", selected_options=[{"value": v, "text": {"text": v}} for v in items])
    server.send_action(payload)


ADMIN = "U0ADMIN01"
TICKED: set[str] = set()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--events", type=int, default=0, help="messages (default: 60 per kill, at least 400)")
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second")
    parser.add_argument("--soak", type=int, default=0, help="soak with this many messages instead of chaos")
    args = parser.parse_args()
    if args.soak:
        return soak(args)
    args.events = args.events or max(400, 60 * args.kills)
    return chaos(args)


if __name__ == "__main__":
    sys.exit(main())

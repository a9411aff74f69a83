"""`aps-bot worker`: run the queued replies (diagnose, post). `aps-bot serve` starts one by itself."""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from bot.logsetup import configure_logging
from bot.settings import SettingsProblem, load_settings


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "worker",
        help="run the reply worker on its own (serve already starts one)",
        description="Diagnose queued Slack messages and post the replies, from the database in "
        "BOT_DB_PATH. `aps-bot serve` starts one worker by itself; run more only to add capacity.",
    )
    parser.add_argument("--wake-stdin", action="store_true", help=argparse.SUPPRESS)  # serve's pipe
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bot.knowledge import KnowledgeError, load_kb
    from bot.slack.client import make_client
    from bot.slack.deps import Deps
    from bot.store.db import Database
    from bot.worker import NICENESS, READY, ReplyWorker, event_wait, stdin_wait

    os.nice(NICENESS)  # start-up (loading the knowledge base) included
    try:
        settings = load_settings()
    except SettingsProblem as exc:
        print(f"aps-bot worker: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if settings.slack_bot_token is None:
        print("aps-bot worker: SLACK_BOT_TOKEN is not set", file=sys.stderr)
        return 2
    try:
        kb = load_kb(settings.bot_kb_dir)
    except KnowledgeError as exc:
        print(f"aps-bot worker: knowledge base: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    # Under serve, Ctrl-C, a closed terminal and a stop of the whole process group (systemd's default) reach
    # this worker too:
    # serve closes the pipe and we finish the queue. Stopping on our own, serve would start a new worker.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN if args.wake_stdin else lambda *_: stop.set())
    try:
        db = Database(settings.bot_db_path)
    except (sqlite3.Error, OSError) as exc:
        print(f"aps-bot worker: cannot open the database at BOT_DB_PATH ({exc})", file=sys.stderr)
        return 1
    with ThreadPoolExecutor(1) as executor:
        deps = Deps(settings=settings, kb=kb, db=db, executor=executor)
        worker = ReplyWorker(deps, make_client(settings))
        _ = deps.diagnoser  # built before saying ready, not on the first message
        if args.wake_stdin:
            print(READY, flush=True)  # the only thing written to stdout: serve waits for it
        worker.run(stdin_wait(stop) if args.wake_stdin else event_wait(stop))
    db.close()
    return 0

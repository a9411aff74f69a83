"""The Slack app factory: `build(settings)` wires Bolt, the Web API client, storage and every listener.

Nothing runs at import time; `aps-bot serve`, the tests and the benchmark each call `build()` and serve
`Runtime.wsgi` (HTTP) or hand `Runtime.app` to Socket Mode.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.middleware.authorization import SingleTeamAuthorization
from slack_sdk import WebClient

from bot.knowledge import load_kb
from bot.server import make_wsgi
from bot.settings import Settings
from bot.slack.client import make_client
from bot.slack.deps import Deps
from bot.slack.listeners import register_all
from bot.store.db import Database
from bot.worker import ReplyWorker, WorkerProcess, start_thread

log = logging.getLogger(__name__)

BOLT_LISTENER_THREADS = 8


class RegistryApp(App):
    """A Bolt `App` that also remembers what was registered, by kind.

    `registered["event"]` holds event types, `["action"]` action ids, `["shortcut"]` callback ids,
    `["command"]` slash commands, `["view"]` view callback ids (string constraints as given; dict
    constraints reduced to their main key, patterns kept as compiled). Used to check manifest.yml.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.registered: dict[str, list[Any]] = defaultdict(list)
        super().__init__(*args, **kwargs)

    def reuse_auth_test(self, result: Any) -> None:
        """Give Bolt's single-workspace authorization the auth.test answer `build()` already has. Built
        without token verification, Bolt calls auth.test on the first request instead: the first ack after a
        start waited on Slack, and when that call failed Bolt acked the request with its "reinstall this app"
        text and dropped it."""
        for middleware in self._middleware_list:
            if isinstance(middleware, SingleTeamAuthorization):
                middleware.auth_test_result = result

    def _note(self, kind: str, constraints: Any, key: str) -> None:
        value = constraints.get(key) if isinstance(constraints, dict) else constraints
        if value is not None and value not in self.registered[kind]:
            self.registered[kind].append(value)

    def event(self, event: Any, *args: Any, **kwargs: Any) -> Any:
        self._note("event", event, "type")
        return super().event(event, *args, **kwargs)

    def message(self, *args: Any, **kwargs: Any) -> Any:
        self._note("event", "message", "type")
        return super().message(*args, **kwargs)

    def action(self, constraints: Any, *args: Any, **kwargs: Any) -> Any:
        self._note("action", constraints, "action_id")
        return super().action(constraints, *args, **kwargs)

    def block_action(self, constraints: Any, *args: Any, **kwargs: Any) -> Any:
        self._note("action", constraints, "action_id")
        return super().block_action(constraints, *args, **kwargs)

    def shortcut(self, constraints: Any, *args: Any, **kwargs: Any) -> Any:
        self._note("shortcut", constraints, "callback_id")
        return super().shortcut(constraints, *args, **kwargs)

    def message_shortcut(self, callback_id: Any, *args: Any, **kwargs: Any) -> Any:
        self._note("shortcut", callback_id, "callback_id")
        return super().message_shortcut(callback_id, *args, **kwargs)

    def global_shortcut(self, callback_id: Any, *args: Any, **kwargs: Any) -> Any:
        self._note("shortcut", callback_id, "callback_id")
        return super().global_shortcut(callback_id, *args, **kwargs)

    def command(self, command: Any, *args: Any, **kwargs: Any) -> Any:
        self._note("command", command, "command")
        return super().command(command, *args, **kwargs)

    def view(self, constraints: Any, *args: Any, **kwargs: Any) -> Any:
        self._note("view", constraints, "callback_id")
        return super().view(constraints, *args, **kwargs)


@dataclass
class Runtime:
    """A built app. `wsgi` serves `/slack/events` and `GET /healthz`; `close()` releases everything."""

    app: RegistryApp
    deps: Deps
    wsgi: Callable[..., Any]
    listener_executor: ThreadPoolExecutor
    _stop_background: Callable[[], None] | None = field(default=None, repr=False)
    _stop_worker: Callable[[], None] | None = field(default=None, repr=False)
    reply_worker: ReplyWorker | None = None  # set when the worker runs on a thread of this process

    def start_worker(self, *, in_process: bool = False) -> None:
        """Start the reply worker: a child process at lower CPU priority (production), or a thread of this
        process (tests, which inject a clock). Idempotent. Until it runs, messages queue up durably."""
        if self._stop_worker is not None:
            return
        if in_process:
            self.reply_worker = ReplyWorker(self.deps, self.app.client)
            self.deps.wake_worker, self._stop_worker, self.deps.worker_running = start_thread(
                self.reply_worker
            )
        else:
            process = WorkerProcess(self.deps.settings)
            self.deps.wake_worker, self._stop_worker = process.wake, process.stop
            self.deps.worker_running = process.running

    def start_background(self) -> None:
        """Start the scheduler (automatic re-checks, reminders); idempotent."""
        if self._stop_background is None:
            from bot.scheduler import start_scheduler

            self._stop_background = start_scheduler(self.deps)

    def close(self) -> None:
        """Stop the scheduler, let queued work finish (replies included), close this thread's database
        connection."""
        if self._stop_background is not None:
            self._stop_background()
            self._stop_background = None
        # Producers first: listeners, then the pool's work (a shortcut may still hand its answer to the
        # inbox), then the inbox and the worker that drain what they left.
        self.listener_executor.shutdown(wait=True)
        executor = self.deps.executor
        if isinstance(executor, ThreadPoolExecutor):
            executor.shutdown(wait=True)
        if "inbox" in vars(self.deps):  # created on the first message
            self.deps.inbox.close()
        if self._stop_worker is not None:
            self._stop_worker()
            self._stop_worker = None
        self.deps.db.close()


def _not_token_unused(record: logging.LogRecord) -> bool:
    return record.getMessage() != warning_client_prioritized_and_token_skipped()


def _registry_app(client: WebClient, secret: str, listener_executor: ThreadPoolExecutor) -> RegistryApp:
    return RegistryApp(
        client=client,
        signing_secret=secret,
        process_before_response=False,
        token_verification_enabled=False,  # auth.test just ran above: its answer is reused below
        # Bolt's self-event filter would also drop the deletion of the bot's own checklist parent (its
        # `previous_message.user` is the bot); the message listeners skip the bot's messages themselves.
        ignoring_self_events_enabled=False,
        listener_executor=listener_executor,
    )


def build(settings: Settings, *, clock: Callable[[], float] = time.time) -> Runtime:
    """Build the app from settings. Calls Slack's auth.test once (through `settings.slack_api_base`)."""
    kb = load_kb(settings.bot_kb_dir)
    db = Database(settings.bot_db_path)
    client = make_client(settings)
    auth = client.auth_test()
    listener_executor = ThreadPoolExecutor(BOLT_LISTENER_THREADS, thread_name_prefix="bolt-listener")
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    bolt_log = logging.getLogger("slack_bolt.App")
    bolt_log.addFilter(_not_token_unused)  # Bolt reads SLACK_BOT_TOKEN itself, then warns that `client` wins
    try:
        app = _registry_app(client, secret, listener_executor)
    finally:
        bolt_log.removeFilter(_not_token_unused)
    app.reuse_auth_test(auth)
    deps = Deps(
        settings=settings,
        kb=kb,
        db=db,
        executor=ThreadPoolExecutor(settings.bot_worker_threads, thread_name_prefix="aps-bot-work"),
        clock=clock,
        client=client,
        bot_user_id=str(auth.get("user_id") or ""),
    )
    _ = deps.diagnoser  # built now: a broken knowledge base fails at start, not on the first message
    register_all(app, deps)
    wsgi = make_wsgi(app, db, worker_running=lambda: deps.worker_running())
    return Runtime(app=app, deps=deps, wsgi=wsgi, listener_executor=listener_executor)

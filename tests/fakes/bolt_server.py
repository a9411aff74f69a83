"""Run the real app over real HTTP on loopback and talk to it the way Slack does (signed requests).

Typical test::

    def test_reply(tmp_path):
        with FakeSlackApi() as slack:
            settings = make_settings(tmp_path, slack, bot_passive_min_score=50)
            with running_bot(settings) as bot:
                response = bot.send_event(message_event("AUTH-001 ...", channel="C1", ts="1.0001"))
                assert response.status == 200
                [post] = slack.wait_for("chat.postMessage")

- `make_settings(tmp_path, slack, **overrides)`: a `Settings` with fake tokens (`BOT_TOKEN`,
  `SIGNING_SECRET`), `slack_api_url=slack.url`, a temp database `tmp_path/aps-bot.sqlite3` and the shipped
  `knowledge/`; any field can be overridden by name. No environment variable or `.env` is read.
- `running_bot(settings, *, clock=None, background=False, worker=True)`: `bot.app.build(settings, clock=...)`
  served by waitress (as in production) on 127.0.0.1:<free port>, the reply worker on a thread; yields a
  `BotServer`. `background=True` also starts the scheduler. On exit the server stops and `runtime.close()`
  waits for queued work.
- `BotServer.send_event(event, *, event_id=None, retry_num=None)` wraps `event` in an `event_callback`
  envelope (JSON, like the Events API; `retry_num` adds `X-Slack-Retry-Num`/`-Reason`);
  `send_command(text, *, user_id, channel_id, command="/aps-check")` posts a form like a slash command;
  `send_action(payload)` / `send_shortcut(payload)` post `payload=<json>` forms like interactivity.
  `post_raw(path, body, headers)` sends bytes unsigned (add your own headers, e.g. a bad signature).
  Each returns an `HttpResponse(status, body, headers)`; `.json()` parses the body.
- Payload builders: `message_event`, `mention_event`, `block_action_payload`, `message_shortcut_payload`
  produce the shapes Slack sends (trim or extend them per test).
- `sign(secret, body, timestamp=None)` gives the `X-Slack-Signature`/`X-Slack-Request-Timestamp` headers.

Listener work runs after the ack: wait on the fake (`slack.wait_for(...)`), never sleep; to assert that
nothing happened, call `bot.drain()` first (it waits for all queued listener and background work).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

from slack_sdk.signature import SignatureVerifier

from bot.app import Runtime, build
from bot.server import EVENTS_PATH, create_http_server, run_in_thread
from bot.settings import Settings
from tests.fakes.polling import wait_until
from tests.fakes.slack_api import (
    APP_ID,
    BOT_USER_ID,
    TEAM_ID,
    FakeSlackApi,
    event_callback,
    slack_ts,
    slash_command,
    trigger_id,
)

ROOT = Path(__file__).resolve().parents[2]
BOT_TOKEN = "xoxb-1111111111-2222222222-faketokenfaketoken"
APP_TOKEN = "xapp-1-A0FAKEAPP-3333333333-fakeapptoken"
SIGNING_SECRET = "8f742231b10e8888abcd991234ce85a5"
HUMAN = "U0HUMAN01"
CHANNEL = "C0SUPPORT"


def make_settings(tmp_path: Path, slack: FakeSlackApi, **overrides: Any) -> Settings:
    """Settings for a test: fake tokens, the fake's URL, a temp DB, the shipped knowledge base."""
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.url,
        "bot_db_path": tmp_path / "aps-bot.sqlite3",
        "bot_kb_dir": ROOT / "knowledge",
        "bot_worker_threads": 4,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The two headers Slack adds to every request, for `body` at `timestamp` (default: now)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


def next_ts() -> str:
    """A fresh message ts, made as Slack makes them (the current time; later than every ts before it)."""
    return slack_ts()


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class BotServer:
    """The running app; see the module docstring."""

    url: str  # http://127.0.0.1:<port>/ (Slack posts to url + "slack/events")
    runtime: Runtime
    secret: str
    team_id: str = TEAM_ID

    def drain(self, timeout: float = 10) -> None:
        """Wait until the work of every request answered so far has finished (listeners, the slow work they
        handed to the executor, the reply jobs they queued that are due). Use it before asserting that
        something did NOT happen."""
        for executor in (self.runtime.listener_executor, self.runtime.deps.executor):
            _drain(executor, timeout)
        assert self.runtime.deps.inbox.flush(timeout), "deliveries not stored in time"
        worker = self.runtime.reply_worker
        if worker is not None:
            wait_until(worker.idle, timeout)

    def post_raw(self, path: str, body: bytes, headers: dict[str, str]) -> HttpResponse:
        parsed = urlparse(self.url)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        try:
            conn.request("POST", path, body=body, headers={"Content-Length": str(len(body)), **headers})
            response = conn.getresponse()
            return HttpResponse(response.status, response.read(), dict(response.getheaders()))
        finally:
            conn.close()

    def get(self, path: str) -> HttpResponse:
        parsed = urlparse(self.url)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return HttpResponse(response.status, response.read(), dict(response.getheaders()))
        finally:
            conn.close()

    def post_signed(
        self, body: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> HttpResponse:
        headers = {"Content-Type": content_type, **sign(self.secret, body), **(extra or {})}
        return self.post_raw(EVENTS_PATH, body, headers)

    def event_body(self, event: dict[str, Any], event_id: str | None = None) -> bytes:
        return json.dumps(event_callback(event, event_id=event_id, team_id=self.team_id)).encode()

    def send_event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None
    ) -> HttpResponse:
        """POST an Events API delivery of `event` (a retry if `retry_num` is given)."""
        extra = {}
        if retry_num is not None:
            extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return self.post_signed(self.event_body(event, event_id), "application/json", extra)

    def send_command(
        self, text: str, *, user_id: str, channel_id: str, command: str = "/aps-check", **fields: str
    ) -> HttpResponse:
        """POST a slash command form (with a `response_url` on the fake Slack and a `trigger_id`)."""
        form = {
            **slash_command(
                text,
                user_id=user_id,
                channel_id=channel_id,
                response_url=self.response_url(),
                command=command,
            ),
            **fields,
        }
        return self.post_signed(urlencode(form).encode(), "application/x-www-form-urlencoded")

    def response_url(self) -> str:
        """A fresh response_url on the fake Slack (calls to it are recorded as method "response_url")."""
        return self.runtime.deps.settings.slack_api_base + f"response/{uuid.uuid4().hex}"

    def send_action(self, payload: dict[str, Any]) -> HttpResponse:
        """POST an interactivity payload (block_actions, view_submission, …) as `payload=<json>`.

        A `response_url` on the fake Slack is added unless the payload has one (view payloads have none)."""
        if payload.get("type") in ("block_actions", "message_action"):
            payload = {"response_url": self.response_url(), **payload}
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post_signed(body, "application/x-www-form-urlencoded")

    def send_shortcut(self, payload: dict[str, Any]) -> HttpResponse:
        """POST a shortcut payload (message_action / shortcut) as `payload=<json>`."""
        return self.send_action(payload)


def _drain(executor: Any, timeout: float) -> None:
    """Occupy every worker of a ThreadPoolExecutor with a barrier task: once all of them meet, every task
    queued before them has finished (each worker takes the next task only after finishing the last)."""
    workers = executor._max_workers
    barrier = threading.Barrier(workers + 1, timeout=timeout)
    for _ in range(workers):
        executor.submit(barrier.wait)
    barrier.wait()


@contextmanager
def running_bot(
    settings: Settings,
    *,
    clock: Callable[[], float] | None = None,
    background: bool = False,
    worker: bool = True,
) -> Iterator[BotServer]:
    """Build the app from `settings` and serve it with waitress on 127.0.0.1:<free port>; the reply worker
    runs on a thread (`worker=False`: messages stay queued, as while the worker process is down)."""
    runtime = build(settings, clock=clock or time.time)
    if worker:
        runtime.start_worker(in_process=True)
    # a short loop timeout only makes shutdown quick
    server = create_http_server(
        runtime.wsgi, host="127.0.0.1", port=0, threads=16, asyncore_loop_timeout=0.05
    )
    stop_server = run_in_thread(server)
    if background:
        runtime.start_background()
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    try:
        yield BotServer(url=f"http://127.0.0.1:{server.effective_port}/", runtime=runtime, secret=secret)
    finally:
        stop_server()
        runtime.close()


# -- payload builders (shapes as Slack sends them) ------------------------------------------------------


def message_event(
    text: str,
    *,
    channel: str = CHANNEL,
    user: str = HUMAN,
    ts: str | None = None,
    channel_type: str = "channel",
    **extra: Any,
) -> dict[str, Any]:
    """A `message` event (message.channels by default; channel_type "im" for a DM, "group" private)."""
    ts = ts or next_ts()
    return {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": channel_type,
        "team": TEAM_ID,
        **extra,
    }


def mention_event(
    text: str, *, channel: str = CHANNEL, user: str = HUMAN, ts: str | None = None, **extra: Any
) -> dict[str, Any]:
    """An `app_mention` event whose text starts with the bot's mention."""
    ts = ts or next_ts()
    return {
        "type": "app_mention",
        "channel": channel,
        "user": user,
        "text": f"<@{BOT_USER_ID}> {text}",
        "ts": ts,
        "event_ts": ts,
        "team": TEAM_ID,
        **extra,
    }


def block_action_payload(
    action_id: str,
    value: str,
    *,
    user: str = HUMAN,
    channel: str = CHANNEL,
    message: dict[str, Any] | None = None,
    block_id: str = "diagnosis_actions",
) -> dict[str, Any]:
    """A `block_actions` payload for a click on a button of `message` (a bot message dict)."""
    message = message or {"type": "message", "ts": next_ts(), "text": "", "blocks": []}
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel,
            "is_ephemeral": False,
            "thread_ts": message.get("thread_ts"),
        },
        "trigger_id": trigger_id(),
        "team": {"id": TEAM_ID, "domain": "fake-workspace"},
        "channel": {"id": channel, "name": "support"},
        "message": message,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "text": {"type": "plain_text", "text": action_id},
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def message_shortcut_payload(
    message: dict[str, Any],
    *,
    callback_id: str = "diagnose_message",
    user: str = HUMAN,
    channel: str = CHANNEL,
) -> dict[str, Any]:
    """A `message_action` payload: `user` ran the shortcut on `message` in `channel`."""
    return {
        "type": "message_action",
        "callback_id": callback_id,
        "trigger_id": trigger_id(),
        "action_ts": f"{time.time():.6f}",
        "team": {"id": TEAM_ID, "domain": "fake-workspace"},
        "user": {"id": user, "name": user.lower(), "team_id": TEAM_ID},
        "channel": {"id": channel, "name": "support"},
        "message": message,
        "message_ts": message["ts"],
        "token": "legacy-verification-token",
    }

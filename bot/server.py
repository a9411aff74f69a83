"""Serving the built app: a WSGI app for HTTP mode (waitress in production and tests), and Socket Mode."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.slack.replies import REPLY_JOB
from bot.store.db import Database
from bot.store.jobs import JobStore

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
HTTP_THREADS = 16
# Slack's largest deliveries (a 40,000-character message with its blocks, a click on a 50-block message,
# form-encoded) stay well under this; a bigger body is refused (413) before anyone reads it, signed or not.
MAX_BODY_BYTES = 2 * 1024 * 1024

StartResponse = Callable[..., Any]


def make_wsgi(
    app: App, db: Database, *, worker_running: Callable[[], bool | None] = lambda: None
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """`POST /slack/events` → Bolt (signature checked there); `GET /healthz` → 200 if the database answers
    and the reply worker (once started) is alive, with the number of replies waiting for it; 503 otherwise."""
    bolt = SlackRequestHandler(app, path=EVENTS_PATH)
    jobs = JobStore(db)

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            return _health(environ, start_response, jobs, worker_running)
        return bolt(environ, start_response)

    return wsgi


def _health(
    environ: dict[str, Any],
    start_response: StartResponse,
    jobs: JobStore,
    worker_running: Callable[[], bool | None],
) -> list[bytes]:
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0")])
        return []
    try:
        queued = jobs.due_count((REPLY_JOB,), time.time())
        status, body = "200 OK", {"ok": True, "queued_replies": queued}
    except Exception as exc:  # report, never crash the health check
        log.warning("health check: database unavailable: %s", type(exc).__name__)
        status, body = "503 Service Unavailable", {"ok": False, "error": "database_unavailable"}
    else:
        if worker_running() is False:  # dead, its restart not done or failing (a broken KB): replies pile up
            status, body = "503 Service Unavailable", {**body, "ok": False, "error": "reply_worker_down"}
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def create_http_server(
    wsgi: Callable[..., Any], *, host: str, port: int, threads: int = HTTP_THREADS, **adjustments: Any
) -> Any:
    """A waitress server bound now (port 0 picks a free one; read `.effective_port`), not yet running.
    `adjustments` are waitress settings (e.g. `asyncore_loop_timeout`)."""
    from waitress.server import create_server

    adjustments.setdefault("max_request_body_size", MAX_BODY_BYTES)
    return create_server(wsgi, host=host, port=port, threads=threads, ident="aps-bot", **adjustments)


def run_in_thread(server: Any) -> Callable[[], None]:
    """Run a server from `create_http_server` on a daemon thread; return a function that stops it."""
    stopping = threading.Event()

    def run() -> None:
        try:
            server.run()
        except OSError:
            if not stopping.is_set():  # the socket closed under select() is how a stop looks
                raise

    thread = threading.Thread(target=run, name="aps-bot-http", daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        server.task_dispatcher.shutdown()
        server.close()
        thread.join(timeout=10)

    return stop


def serve_http(wsgi: Callable[..., Any], *, host: str, port: int, threads: int = HTTP_THREADS) -> None:
    """Serve until interrupted (production path of `aps-bot serve` without an app token)."""
    server = create_http_server(wsgi, host=host, port=port, threads=threads)
    log.info("serving Slack events on http://%s:%s%s", host, server.effective_port, EVENTS_PATH)
    try:
        server.run()
    finally:
        server.close()


def serve_socket_mode(app: App, app_token: str) -> None:
    """Connect to Slack over Socket Mode (no public URL) and block until interrupted."""
    from bot.socket_mode import SocketModeHandler

    handler = SocketModeHandler(app, app_token)
    log.info("connecting to Slack in Socket Mode")
    try:
        handler.start()
    finally:
        handler.close()

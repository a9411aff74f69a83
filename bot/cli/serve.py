"""`aps-bot serve`: Socket Mode when SLACK_APP_TOKEN is set, else HTTP (waitress) on --port."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sqlite3
import ssl
import sys
from typing import Any
from urllib.error import URLError

from bot.logsetup import configure_logging
from bot.settings import Settings, SettingsProblem, load_settings

log = logging.getLogger(__name__)

DEFAULT_PORT = 3000
MAX_PORT = 65535
_SIGNING_SECRET = re.compile(r"^[0-9a-f]{32}$")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "serve",
        help="run the Slack bot (Socket Mode if SLACK_APP_TOKEN is set, else HTTP)",
        description="Run the Slack bot. With SLACK_APP_TOKEN (xapp-…) it connects over Socket Mode; "
        "otherwise it serves Slack's requests on http://HOST:PORT/slack/events (signature-verified) "
        "with a health check on /healthz.",
    )
    parser.add_argument("--host", default="0.0.0.0", help="HTTP mode: interface to bind (default: all)")  # noqa: S104
    parser.add_argument(
        "--port", type=port_number, default=DEFAULT_PORT, help=f"HTTP mode: port (default {DEFAULT_PORT})"
    )
    parser.set_defaults(handler=run)


def port_number(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535: the socket layer would take 70000 as 70000 - 65536."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"port {port} is out of range 0-{MAX_PORT}")
    return port


def token_problem(settings: Settings) -> str | None:
    """The first missing or malformed Slack credential, named by its setting; None when all are fine."""
    bot = settings.slack_bot_token.get_secret_value().strip() if settings.slack_bot_token else ""
    if not bot:
        return "SLACK_BOT_TOKEN is not set (the bot token, xoxb-…, from OAuth & Permissions)"
    if not bot.startswith("xoxb-"):
        return "SLACK_BOT_TOKEN is malformed: a bot token starts with xoxb-"
    if settings.slack_app_token is not None:
        app = settings.slack_app_token.get_secret_value().strip()
        if not app.startswith("xapp-"):
            return "SLACK_APP_TOKEN is malformed: an app-level token starts with xapp-"
        return None
    secret = settings.slack_signing_secret.get_secret_value().strip() if settings.slack_signing_secret else ""
    if not secret:
        return "SLACK_SIGNING_SECRET is not set (needed in HTTP mode; or set SLACK_APP_TOKEN for Socket Mode)"
    if not _SIGNING_SECRET.match(secret):
        return "SLACK_SIGNING_SECRET is malformed: expected 32 hexadecimal characters from Basic Information"
    return None


def _fail(message: str, code: int = 2) -> int:
    print(f"aps-bot serve: {message}", file=sys.stderr)
    return code


def slack_unavailable(exc: Any) -> bool:
    """A SlackApiError that is Slack's trouble (5xx, rate limit), not a bad token."""
    error = exc.response.get("error")
    return getattr(exc.response, "status_code", 200) >= 429 or error in ("ratelimited", "fatal_error")


def _reason(exc: Any) -> str:
    """Why a URL could not be opened, e.g. "Connection refused" or "Name or service not known"."""
    reason = getattr(exc, "reason", exc)
    return str(getattr(reason, "strerror", None) or reason)


def _stop_like_ctrl_c(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # the server stops, queued deliveries are stored, the worker finishes its jobs


def run(args: argparse.Namespace) -> int:
    from slack_sdk.errors import SlackApiError

    from bot.app import build
    from bot.knowledge import KnowledgeError
    from bot.server import serve_http, serve_socket_mode
    from bot.worker import WorkerStartError

    try:
        settings = load_settings()
    except SettingsProblem as exc:
        return _fail(str(exc))
    configure_logging(settings.log_level)
    if problem := token_problem(settings):
        return _fail(problem)
    try:
        runtime = build(settings)
    except SlackApiError as exc:
        error = exc.response.get("error")
        if slack_unavailable(exc):
            return _fail(f"Slack is unavailable ({error}); try again later", 1)  # not the token's fault
        return _fail(f"Slack rejected SLACK_BOT_TOKEN ({error})")
    except KnowledgeError as exc:
        return _fail(f"knowledge base: {exc}")
    except sqlite3.Error as exc:
        return _fail(f"cannot open the database at BOT_DB_PATH ({type(exc).__name__}: {exc})", 1)
    except (URLError, TimeoutError, ConnectionError, ssl.SSLError) as exc:  # auth.test got no answer
        return _fail(f"cannot reach Slack at SLACK_API_URL ({_reason(exc)})", 1)
    except (
        OSError
    ) as exc:  # the filesystem: BOT_DB_PATH's folder cannot be made (under a file, no permission)
        return _fail(
            f"cannot open the database at BOT_DB_PATH ({type(exc).__name__}: {exc.strerror or exc})", 1
        )
    # docker stop / systemd (SIGTERM), a closed terminal or ssh session (SIGHUP): as cleanly as Ctrl-C
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop_like_ctrl_c)
    runtime.start_background()
    socket_mode = settings.slack_app_token is not None
    try:
        runtime.start_worker()
        if socket_mode:
            serve_socket_mode(runtime.app, settings.slack_app_token.get_secret_value().strip())
        else:
            serve_http(runtime.wsgi, host=args.host, port=args.port)
    except SlackApiError as exc:  # apps.connections.open (Socket Mode)
        error = exc.response.get("error")
        if slack_unavailable(exc):
            return _fail(f"Slack is unavailable ({error}); try again later", 1)
        return _fail(f"Slack refused the connection ({error}); check SLACK_APP_TOKEN", 1)
    except WorkerStartError as exc:
        return _fail(str(exc), 1)
    except ValueError as exc:  # waitress: a --host it cannot resolve ("Invalid host/port specified.")
        if socket_mode:
            raise
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc}")
    except OSError as exc:  # the port taken or not ours to bind; Socket Mode: no network to Slack
        where = "connect to Slack (Socket Mode)" if socket_mode else f"listen on {args.host}:{args.port}"
        return _fail(f"cannot {where}: {exc.strerror or exc}", 1)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM in Socket Mode (waitress handles its own): a clean stop
        log.info("stopping")
    finally:
        runtime.close()
    return 0

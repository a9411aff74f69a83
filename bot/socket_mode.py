"""Socket Mode over slack_sdk's built-in client, with repairs that keep the bot listening.

- A connection Slack (or a proxy between) closes without a WebSocket close frame: the built-in client reads
  the end of the stream as "no data yet" and loops on it, a CPU busy and the bot deaf until its stale check
  gives up four pings later (40–60 s with Bolt's 10 s pings). Here the end of the stream is an error, which
  makes the client drop the connection and open a new one.
- A lost connection is replaced at the next ping, so pings come every PING_SECONDS (slack_sdk's own client
  default) instead of Bolt's 10 s. One that goes silent (no close, no reset) is dropped by the stale check,
  after four pings without a pong.
- Closing a connection waited for its receiving thread's `recv` to time out (3 s). When Slack asks for a
  refresh, the new connection is read only once the old one is closed, so its first envelopes were acked ~3 s
  late, Slack's whole budget; a stop waited as long. A connection's socket is now shut down before it is
  closed, which ends that `recv` at once.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.base_handler import BaseSocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.builtin.connection import Connection
from slack_sdk.socket_mode.request import SocketModeRequest

PING_SECONDS = 5.0


class EndOfStreamIsAnError:
    """A connected socket whose `recv` raises once the peer has closed the stream, unless we are closing."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.closing = False

    def recv(self, size: int, *flags: int) -> bytes:
        data: bytes = self._sock.recv(size, *flags)
        if not data and size and not self.closing:
            raise ConnectionResetError("Slack closed the Socket Mode connection")
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def shut_down_first(session: Connection) -> Callable[[], None]:
    """`session.close`, shutting the socket down first so the receiving thread lets go of it now."""
    close = session.close

    def shut_down_then_close() -> None:
        sock = session.sock
        if isinstance(sock, EndOfStreamIsAnError):
            sock.closing = True
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        close()

    return shut_down_then_close


class Client(SocketModeClient):
    """The built-in client; each new connection's socket wrapped in `EndOfStreamIsAnError` and shut down
    before it is closed."""

    def connect(self) -> None:
        super().connect()
        session = self.current_session
        if (
            session is not None
            and session.sock is not None
            and not isinstance(session.sock, EndOfStreamIsAnError)
        ):
            session.sock = EndOfStreamIsAnError(session.sock)  # type: ignore[assignment]
            session.close = shut_down_first(session)  # type: ignore[method-assign]


class SocketModeHandler(BaseSocketModeHandler):
    """Bolt's built-in Socket Mode adapter (slack_bolt.adapter.socket_mode.SocketModeHandler) on `Client`."""

    def __init__(self, app: App, app_token: str) -> None:
        self.app = app
        self.client = Client(
            app_token=app_token,
            logger=app.logger,
            web_client=app.client,
            proxy=app.client.proxy,
            ping_interval=PING_SECONDS,
        )
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        send_response(client, req, run_bolt_app(self.app, req), time.time())

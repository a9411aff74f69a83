"""Socket Mode over slack_sdk's built-in client, with two repairs that keep the bot listening.

- A connection Slack (or a proxy between) closes without a WebSocket close frame: the built-in client reads
  the end of the stream as "no data yet" and loops on it, a CPU busy and the bot deaf until its stale check
  gives up four pings later (40 s with Bolt's 10 s pings). Here the end of the stream is an error, which makes
  the client drop the connection and open a new one.
- A lost connection is replaced at the next ping, so pings come every PING_SECONDS (slack_sdk's own client
  default) instead of Bolt's 10 s.
- Closing a connection waits for its receiving thread's current `recv` to time out (3 s by default). When
  Slack asks for a refresh, the new connection is read only after the old one is closed, so its first
  envelopes waited up to 3 s of Slack's 3 s to ack. Receives time out after RECEIVE_TIMEOUT_SECONDS here, and
  a stop shuts the socket first.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.base_handler import BaseSocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

PING_SECONDS = 5.0
RECEIVE_TIMEOUT_SECONDS = 0.5


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


class Client(SocketModeClient):
    """The built-in client; each new connection's socket wrapped in `EndOfStreamIsAnError`, with a short
    receive timeout."""

    def connect(self) -> None:
        super().connect()
        session = self.current_session
        sock = session.sock if session is not None else None
        if session is not None and sock is not None and not isinstance(sock, EndOfStreamIsAnError):
            sock.settimeout(RECEIVE_TIMEOUT_SECONDS)
            session.sock = EndOfStreamIsAnError(sock)  # type: ignore[assignment]

    def close(self) -> None:
        self.auto_reconnect_enabled = False
        self.current_session_state.terminated = True
        session = self.current_session
        if session is not None and isinstance(session.sock, EndOfStreamIsAnError):
            session.sock.closing = True
            with contextlib.suppress(OSError):  # wakes the receiving thread now, not at its 3 s timeout
                session.sock.shutdown(socket.SHUT_RDWR)
        super().close()


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

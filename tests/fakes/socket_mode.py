"""A fake of Slack's Socket Mode WebSocket endpoint on loopback, for the bot's real Socket Mode client.

Slack hands the app a one-time `wss://…/link/?ticket=…` URL from `apps.connections.open`; the app opens a
WebSocket there, Slack says `hello`, then pushes envelopes (`events_api`, `slash_commands`, `interactive`)
that the app must ack with `{"envelope_id": …, "payload": …}` within 3 s. Usage::

    with FakeSlackApi() as slack, FakeSocketMode() as socket_mode:
        slack.set_response("apps.connections.open", socket_mode.connections_open)
        ... start `aps-bot serve` with SLACK_APP_TOKEN=xapp-… and SLACK_API_URL=slack.url ...
        socket_mode.wait_for_connection()
        envelope_id = socket_mode.send_event(message_event("AUTH-001 …"))
        ack = socket_mode.wait_for_ack(envelope_id)

`connections_open` answers like Slack: `{"ok": true, "url": "ws://127.0.0.1:<port>/link/?ticket=…"}` (the
built-in slack_sdk client speaks plain TCP to any port but 443). Tickets are single-use, as Slack's are: a
reconnect has to ask `apps.connections.open` again.

- `send_event(event, *, event_id=None, retry_attempt=0)`, `send_command(text, *, user_id, channel_id)`,
  `send_interactive(payload)`, or `send_envelope(type, payload, …)`: push an envelope on the newest open
  connection; each returns its `envelope_id`. Shapes copied from Slack's Socket Mode docs and slack_sdk's
  own test mocks.
- `acks`: every ack received (`Ack(envelope_id, payload, connection)`), in order; `wait_for_ack(envelope_id)`.
- `request_refresh()`: Slack's `{"type":"disconnect","reason":"refresh_requested"}` on the newest connection
  (Slack closes that connection a little later; `close(connection)` does it).
- `close(connection=None)`: a close frame, then the TCP connection closes; `hang_up(connection=None)`: the TCP
  connection closes with no close frame (a proxy timing out); `drop(connection=None)`: it is reset (a network
  drop the peer's host noticed); `go_silent(connection=None)`: it stays up but nothing comes back, not even a
  pong (a network path that died: no close, no reset).
- `wait_for_connection(count=1)`: waits until `count` connections have been opened and greeted.
- `errors`: protocol violations by the client (unmasked frames, bad handshakes, stale tickets); a test's
  teardown should assert it is empty.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.polling import wait_until
from tests.fakes.slack_api import APP_ID, event_callback, slash_command

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


@dataclass(frozen=True)
class Ack:
    """One envelope acknowledgement the app sent back."""

    envelope_id: str
    payload: dict[str, Any] | None
    connection: int  # index in FakeSocketMode.connections
    at: float = field(default_factory=time.monotonic)


class Connection:
    """One accepted WebSocket connection (server side)."""

    def __init__(self, index: int, sock: socket.socket, ticket: str) -> None:
        self.index = index
        self.sock = sock
        self.ticket = ticket
        self.open = True
        self.silent = False  # go_silent(): frames are read and dropped, nothing is answered
        self.received: list[dict[str, Any]] = []  # every text message the app sent, parsed
        self._send_lock = threading.Lock()

    def send_frame(self, opcode: int, data: bytes) -> None:
        """A server frame: FIN set, never masked (RFC 6455 §5.1)."""
        header = bytes([0x80 | opcode])
        if len(data) < 126:
            header += bytes([len(data)])
        elif len(data) < 1 << 16:
            header += bytes([126]) + struct.pack("!H", len(data))
        else:
            header += bytes([127]) + struct.pack("!Q", len(data))
        with self._send_lock:
            self.sock.sendall(header + data)

    def send_json(self, message: dict[str, Any]) -> None:
        self.send_frame(OP_TEXT, json.dumps(message).encode())


class FakeSocketMode:
    """Context manager: listens on 127.0.0.1:<free port> on enter, closes every connection on exit."""

    def __init__(self, *, app_id: str = APP_ID) -> None:
        self.app_id = app_id
        self.connections: list[Connection] = []
        self.acks: list[Ack] = []
        self.errors: list[str] = []
        self.sent: dict[str, dict[str, Any]] = {}  # envelope id -> envelope pushed
        self._tickets: dict[str, bool] = {}  # ticket -> already used
        self._cond = threading.Condition()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------------------------
    def __enter__(self) -> FakeSocketMode:
        self._listener = socket.create_server(("127.0.0.1", 0))
        thread = threading.Thread(target=self._accept_loop, name="fake-socket-mode", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for connection in list(self.connections):
            self._shutdown(connection, socket.SHUT_RDWR)

    @property
    def port(self) -> int:
        assert self._listener is not None, "FakeSocketMode is not started"
        return int(self._listener.getsockname()[1])

    # -- the Web API side ----------------------------------------------------------------------------------
    def connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """The answer of `apps.connections.open`: a fresh single-use WebSocket URL."""
        ticket = str(uuid.uuid4())
        with self._cond:
            self._tickets[ticket] = False
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"}

    # -- pushing -----------------------------------------------------------------------------------------
    def current_or_none(self) -> Connection | None:
        """The newest connection that is still open, if any."""
        with self._cond:
            live = [c for c in self.connections if c.open]
        return live[-1] if live else None

    def current(self) -> Connection:
        """The newest connection that is still open."""
        found = self.current_or_none()
        assert found is not None, "no open Socket Mode connection"
        return found

    def send_envelope(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        accepts_response_payload: bool = False,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        connection: Connection | None = None,
    ) -> str:
        """Push one envelope the way Slack frames it; return its envelope_id."""
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id or str(uuid.uuid4()),
            "payload": payload,
            "type": type,
            "accepts_response_payload": accepts_response_payload,
        }
        if retry_attempt is not None:
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason if retry_reason is not None else ""
        with self._cond:
            self.sent[envelope["envelope_id"]] = envelope
        (connection or self.current()).send_json(envelope)
        return str(envelope["envelope_id"])

    def send_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        connection: Connection | None = None,
    ) -> str:
        """An `events_api` envelope around an `event_callback` of `event` (a retry when retry_attempt > 0;
        Slack names the reason, e.g. "timeout")."""
        if retry_attempt and not retry_reason:
            retry_reason = "timeout"
        payload = event_callback(event, event_id=event_id, app_id=self.app_id)
        return self.send_envelope(
            "events_api",
            payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
            connection=connection,
        )

    def send_command(
        self,
        text: str,
        *,
        user_id: str,
        channel_id: str,
        response_url: str,
        command: str = "/aps-check",
    ) -> str:
        """A `slash_commands` envelope (its payload holds the same fields as the HTTP form, all strings)."""
        payload = slash_command(
            text,
            user_id=user_id,
            channel_id=channel_id,
            response_url=response_url,
            command=command,
            app_id=self.app_id,
        )
        return self.send_envelope("slash_commands", payload, accepts_response_payload=True)

    def send_interactive(self, payload: dict[str, Any]) -> str:
        """An `interactive` envelope (block_actions, shortcuts, view submissions)."""
        return self.send_envelope("interactive", payload)

    def request_refresh(self, connection: Connection | None = None) -> Connection:
        """Slack's notice that it will soon close this connection: the app should open a new one."""
        target = connection or self.current()
        target.send_json(
            {
                "type": "disconnect",
                "reason": "refresh_requested",
                "debug_info": {"host": "applink-fake-1"},
            }
        )
        return target

    def close(self, connection: Connection | None = None) -> None:
        """Close a connection properly: a close frame (1001 going away), then the TCP connection."""
        target = connection or self.current()
        with contextlib.suppress(OSError):
            target.send_frame(OP_CLOSE, struct.pack("!H", 1001))
        self._shutdown(target, socket.SHUT_RDWR)

    def hang_up(self, connection: Connection | None = None) -> None:
        """Close the TCP connection with no WebSocket close frame (a proxy or load balancer timing out)."""
        self._shutdown(connection or self.current(), socket.SHUT_RDWR)

    def drop(self, connection: Connection | None = None) -> None:
        """The connection vanishes without a close frame (a network drop): reset, as a dead peer's is."""
        target = connection or self.current()
        target.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._shutdown(target, socket.SHUT_RD)  # wakes our reader, which closes: the peer gets a reset

    def go_silent(self, connection: Connection | None = None) -> Connection:
        """The connection stays up but nothing comes back, not even pongs: only the client's stale check can
        tell (a network path that died without a close or a reset). It is no longer `current()`."""
        target = connection or self.current()
        with self._cond:
            target.silent = True
            target.open = False
            self._cond.notify_all()
        return target

    # -- waiting -----------------------------------------------------------------------------------------
    def wait_for_connection(self, count: int = 1, timeout: float = 30) -> Connection:
        """The `count`-th connection, once it is open and has been sent `hello`."""

        def greeted() -> Connection | None:
            with self._cond:
                return self.connections[count - 1] if len(self.connections) >= count else None

        return wait_until(greeted, timeout)

    def wait_for_ack(self, envelope_id: str, timeout: float = 10) -> Ack:
        """The app's ack of `envelope_id`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (found := [a for a in self.acks if a.envelope_id == envelope_id]):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no ack for {envelope_id} within {timeout}s; acked: {[a.envelope_id for a in self.acks]}"
                    )
                self._cond.wait(remaining)
            return found[0]

    def acks_for(self, envelope_id: str) -> list[Ack]:
        with self._cond:
            return [a for a in self.acks if a.envelope_id == envelope_id]

    # -- serving -----------------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        listener = self._listener
        while listener is not None:
            try:
                sock, _ = listener.accept()
            except OSError:
                return  # closed on exit
            thread = threading.Thread(
                target=self._serve, args=(sock,), name="fake-socket-mode-conn", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _error(self, message: str) -> None:
        with self._cond:
            self.errors.append(message)
            self._cond.notify_all()

    def _serve(self, sock: socket.socket) -> None:
        reader = sock.makefile("rb")
        try:
            ticket = self._handshake(sock, reader)
            if ticket is None:
                sock.close()
                return
            with self._cond:
                connection = Connection(len(self.connections), sock, ticket)
                connection.send_json(
                    {
                        "type": "hello",
                        "num_connections": 1,
                        "debug_info": {
                            "host": "applink-fake-1",
                            "build_number": 1,
                            "approximate_connection_time": 18060,
                        },
                        "connection_info": {"app_id": self.app_id},
                    }
                )
                self.connections.append(connection)
                self._cond.notify_all()
            self._read_frames(connection, reader)
        except OSError:
            pass  # shut down under us: drop(), close() or the fake stopping
        finally:
            with self._cond:
                for connection in self.connections:
                    if connection.sock is sock:
                        connection.open = False
                self._cond.notify_all()
            reader.close()
            sock.close()

    def _handshake(self, sock: socket.socket, reader: Any) -> str | None:
        """Check the client's opening handshake (RFC 6455 §4.2.1) and the ticket; answer 101 or refuse."""
        request_line = reader.readline().decode("latin-1").strip()
        headers: dict[str, str] = {}
        while (line := reader.readline().decode("latin-1").strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        method, _, rest = request_line.partition(" ")
        target = rest.rsplit(" ", 1)[0]
        url = urlsplit(target)
        ticket = (parse_qs(url.query).get("ticket") or [""])[0]
        problem = None
        if method != "GET" or url.path != "/link/":
            problem = f"bad request line {request_line!r}"
        elif (
            headers.get("upgrade", "").lower() != "websocket"
            or "upgrade" not in headers.get("connection", "").lower()
        ):
            problem = "missing Upgrade: websocket / Connection: Upgrade"
        elif headers.get("sec-websocket-version") != "13" or not headers.get("sec-websocket-key"):
            problem = "missing Sec-WebSocket-Version 13 or Sec-WebSocket-Key"
        else:
            with self._cond:
                used = self._tickets.get(ticket)
                if used is False:
                    self._tickets[ticket] = True
            if used is None:
                problem = "unknown ticket (not issued by apps.connections.open)"
            elif used:
                problem = "ticket used twice (Slack's are single-use)"
        if problem:
            self._error(f"handshake refused: {problem}")
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return None
        key = headers["sec-websocket-key"] + _GUID
        accept = base64.b64encode(hashlib.sha1(key.encode()).digest())  # noqa: S324 - RFC 6455 mandates SHA-1
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        return ticket

    def _read_frames(self, connection: Connection, reader: Any) -> None:
        while True:
            head = reader.read(2)
            if len(head) < 2:
                break  # the client closed the TCP connection
            fin, opcode, masked, length = head[0] & 0x80, head[0] & 0x0F, head[1] & 0x80, head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", reader.read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", reader.read(8))[0]
            if not masked or not fin:
                self._error(f"client frame not masked or fragmented (opcode {opcode})")
                break
            mask = reader.read(4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(reader.read(length)))
            if connection.silent:
                continue
            if opcode == OP_PING:
                connection.send_frame(OP_PONG, data)
            elif opcode == OP_CLOSE:
                with contextlib.suppress(OSError):
                    connection.send_frame(OP_CLOSE, data[:2])
                break
            elif opcode == OP_TEXT:
                self._on_text(connection, data)

    def _on_text(self, connection: Connection, data: bytes) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            self._error(f"client sent text that is not JSON: {data[:200]!r}")
            return
        with self._cond:
            connection.received.append(message)
            envelope_id = message.get("envelope_id")
            if envelope_id not in self.sent:
                self.errors.append(f"ack for an envelope never sent: {message!r}")
            else:
                self.acks.append(Ack(str(envelope_id), message.get("payload"), connection.index))
            self._cond.notify_all()

    def _shutdown(self, connection: Connection, how: int) -> None:
        """Wake the connection's reader thread, which closes the socket (only it may: it reads from it)."""
        with self._cond:
            connection.open = False
            self._cond.notify_all()
        with contextlib.suppress(OSError):
            connection.sock.shutdown(how)

"""A fake Slack Web API on loopback that the real `slack_sdk.WebClient` talks to through `base_url`.

Usage::

    with FakeSlackApi() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.url)
        client.chat_postMessage(channel="C1", text="hi")
        [call] = slack.wait_for("chat.postMessage")
        assert call.params["channel"] == "C1"

Every request is recorded as a `Call` (method, params, headers) in `slack.calls`, in arrival order, including
the ones answered with a fault. Params are merged from the query string and the body (form-encoded or JSON);
form values are strings, so use `call.json("blocks")` to get blocks whichever way they were sent.

Answers come from a built-in table shaped like Slack's real responses (auth.test, chat.postMessage with an
increasing `ts`, chat.postEphemeral, chat.update, chat.delete, chat.getPermalink, chat.scheduleMessage, reactions.add,
conversations.replies/info/members/open (replies within `oldest`/`latest`; message metadata only with `include_all_metadata`), files.info, users.info, usergroups.users.list, views.publish/open). Unknown
methods get `{"ok": false, "error": "unknown_method"}`. Requests without a `Bearer xoxb-`/`xoxp-` token get
`not_authed`; `apps.connections.open` takes only the app-level token (`Bearer xapp-`), every other method refuses
it, both with `not_allowed_token_type`, as Slack does. `apps.connections.open` has no built-in answer: give it
`FakeSocketMode.connections_open` (tests/fakes/socket_mode.py) with `set_response`.

Steering answers:
- `fail_next(method, error="channel_not_found")`: the next call answers HTTP 200
  `{"ok": false, "error": "channel_not_found"}`;
  `fail_next(method, status=429, retry_after=1)`: HTTP 429 with `Retry-After: 1` (error "ratelimited"; a
  string is sent as it is, e.g. "inf");
  `fail_next(method, status=500)`: HTTP 500. Faults queue up per method (`times=` repeats one).
- `set_response(method, payload)`: answer with `payload` (a dict, or a function `params -> dict`) from now on.
- `add_message(channel, ts, text, ...)`: seed a message that conversations.replies returns (messages posted
  with chat.postMessage are added too, so threads read back what the bot wrote).
- `add_file(file_id, content)`: a snippet's whole text, which files.info returns (else `file_not_found`).
- `thread(channel, thread_ts)`: the stored messages of a thread, e.g. to click a button on the bot's reply;
  `wait_for_thread(channel, thread_ts, count=1)` waits until `count` of them are stored (a call is recorded,
  and `wait_for` returns, before the fake has answered it).
- `usergroups[group_id] = [user ids]`, `members[channel_id] = [user ids]`: data for those methods.
- `latency`: seconds to wait before answering each request (for slow-API tests).
- `hold`: an unset `threading.Event` here makes every request wait (after being recorded) until it is set.

Waiting: `wait_for(method, count=1, timeout=10, predicate=None)` blocks on a Condition until `count` matching
calls arrived (or raises AssertionError listing what did arrive); `calls_to(method)` reads without waiting.
Response URLs: the fake also accepts POSTs to `<url>response/<anything>` (hand them out as `response_url`);
they are recorded with method `"response_url"`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

from tests.fakes.polling import wait_until

_last_microseconds = 0
_ts_lock = threading.Lock()


def slack_ts() -> str:
    """A new message ts as Slack makes them: the current time, to the microsecond ("1764421234.567890"),
    unique and increasing within this process (so a reply is always later than the message it answers)."""
    global _last_microseconds
    with _ts_lock:
        _last_microseconds = max(time.time_ns() // 1000, _last_microseconds + 1)
        return f"{_last_microseconds // 1_000_000}.{_last_microseconds % 1_000_000:06d}"


Payload = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]

TEAM_ID = "T0FAKE001"
BOT_USER_ID = "U0FAKEBOT"
BOT_ID = "B0FAKEBOT"
APP_ID = "A0FAKEAPP"
APP_LEVEL_METHOD = "apps.connections.open"  # the one method of this fake that takes the app-level token


def trigger_id() -> str:
    """A fresh trigger_id in Slack's shape."""
    return f"{uuid.uuid4().int % 10**10}.{uuid.uuid4().hex[:12]}"


def event_callback(
    event: dict[str, Any], *, event_id: str | None = None, team_id: str = TEAM_ID, app_id: str = APP_ID
) -> dict[str, Any]:
    """What Slack wraps an event in: the HTTP request's body, and a Socket Mode `events_api` payload."""
    return {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "api_app_id": app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{event.get('type', 'message')}-{team_id}-{event.get('channel', '')}",
    }


def slash_command(
    text: str,
    *,
    user_id: str,
    channel_id: str,
    response_url: str,
    command: str = "/aps-check",
    team_id: str = TEAM_ID,
    app_id: str = APP_ID,
) -> dict[str, str]:
    """The fields of a slash command: the HTTP form, and a Socket Mode `slash_commands` payload (all strings)."""
    return {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "team_domain": "fake-workspace",
        "channel_id": channel_id,
        "channel_name": "support",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id(),
    }


@dataclass(frozen=True)
class Call:
    """One request the fake received."""

    method: str  # e.g. "chat.postMessage", or "response_url"
    params: dict[str, Any]
    headers: dict[str, str]
    path: str
    at: float = field(default_factory=time.monotonic)

    def json(self, name: str) -> Any:
        """A parameter that may arrive as a JSON string (form posts) or as an object (JSON posts)."""
        value = self.params.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value


@dataclass(frozen=True)
class _Fault:
    error: str | None
    status: int | None
    retry_after: float | str | None
    taken: bool = False  # Slack carried the call out, then its answer failed (a 5xx, a gateway timeout)


class FakeSlackApi:
    """Context manager: starts on 127.0.0.1:<free port> on enter, stops on exit. See the module docstring."""

    def __init__(
        self, *, bot_user_id: str = BOT_USER_ID, bot_id: str = BOT_ID, team_id: str = TEAM_ID
    ) -> None:
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.team_id = team_id
        self.calls: list[Call] = []
        self.latency = 0.0
        self.hold: threading.Event | None = None
        self.usergroups: dict[str, list[str]] = {}
        self.members: dict[str, list[str]] = {}
        self._cond = threading.Condition()
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._responses: dict[str, Payload] = {}
        self._messages: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)  # channel -> ts -> msg
        self._files: dict[str, str] = {}  # file id -> a snippet's whole text
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def __enter__(self) -> FakeSlackApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        fake = self

        class Handler(_Handler):
            api = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        """Base URL ending with `/`, ready for `WebClient(base_url=...)` and `SLACK_API_URL`."""
        assert self._server is not None, "FakeSlackApi is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    # -- steering ----------------------------------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int | None = None,
        retry_after: float | str | None = None,
        times: int = 1,
        taken: bool = False,
    ) -> None:
        """Queue a fault for the next `times` calls of `method` (see the module docstring); `taken`: the call
        is carried out (a post stored) before the fault is answered, as when Slack fails after acting."""
        if error is None and status is None:
            status = 429 if retry_after is not None else None
            if status is None:
                raise ValueError("fail_next needs error=, status= or retry_after=")
        with self._cond:
            for _ in range(times):
                self._faults[method].append(_Fault(error, status, retry_after, taken))

    def set_response(self, method: str, payload: Payload) -> None:
        """Answer `method` with `payload` (dict or `params -> dict`) instead of the built-in answer."""
        with self._cond:
            self._responses[method] = payload

    def add_file(self, file_id: str, content: str) -> None:
        """Store a snippet's whole text so files.info can return it."""
        with self._cond:
            self._files[file_id] = content

    def add_message(
        self,
        channel: str,
        ts: str,
        text: str,
        *,
        user: str = "U0HUMAN01",
        thread_ts: str | None = None,
        **extra: Any,
    ) -> None:
        """Store a message so conversations.replies can return it."""
        message = {"type": "message", "user": user, "text": text, "ts": ts, **extra}
        if thread_ts:
            message["thread_ts"] = thread_ts
        with self._cond:
            self._messages[channel][ts] = message

    # -- reading -----------------------------------------------------------------------------------------
    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Messages stored in one thread (the parent first), as the bot left them (chat.update applied)."""
        with self._cond:
            stored = list(self._messages.get(channel, {}).values())
        parent = [m for m in stored if m["ts"] == thread_ts]
        replies = sorted(
            (m for m in stored if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts),
            key=lambda m: m["ts"],
        )
        return parent + replies

    def wait_for_thread(
        self, channel: str, thread_ts: str, count: int = 1, timeout: float = 10
    ) -> list[dict[str, Any]]:
        """`thread(channel, thread_ts)` once it holds at least `count` messages. `wait_for("chat.postMessage")`
        returns when the call arrives, before the fake has stored the message it answers with."""

        def stored() -> list[dict[str, Any]] | None:
            return found if len(found := self.thread(channel, thread_ts)) >= count else None

        return wait_until(stored, timeout)

    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 10,
        predicate: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Block until `count` calls of `method` (matching `predicate`) arrived; return them all."""
        deadline = time.monotonic() + timeout

        def matching() -> list[Call]:
            return [c for c in self.calls if c.method == method and (predicate is None or predicate(c))]

        with self._cond:
            while len(found := matching()) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [c.method for c in self.calls]
                    raise AssertionError(
                        f"waited {timeout}s for {count} x {method}, got {len(found)}; calls so far: {seen}"
                    )
                self._cond.wait(remaining)
            return found

    # -- answering ---------------------------------------------------------------------------------------
    def _record(self, call: Call) -> _Fault | None:
        with self._cond:
            self.calls.append(call)
            fault = self._faults[call.method].popleft() if self._faults[call.method] else None
            self._cond.notify_all()
            return fault

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The response body for one successful call."""
        with self._cond:
            custom = self._responses.get(method)
        if custom is not None:
            return custom(params) if callable(custom) else custom
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        return handler(params)

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "aps-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _bot_message(self, params: dict[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": params.get("text", ""),
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": APP_ID,
            "ts": ts,
        }
        blocks = Call("", params, {}, "").json("blocks")
        if blocks:
            message["blocks"] = blocks
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        metadata = Call("", params, {}, "").json("metadata")
        if isinstance(metadata, dict):
            message["metadata"] = metadata
        return message

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        ts = slack_ts()
        message = self._bot_message(params, ts)
        with self._cond:
            self._messages[channel][ts] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _m_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": slack_ts()}

    def _m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        with self._cond:
            stored = self._messages.get(channel, {}).get(ts)
            if stored is not None:
                updated = self._bot_message(params, ts)
                stored.update(text=updated["text"], blocks=updated.get("blocks", []))
        return {"ok": True, "channel": channel, "ts": ts, "text": params.get("text", "")}

    def _m_chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        with self._cond:
            if self._messages.get(channel, {}).pop(ts, None) is None:
                return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": channel, "ts": ts}

    def _m_chat_getPermalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = params.get("channel", ""), str(params.get("message_ts", ""))
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"https://fake-workspace.slack.com/archives/{channel}/p{ts.replace('.', '')}",
        }

    def _m_chat_scheduleMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        n = next(self._ts)
        return {
            "ok": True,
            "channel": params.get("channel"),
            "scheduled_message_id": f"Q{n:08d}",
            "post_at": int(params.get("post_at", 0)),
            "message": {"text": params.get("text", ""), "bot_id": self.bot_id, "type": "delayed_message"},
        }

    def _m_files_info(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file", ""))
        with self._cond:
            content = self._files.get(file_id)
        if content is None:
            return {"ok": False, "error": "file_not_found"}
        file = {"id": file_id, "mode": "snippet", "filetype": "text", "lines": content.count("\n") + 1}
        return {"ok": True, "file": file, "content": content, "is_truncated": False}

    def _m_reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def _m_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        with self._cond:
            stored = dict(self._messages.get(channel, {}))
        parent = stored.get(ts)
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        replies = sorted(
            (m for m in stored.values() if m.get("thread_ts") == ts and m["ts"] != ts), key=lambda m: m["ts"]
        )
        limit = int(params.get("limit") or 1000)
        messages = [m for m in [parent, *replies] if _in_range(m["ts"], params)][:limit]
        if str(params.get("include_all_metadata", "")).lower() not in ("1", "true"):  # Slack leaves it out
            messages = [{k: v for k, v in m.items() if k != "metadata"} for m in messages]
        return {"ok": True, "messages": messages, "has_more": False}

    def _m_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": f"channel-{channel.lower()}",
                "is_channel": channel.startswith("C"),
                "is_private": channel.startswith("G"),
                "is_im": channel.startswith("D"),
                "is_member": True,
            },
        }

    def _m_conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        members = self.members.get(str(params.get("channel", "")), [])
        return {"ok": True, "members": list(members), "response_metadata": {"next_cursor": ""}}

    def _m_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = str(params.get("users", "")).replace(",", "_")
        return {"ok": True, "channel": {"id": f"D{users}"[:11]}}

    def _m_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("user", ""))
        return {
            "ok": True,
            "user": {
                "id": user,
                "team_id": self.team_id,
                "name": user.lower(),
                "real_name": f"User {user}",
                "is_bot": False,
                "is_admin": False,
                "tz": "UTC",
                "profile": {"display_name": f"user-{user.lower()}", "real_name": f"User {user}"},
            },
        }

    def _m_usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = str(params.get("usergroup", ""))
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[group])}

    def _view(self, params: dict[str, Any]) -> dict[str, Any]:
        view = Call("", params, {}, "").json("view") or {}
        return {"ok": True, "view": {"id": f"V{next(self._ts):08d}", **view}}

    def _m_views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._view(params)

    def _m_views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._view(params)


class _Handler(BaseHTTPRequestHandler):
    api: FakeSlackApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _params(self) -> dict[str, Any]:
        parsed = urlparse(self.path)
        params: dict[str, Any] = dict(parse_qsl(parsed.query))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if raw:
            ctype = self.headers.get("Content-Type", "")
            text = raw.decode("utf-8")
            if "json" in ctype or text.lstrip().startswith("{"):
                params.update(json.loads(text))
            else:
                params.update(parse_qsl(text, keep_blank_values=True))
        return params

    def _handle(self) -> None:
        path = urlparse(self.path).path
        method = "response_url" if path.startswith("/response/") else path.strip("/").split("/")[-1]
        params = self._params()
        headers = {k: v for k, v in self.headers.items()}
        fault = self.api._record(Call(method, params, headers, path))
        if self.api.latency:
            time.sleep(self.api.latency)  # a slow Slack, on purpose
        if self.api.hold is not None:
            self.api.hold.wait(timeout=60)
        if fault is not None:
            if fault.taken:
                self.api.answer(method, params)
            status = fault.status or 200
            body = {"ok": False, "error": fault.error or ("ratelimited" if status == 429 else "fatal_error")}
            after = fault.retry_after
            extra = (
                {} if after is None else {"Retry-After": after if isinstance(after, str) else str(int(after))}
            )
            self._send(status, body, extra)
            return
        if method == "response_url":
            self._send(200, {"ok": True}, {})
            return
        auth = headers.get("Authorization", "")
        if (method == APP_LEVEL_METHOD) != auth.startswith("Bearer xapp-"):  # app-level token there only
            self._send(200, {"ok": False, "error": "not_allowed_token_type"}, {})
            return
        if not auth.startswith(("Bearer xoxb-", "Bearer xoxp-", "Bearer xapp-")) and "token" not in params:
            self._send(200, {"ok": False, "error": "not_authed"}, {})
            return
        self._send(200, self.api.answer(method, params), {})

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _in_range(ts: str, params: dict[str, Any]) -> bool:
    """Whether message `ts` lies between `oldest` and `latest` (conversations.replies), the bounds
    themselves only with `inclusive`, as Slack reads them."""
    inclusive = str(params.get("inclusive", "")).lower() in ("1", "true")
    oldest, latest = params.get("oldest"), params.get("latest")
    if oldest and not (float(ts) >= float(oldest) if inclusive else float(ts) > float(oldest)):
        return False
    return not latest or (float(ts) <= float(latest) if inclusive else float(ts) < float(latest))

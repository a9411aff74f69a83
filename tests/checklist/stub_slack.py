"""An in-process stand-in for the few WebClient methods checklist threads call (unit tests of the edge;
the end-to-end tests use the HTTP fake in tests/fakes)."""

from __future__ import annotations

import itertools
import threading
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.slack.checklist_blocks import TICK, action_id, step_block_id


def _response(method: str, data: dict[str, Any]) -> SlackResponse:
    return SlackResponse(
        client=None, http_verb="POST", api_url=method, req_args={}, data=data, headers={}, status_code=200
    )


STUB_BOT_USER = "U0STUBBOT"  # the user id of the bot's own posts


class StubSlack:
    def __init__(self, members: dict[str, list[str]] | None = None, page_size: int = 1) -> None:
        self.members = members if members is not None else {"C1": ["U1", "U2", "U3"]}
        self.page_size = page_size
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.fail: dict[str, str] = {}
        self._ts = itertools.count(1)
        self._lock = threading.Lock()

    def _record(self, method: str, kwargs: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append((method, kwargs))
        if error := self.fail.pop(method, None):
            raise SlackApiError(error, _response(method, {"ok": False, "error": error}))

    def of(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [kwargs for name, kwargs in self.calls if name == method]

    def chat_postMessage(self, **kw: Any) -> SlackResponse:
        self._record("chat.postMessage", kw)
        ts = f"1700000000.{next(self._ts):06d}"
        with self._lock:
            self.messages[(kw["channel"], ts)] = {
                "ts": ts,
                "text": kw.get("text"),
                "blocks": kw.get("blocks"),
                "thread_ts": kw.get("thread_ts"),
                "bot_id": "B0STUB001",
                "user": STUB_BOT_USER,
            }
        return _response("chat.postMessage", {"ok": True, "channel": kw["channel"], "ts": ts})

    def conversations_replies(self, **kw: Any) -> SlackResponse:
        """The thread of `ts`: its parent, then the replies, as posted (the bot's own)."""
        self._record("conversations.replies", kw)
        with self._lock:
            stored = [m for (channel, _), m in sorted(self.messages.items()) if channel == kw["channel"]]
        thread = [m for m in stored if m["ts"] == kw["ts"] or m.get("thread_ts") == kw["ts"]]
        return _response("conversations.replies", {"ok": True, "messages": thread[: kw.get("limit", 1000)]})

    def chat_update(self, **kw: Any) -> SlackResponse:
        self._record("chat.update", kw)
        with self._lock:
            stored = self.messages.get((kw["channel"], kw["ts"]), {"ts": kw["ts"]})
            self.messages[(kw["channel"], kw["ts"])] = {**stored, "text": kw["text"], "blocks": kw["blocks"]}
        return _response("chat.update", {"ok": True, "channel": kw["channel"], "ts": kw["ts"]})

    def chat_delete(self, **kw: Any) -> SlackResponse:
        self._record("chat.delete", kw)
        with self._lock:
            self.messages.pop((kw["channel"], kw["ts"]), None)
        return _response("chat.delete", {"ok": True, "channel": kw["channel"], "ts": kw["ts"]})

    def chat_postEphemeral(self, **kw: Any) -> SlackResponse:
        self._record("chat.postEphemeral", kw)
        return _response("chat.postEphemeral", {"ok": True, "message_ts": "1.1"})

    def chat_getPermalink(self, **kw: Any) -> SlackResponse:
        self._record("chat.getPermalink", kw)
        link = f"https://example.slack.com/archives/{kw['channel']}/p{kw['message_ts'].replace('.', '')}"
        return _response("chat.getPermalink", {"ok": True, "channel": kw["channel"], "permalink": link})

    def conversations_open(self, **kw: Any) -> SlackResponse:
        self._record("conversations.open", kw)
        return _response("conversations.open", {"ok": True, "channel": {"id": "D" + kw["users"]}})

    def conversations_members(self, **kw: Any) -> SlackResponse:
        self._record("conversations.members", kw)
        if kw["channel"] not in self.members:
            raise SlackApiError(
                "channel_not_found", _response("x", {"ok": False, "error": "channel_not_found"})
            )
        members = self.members[kw["channel"]]
        start = int(kw.get("cursor") or 0)
        end = start + self.page_size
        cursor = str(end) if end < len(members) else ""
        data = {"ok": True, "members": members[start:end], "response_metadata": {"next_cursor": cursor}}
        return _response("conversations.members", data)

    def users_conversations(self, **kw: Any) -> SlackResponse:
        self._record("users.conversations", kw)
        channels = [{"id": c} for c, users in self.members.items() if kw["user"] in users]
        return _response("users.conversations", {"ok": True, "channels": channels})

    def views_publish(self, **kw: Any) -> SlackResponse:
        self._record("views.publish", kw)
        return _response("views.publish", {"ok": True})


def click(
    slack: StubSlack,
    checklist_id: str,
    channel: str,
    message_ts: str,
    step_id: str,
    user: str,
    selected: list[str],
    *,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A block_actions payload for a checkbox click, carrying the message as the user saw it."""
    seen = message if message is not None else slack.messages[(channel, message_ts)]
    return {
        "type": "block_actions",
        "user": {"id": user},
        "channel": {"id": channel},
        "container": {"type": "message", "channel_id": channel, "message_ts": message_ts},
        "message": {"ts": message_ts, "blocks": seen["blocks"]},
        "actions": [
            {
                "type": "checkboxes",
                "action_id": action_id(TICK, checklist_id, step_id),
                "block_id": step_block_id(checklist_id, step_id),
                "selected_options": [{"value": value} for value in selected],
            }
        ],
    }

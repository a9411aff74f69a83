"""manifest.yml creates exactly the app the code needs: valid against Slack's schema, declaring every event,
shortcut and command the built app registers (and nothing else), and no scope the code does not use.

What the code registers is read from the built Bolt app (every listener module, whoever owns it), and the
Web API methods it calls are found by scanning bot/ for `.<family>_<method>(` calls."""

from __future__ import annotations

import json
import re
from pathlib import Path
from re import Pattern
from typing import Any

import jsonschema
import pytest
import yaml

from bot.check.request import project_refusal
from tests.conftest import ROOT
from tests.fakes.bolt_server import BotServer

# Slack's manifest schema (MIT, Slack Technologies; licence beside it), kept here so the tests need no sibling
SCHEMA = ROOT / "tests" / "data" / "slack" / "manifest.schema.1.0.0.json"

CONVERSATION_READ = frozenset({"channels:read", "groups:read", "im:read", "mpim:read"})
CONVERSATION_HISTORY = frozenset({"channels:history", "groups:history", "im:history", "mpim:history"})

# Web API method → the bot scopes any one of which lets the bot call it (empty: none needed).
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "auth.test": frozenset(),
    "chat.postMessage": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "chat.update": frozenset({"chat:write"}),
    "chat.delete": frozenset({"chat:write"}),
    "chat.scheduleMessage": frozenset({"chat:write"}),
    "chat.deleteScheduledMessage": frozenset({"chat:write"}),
    "chat.getPermalink": frozenset(),
    "conversations.replies": CONVERSATION_HISTORY,
    "conversations.history": CONVERSATION_HISTORY,
    "conversations.info": CONVERSATION_READ,
    "conversations.members": CONVERSATION_READ,
    "users.conversations": CONVERSATION_READ,
    "conversations.open": frozenset({"im:write", "mpim:write"}),
    "users.info": frozenset({"users:read"}),
    "usergroups.users.list": frozenset({"usergroups:read"}),
    "usergroups.list": frozenset({"usergroups:read"}),
    "views.publish": frozenset(),
    "views.open": frozenset(),
    "views.update": frozenset(),
    "views.push": frozenset(),
    "reactions.add": frozenset({"reactions:write"}),
    "reactions.remove": frozenset({"reactions:write"}),
    "files.info": frozenset({"files:read"}),
}
EVENT_SCOPES: dict[str, frozenset[str]] = {
    "app_mention": frozenset({"app_mentions:read"}),
    "message.channels": frozenset({"channels:history"}),
    "message.groups": frozenset({"groups:history"}),
    "message.im": frozenset({"im:history"}),
    "message.mpim": frozenset({"mpim:history"}),
    "app_home_opened": frozenset(),
    "channel_archive": frozenset({"channels:read"}),
    "channel_deleted": frozenset({"channels:read"}),
    "group_archive": frozenset({"groups:read"}),
    "group_deleted": frozenset({"groups:read"}),
}
# Conversations API methods need the read scope of every conversation type they are asked about (Slack: "you
# only need the scopes corresponding to that conversation type"), so one scope of the family is not enough.
TYPE_READ_SCOPE = {
    "public_channel": "channels:read",
    "private_channel": "groups:read",
    "mpim": "mpim:read",
    "im": "im:read",
}
TYPES_ARGUMENT = re.compile(
    r"\.(?:users_conversations|conversations_list)\((?:[^()]|\([^()]*\))*?types=\"([^\"]+)\""
)
FAMILIES = "auth|chat|conversations|users|usergroups|views|reactions|files|pins|team|bookmarks|reminders|apps"
CALL = re.compile(rf"\.((?:{FAMILIES})_[A-Za-z_]+)\(")
SAY = re.compile(r"\bsay\(")


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))


def registered(bot: BotServer, kind: str) -> set[str]:
    values = bot.runtime.app.registered.get(kind, [])
    assert not [v for v in values if isinstance(v, Pattern)] or kind == "action", f"{kind} by pattern"
    return {v for v in values if isinstance(v, str)}


def methods_called_in(source_root: Path) -> set[str]:
    methods: set[str] = set()
    for path in source_root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        methods |= {name.replace("_", ".") for name in CALL.findall(text)}
        if SAY.search(text):
            methods.add("chat.postMessage")
    return methods


def test_manifest_is_valid_against_slacks_schema(manifest: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]
    assert errors == []


def test_events_match_the_registered_listeners(bot: BotServer, manifest: dict[str, Any]) -> None:
    declared = manifest["settings"]["event_subscriptions"]["bot_events"]
    as_bolt_types = {event.split(".")[0] if event.startswith("message.") else event for event in declared}
    assert as_bolt_types == registered(bot, "event")
    assert set(declared) <= set(EVENT_SCOPES), "add the scope of the new event to EVENT_SCOPES"


def test_shortcuts_commands_and_interactivity_match(bot: BotServer, manifest: dict[str, Any]) -> None:
    features = manifest["features"]
    assert {s["callback_id"] for s in features.get("shortcuts", [])} == registered(bot, "shortcut")
    assert {c["command"] for c in features.get("slash_commands", [])} == registered(bot, "command")
    interactive = any(bot.runtime.app.registered.get(k) for k in ("action", "shortcut", "view"))
    assert manifest["settings"]["interactivity"]["is_enabled"] is interactive
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert features["app_home"]["home_tab_enabled"] is ("app_home_opened" in events)
    assert features["app_home"]["messages_tab_enabled"] is ("message.im" in events)
    assert manifest["settings"]["socket_mode_enabled"] is True


def test_scopes_are_exactly_what_the_code_uses(bot: BotServer, manifest: dict[str, Any]) -> None:
    methods = methods_called_in(ROOT / "bot")
    unknown = methods - set(METHOD_SCOPES)
    assert not unknown, f"map these Web API methods to their scopes: {sorted(unknown)}"
    needs = [METHOD_SCOPES[m] for m in methods]
    needs += [EVENT_SCOPES[e] for e in manifest["settings"]["event_subscriptions"]["bot_events"]]
    if registered(bot, "command") or registered(bot, "shortcut"):
        needs.append(frozenset({"commands"}))
    requested = set(manifest["oauth_config"]["scopes"]["bot"])
    missing = [sorted(any_of) for any_of in needs if any_of and not any_of & requested]
    assert missing == [], "the code needs one scope of each of these"
    usable = set().union(*needs)
    assert requested - usable == set(), "requested scopes no code uses"


def test_the_scan_sees_the_calls_the_bot_makes() -> None:
    methods = methods_called_in(ROOT / "bot")
    assert {"chat.postMessage", "chat.postEphemeral", "chat.update", "conversations.replies"} <= methods


def conversation_types_asked_in(source_root: Path) -> dict[str, set[str]]:
    """Conversation type → the files whose `users_conversations(types="…")` (or conversations_list) asks for it."""
    asked: dict[str, set[str]] = {}
    for path in source_root.rglob("*.py"):
        for types in TYPES_ARGUMENT.findall(path.read_text(encoding="utf-8")):
            for kind in types.split(","):
                asked.setdefault(kind.strip(), set()).add(path.name)
    return asked


def test_each_conversation_type_listed_has_its_own_read_scope(manifest: dict[str, Any]) -> None:
    asked = conversation_types_asked_in(ROOT / "bot")
    assert "im" in asked, "the scan no longer sees App Home's users_conversations(types=…) call"
    requested = set(manifest["oauth_config"]["scopes"]["bot"])
    missing = {kind: sorted(files) for kind, files in asked.items() if TYPE_READ_SCOPE[kind] not in requested}
    assert missing == {}, "Slack answers missing_scope when one listed type's read scope is not granted"


# What Slack puts in a slash command's text for a typed "@jane" or "#support": with `should_escape`, the escaped
# mention; without it, the words as typed, which no parser can tell from a project name.
TYPED_MENTIONS = {"@jane": "<@U0TEAMMATE|jane>", "#support": "<#C0SUPPORT|support>"}


def test_aps_check_receives_mentions_in_the_form_it_refuses(manifest: dict[str, Any]) -> None:
    """A mention in the project's place is refused with the usage, not searched as a project name through
    every page of every hub: only true when Slack sends mentions escaped."""
    (command,) = manifest["features"]["slash_commands"]
    sent = [escaped if command.get("should_escape") else typed for typed, escaped in TYPED_MENTIONS.items()]
    searched_as_names = [text for text in sent if project_refusal(text) is None]
    assert searched_as_names == []


# Where Slack delivers an app_mention: every conversation the bot is in, group DMs too (a bot can be added to one).
MENTION_CONVERSATIONS = ("channels", "groups", "im", "mpim")


def test_a_thread_mention_can_read_its_parent_wherever_the_bot_is_mentioned(
    bot: BotServer, manifest: dict[str, Any]
) -> None:
    """A mention in a thread diagnoses the thread's parent, read with conversations.replies, which needs the
    history scope of that conversation's type: without it Slack answers missing_scope and the mention alone
    is answered."""
    assert "app_mention" in registered(bot, "event")
    requested = set(manifest["oauth_config"]["scopes"]["bot"])
    missing = [f"{kind}:history" for kind in MENTION_CONVERSATIONS if f"{kind}:history" not in requested]
    assert missing == []

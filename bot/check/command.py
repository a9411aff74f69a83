"""The `/aps-check` command's words, read: shell-like splitting of the text as Slack sends it, the check's
fields, and whether the text holds a secret (refused before anything runs). Pure."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from typing import Any

from bot.check.request import QUOTING_HINT, REGION_ALIASES, REGIONS
from bot.diagnosis.redact import redact

SECRET_WORDS = re.compile(r"(client_?secret|secret|password|passwd|pwd)\s*[=:]", re.IGNORECASE)
SECRETISH = re.compile(r"^[A-Za-z0-9_\-+/=]{32,}$")
GUID_LIKE = re.compile(r"^(b\.)?[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
MAILTO = re.compile(r"<mailto:([^|>]+)(?:\|[^>]*)?>")
# Smart quotes typed on phones and Macs, and the odd spaces pasted from web pages, as plain ones; the
# invisible ones copied along with an id (zero-width space, word joiner, byte order mark) dropped.
SMART_QUOTES = str.maketrans(
    {"“": '"', "”": '"', "‘": "'", "’": "'", "\xa0": " ", "\u202f": " ", "\u3000": " "}
    | dict.fromkeys(["\u200b", "\u2060", "\ufeff"])
)
APOSTROPHE = re.compile(r"(?<=\w)'(?=\w)")  # "Mary's": part of a word, not a quote
_APOSTROPHE_HELD = "\x00"
# A long word of readable parts ("2024-001_Hospital_Extension_Phase2"): a name, not a secret.
NAME_PART = re.compile(r"\d+|[A-Za-z][a-z]*\d*|[A-Z]{1,5}")


def check_key(user: str, client_id: str, args: dict[str, Any]) -> str:
    """What `/aps-check` spaces out: one user's checks of one app with the same arguments (ids with or without
    `b.`, any case): a corrected region or account is a new check, not a repeat."""
    parts = [
        str(args.get(k) or "").strip().lower().removeprefix("b.") for k in ("project", "account", "region")
    ]
    return ":".join(["check", user, client_id, *parts, str(args.get("user") or "").strip().lower()])


class UsageError(ValueError):
    """Arguments that do not make a check; the message is shown with the usage."""


def looks_secret(text: str, words: list[str], client_ids: Iterable[str] = ()) -> bool:
    """A secret in the command text: the diagnosis redactor's verdict, `secret=`, a long opaque token, or a
    random-looking word as long as an APS secret (16 characters) where a name or id belongs.

    Registered client ids (public, and as long as a secret) become zeros before the redactor looks, so an
    id still shows the shape of `<id>:<secret>`."""
    client_ids = list(client_ids)  # read twice below; a generator would be used up by the first loop
    scrubbed = text
    for client_id in client_ids:
        scrubbed = scrubbed.replace(client_id, "0" * len(client_id))
    if redact(scrubbed).found or SECRET_WORDS.search(text):
        return True
    known = set(client_ids)
    first_arg = 1 if words and words[0].lower() == "checklist" else 0
    for position, word in enumerate(words[first_arg:]):
        bare = word.split("=", 1)[1] if word.lower().startswith(("user=", "account=", "region=")) else word
        if bare in known or GUID_LIKE.match(bare) or _name_like(bare):
            continue
        an_id = position == 0 and len(bare) == 32  # the app's place holds a client id: random-looking, public
        if (position > 0 and SECRETISH.match(bare)) or (_random_like(bare) and not an_id):
            return True
    return False


_CHARACTER_RUN = re.compile(r"[a-z]+|[A-Z]+|\d+")


def _random_like(word: str) -> bool:
    """16+ letters and digits that mix lower case, upper case and digits and switch between them at least
    every other character, as generated secrets do ("c4Jhg8Fkl3ZEnn4T"); names run in words
    ("HospitalPhase2Tower")."""
    if len(word) < 16 or not word.isascii() or not word.isalnum():
        return False
    mixed = any(map(str.islower, word)) and any(map(str.isupper, word))
    return mixed and len(_CHARACTER_RUN.findall(word)) >= len(word) / 2


def _name_like(word: str) -> bool:
    parts = re.split(r"[-_]+", word.strip("-_"))
    return len(parts) >= 2 and all(NAME_PART.fullmatch(part) for part in parts)


def split_words(text: str) -> list[str]:
    """Shell-like words of a command's text: quotes group, Slack's `&amp;`, `&lt;`, `&gt;` are the characters
    typed, and an apostrophe inside a word ("Mary's") is a letter, not an opening quote."""
    text = MAILTO.sub(r"\1", text.translate(SMART_QUOTES)).strip()
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    try:
        words = shlex.split(APOSTROPHE.sub(_APOSTROPHE_HELD, text))
    except ValueError as exc:
        raise UsageError(f"cannot read the arguments ({exc})") from exc
    return [word.replace(_APOSTROPHE_HELD, "'") for word in words]


def parse_check_args(words: list[str]) -> dict[str, str | None]:
    """`<app> <project> [account] [region] [user=…]` (also `account=`, `region=`, `project=`) → fields."""
    named: dict[str, str] = {}
    positional: list[str] = []
    for word in words:
        key, sep, value = word.partition("=")
        if sep and key.lower() in ("user", "account", "region", "project"):
            named[key.lower()] = value
        else:
            positional.append(word)
    if len(positional) < 1:
        raise UsageError("give the client id (or app name) and the project")
    app_ref, rest = positional[0], positional[1:]
    if "project" not in named:
        if not rest:
            raise UsageError("give the project id or name after the client id")
        named["project"], rest = rest[0], rest[1:]
    for word in rest:
        is_region = word.upper() in REGIONS or word.upper() in REGION_ALIASES
        slot = "region" if is_region and "region" not in named else "account"
        if slot in named:
            raise UsageError(f"unexpected argument {word!r} ({QUOTING_HINT})")
        named[slot] = word
    return {
        "app": app_ref,
        "project": named["project"],
        "account": named.get("account"),
        "region": named.get("region"),
        "user": named.get("user"),
    }

"""What a paste says in words beyond its error text: credentials never set, causes the user ruled out.

Each phrase is a regular expression tried only where a match can start (see scan.py), so it costs little on
long pastes; property tests check the scans find exactly what the plain patterns find.
"""

from __future__ import annotations

import re

from bot.diagnosis.scan import any_occurs, keyed, matches_at, positions

# The app's credentials never reached the code: env vars unset, undefined, empty.
CREDENTIALS_UNSET = re.compile(
    r"\b(?P<field>(?:aps|forge)_(?:dev_)?client_(?:id|secret)|client[ _](?:id|secret))\b[^.\n]{0,60}?"
    r"\b(?P<state>not (?:set|defined|found|loaded)|undefined|unset|empty|missing|null)\b|"
    r"\b(?P<verb>(?:without|not|never) (?:setting|defining|exporting|loading))\b[^.\n]{0,40}?"
    r"\b(?P<unset>(?:aps|forge)_(?:dev_)?client_(?:id|secret))\b"
)
# Where a CREDENTIALS_UNSET match can start: that far before "client id" (any spelling), or before the verb.
_UNSET_STARTS = tuple((word, (0, 4, 6, 8, 10)) for word in ("client_id", "client_secret", "client id",
                      "client secret")) + tuple((verb, (3, 5, 7)) for verb in (" setting", " defining",
                      " exporting", " loading"))  # fmt: skip
_UNSET_KEYED = keyed(word for word, _ in _UNSET_STARTS)
# Every CREDENTIALS_UNSET match holds one of these: without any, no start need be tried.
_UNSET_WORDS = keyed(("not set", "not defined", "not found", "not loaded", "undefined", "unset", "empty",
                      "missing", "null", "setting", "defining", "exporting", "loading"))  # fmt: skip


def unset_evidence(match: re.Match[str]) -> str:
    """What a CREDENTIALS_UNSET match says, in its own words only: the text between them may hold a value
    the redactor did not recognise as a secret, so it is never quoted."""
    if match.group("field"):
        return f"{match.group('field')} … {match.group('state')}"
    return f"{match.group('verb')} … {match.group('unset')}"


def credentials_unset(lower: str, index: str | None = None) -> re.Match[str] | None:
    """`CREDENTIALS_UNSET.search(lower)`, tried only where a match can start. `index`: `word_index(lower)`,
    which rules most start words out faster."""
    if not any_occurs(_UNSET_WORDS, lower, index):
        return None
    starts = (
        at - back
        for key, word, (_, backs) in zip(_UNSET_KEYED.keys, _UNSET_KEYED.literals, _UNSET_STARTS, strict=True)
        if index is None or key in index
        for at in positions(lower, word)
        for back in backs
    )
    return next(iter(matches_at(CREDENTIALS_UNSET, lower, starts)), None)  # the leftmost, as search()


# (cause, what the user says when they have ruled it out, the words every match starts with, whole words one
# of which every match holds: none when the start words are those)
RULED_OUT_PHRASES = (
    (
        "invalid-client-credentials",
        re.compile(
            r"\b(?:client[ _]?id|client[ _]?secret|secret|credentials|keys)\b[^.\n]{0,40}?"
            r"\b(?:are|is|seem|seems)\s+(?:to be\s+)?(?:fine|correct|right|valid|ok|okay)\b"
        ),
        ("client", "secret", "credentials", "keys"),
        ("fine", "correct", "right", "valid", "ok", "okay"),
    ),
    (
        "invalid-client-credentials",
        re.compile(
            r"\b(?:double[- ]?check(?:ed)?|checked|verified|confirmed)\b[^.\n]{0,40}?"
            r"\b(?:client[ _]?id|secret|credentials)\b"
        ),
        ("double", "checked", "verified", "confirmed"),
        (),
    ),
    (
        "expired-or-invalid-token",
        re.compile(
            r"\b(?:fresh|brand new|(?:freshly|newly|just) (?:generated|created|issued|obtained))\s+"
            r"(?:(?:2|3|two|three)[- ]?legged\s+)?(?:oauth\s+)?(?:access\s+)?token\b"
        ),
        ("fresh", "brand", "newly", "just"),
        (),
    ),
    (
        "expired-or-invalid-token",
        re.compile(
            r"\btoken\b[^.\n]{0,60}?\b(?:successfully used|works (?:for|with) (?:other|the other|all other))"
            r"\b"
        ),
        ("token",),
        ("successfully", "works"),
    ),
)


def ruled_out(lower: str, index: str | None = None) -> set[str]:
    """The causes the user says they already ruled out: credentials checked and fine, a token just generated
    or working for other calls. `index`: `word_index(lower)`, if known (whole words are looked up there)."""
    words = lower if index is None else index  # (the index holds each word of `lower` whole, one a line)
    lines = None if index is None else f"\n{index}\n"
    found = set()
    for cause, pattern, starts, needs in RULED_OUT_PHRASES:
        if cause in found or not any(word in words for word in starts):
            continue
        if needs and not any(word in lower if lines is None else f"\n{word}\n" in lines for word in needs):
            continue
        if matches_at(pattern, lower, (at for word in starts for at in positions(lower, word))):
            found.add(cause)
    return found

"""Find and blank secrets in pasted text: bearer tokens, JWTs, client secrets, Basic auth, Slack tokens.

Diagnosis runs on the redacted text, so no evidence, signal or reply can carry a secret. Obvious placeholders
(`<token>`, `${SECRET}`, `YOUR_CLIENT_SECRET`, `***`) are left alone so nobody is told to rotate them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.diagnosis.scan import anchor_offsets, anchored, any_occurs, keyed, matches_at

MASK = "[REDACTED]"

_VALUE = r"[^\s\"'&,;}\])]+"
_CREDENTIAL_FIELDS = (
    r"access_token|refresh_token|id_token|accessToken|refreshToken|client_secret|clientSecret|"
    r"APS_CLIENT_SECRET|FORGE_CLIENT_SECRET|CLIENT_SECRET|secret|password|passwd|api_?key|apiKey|token"
)

# (kind, words one of which must be in the lower-cased text for the pattern to run, pattern, secret's group)
_PATTERNS: tuple[tuple[str, tuple[str, ...], re.Pattern[str], int], ...] = (
    ("bearer", ("bearer",), re.compile(r"\b(Bearer)(\s+)([A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE), 3),
    ("basic", ("basic",), re.compile(r"\b(Basic)(\s+)([A-Za-z0-9+/=]{8,})"), 3),
    ("jwt", ("eyj",), re.compile(r"()()(eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}(?:\.[A-Za-z0-9_-]*)?)"), 3),
    (
        "slack-token",
        ("xox", "xapp-"),
        re.compile(r"()()\b(xox[abposr]-[A-Za-z0-9-]{8,}|xapp-[A-Za-z0-9-]{8,})"),
        3,
    ),
    (
        "curl-user",
        ("-u", "--user"),
        re.compile(r"((?:^|\s)(?:-u|--user)\s+['\"]?[^\s:'\"]+:)()([^\s'\"]+)"),
        3,
    ),
    ("url-credentials", ("@",), re.compile(r"(https?://[^\s/:@]+:)()([^\s/@]+)(?=@)"), 3),
    (
        "key-value",
        ("token", "secret", "passw", "api_key", "apikey"),
        re.compile(
            rf"((?<![\w-])[\"']?(?:{_CREDENTIAL_FIELDS})[\"']?\s*[:=]\s*)([\"']?)({_VALUE})",
            re.IGNORECASE,
        ),
        3,
    ),
)

# Where each pattern's match can start: (anchor, how far before it) pairs, and whether the anchors are
# sought in the lower-cased text (for IGNORECASE patterns; then only ASCII text takes this fast path).
_FIELD_SPELLINGS = {
    field.lower().replace("_?", underscore): None
    for field in _CREDENTIAL_FIELDS.split("|")
    for underscore in ("_", "")  # api_?key
}
_FIELD_STARTS = anchor_offsets(_FIELD_SPELLINGS, ("token", "secret", "passw", "api_key", "apikey"))
_STARTS: dict[str, tuple[dict[str, tuple[int, ...]], bool]] = {
    "bearer": ({"bearer": (0,)}, True),
    "basic": ({"Basic": (0,)}, False),
    "jwt": ({"eyJ": (0,)}, False),
    "slack-token": ({"xox": (0,), "xapp-": (0,)}, False),
    "curl-user": ({"-u": (0, 1, 2)}, False),  # "-u", " -u", " --user" (its "-u" 2 in)
    "url-credentials": ({"http": (0,)}, False),
    "key-value": ({a: tuple(sorted({*b, *(n + 1 for n in b)})) for a, b in _FIELD_STARTS.items()}, True),
}

_PLACEHOLDER = re.compile(
    r"^(?:\[REDACTED\]|<[^>]*>?|\$\{?[\w.]*\}?|%\w+%|\{\{?[\w.]*\}?\}?|\*+|x+|\.{2,}|null|none|true|false|"
    r"undefined|string|bearer|basic|(?:your|my)[\w-]*|[A-Z0-9]*_(?:SECRET|TOKEN|KEY|PASSWORD)[A-Z0-9_]*)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Redaction:
    """The text with secrets blanked, and whether (and which kinds of) secrets were found."""

    text: str
    found: bool
    kinds: tuple[str, ...] = ()


def _is_placeholder(value: str) -> bool:
    return len(value) < 6 or bool(_PLACEHOLDER.match(value))


def _substitute(matches: list[re.Match[str]], mask: Callable[[re.Match[str]], str], text: str) -> str:
    """`pattern.sub(mask, text)`, given the pattern's matches in `text` (in order, none empty)."""
    if not matches:
        return text
    parts, last = [], 0
    for match in matches:
        parts += (text[last : match.start()], mask(match))
        last = match.end()
    parts.append(text[last:])
    return "".join(parts)


_GUARDS = {kind: keyed(words) for kind, words, _, _ in _PATTERNS}


def redact(text: str, index: str | None = None) -> Redaction:
    """Blank every secret in `text`; placeholders are kept as they are. `index`: `word_index(text.lower())`,
    if known (it rules most patterns' words out faster)."""
    kinds: list[str] = []
    lower = text.lower()
    ascii_only = text.isascii()  # then lower-casing keeps every offset, and IGNORECASE means ASCII case
    for kind, _, pattern, group in _PATTERNS:
        if not any_occurs(_GUARDS[kind], lower, index):
            continue

        def _mask(match: re.Match[str], kind: str = kind, group: int = group) -> str:
            secret = match.group(group)
            if _is_placeholder(secret) or MASK in secret:
                return match.group(0)
            if kind not in kinds:
                kinds.append(kind)
            start, end = match.span(group)
            base = match.start(0)
            whole = match.group(0)
            return whole[: start - base] + MASK + whole[end - base :]

        anchors, in_lower = _STARTS[kind]
        if in_lower and not ascii_only:
            text = pattern.sub(_mask, text)
            continue
        starts = anchored(text.lower() if in_lower else text, anchors)
        text = _substitute(matches_at(pattern, text, starts), _mask, text)
    return Redaction(text=text, found=bool(kinds), kinds=tuple(kinds))

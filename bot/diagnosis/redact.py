"""Find and blank secrets in pasted text: bearer tokens, JWTs, client secrets, Basic auth, Slack tokens.

Diagnosis runs on the redacted text, so no evidence, signal or reply can carry a secret. Obvious placeholders
(`<token>`, `${SECRET}`, `YOUR_CLIENT_SECRET`, `***`) are left alone so nobody is told to rotate them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


def redact(text: str) -> Redaction:
    """Blank every secret in `text`; placeholders are kept as they are."""
    kinds: list[str] = []
    lower = text.lower()
    for kind, words, pattern, group in _PATTERNS:
        if not any(word in lower for word in words):
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

        text = pattern.sub(_mask, text)
    return Redaction(text=text, found=bool(kinds), kinds=tuple(kinds))

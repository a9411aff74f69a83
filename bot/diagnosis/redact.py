"""Find and blank secrets in pasted text: bearer tokens, JWTs, client secrets, Basic auth, Slack tokens.

Diagnosis runs on the redacted text, so no evidence, signal or reply can carry a secret. Obvious placeholders
(`<token>`, `${SECRET}`, `YOUR_CLIENT_SECRET`, `***`) are left alone so nobody is told to rotate them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rapidfuzz.utils import default_process

from bot.diagnosis.scan import anchor_offsets, anchored, keyed, matches_at, positions, present

MASK = "[REDACTED]"

_VALUE = r"(?:[^\s\"'&,;}\])\\]|\\/)+"  # a JSON-escaped "\/" inside does not end it
# A quoted value runs to its closing quote ("P&ss,w0rd;}"), as JSON escaped once or twice writes it
_QUOTED = r"(?<=\")(?:[^\"\s\\]|\\/){1,256}+(?=\\{0,3}\")|(?<=')[^'\s\\]{1,256}+(?=\\{0,3}')"
# The rest of a credential's name after its word ("_SECRET", "Token.Value"): bounded, so a paste of one word
# repeated ("tokentoken…") costs each occurrence 64 steps, not the rest of the paste (40,000 chars: 10 s).
_NAME_TAIL = r"[A-Za-z0-9_.-]{0,64}[\\\"'\]]{0,4}"  # ASCII: "Token遇invalid_client错误:" is a sentence
# A credential's name holds one of these ("APS_CLIENT_SECRET", "clientSecret", "x-api-key", "refresh_token",
# "ForgeClientSecret", "SLACK_SIGNING_SECRET"): a match starts at the word, wherever it sits in the name.
_FIELD_WORD = r"(?:secret|passw(?:or)?d|(?<!publickey)token|api[_-]?key)"  # a .NET PublicKeyToken is public
_FIELD_ANCHORS = ("secret", "passw", "token", "api_key", "apikey", "api-key")
_SECRET_WORD = r"(?:secret|passw(?:or)?d|api[_-]?key)"  # noqa: S105 - a pattern; "token" is too common in prose
# but an access, refresh, bearer or auth token is one ("The refresh token mK3v… is invalid or expired")
_TOKEN_KINDS = ("access", "refresh", "bearer", "auth")
_TOKEN_AFTER = "|".join(f"(?<={kind}{gap})" for kind in _TOKEN_KINDS for gap in ("", "[ _-]"))
_TOKEN_WORD = f"(?:{_TOKEN_AFTER})token"
_SECRET_ANCHORS = ("secret", "passw", "api_key", "apikey", "api-key")
# A token as written after its name: its characters, "%2F" escapes, "\/", dots inside it ("ya29.a0Af…")
# Invisible characters (zero-width space, joiners, word joiner, BOM) inside a token do not cut it short
_ZW = "\u200b-\u200d\u2060\ufeff"
_AS_WRITTEN = rf"(?:[A-Za-z0-9_~+/={_ZW}-]|%[0-9A-Fa-f]{{2}}|\\/|\.(?=[A-Za-z0-9_~+/=-]))+"
# A token's characters; a "/" may come JSON-escaped ("\/", as PHP's json_encode writes it).
_JWT_PART = f"[A-Za-z0-9_{_ZW}-]"  # spelled out: a class with \w (re.ASCII) scans "eyJeyJ…" half as fast
# The rest of a long token that a console wrapped onto the next lines: whole lines of its characters, each
# mixing lower case, upper case and digits as base64 does (not a host name, a word, a status line or a
# base64-encoded URN, "dXJu…", which the diagnosis reads)
_LINE_CHAR = "[A-Za-z0-9_.~-]"
_WRAPPED = (
    rf"(?-i:(?:\r?\n(?!dXJu)(?={_LINE_CHAR}*[a-z])(?={_LINE_CHAR}*[A-Z])(?={_LINE_CHAR}*\d)"
    rf"{_LINE_CHAR}{{16,}}+(?![^\r\n]))*)"
)
_OPAQUE_RUN = rf"(?:[A-Za-z0-9._~+={_ZW}-]|\\?/){{8,}}"

# (kind, words one of which must be in the lower-cased text for the pattern to run, pattern, secret's group)
_PATTERNS: tuple[tuple[str, tuple[str, ...], re.Pattern[str], int], ...] = (
    (
        "bearer",
        ("bearer",),
        re.compile(
            rf"(?:\b|(?<=set))(Bearer)([\s:]+[`*]?|%20|Auth\(\s*[\"'])({_OPAQUE_RUN}{_WRAPPED})",
            re.IGNORECASE,
        ),
        3,
    ),
    (
        "basic",
        ("basic",),
        re.compile(rf"\b(Basic)(\s+|%20)((?:[A-Za-z0-9+={_ZW}]|\\?/){{8,}})", re.IGNORECASE),
        3,
    ),
    (  # the other common scheme name: "Authorization: Token <value>"
        "token-scheme",
        ("authorization",),
        re.compile(rf"\b(Authorization[\"']?\s*[:=]\s*[\"']?Token)(\s+)({_OPAQUE_RUN})", re.IGNORECASE),
        3,
    ),
    (  # .NET's new AuthenticationHeaderValue("Bearer", "…") or ("Basic", "…")
        "header-value",
        ("authenticationheadervalue",),
        re.compile(
            r"(AuthenticationHeaderValue\(\s*[\"'](?:Bearer|Basic)[\"']\s*,\s*)([\"'])([^\"'\s]+)",
            re.IGNORECASE,
        ),
        3,
    ),
    (  # the scheme left out ("Authorization: mK3v…", a cause of 401s): a value as long and mixed as a token
        "authorization-value",
        ("authorization",),
        re.compile(rf"(\bAuthorization[\"']?\s*[:=]\s*)([\"']?)({_OPAQUE_RUN})", re.IGNORECASE),
        3,
    ),
    (  # an incoming-webhook URL is itself the credential
        "slack-webhook",
        ("hooks.slack.com",),
        re.compile(  # also as Slack's JSON writes it ("https:\/\/hooks…"), and response URLs
            r"(https:(?:\\?/){2}hooks\.slack\.com(?:\\?/)(?:services|workflows|triggers|commands|actions)(?:\\?/))()"
            r"((?:[\w-]|\\?/)+)"
        ),
        3,
    ),
    (  # segments bounded (and possessive: no "." inside them) so "eyJeyJ…" is not quadratic
        "jwt",
        ("eyj",),
        re.compile(rf"()()(eyJ{_JWT_PART}{{5,4096}}+\.{_JWT_PART}{{5,16384}}+(?:\.{_JWT_PART}*)?{_WRAPPED})"),
        3,
    ),
    (
        "slack-token",
        ("xox", "xapp-"),
        re.compile(r"()()\b(xox[a-z]-[A-Za-z0-9-]{8,}|xapp-[A-Za-z0-9-]{8,})"),
        3,
    ),
    (
        "curl-user",  # -u id:secret, -u"id:secret", -uid:secret, --user=id:secret
        ("-u", "--user"),
        re.compile(r"((?:^|\s)(?:-u|--user)(?:\s+|=)?['\"]?[^\s:'\"]+:)()([^\s'\"]+)"),
        3,
    ),
    (
        "basic-source",  # what a Basic header is made of: echo -n id:secret | base64, b64encode(b'id:secret')
        ("echo", "b64encode", "btoa", "getbytes", "buffer.from"),  # also btoa('id:…'), GetBytes("id:…")
        re.compile(
            r"((?:echo\s+-n\s+|b64encode\(\s*b?|(?:btoa|GetBytes|Buffer\.from)\(\s*)['\"]?[\w.@-]+:)()([^\s'\"|)]+)"
        ),
        3,
    ),
    (  # a client id and its secret, joined as for a Basic header: "id:secret" (`_pair_kept` tells which)
        "id-secret-pair",
        (":",),
        re.compile(r"(?<=[A-Za-z0-9]{6})(:)()([A-Za-z0-9]{16,})(?![\w-])"),
        3,
    ),
    (  # an APS client id (32 mixed letters and digits) and its secret as arguments: Credentials("id", "…")
        "id-secret-args",
        ("'", '"'),
        re.compile(
            r"((?<![\w\\])\\?([\"'])(?=[A-Za-z0-9]{0,31}[a-z])(?=[A-Za-z0-9]{0,31}[A-Z])(?=[A-Za-z0-9]{0,31}\d)"
            r"[A-Za-z0-9]{32}\\?\2\s*,\s*\\?)([\"'])([^\"'\s\\]{6,256}+)(?=\\?\3(?!\s*(?::|=>)))"
        ),
        4,
    ),
    ("url-credentials", ("@",), re.compile(r"(https?://[^\s/:@]+:)()([^\s/@]+)(?=@)"), 3),
    (
        "signed-url",  # the signature of a signed download or upload URL grants access until it expires
        ("signature", "security-token", "credential", "sig="),
        re.compile(
            r"([?&](?:Signature|X-Amz-Signature|X-Amz-Security-Token|X-Amz-Credential|sig)=)()([^&\s\"'<>]+)",
            re.IGNORECASE,
        ),
        3,
    ),
    (  # an OSS signed resource: its id is the credential (whoever holds the URL may download or upload)
        "signed-resource",
        ("signedresources",),
        re.compile(r"((?:\\?/)signedresources(?:\\?/))()([^\s/?#&\"'<>|\\]+)", re.IGNORECASE),
        3,
    ),
    # an authorization code in a callback URL or a form body (?code=, -d code=); error codes are shorter
    ("oauth-code", ("code=",), re.compile(r"((?<![\w-])code=)()([A-Za-z0-9._~-]{16,})"), 3),
    (
        "oauth-code-json",  # sent to the token endpoint; error codes ("AUTH-001") are short or one case
        ('"code"', "'code'"),
        re.compile(
            r"([\"']code[\"']\s*:\s*)([\"'])((?=[^\"']*[a-z])(?=[^\"']*[A-Z])(?=[^\"']*\d)[A-Za-z0-9._~-]{20,})"
            r"(?=[\"'])"
        ),
        3,
    ),
    (
        # {"key": "client_secret", "value": "…"} in Postman exports, {"name": …, "value": …} in HAR files,
        # <add key="ForgeClientSecret" value="…" /> in .NET's appSettings
        "postman",
        ("key", "name"),
        re.compile(
            r"((?:\"(?:key|name)\"\s*:\s*|\b(?:key|name)\s*=\s*)"
            rf"\"[^\"\n]{{0,64}}{_FIELD_WORD}[^\"\n]{{0,64}}\"\s*,?\s*(?:\"value\"\s*:|\bvalue\s*=)\s*)(\")([^\"\s]+)",
            re.IGNORECASE,
        ),
        3,
    ),
    (
        "key-value",  # name = value, "name": "value", := => %3D, typed, setters, "name is value"
        _FIELD_ANCHORS,
        re.compile(
            rf"({_FIELD_WORD}{_NAME_TAIL}(?:\s*:\s*[A-Za-z]\w{{0,64}}\??(?=\s*=[^=>]))?"
            r"(?:\s*(?::=|=>|%3D|[:=：＝])|\s+(?:is|was)\s|(?<=[\"'])\s*,\s*(?=[\"'][^\"'\s]+[\"']\s*[,)])|\(\s*(?=[\"'][^\"'\s]*[\"']\s*\)))\s*)"
            rf"(\\{{0,3}}[\"']?)({_QUOTED}|{_VALUE})",
            re.IGNORECASE,
        ),
        3,
    ),
    (
        "secret-word",  # prose, logs, tables: "client secret AbC…", "clientSecret\tAbC…", "| Secret | AbC…"
        _SECRET_ANCHORS,
        re.compile(rf"({_SECRET_WORD}{_NAME_TAIL}\s+(?:\|\s+)?)([\"']?)({_VALUE})", re.IGNORECASE),
        3,
    ),
    (  # "The refresh token mK3v… is invalid": only a value shaped like a token ("access token AUTH-001" not)
        "token-word",
        ("token",),
        re.compile(  # the token's own characters: a quote, backtick or "." around it is not masked with it
            rf"({_TOKEN_WORD}{_NAME_TAIL}\s+)([\"'`*(]{{0,2}})({_AS_WRITTEN})", re.IGNORECASE
        ),
        3,
    ),
    (  # "The token mK3v… has expired", "token provided 'mK3v…'": only a value mixed like a token
        "token-shaped",
        ("token",),
        re.compile(
            rf"(token\s+(?:(?:provided|used|value|string)\s+)?)([\"'`*(]{{0,2}})({_AS_WRITTEN})",
            re.IGNORECASE,
        ),
        3,
    ),
    (
        # <client_secret>…</client_secret>: every closing tag of such a field ends in one of these. Values up
        # to 256 characters (a JWT, longer, is the jwt pattern's): "secret>secret>…" stays linear.
        "xml",
        ("secret>", "token>", "password>", "passwd>", "key>"),
        re.compile(
            rf"({_FIELD_WORD}[\w:.-]{{0,64}}>)()([^<\s]{{1,256}}+)"
            rf"(?=</[\w:.-]{{0,64}}{_FIELD_WORD})",
            re.IGNORECASE,
        ),
        3,
    ),
)

# Where each pattern's match can start: (anchor, how far before it) pairs, and whether the anchors are
# sought in the lower-cased text (for IGNORECASE patterns; then only ASCII text takes this fast path).
_AT_FIELD = {anchor: (0,) for anchor in _FIELD_ANCHORS}
_STARTS: dict[str, tuple[dict[str, tuple[int, ...]], bool]] = {
    "bearer": ({"bearer": (0,)}, True),
    "basic": ({"basic": (0,)}, True),
    "token-scheme": ({"authorization": (0,)}, True),
    "header-value": ({"authenticationheadervalue": (0,)}, True),
    "authorization-value": ({"authorization": (0,)}, True),
    "slack-webhook": ({"https:": (0,)}, False),
    "jwt": ({"eyJ": (0,)}, False),
    "slack-token": ({"xox": (0,), "xapp-": (0,)}, False),
    "curl-user": ({"-u": (0, 1, 2)}, False),  # "-u", " -u", " --user" (its "-u" 2 in)
    "basic-source": (dict.fromkeys(("echo", "b64encode", "btoa", "GetBytes", "Buffer.from"), (0,)), False),
    "id-secret-pair": ({":": (0,)}, False),
    "id-secret-args": ({'"': (0, 1), "'": (0, 1)}, False),  # the quote before the id, or its "\\"
    "url-credentials": ({"http": (0,)}, False),
    "signed-url": (
        anchor_offsets(
            ("?signature", "?x-amz-signature", "?x-amz-security-token", "?x-amz-credential", "?sig="),
            ("signature", "security-token", "credential", "sig="),
        ),
        True,
    ),
    "signed-resource": ({"signedresources": (1, 2)}, True),  # "/signedresources", "\\/signedresources"
    "oauth-code": ({"code=": (0,)}, False),
    "oauth-code-json": ({'"code"': (0,), "'code'": (0,)}, False),
    "postman": ({"key": (0, 1), "name": (0, 1)}, True),  # "key" and '"key"', "name" and '"name"'
    "key-value": (_AT_FIELD, True),
    "secret-word": ({anchor: (0,) for anchor in _SECRET_ANCHORS}, True),
    "token-word": ({"token": (0,)}, True),
    "token-shaped": ({"token": (0,)}, True),
    "xml": (_AT_FIELD, True),
}

_PLACEHOLDER = re.compile(
    r"^(?:\[REDACTED\]|<[^>]*>?|\$\{?[\w.]*\}?|%\w+%|\{\{?[\w.]*\}?\}?|\*+|x+|[a-z0-9]{1,8}[_-]x{6,}|\.{2,}|null|none|true|false|"
    r"undefined|string|bearer|basic|(?:your|my)(?:[_-]\w*|(?:client|app|api|access|secret|token|password|key|id)"
    r"[\w-]*)?|[A-Z0-9_]*_(?:SECRET|TOKEN|KEY|PASSWORD)[A-Z0-9_]*|"
    r"\[[a-z_ .-]*\]?|#+|redacted|hidden|removed|masked|"
    r"(?:client[_-]?)?secret|passw(?:or)?d|token|api[_-]?key)$",
    re.IGNORECASE,
)
_PLAIN_WORD = re.compile(r"[A-Za-z][a-z]*")  # "expired", "Authorization": words, not credentials
_SHORT_WORD = re.compile(r"[A-Za-z][a-z]{0,11}")
_CONSTANT = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")  # "AUTODESK_URL": the next line's name
_SNAKE = re.compile(r"[a-z]+(?:_[a-z]+)+")  # "grant_type", "client_credentials": names and enums
_NAME = re.compile(r"(?:[A-Z][a-z]+){1,5}")  # "ClientSecret": a name in code, not its value
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")  # a sentence goes on
# a token endpoint's URL, a lifetime in seconds or a date, a scope ("data:read")
_NOT_SECRET_VALUE = re.compile(r"https?:.*|\[?\d[\d/.:+TZ-]*\]?|[a-z-]+:[a-z-]+")  # also a log line's time
_ENUM = re.compile(r"[a-z_]+")  # "client_credentials", "authorization_code"
# what the diagnosis reads, never a secret: an APS error code ("(AUTH-003)", "BIM360DM_ERROR"), "HTTP/1.1"
_ERROR_CODE = re.compile(r"\(?(?:[A-Z][A-Z0-9]{1,15}-\d{2,5}|[A-Z0-9]+_ERROR)\)?[.,:;]?|HTTP/[\d.]+")
# and the ids it reads: a b.-prefixed hub or project id, a URN (also base64-encoded), an API path
_APS_ID = re.compile(r"[bB]\.[0-9A-Fa-f-]{36}|(?:urn|URN):[\w.:%/-]+|dXJu[\w-]*={0,2}|/[a-z0-9_.{}/-]+")
_GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
# code that reads a secret from elsewhere: process.env.APS_CLIENT_SECRET, os.getenv(, config[, this.token,
# get_token(CLIENT_ID; after the bracket a name at most ("Spring(2024)!", "Ab(3dE5gH7jK9" are passwords)
_CODE = re.compile(
    r"(?:[A-Za-z_$][\w$]*\.)*[A-Za-z_$][\w$]*[(\[](?:[A-Za-z_$][\w$.]*)?|(?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*"
)
_PART = re.compile(r"[\w$]+")


@dataclass(frozen=True)
class Redaction:
    """The text with secrets blanked, and whether (and which kinds of) secrets were found."""

    text: str
    found: bool
    kinds: tuple[str, ...] = ()


def _is_placeholder(value: str) -> bool:
    return len(value) < 6 or bool(_PLACEHOLDER.match(value))


def _code(value: str) -> bool:
    """Whether `value` is an expression (a name, its attributes, a call) rather than a token with dots in it
    ("ya29.a0AfH6SMBx1234abcd": a part as long and mixed as a secret is no name)."""
    return bool(_CODE.fullmatch(value)) and not any(
        len(part) >= 12 and all(any(map(mixed, part)) for mixed in _MIXED) for part in _PART.findall(value)
    )


def _occurs(word: str, lower: str, possible: set[str], seen: dict[str, bool]) -> bool:
    """Whether `word` occurs in `lower` (checked once per paste; never when the index rules it out)."""
    if word not in possible:
        return False
    found = seen.get(word)
    if found is None:
        found = seen[word] = word in lower
    return found


_SECRET_RUN = re.compile(r"^[a-z0-9]{16,}$", re.MULTILINE)


def _before_secret_runs(text: str, index: str) -> list[int]:
    """Each ":" right before a run of 16+ letters and digits: where an id-secret pair can start. `index`:
    `word_index` of the paste, which holds every such run as one of its words (so its long words are all)."""
    lower = text.lower()
    return [
        at - 1
        for word in _SECRET_RUN.findall(index)
        for at in positions(lower, word)
        if at and lower[at - 1] == ":"
    ]


_CLIENT_ID_RUN = re.compile(r"^[a-z0-9]{32}$", re.MULTILINE)


def _before_client_ids(lower: str, index: str | None) -> list[int]:
    """Where an id-secret-args match can start: the quote (or the backslash escaping it) right before a run of
    exactly 32 letters and digits, as an APS client id is written between its quotes. `index`: `word_index`
    of the paste, which holds every such run as one of its words (blanking makes none: a mask sits between
    brackets, an id between quotes); without it, the runs are read off `lower` itself (ASCII text)."""
    if index is None:
        words = [word for word in default_process(lower).split() if len(word) == 32]
    else:
        words = _CLIENT_ID_RUN.findall(index)
    return [
        at - back
        for word in dict.fromkeys(words)
        for at in positions(lower, word)
        for back in (1, 2)
        if at >= back
    ]


APS_ID_LENGTH = 24  # APS client ids have 32 letters and digits; 24 leaves room for a trimmed one
_NOT_ID_BEFORE = frozenset("._:/@=-\\")  # "dm.lineage:…", "urn:adsk:…", "x-ads-…:": names, not ids
_MIXED = (str.islower, str.isupper, str.isdigit)


def _pair_kept(text: str, colon: int, secret: str) -> bool:
    """Whether "name:value" at `colon` is no id joined to its secret. An APS-long id: any value is its secret.
    A shorter one (an app's own, or an id cut short for the paste) must stand alone and hold a digit, and
    the value must mix lower case, upper case and digits, as secrets do ("objectKey:MyModel" is no pair)."""
    start = colon
    while start > 0 and text[start - 1].isascii() and text[start - 1].isalnum():
        start -= 1
    if colon - start >= APS_ID_LENGTH:
        return False
    return not (
        (start == 0 or text[start - 1] not in _NOT_ID_BEFORE)
        and any(map(str.isdigit, text[start:colon]))
        and all(any(map(kind, secret)) for kind in _MIXED)
        and not secret.startswith("dXJu")  # an encoded URN ("urn:…" in base64), not a secret
    )


_QUOTE_IN_GROUP_2 = frozenset(("key-value", "secret-word"))  # the value's opening quote, if any
_PROSE = frozenset(("secret-word", "token-word", "token-shaped", "authorization-value"))


def _kept(kind: str, value: str, quoted: bool = False) -> bool:
    """Whether a value in a secret's place is left as it is: a placeholder, or what `kind` shows is no secret
    ("Basic authentication", "token: expired", "token_url: https://…"). `quoted`: the value is a string
    literal, so no code that reads a secret from elsewhere ("MyApp.Secret9" is the secret itself)."""
    if _is_placeholder(value) or MASK in value or _ERROR_CODE.fullmatch(value) or _APS_ID.fullmatch(value):
        return True
    if kind in _PROSE and _GUID.fullmatch(value):  # "the access token 0f1c2d3e-…": an id the paste names
        return True
    if kind in ("bearer", "basic", "token-scheme", "oauth-code"):
        return bool(_PLAIN_WORD.fullmatch(value))
    if kind == "token-word":  # 12+ characters with letters and digits: not a code, a class name or a grant
        return len(value) < 12 or not (any(map(str.isalpha, value)) and any(map(str.isdigit, value)))
    if kind == "secret-word":  # prose: any word ("AFAIK", "(Parameter"), unless as long and mixed as a secret
        word = value.lstrip("(").rstrip(".!?:=")  # "value=" in <add key="…Secret" value="…">
        return bool(
            (_code(value) and not quoted)
            or not value.isascii()  # "Access Token を取得して": the sentence goes on in another script
            or _PLAIN_WORD.fullmatch(word)
            or (word.isalpha() and len(word) <= 12)
            or _NOT_SECRET_VALUE.fullmatch(value)
            or _CONSTANT.fullmatch(word)
        )
    if kind in ("key-value", "xml"):
        return bool(
            _SHORT_WORD.fullmatch(value.rstrip(".!?:"))
            or _NOT_SECRET_VALUE.fullmatch(value)
            or _NAME.fullmatch(value)
            or _SNAKE.fullmatch(value)
            or (_code(value) and not quoted)
            or _CJK.search(value)
        )
    if kind == "id-secret-args":  # a scope, a grant type or a URL after the id: no secret
        return bool(
            _SHORT_WORD.fullmatch(value) or _NOT_SECRET_VALUE.fullmatch(value) or _ENUM.fullmatch(value)
        )
    if kind == "authorization-value":  # "Authorization: required", "Authorization=3-legged"
        return len(value) < 16 or not (any(map(str.isalpha, value)) and any(map(str.isdigit, value)))
    if kind == "token-shaped":  # prose goes on ("token GetThreeLeggedTokenAsync"): lower, upper and digits
        return (
            len(value) < 16 or not all(any(map(mixed, value)) for mixed in _MIXED) or value.startswith("dXJu")
        )
    return False


def _match_kept(kind: str, match: re.Match[str], group: int) -> bool:
    """Whether a match of pattern `kind` is left as it is (its secret is `match.group(group)`)."""
    secret = match.group(group)
    quoted = kind in _QUOTE_IN_GROUP_2 and any(quote in match.group(2) for quote in "\"'")
    return _kept(kind, secret, quoted) or (
        kind == "id-secret-pair" and _pair_kept(match.string, match.start(), secret)
    )


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


# Every pattern's words, keyed once: one look at the paste's index rules most of them out for all patterns.
_GUARD_WORDS = keyed(dict.fromkeys(word for _, words, _, _ in _PATTERNS for word in words))


def redact(text: str, index: str | None = None) -> Redaction:
    """Blank every secret in `text`; placeholders are kept as they are. `index`: `word_index(text.lower())`,
    if known (it rules most patterns' words out faster)."""
    kinds: list[str] = []
    lower = text.lower()
    ascii_only = text.isascii()  # then lower-casing keeps every offset, and IGNORECASE means ASCII case
    possible = None if index is None else set(present(_GUARD_WORDS, index))  # None: any word can occur
    occurring: dict[str, bool] = {}
    for kind, words, pattern, group in _PATTERNS:
        if possible is None:  # a short paste: look for the words themselves
            if not any(map(lower.__contains__, words)):
                continue
        elif not any(_occurs(word, lower, possible, occurring) for word in words):
            continue

        def _mask(match: re.Match[str], kind: str = kind, group: int = group) -> str:
            if _match_kept(kind, match, group):
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
            lower = text.lower()
            continue
        if kind == "id-secret-pair" and index is not None:
            starts = _before_secret_runs(text, index)  # not every ":" of a long log: only those before 16+
        elif kind == "id-secret-args" and ascii_only:  # not every quote: only those before a client id
            starts = _before_client_ids(lower, index)
        else:
            starts = anchored(lower if in_lower else text, anchors)
        masked = _substitute(matches_at(pattern, text, starts), _mask, text)
        if masked is not text:  # blanking changes offsets: the lower-cased text follows
            text, lower = masked, masked.lower()
    return Redaction(text=text, found=bool(kinds), kinds=tuple(kinds))

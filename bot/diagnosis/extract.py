"""Pull the signals out of a messy paste: statuses, error codes, messages, APS endpoints, ids, regions.

Pure and knowledge-base independent. Works on JSON bodies anywhere in the text (code fences, log prefixes,
escaped inside strings, truncated) by reading key/value pairs with regular expressions rather than parsing,
so a cut-off or Python-repr body yields the same signals as clean JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.diagnosis.scan import (
    Keyed,
    anchor_offsets,
    anchored,
    any_occurs,
    keyed,
    matches_at,
    positions,
    present,
    runs_with,
    word_index,
)

MAX_CANDIDATES = 60
MAX_LINE = 300
LINE_OVERLAP = 100  # of a long line's pieces
SMALL_PASTE = 2_000  # shorter pastes are read whole
FOCUS_HEAD = FOCUS_TAIL = 8_000  # of a long paste's error lines, the first and last this many characters

# A long paste (logs, stack traces) is read only on its lines holding one of these (lower-case) words.
_HOT_WORDS = (
    "error", "exception", "forbidden", "unauthori", "denied", "permission", "privilege", "invalid",
    "expired", "quota", "exceeded", "http/", "status", "message", "errorcode", "detail", "title", "reason",
    "autodesk", "legged", "client_credentials", "x-user-id", "redirect_uri", "scope", "integration",
    "401", "403", "404", "429", "fail", "deprecated", "legacy", "not found", "access", "bearer", "region",
)  # fmt: skip

_HOT_KEYED = keyed(_HOT_WORDS)

APS_API_HOSTS = re.compile(
    r"(?:[\w-]+\.)*api\.autodesk\.com|cdn\.derivative\.autodesk\.com|[\w-]+\.autodesk360\.com",
    re.IGNORECASE,
)
APS_DOCS_HOSTS = re.compile(
    r"(?:aps|forge|developer|help|construction|acc|b360dm|docs\.b360|admin\.b360)\.autodesk\.com",
    re.IGNORECASE,
)
_URL = re.compile(
    r"(?:https?://|(?<![\w.@-]))([\w-]+(?:\.[\w-]+)+)(/[^\s\"'<>()\[\]{}|\\`]*)?", re.IGNORECASE
)
_API_ROOTS = (
    "authentication|project|data|oss|modelderivative|derivativeservice|construction|hq|bim360|da|webhooks|"
    "issues|userprofile|userinfo|viewingservice|acc|cost|dataexchange|aec|reality|fusiondata|tokenflex|"
    "parameters|designautomation|flow|insights|data-connector"
)
# The lookbehind sits after the leading "/" (it then looks at the character before it): same matches, but
# the pattern starts with a literal, so the regex engine jumps from slash to slash.
_BARE_PATH = re.compile(rf"(/(?<![\w/.:-]/)(?:{_API_ROOTS})/(?:[\w.:%{{}}\-/]|<\w+>)*)")
# Written without the leading slash ("construction/admin/v1/…"): only with a version segment, to stay an API.
_SLASHLESS_PATH = re.compile(rf"(?<![\w/.:@-])((?:{_API_ROOTS})/(?:[\w-]+/)?v\d+(?:/[\w.:%{{}}\-/]*)?)")

# key: value pairs in JSON, Python reprs, logs; value quoted (single or double) or bare.
_KV_KEYS = (  # case-sensitive on purpose: these spellings are what APS and SDKs print, and it is fast
    "errorCode", "ErrorCode", "errorcode", "error_code", "developerMessage", "error_description",
    "errorDescription", "errorMessage", "error", "Error", "Detail", "detail", "Title", "title", "message",
    "Message", "code", "Code", "reason", "Reason", "HttpStatusCode", "statusCode", "status", "Status",
    "userMessage", "diagnostic", "faultstring",
)  # fmt: skip
_KV_KEY = "|".join(_KV_KEYS)
_KV = re.compile(
    rf"""(?P<key>{_KV_KEY})["']?\s*[:=]\s*"""
    r"""(?:"(?P<dq>(?:[^"\\\n]|\\.){0,600})"?|'(?P<sq>[^'\n]{0,600})'?|(?P<bare>[^\s,;{}\[\]\n][^,;}\]\n]{0,300}))"""
)
# Every key holds one of these; a key/value match can only start that far before one of them.
_KV_ANCHORS = ("rror", "essage", "etail", "itle", "ode", "eason", "tatus", "iagnostic", "aultstring")
_XML_CODE = re.compile(r"<(Code|Message)>([^<]{1,300})</\1>")
_MESSAGE_KEYS = {
    "developermessage",
    "error_description",
    "errordescription",
    "detail",
    "title",
    "message",
    "errormessage",
    "reason",
    "usermessage",
    "diagnostic",
    "faultstring",  # the API gateway's own answer: {"fault":{"faultstring":…,"detail":{"errorcode":…}}}
}
_CODE_KEYS = {"errorcode", "code"}
_STATUS_KEYS = {"httpstatuscode", "statuscode", "status"}
_CODE_LIKE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{1,60}$")

STATUS_CONTEXT = 40
# "(?<!\d)[1-5]…" with the lookbehind after the first digit: same matches, found by a character-set scan.
_THREE_DIGITS = re.compile(r"[1-5](?<!\d[1-5])\d\d(?!\d)")
_STATUS_PATTERNS = (  # matched against the lower-cased text
    re.compile(r"\bhttp/\d(?:\.\d)?\s+([1-5]\d\d)\b"),
    re.compile(
        r"\b([1-5]\d\d)\s*[-:]?\s*[(\"']?(?:forbidden|unauthori[sz]ed|not found|bad request|"
        r"too many requests|conflict|not acceptable|internal server error|bad gateway|service unavailable|"
        r"gateway time-?out|gone|precondition failed|unprocessable entity)\b"
    ),
    re.compile(
        r"\b(?:status|http[_ ]?status|response[_ ]?code|status[_ ]?code|statuscode|httpstatuscode)"
        r"[\"']?\s*(?:code)?\s*[:=]?\s*[\"']?\(?([1-5]\d\d)\b"
    ),
    re.compile(
        r"\b(?:got|getting|get|gets|returns?|returned|returning|receiv\w*|throws?|threw|with|an?|error|"
        r"http|response)\s+(?:an?\s+)?(?:http\s+)?(?:error\s+)?\(?([45]\d\d)\)?(?![\w.-])"
    ),
    re.compile(r"(?<![\w.-])([45]\d\d)\s+(?:error|response|status)\b"),
    # a bare 401/403/429, but not a stack frame's line ("line 429,", ".cs:line 403") or a header's number
    re.compile(r"(?<![\w.:/-])(?<!line )(?<!length: )(?<!after: )(?<!limit: )(401|403|429)(?![\w.:/-])"),
    re.compile(r"[\"']code[\"']\s*:\s*([1-5]\d\d)\b"),  # {"code":401,"message":…}: a number, not a code
)
# For each status pattern, words one of which any match of it holds (none: always tried).
_STATUS_GUARDS: tuple[tuple[str, ...], ...] = (
    ("http/",),
    ("forbidden", "unauthori", "not found", "bad request", "too many requests", "conflict", "not acceptable",
     "internal server error", "bad gateway", "service unavailable", "gateway time", "gone",
     "precondition failed", "unprocessable entity"),
    ("status", "code"),
    (),
    ("error", "response", "status"),
    ("401", "403", "429"),
    ("code",),
)  # fmt: skip

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_PREFIXED_ID = re.compile(rf"(?<![\w.])b\.({_GUID})\b")
_BARE_GUID = re.compile(rf"(?<![\w.-])({_GUID})\b")
_URN = re.compile(r"\burn:adsk\.[\w.:%-]+", re.IGNORECASE)
_AUTH_CODE = re.compile(r"\bAUTH-\d{3}\b")
_REGION_WORDS = re.compile("US|EMEA|EU|AUS|CAN|DEU|IND|JPN|GBR|APAC")  # where a _REGION match can start
_GUID_MIDDLE = re.compile(r"-(?=[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-)")  # 8 characters into a GUID
_REGION = re.compile(r"\b(US|EMEA|EU|AUS|CAN|DEU|IND|JPN|GBR|APAC)\b")
_REGION_PATH = re.compile(r"/regions/(eu|emea|aus|us)/", re.IGNORECASE)
_TWO_LEGGED = re.compile(
    r"client_credentials|\b(?:2|two)[- ]?legged\b|\b2lo\b|\bapp(?:lication)?[- ]only token\b|gettwolegged"
)
_THREE_LEGGED = re.compile(
    r"authorization_code|\b(?:3|three)[- ]?legged\b|\b3lo\b|/authorize\?|\bx-user-id\b|redirect_uri|"
    r"\bpkce\b|getthreelegged"
)
# Literals one of which each grant pattern needs: a cheap `in` test before the regular expression.
_TWO_LEGGED_WORDS = ("client_credentials", "legged", "2lo", "only token")
_THREE_LEGGED_WORDS = (
    "authorization_code", "legged", "3lo", "/authorize?", "x-user-id", "redirect_uri", "pkce",
)  # fmt: skip
_TWO_LEGGED_KEYED, _THREE_LEGGED_KEYED = keyed(_TWO_LEGGED_WORDS), keyed(_THREE_LEGGED_WORDS)
# Searched in lower-cased lines: error, denied, forbidden, unauthori[sz]ed, permission, privilege, token,
# scope, client, access, invalid, expired, quota, limit, region, integration, hub, project, legacy,
# deprecated, redirect, admin, account, exception, fail, not found, a 4xx/5xx, not allowed, entitle,
# subscription, trial, credit, authori[sz]; grouped by first letter, which the regex engine tries faster
# (a line holds a match of this exactly when it holds one of those words). Every branch starts with a literal
# (the status's \b written as a lookbehind after its first digit), so the engine skips the other characters.
_ERRORISH = re.compile(
    r"a(?:ccess|dmin|ccount|uthori[sz])|c(?:lient|redit)|d(?:enied|eprecated)|"
    r"e(?:rror|xpired|xception|ntitle)|f(?:orbidden|ail)|hub|i(?:nvalid|ntegration)|l(?:imit|egacy)|"
    r"not (?:found|allowed)|p(?:ermission|rivilege|roject)|quota|re(?:gion|direct)|s(?:cope|ubscription)|"
    r"t(?:oken|rial)|4(?<!\w4)\d\d\b|5(?<!\w5)\d\d\b"
)
# A stack frame names code, not an error: Python's `File "…", line N, in f`, and the `at …(…)` frames of
# Java, .NET and Node. Never a candidate line, however error-like its path.
_FRAME = re.compile(r'File "[^"\n]*", line \d+, in [\w<>.]+$|at [\w$.<>`\[\], ]+\(.*\)(?: in \S+:line \d+)?$')
# A curl option line (-d "client_id=…&client_secret=…", -H "Authorization: …"): what was sent, not an answer.
_CURL_OPTION = re.compile(r"-[dHXu] |--(?:data|header|request|user)[\w-]*[ =]")


@dataclass(frozen=True)
class Warning:
    """One JSON:API warning or error object (`meta.warnings[]` or `errors[]`)."""

    status: str
    code: str
    title: str
    detail: str


@dataclass(frozen=True)
class Signals:
    """What the paste says, independent of any knowledge base. Holds no secret (input is redacted)."""

    statuses: tuple[int, ...] = ()
    codes: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    warnings: tuple[Warning, ...] = ()
    endpoints: tuple[str, ...] = ()
    api_families: tuple[str, ...] = ()
    aps_host: bool = False
    prefixed_ids: tuple[str, ...] = ()
    bare_ids: tuple[str, ...] = ()
    urns: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    grant_hints: tuple[str, ...] = ()
    candidates: tuple[str, ...] = field(default=(), repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "http_status": list(self.statuses),
            "error_codes": list(self.codes),
            "messages": list(self.messages),
            "warnings": [vars(w) for w in self.warnings],
            "endpoints": list(self.endpoints),
            "api_families": list(self.api_families),
            "aps_host": self.aps_host,
            "ids": {
                "prefixed": list(self.prefixed_ids),
                "bare": list(self.bare_ids),
                "urns": list(self.urns),
            },
            "regions": list(self.regions),
            "grant_hints": list(self.grant_hints),
        }


def _found(lower: str, literals: Keyed, pattern: re.Pattern[str], index: str | None) -> bool:
    return any_occurs(literals, lower, index) and pattern.search(lower) is not None


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


_KV_STARTS = anchor_offsets(_KV_KEYS, _KV_ANCHORS)
_KV_ANCHORS_KEYED = keyed(_KV_STARTS)
_REGION_NAME_LINES = tuple((name, f"\n{name.lower()}\n") for name in _REGION_WORDS.pattern.split("|"))


# Chinese, Japanese and Korean letters are word characters to the regex engine, so "AUTH-001错误" or
# "返回403" would hold no word boundary around the code. A space between such a letter and an ASCII letter or
# digit restores it (APS codes, statuses and names are ASCII).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_SCRIPT_SEAM = re.compile(rf"(?<=[A-Za-z0-9])(?=[{_CJK}])|(?<=[{_CJK}])(?=[A-Za-z0-9])")


def separate_scripts(text: str) -> str:
    """`text` with a space wherever a CJK letter touches an ASCII letter or digit (ASCII text: unchanged)."""
    return text if text.isascii() else _SCRIPT_SEAM.sub(" ", text)


def _unescape(text: str) -> str:
    """Turn JSON escaped inside a string (`{\\"errorCode\\": …}`) back into plain JSON."""
    if '\\"' not in text and "\\n" not in text:
        return text
    return text.replace('\\\\"', '"').replace('\\"', '"').replace("\\n", "\n").replace("\\/", "/")


def _clean(value: str) -> str:
    # str.split() splits on exactly the characters `\s` matches, so this is re.sub(r"\s+", " ", …).strip()
    return " ".join(value.replace('\\"', '"').split()).strip("\"'").strip()[:MAX_LINE]


def _key_values(text: str, index: str | None = None) -> list[tuple[str, str]]:
    pairs = []
    offsets = _KV_STARTS if index is None else {a: _KV_STARTS[a] for a in present(_KV_ANCHORS_KEYED, index)}
    for match in matches_at(_KV, text, anchored(text, offsets)):
        value = match.group("dq")
        if value is None:
            value = match.group("sq")
        if value is None:
            value = match.group("bare") or ""
        pairs.append((match.group("key").lower(), _clean(value)))
    for match in _XML_CODE.finditer(text):
        pairs.append(("code" if match.group(1) == "Code" else "message", _clean(match.group(2))))
    return pairs


def _warning(fields: dict[str, str]) -> Warning:
    return Warning(**{k: fields.get(k, "") for k in ("status", "code", "title", "detail")})


def _warnings(pairs: list[tuple[str, str]]) -> tuple[Warning, ...]:
    """Group consecutive status/code/title/detail pairs into warning objects (JSON:API bodies)."""
    found: list[Warning] = []
    current: dict[str, str] = {}
    names = {"httpstatuscode": "status", "status": "status", "errorcode": "code", "code": "code"}
    names |= {"title": "title", "detail": "detail"}
    for key, value in pairs:
        name = names.get(key)
        if name is None:
            continue
        if name in current:
            if "title" in current or "detail" in current:
                found.append(
                    Warning(**{k: current.get(k, "") for k in ("status", "code", "title", "detail")})
                )
            current = {}
        current[name] = value
    if "title" in current or "detail" in current:
        found.append(_warning(current))
    return tuple(dict.fromkeys(found))


def _family(path: str) -> str:
    parts = [p for p in path.lower().split("/") if p]
    if not parts:
        return ""
    if parts[0] in {"construction", "bim360", "acc", "hq", "da"} and len(parts) > 1:
        return f"{parts[0]}/{parts[1]}"
    return "/".join(parts[:2]) if len(parts) > 1 and parts[1].startswith("v") else parts[0]


def _three_digits(lower: str, index: str | None) -> list[re.Match[str]]:
    """`_THREE_DIGITS.finditer(lower)`; with `index = word_index(lower)` (ASCII text), looked for only where
    one of the numbers in the (much shorter) index occurs: a number in `lower` is one in its word too."""
    if index is None:
        return list(_THREE_DIGITS.finditer(lower))
    numbers = dict.fromkeys(_THREE_DIGITS.findall(index))
    return matches_at(_THREE_DIGITS, lower, (at for number in numbers for at in positions(lower, number)))


def _windows(lower: str, index: str | None = None) -> list[tuple[int, str]]:
    """Merged stretches of text around each three-digit number: the only places a status can be."""
    spans: list[list[int]] = []
    for match in _three_digits(lower, index):
        start, end = max(0, match.start() - STATUS_CONTEXT), match.end() + STATUS_CONTEXT
        if spans and start <= spans[-1][1]:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return [(start, lower[start:end]) for start, end in spans]


def _statuses(lower: str, index: str | None = None) -> tuple[int, ...]:
    hits: list[tuple[int, int]] = []
    for offset, window in _windows(lower, index):
        for pattern, guard in zip(_STATUS_PATTERNS, _STATUS_GUARDS, strict=True):
            if guard and not any(word in window for word in guard):
                continue
            hits.extend((offset + m.start(), int(m.group(1))) for m in pattern.finditer(window))
    return tuple(dict.fromkeys(code for _, code in sorted(hits) if 100 <= code <= 599))


# Exact equivalents of `pattern.finditer(text)` that try only where a match can start (see scan.py). In ASCII
# text the lower-cased text keeps every offset and IGNORECASE means ASCII case only, so a case-insensitive
# pattern can only match where its lower-case literal occurs in `lower`; other text takes the plain scan.


def _auth_codes(text: str) -> list[re.Match[str]]:
    return matches_at(_AUTH_CODE, text, positions(text, "AUTH-"))


def _prefixed_ids(text: str) -> list[re.Match[str]]:
    return matches_at(_PREFIXED_ID, text, positions(text, "b."))


def _bare_guids(text: str) -> list[re.Match[str]]:
    return matches_at(_BARE_GUID, text, (m.start() - 8 for m in _GUID_MIDDLE.finditer(text)))


def _regions(text: str, words: str | None = None) -> list[re.Match[str]]:
    """`_REGION.finditer(text)`. `words`: "\n" + `word_index(text.lower())` + "\n" (ASCII text), if known: a
    match is a whole word, so its lower case is a whole line there; only such names are looked for."""
    if words is not None:
        names = [name for name, line in _REGION_NAME_LINES if line in words]
        return matches_at(_REGION, text, (at for name in names for at in positions(text, name)))
    # A _REGION match is a whole word (\b), so none starts inside a _REGION_WORDS match the scan skips.
    return matches_at(_REGION, text, (m.start() for m in _REGION_WORDS.finditer(text)))


def _region_paths(text: str, lower: str) -> list[str]:
    return _REGION_PATH.findall(text) if not text.isascii() or "/regions/" in lower else []


def _urns(text: str, lower: str) -> list[re.Match[str]]:
    if not text.isascii():
        return list(_URN.finditer(text))
    return matches_at(_URN, text, positions(lower, "urn:adsk."))


def _autodesk_urls(text: str, lower: str) -> list[re.Match[str]]:
    """The _URL matches that can name an APS host: every APS host names autodesk, and no URL match holds
    white space, so only the runs of non-space naming autodesk are scanned (each whole: same matches)."""
    if "autodesk" not in lower:
        return []
    if not text.isascii():
        return list(_URL.finditer(text))
    return [m for start, end in runs_with(text, "autodesk", lower) for m in _URL.finditer(text, start, end)]


def _slashless_paths(text: str) -> list[re.Match[str]]:
    # Each match holds "/v" and no white space; lookbehinds still see the text before a run.
    return [m for start, end in runs_with(text, "/v") for m in _SLASHLESS_PATH.finditer(text, start, end)]


def _has_letters(value: str, needed: int = 3) -> bool:
    """`sum(c.isalpha() for c in value) >= needed`, stopping at the `needed`th letter."""
    for char in value:
        if char.isalpha():
            needed -= 1
            if needed <= 0:
                return True
    return needed <= 0


def _pieces(line: str) -> list[str]:
    """A long line in MAX_LINE pieces that overlap by LINE_OVERLAP characters."""
    return [line[at : at + MAX_LINE] for at in range(0, len(line) - LINE_OVERLAP, MAX_LINE - LINE_OVERLAP)]


def _candidates(text: str, messages: tuple[str, ...]) -> tuple[str, ...]:
    """The lines worth fuzzy matching: extracted messages first, then short error-looking lines."""
    lines = list(messages)
    stripped = text.strip()
    if len(stripped) <= 400:
        lines.append(_clean(stripped))
    for line in text.splitlines():
        if len(lines) >= MAX_CANDIDATES:
            break
        line = line.strip()
        if len(line) < 8 or _FRAME.match(line) or (line[0] == "-" and _CURL_OPTION.match(line)):
            continue
        # A paragraph pasted as one long line is read in overlapping pieces: its error may sit at the end.
        pieces = (line,) if len(line) <= MAX_LINE else _pieces(line)
        for piece in pieces:
            if _ERRORISH.search(piece.lower()) and len(lines) < MAX_CANDIDATES:
                lines.append(_clean(piece))
    return _unique(lines)[:MAX_CANDIDATES]


def focus(text: str, index: str | None = None) -> str:
    """The part of a paste worth reading: all of a short one; the error lines of a long one, bounded.
    `index`: a `word_index` holding every word of `text` (e.g. of the paste before redaction, with
    "redacted"), if known."""
    if len(text) <= SMALL_PASTE:
        return text
    hot_words: Iterable[str] = _HOT_WORDS
    if text.isascii():  # a hot word whose key the index lacks occurs in no line
        hot_words = list(present(_HOT_KEYED, word_index(text.lower()) if index is None else index))
    # The distinct lines holding a hot word, in order of first occurrence (a repeated line adds nothing).
    hot = "\n".join(
        line for line in dict.fromkeys(text.split("\n")) if any(map(line.lower().__contains__, hot_words))
    )
    if len(hot) <= FOCUS_HEAD + FOCUS_TAIL:
        return hot
    return hot[:FOCUS_HEAD] + "\n" + hot[-FOCUS_TAIL:]


def extract(text: str, index: str | None = None) -> Signals:
    """Read every signal in `text` (expected already redacted). `index`: exactly `word_index(text.lower())`,
    if known (unescaping below only shortens words, so it still rules literals out)."""
    original, text = text, _unescape(text)
    # The index holds the words of `text` exactly unless unescaping changed it.
    pairs = _key_values(text, index)

    codes: list[str] = []
    messages: list[str] = []
    lower = text.lower()
    statuses = list(_statuses(lower, index))
    for key, value in pairs:
        if not value:
            continue
        if key in _CODE_KEYS and _CODE_LIKE.match(value):
            codes.append(value)
        elif key == "error":
            if _CODE_LIKE.match(value):
                codes.append(value)
            elif _has_letters(value):
                messages.append(value)
        elif key in _MESSAGE_KEYS and _has_letters(value):
            messages.append(value)
        elif key in _STATUS_KEYS and value.isdigit() and 100 <= int(value) <= 599:
            statuses.append(int(value))
    codes.extend(m.group(0) for m in _auth_codes(text))

    endpoints: list[str] = []
    aps_host = False
    for match in _autodesk_urls(text, lower):
        host, path = match.group(1), match.group(2) or ""
        if APS_DOCS_HOSTS.fullmatch(host):
            aps_host = True
        elif APS_API_HOSTS.fullmatch(host):
            aps_host = True
            if path:
                endpoints.append(path.split("?")[0].split("#")[0].rstrip(".,:;"))
    endpoints.extend(m.group(1).split("?")[0].rstrip(".,:;") for m in _BARE_PATH.finditer(text))
    endpoints.extend("/" + m.group(1).split("?")[0].rstrip(".,:;") for m in _slashless_paths(text))
    endpoints = list(_unique(endpoints))

    prefixed = _unique([m.group(1).lower() for m in _prefixed_ids(text)])
    bare = _unique([g for g in (m.group(1).lower() for m in _bare_guids(text)) if g not in prefixed])
    whole_words = None if index is None or text is not original else f"\n{index}\n"
    regions = [m.group(1).upper() for m in _regions(text, whole_words)] + [
        r.upper() for r in _region_paths(text, lower)
    ]
    hints = (["2-legged"] if _found(lower, _TWO_LEGGED_KEYED, _TWO_LEGGED, index) else []) + (
        ["3-legged"] if _found(lower, _THREE_LEGGED_KEYED, _THREE_LEGGED, index) else []
    )
    unique_messages = _unique(messages)
    return Signals(
        statuses=tuple(dict.fromkeys(statuses)),
        codes=_unique(codes),
        messages=unique_messages,
        warnings=_warnings(pairs),
        endpoints=tuple(endpoints),
        api_families=_unique([_family(e) for e in endpoints]),
        aps_host=aps_host,
        prefixed_ids=prefixed,
        bare_ids=bare,
        urns=_unique([m.group(0) for m in _urns(text, lower)]),
        regions=_unique(regions),
        grant_hints=tuple(hints),
        candidates=_candidates(text, unique_messages),
    )

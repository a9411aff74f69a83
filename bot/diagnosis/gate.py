"""Decide whether a paste is an APS access problem at all, so the bot stays silent on everything else."""

from __future__ import annotations

import re

from bot.diagnosis.extract import Signals
from bot.diagnosis.match import Ranked

MIN_SCORE = 55
NAMED_SCORE = 80
QUOTED_MESSAGE = 95  # a knowledge-base error message quoted this closely shows something failed
DISTINCTIVE_MESSAGE = 35  # an APS message this long, matched closely, is APS context by itself

_APS_WORDS = re.compile(
    r"\b(?:Autodesk|APS|BIM ?360|BIM360DM|ACC|Autodesk Construction Cloud|Forma|Model Derivative|"
    r"Data Management API|Design Automation|Custom Integrations?|Developer Hub|developerMessage|"
    r"Account Admin|Hub Admin|x-ads-[\w-]+|urn:adsk\.[\w.:-]+)\b",
    re.IGNORECASE,
)
_NAMED = re.compile(
    r"\b(?:Autodesk|BIM ?360|Autodesk Construction Cloud|Autodesk Platform Services|Model Derivative|"
    r"developer\.api\.autodesk\.com)\b",
    re.IGNORECASE,
)
_CASE_SENSITIVE_WORDS = re.compile(r"\b(?:APS|ACC)\b")
_FORGE_WITH_APS = re.compile(
    r"\bforge\b.{0,120}(?:\w*bucket|\b(?:viewer|hubs?|derivatives?|oss|data management|two[- ]legged|"
    r"three[- ]legged|2[- ]legged|3[- ]legged|client[_ ]?id|access[_ ]token|bim ?360|revit|urn))\b|"
    r"(?:\w*bucket|\b(?:viewer|hubs?|derivatives?|oss|data management|bim ?360|revit|urn))\b"
    r".{0,120}\bforge\b",
    re.IGNORECASE | re.DOTALL,
)
# APS terms that other systems do not use: sample env vars, OSS keys, the two OAuth "legs" Autodesk names.
_APS_TERMS = re.compile(
    r"(?-i:(?<![A-Za-z0-9])(?:APS|FORGE)_[A-Z_]*(?:CLIENT|SECRET|CALLBACK|BUCKET|SCOPE)|"
    r"(?<![A-Za-z0-9])APS(?![a-z0-9]))|\b(?:bucketKey|objectKey|signeds3(?:upload|download)|"
    r"(?:2|3|two|three)[- ]legged)\b",
    re.IGNORECASE,
)
_OTHER_SYSTEMS = re.compile(
    r"api\.github\.com|github\.com|\bgithub\b|npm err!|\bnpm error\b|registry\.npmjs|yarnpkg|amazonaws\.com|"
    r"<code>accessdenied|\baadsts\d+|microsoftonline|googleapis\.com|accounts\.google\.com|\bnginx\b|"
    r"\bdocker\b|registry-1|atlassian|\bjira\b|confluence|minecraft|curseforge|modrinth|\bfabric\b|"
    r"sourceforge|cloudflare|heroku|vercel|stripe|twilio|salesforce|\bokta\b|auth0|firebase|"
    r"\bgitlab\b|bitbucket|\bpypi\b|\bapache\b|\biis\b|kubernetes|kubectl|puppet|laravel|mojang|twitter"
)  # matched against the lower-cased text
# Something failed: without one of these (or an APS code or quoted message) a paste is a question or chatter.
_PROBLEM = re.compile(
    r"error|fail|denied|forbidden|unauthori[sz]ed|not authori[sz]ed|permission|privilege|refus|reject|"
    r"invalid|expired|exceeded|mismatch|deprecated|retired|not found|doesn'?t exist|does not exist|"
    r"\b(?:can ?not|can'?t|unable|couldn'?t|could not|won'?t|doesn'?t|does not|isn'?t|is not|no longer|"
    r"not (?:working|allowed|visible|showing|listed|accepted|supported|enabled|provisioned|added))\b|"
    r"\bempty\b|\bmissing\b|\bno access\b|\bstill\b|\b(?:4\d\d)\b|too many|quota|archived|"
    r"\bnot (?:see|get|list|find|access)|\bonly (?:works|accepts)|\bgets? (?:nothing|no )"
)  # matched against the lower-cased text
_ACCESS_STATUSES = frozenset({400, 401, 403, 404, 406, 409, 410, 429})


def named_aps(text: str) -> bool:
    """APS named outright (not only "Forge" or "hub", which other systems use too)."""
    return bool(_NAMED.search(text) or _CASE_SENSITIVE_WORDS.search(text))


def _distinctive_message(ranked: list[Ranked]) -> bool:
    return any(
        hit.kind == "message" and hit.score >= 90 and len(hit.signature) >= DISTINCTIVE_MESSAGE
        for hit in ranked[0].hits
    )


def aps_context(text: str, signals: Signals) -> tuple[bool, bool]:
    """(the paste is about APS at all, the paste carries hard APS evidence: host, endpoint or APS code)."""
    strong = (
        signals.aps_host
        or bool(signals.endpoints)
        or any(re.fullmatch(r"AUTH-\d{3}|BIM360DM_ERROR", c, re.IGNORECASE) for c in signals.codes)
        or "developermessage" in text.lower()
        or any(w.code.upper() == "BIM360DM_ERROR" for w in signals.warnings)
    )
    words = bool(
        _CASE_SENSITIVE_WORDS.search(text)
        or any(m.group(0).upper() not in {"APS", "ACC"} for m in _APS_WORDS.finditer(text))
        or ("forge" in text.lower() and _FORGE_WITH_APS.search(text))
        or _APS_TERMS.search(text)
    )
    return strong or words, strong


def is_aps_access_error(text: str, signals: Signals, ranked: list[Ranked]) -> bool:
    """True only for an APS access problem a cause explains."""
    if not ranked or ranked[0].score < MIN_SCORE:
        return False
    about_aps, strong = aps_context(text, signals)
    strong = strong or _distinctive_message(ranked)
    if not (about_aps or strong):
        return False
    if (
        _OTHER_SYSTEMS.search(text.lower())
        and not strong
        and not (named_aps(text) and ranked[0].score >= NAMED_SCORE)
    ):
        return False  # another system's error, unless APS is named and a cause fits well
    hard_evidence = any(h.kind in {"code", "endpoint"} for h in ranked[0].hits)
    quoted = any(h.kind == "message" and h.score >= QUOTED_MESSAGE for h in ranked[0].hits)
    if not (hard_evidence or quoted or signals.warnings or _PROBLEM.search(text.lower())):
        return False  # a question or chatter about APS, not a failure

    # 5xx, 200 or 3xx only: not an access problem unless a code or endpoint says so
    return not (signals.statuses and not set(signals.statuses) & _ACCESS_STATUSES and not hard_evidence)

"""Decide whether a paste is an APS access problem at all, so the bot stays silent on everything else."""

from __future__ import annotations

import re

from bot.diagnosis.extract import Signals
from bot.diagnosis.match import Ranked
from bot.diagnosis.scan import INDEX_MIN, any_occurs, keyed, word_index
from bot.diagnosis.tokens import PasteWords

MIN_SCORE = 50
MIN_SCORE_HARD = 35  # enough when hard APS evidence (host, endpoint, code) meets a refused request
NAMED_SCORE = 80
TOPIC_CONFIDENT = 60  # a topic-only match this good needs no further word that access was refused
TOPIC_WITH_STATUS = 55  # a topic-only match this good, with a status its cause lists, is enough
QUOTED_MESSAGE = 95  # a knowledge-base error message quoted this closely shows something failed
DISTINCTIVE_MESSAGE = 35  # an APS message this long, matched closely, is APS context by itself

# Every pattern below except the _CASED ones runs over the lower-cased text (faster than IGNORECASE).
_APS_WORDS = re.compile(
    r"\b(?:autodesk|bim ?360|bim360dm|model derivative|data management api|design automation|"
    r"developermessage|hub admin|x-ads-[\w-]+|urn:adsk\.|"
    r"construction cloud|fusion team|docs projects?|workitems?|appbundles?|viewingservice|"
    r"derivativeservice|learnforge|forge ?apps?|forge (?:client id|credentials|viewer)|"
    r"(?:get|search)folder\w*|gettwolegged\w*|getthreelegged\w*|authclient(?:two|three)legged|"
    r"modelderivativeapierror|jsonapi)\b"
)
# Autodesk SDK and package names, the exact wording of Autodesk errors no other system prints, and the
# /api/forge/… and /api/aps/… routes of Autodesk's sample servers that apps are built from.
_APS_SDK = re.compile(
    r"autodesk\.(?:forge|authentication|oss|modelderivative|datamanagement|construction|sdkmanager|adn|viewing)|"
    r"autodesk-forge|forge-apis|forgesdk|forge-model-derivative|aps-sdk|@aps_sdk|aps_sdk|"
    r"token does not have the privilege|client_id specified does not have access|"
    r"cannot access a resource owned by|must be assigned to a developer hub|unable to get hubs from|"
    r"input urn is not authorized|invalid redirect_ur[il]|400\W{1,4}invalid redirect ?ur[il]|"
    r"\bno (?:read|write) access\b|"
    r"\"token does \"|unexpected token t in json|\bquota limit\b|"
    r"keymanagement\.service\.developerstatusnotactive|"  # the gateway fault of an inactive APS developer
    r"/api/(?:forge|aps)/(?:oauth|callback|auth|token|models?|buckets?|hubs?|projects?|design|derivatives?)"
)
_BASE64_URN = "dXJuOmFkc2s"  # "urn:adsk" base64-encoded, as in model URNs
_NAMED = re.compile(r"\b(?:autodesk|bim ?360|model derivative)\b")
_CASED_WORDS = re.compile(r"\b(?:APS|ACC|Forma|Data Connector)\b")
_DOCS_FOLDER = re.compile(r"\bProject Files\b")  # the top folder of ACC/BIM 360 Docs, as the UI spells it
_FORGE_WITH_APS = re.compile(
    r"\bforge\b.{0,120}(?:\w*buckets?|\b(?:viewer|hubs?|derivatives?|oss|data management|two[- ]legged|"
    r"three[- ]legged|2[- ]legged|3[- ]legged|client[_ ]?id|access[_ ]token|bim ?360|revit|urn))\b|"
    r"(?:\w*buckets?|\b(?:viewer|hubs?|derivatives?|oss|data management|bim ?360|revit|urn))\b"
    r".{0,120}\bforge\b",
    re.DOTALL,
)
# APS terms other systems do not use: sample env vars, OSS keys, APS scopes, the OAuth "legs" Autodesk names.
_CASED_TERMS = re.compile(r"(?<![A-Za-z0-9])(?:(?:APS|FORGE)_[A-Z][A-Z_]*|APS(?![a-z0-9]))")
_APS_TERMS = re.compile(
    r"\b(?:bucketkey|objectkey|signeds3(?:upload|download)|(?:2|3|two|three)[- ]legged|[23]lo|"
    r"(?:data|bucket|viewables|account|code|user-profile):(?:read|write|create|update|delete|all|search)|"
    r"x-user-id|auth-?0\d\d)\b"
)
# Class names of the APS SDKs (.NET, Node, Java, Python) that no other SDK uses.
_SDK_CLASSES = re.compile(
    r"\b(?:Hubs|Buckets|Derivatives|TwoLegged|ThreeLegged|WorkItems|AppBundles|Engines)Api\b|"
    r"\b(?:DataManagement|Oss|ModelDerivative|DesignAutomation|Webhooks|AccountAdmin)Client\b|"
    r"\bSdkManager(?:Builder)?\b|\bAuthClient(?:Two|Three)Legged\b"
)
# APS vocabulary for pastes that name no APS product: Autodesk file types, and the resources APS APIs serve.
# Other systems share single words ("project", "bucket"), so resources count only together. Desktop product
# names (Revit, Navisworks) are left out: alone they mean sign-in and licence errors more often than API ones.
_AUTODESK_FILES = re.compile(r"\w\.(?:rvt|rfa|rte|nwd|nwc|dwg|dwfx?|f3d|ipt|iam)\b")
_APS_RESOURCES = re.compile(
    r"\b(?:hubs?|buckets?|derivatives?|manifests?|urns?|viewables?|svf2?|workitems?|appbundles?|"
    r"folders?|items?|versions?|projects?|objects?|viewer|models?|scopes?|translations?)\b"
)
_TELLING_RESOURCES = frozenset({"hub", "bucket", "derivative", "manifest", "urn", "viewable", "svf",
                                "svf2", "workitem", "appbundle", "translation"})  # fmt: skip
RESOURCES_NEEDED = 2
# Another storage or cloud named beside those resources: its buckets and objects, not OSS.
_FOREIGN_STORAGE = re.compile(
    r"\b(?:s3|aws|r2|gcs|azure|blob storage|backblaze|b2|minio|cloudinary|accessdenied|bucket policy|"
    r"presigned)\b"
)
# Other products whose 401/403s people paste: substrings, and names that count only as whole words.
_OTHER_SYSTEMS = (
    "github.com", "npm err!", "registry.npmjs", "yarnpkg", "amazonaws.com", "<code>accessdenied", "aadsts",
    "microsoftonline", "googleapis.com", "accounts.google.com", "registry-1", "atlassian", "confluence",
    "minecraft", "curseforge", "modrinth", "sourceforge", "cloudflare", "heroku", "vercel", "stripe",
    "twilio", "salesforce", "firebase", "bitbucket", "kubernetes", "kubectl", "puppet", "laravel",
    "mojang", "twitter", "signaturedoesnotmatch", "awsaccesskeyid", "x-amz-", "bentley", "itwin", "procore",
    "trimble", "plangrid", "onshape", "speckle", "matterport", "bluebeam", "dropbox", "hubspot",
    "dev.azure.com", "visualstudio.com", "_apis/wit", "azure devops", "shopify", "zendesk", "drupal",
    "backstage", "xero", "docusign", "quickbooks", "intuit", "netsuite", "keycloak", "google ads",
    "google api", "google oauth", "youtube", "gmail",
    "fatal: unable to access", "remote: permission to", "could not read from remote repository",  # git
    "@forge/", "connect app", "forge deploy", "forge tunnel", "ari:cloud:",  # Atlassian Forge, not Autodesk's
    # a build or a module load that failed: no request was made, so none was refused
    "are you missing a using directive", "could not load file or assembly", "cannot find module",
    "modulenotfounderror", "no module named",
)  # fmt: skip
_OTHER_SYSTEM_WORDS = ("github", "npm error", "nginx", "docker", "jira", "fabric", "okta", "gitlab", "pypi",
                       "apache", "iis", "auth0")  # fmt: skip
# Autodesk products with REST APIs of their own, outside APS: "Autodesk" named does not make their 401s APS's.
_OTHER_AUTODESK_APIS = re.compile(r"\b(?:plm[ -]?360|fusion (?:360 )?(?:lifecycle|manage))\b")
_OTHER_SYSTEMS_KEYED = keyed(_OTHER_SYSTEMS)
_OTHER_SYSTEM_WORDS_KEYED = keyed(_OTHER_SYSTEM_WORDS)
_OTHER_SYSTEM_WORD = re.compile(r"\b(?:" + "|".join(map(re.escape, _OTHER_SYSTEM_WORDS)) + r")\b")
# Problem words in Chinese, Japanese and Korean (APS has large communities in each): access failures
# (denied, permission, forbidden, invalid, expired, exceeded), then failures of any kind (error, cannot…).
_CJK_ACCESS_PROBLEM = (
    "拒否|拒绝|拒絕|権限|权限|權限|권한|禁止|未授权|未授權|無効|无效|無效|期限切れ|거부|"
    # expired, but not the expiry time or date a question asks about ("过期时间是多久？", "만료 시간")
    "(?:过期|過期)(?!时间|時間|日期|時長|时长)|만료(?!\\s?(?:시간|일|기간|날짜))|"
    "アクセス[^。\n]{0,12}(?:でき|出来)(?:ません|ない|なく)|访问被拒|无法访问|無法訪問|超え|超过|超出"
)
_CJK_PROBLEM = (
    "エラー|失敗|失败|错误|錯誤|报错|報錯|오류|실패|(?:でき|出来)(?:ません|ない|なく)|無法|无法|不能|"
    "見つかりません|找不到|不存在|動作しない|停止|弃用|废弃|廃止|" + _CJK_ACCESS_PROBLEM
)
# Something failed: without one of these (or an APS code or quoted message) a paste is a question or chatter.
_PROBLEM = re.compile(
    r"error|fail|denied|forbidden|unauthori[sz]ed|not authori[sz]ed|permission|privilege|refus|reject|"
    r"invalid|expired|exceeded|mismatch|deprecated|retired|not found|doesn'?t exist|does not exist|"
    r"\b(?:can ?not|can'?t|unable|couldn'?t|could not|won'?t|doesn'?t|does not|isn'?t|is not|no longer|"
    r"not (?:working|allowed|visible|showing|listed|accepted|supported|enabled|provisioned|added))\b|"
    r"\bempty\b|\bmissing\b|\bno access\b|\bstill\b|\bdata\"?\s*:\s*\[\s*\]|\bundefined\b|"
    r"\b(?:4\d\d)\b|too many|quota|archived|"
    r"\bnot (?:see|get|list|find|access|available)|\bonly (?:works|accepts)|\bgets? (?:nothing|no )|"
    r"\bstops? working|\bstopped working|\bbut not\b|\bnothing happens\b|"
    r"\b(?:don'?t|do not|never) show(?:s|ing)? up|"
    r"\b(?:returns?|returning|shows?|showing|lists?|listing|gets?|getting)\b[^.\n]{0,40}\b(?:only|just)\b|"
    r"(?:don'?t|doesn'?t|does not|do not) have (?:access|permission)|" + _CJK_PROBLEM
)
# A paste ranked by topic alone must name an access failure, not merely any failure.
_ACCESS_PROBLEM = re.compile(
    r"\b(?:401|403|429)\b|denied|forbidden|unauthori[sz]ed|not authori[sz]ed|permission|privilege|no access|"
    r"refus|reject|not allowed|expired|\binvalid(?![a-z])|quota|exceeded|too many|trial|credits|ran out|"
    r"lapsed|"
    r"\bempty\b|\bmissing\b|\bdata\"?\s*:\s*\[\s*\]|not (?:visible|listed|showing|accepted)|"
    r"(?:don'?t|doesn'?t|does not|do not) "
    r"(?:show|see|list|appear|return)|not available|can'?t see|cannot see|"
    r"(?:don'?t|doesn'?t|does not|do not) have (?:access|permission)|"
    r"\b(?:returns?|returning|shows?|showing|lists?|listing|gets?|getting)\b[^.\n]{0,40}\b(?:only|just)\b|"
    + _CJK_ACCESS_PROBLEM
)
# An incident on APS's side (an outage, a degraded service): nothing the app's access set-up can fix.
_OUTAGE = re.compile(
    r"\b(?:outages?|service degradation|degraded (?:performance|service)|service disruption)\b"
)
_NO_OUTAGE = re.compile(r"\b(?:no|not an?|isn'?t an?|without an?|nor an?)\s+(?:\w+\s+)?outages?\b")
_REFUSED = frozenset({401, 403, 429})
# Words that say a request was refused for access (stricter than _ACCESS_PROBLEM: no "empty", "not showing").
_REFUSED_WORDS = re.compile(
    r"\b(?:401|403|429)\b|denied|forbidden|unauthori[sz]ed|not authori[sz]ed|permission|privilege|no access|"
    r"not allowed|not accepted|(?:does not|doesn'?t|do not|don'?t|won'?t) accept|only accepts?|"
    r"expired|quota|too many requests|(?:don'?t|doesn'?t|does not|do not) have access|"
    r"\binvalid[_ ](?:client|grant|scope|token|credentials)|"
    r"\b(?:scope|token|credentials)s? (?:is |are )?invalid\b"
)
_ACCESS_STATUSES = frozenset({400, 401, 403, 404, 406, 409, 410, 429})


# The paste is about the user's own webhook receiver rejecting APS callbacks, not about calling APS.
_OWN_RECEIVER_WORDS = ("x-adsk-signature", "webhook", "callback")  # every match holds one of these
_OWN_RECEIVER = re.compile(
    r"x-adsk-signature|\bwebhook\b.{0,80}\b(?:receiver|our (?:endpoint|server|api|gateway)|callback url)\b|"
    r"\b(?:our|my) (?:webhook )?(?:receiver|endpoint|server|gateway)\b.{0,80}\b(?:webhook|callback)s?\b",
    re.DOTALL,
)


def named_aps(text: str, lower: str) -> bool:
    """APS named outright (not only "Forge" or "hub", which other systems use too)."""
    return bool(_NAMED.search(lower) or _CASED_WORDS.search(text))


# Where APS code lives is not another system's error: links to Autodesk's and APS samples' GitHub repos,
# and "the GitHub sample/repo" the user followed.
_APS_CODE_LINKS = re.compile(
    r"github\.com/(?:autodesk[\w-]*|developer-autodesk|adn-devtech|autodesk-adn)/[\w.-]*|"
    r"github\.com/[\w-]+/(?:aps|forge)[\w.-]*|"
    r"\bgithub (?:sample|repo(?:sitory)?|readme|example|project|code)s?\b"
)


# Where an app runs (a host, a container, a web server) rather than whose error it is.
_HOSTING_WORDS = ("heroku", "docker", "kubernetes", "kubectl", "nginx", "apache", "iis", "vercel", "netlify")
_HOSTING_KEYED = keyed(_HOSTING_WORDS)
_HOSTING = re.compile(r"\b(?:heroku(?:app)?|docker|kubernetes|kubectl|nginx|apache|iis|vercel|netlify)\b")


# Another OAuth server's token endpoint: a public host that is not Autodesk's (the user's own server on
# localhost may well be proxying APS).
_FOREIGN_TOKEN_URL = re.compile(
    r"https?://(?![\w.-]*autodesk\.com\b|localhost\b|127\.0\.0\.1\b)[\w.-]+(?::\d+)?/[\w/.-]*?oauth2?/(?:v\d+/)?token\b"
)


# A web server's own error page (Apache's "<address>Apache/2.4 … Server at host Port 443</address>", nginx's
# "<center>nginx/1.18</center>"): that server refused the request, whatever the page's wording resembles.
_SERVER_PAGE = re.compile(
    r"<address>apache/[\d.]*[^<\n]{0,80}\bserver at |<center>nginx(?:/[\d.]+)?</center>"
)


def other_system(lower: str, about_aps: bool = False, index: str | None = None) -> bool:
    """Another product's error (GitHub, npm, AWS, Azure AD, Minecraft Forge, …) is named in the paste.

    When the paste is about APS, the platform the user's app runs on (Heroku, Docker, nginx, IIS…) is not
    another system's error.
    """
    if index is None and len(lower) > INDEX_MIN:  # (blanking links and hosting words only shortens words)
        index = word_index(lower)
    if ("</address>" in lower or "<center>nginx" in lower) and _SERVER_PAGE.search(lower):
        return True
    if "github" in lower:
        lower = _APS_CODE_LINKS.sub(" ", lower)
    if about_aps and any_occurs(_HOSTING_KEYED, lower, index):
        lower = _HOSTING.sub(" ", lower)
    if any_occurs(_OTHER_SYSTEMS_KEYED, lower, index):
        return True
    if "token" in lower and _FOREIGN_TOKEN_URL.search(lower):
        return True
    return any_occurs(_OTHER_SYSTEM_WORDS_KEYED, lower, index) and bool(_OTHER_SYSTEM_WORD.search(lower))


# HTTP's own wording of a status (RFC 6585's for 429), which servers of every kind print: no sign of APS.
_HTTP_WORDING = frozenset({"user has sent too many requests in a given amount of time."})


def _distinctive_message(ranked: list[Ranked]) -> bool:
    return any(
        hit.kind == "message"
        and hit.score >= 90
        and len(hit.signature) >= DISTINCTIVE_MESSAGE
        and hit.signature.lower() not in _HTTP_WORDING
        for hit in ranked[0].hits
    )


def _vocabulary(lower: str) -> bool:
    """APS vocabulary without any APS name: an Autodesk file, or APS resources together."""
    if _FOREIGN_STORAGE.search(lower):
        return False
    if _AUTODESK_FILES.search(lower):
        return True
    resources = {m.group(0).rstrip("s") for m in _APS_RESOURCES.finditer(lower)}
    return bool(resources & _TELLING_RESOURCES) and len(resources) >= RESOURCES_NEEDED


def aps_context(text: str, lower: str, signals: Signals) -> tuple[bool, bool]:
    """(the paste is about APS at all, the paste carries hard APS evidence: host, endpoint or APS code)."""
    strong = (
        signals.aps_host
        or bool(signals.endpoints)
        or any(re.fullmatch(r"AUTH-?\d{3}|BIM360DM_ERROR", c, re.IGNORECASE) for c in signals.codes)
        or "developermessage" in lower
        or any(w.code.upper() == "BIM360DM_ERROR" for w in signals.warnings)
    )
    if strong:
        return True, True
    words = bool(
        _CASED_WORDS.search(text)
        or _DOCS_FOLDER.search(text)
        or _APS_WORDS.search(lower)
        or ("forge" in lower and _FORGE_WITH_APS.search(lower))
        or _CASED_TERMS.search(text)
        or _APS_TERMS.search(lower)
        or _APS_SDK.search(lower)
        or _SDK_CLASSES.search(text)
        or _BASE64_URN in text
        or bool(signals.prefixed_ids)  # b.<GUID>: the Data Management id of an ACC/BIM 360 hub or project
    )
    return words, False


def is_aps_access_error(
    text: str, signals: Signals, ranked: list[Ranked], words: PasteWords | None = None
) -> bool:
    """True only for an APS access problem a cause explains (`words`: `paste_words(text)`, if known)."""
    if not ranked:
        return False
    lower = text.lower() if words is None else words.lower
    about_aps, strong = aps_context(text, lower, signals)
    # A long KB message quoted closely is APS wording, but generic enough that another system may print it.
    about_aps = about_aps or _distinctive_message(ranked)
    refused = bool(set(signals.statuses) & _REFUSED) or bool(_REFUSED_WORDS.search(lower))
    # Without hard APS evidence a refused request needs as good a match as any paste: a bar of 45 answered a
    # Revit add-in's "Invalid ClientApplicationId" and an SDK's own 403, and no APS paste rightly.
    floor = MIN_SCORE_HARD if strong and refused else MIN_SCORE
    if ranked[0].score < floor:
        return False
    if not (about_aps or strong or (refused and _vocabulary(lower))):
        return False
    if not strong and ("plm" in lower or "fusion" in lower) and _OTHER_AUTODESK_APIS.search(lower):
        return False  # another Autodesk product's own API, not an APS endpoint
    named_and_fits = ranked[0].score >= NAMED_SCORE and named_aps(text, lower)
    index = None if words is None else words.index
    if not strong and not named_and_fits and other_system(lower, about_aps, index):
        return False  # another system's error, unless APS is named and a cause fits well
    if (
        not signals.endpoints
        and not signals.aps_host
        and any(word in lower for word in _OWN_RECEIVER_WORDS)
        and _OWN_RECEIVER.search(lower)
    ):
        return False  # our own webhook endpoint answering APS, not APS refusing us
    hard_evidence = any(h.kind in {"code", "endpoint"} for h in ranked[0].hits)
    coded = any(h.kind == "code" for h in ranked[0].hits)
    quoted = any(h.kind == "message" and h.score >= QUOTED_MESSAGE for h in ranked[0].hits)
    if (
        not (hard_evidence or quoted or set(signals.statuses) & _REFUSED)
        and ("outage" in lower or "degrad" in lower or "disruption" in lower)
        and _OUTAGE.search(lower)
        and not _NO_OUTAGE.search(lower)
    ):
        return False  # APS itself was down: a 5xx kind of problem, whatever words it shares with access
    if not (coded or quoted or signals.warnings or _PROBLEM.search(lower)):
        return False  # a question or chatter about APS (an endpoint's URL alone says nothing failed)
    if all(h.kind in {"topic", "status"} for h in ranked[0].hits) and not (
        _ACCESS_PROBLEM.search(lower)
        or ranked[0].score >= TOPIC_CONFIDENT
        or (set(signals.statuses) & set(ranked[0].cause.http_status) and ranked[0].score >= TOPIC_WITH_STATUS)
    ):
        return False  # only the subject matches, and neither the words nor the status say access was refused

    # 5xx, 200 or 3xx only: not an access problem unless a code, an endpoint or a quoted KB message says so
    # (apps often wrap the APS error they got in a 500 of their own)
    says_so = hard_evidence or quoted
    return not (signals.statuses and not set(signals.statuses) & _ACCESS_STATUSES and not says_so)

"""Any text up to Slack's 40,000-character limit: diagnosis never raises and is deterministic; the fast
scans find exactly what the plain regular expressions find."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.diagnosis import Diagnoser, gate, phrases, scan, topic
from bot.diagnosis import extract as E
from bot.diagnosis.phrases import CREDENTIALS_UNSET, credentials_unset
from bot.knowledge import load_kb
from tests.conftest import ROOT

R = importlib.import_module("bot.diagnosis.redact")  # the package exports redact(), the function

FRAGMENTS = [
    '{"developerMessage":"',
    '","errorCode":"AUTH-001"}',
    '"HttpStatusCode": "403", "ErrorCode": "BIM360DM_ERROR"',
    "HTTP/1.1 403 Forbidden",
    "https://developer.api.autodesk.com/project/v1/hubs?filter[id]=b.",
    "Bearer eyJ",
    '\\"',
    "{",
    "}",
    "```",
    "\n",
    "b.0f1c2d3e-1111-2222-3333-444455556666",
    "Token does not have the privilege for this request.",
    "client_secret=",
    "Quota limit exceeded.",
]
pastes = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=300)), max_size=60).map("".join)
long_pastes = st.tuples(pastes, st.integers(1, 130)).map(lambda p: (p[0] * p[1])[:40_000])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(pastes, long_pastes))
def test_diagnose_never_raises_and_is_deterministic(diagnoser: Diagnoser, text: str) -> None:
    first = diagnoser.diagnose(text)
    second = diagnoser.diagnose(text)
    assert first == second
    assert all(0 <= c.score <= 100 for c in first.causes)
    assert [c.score for c in first.causes] == sorted((c.score for c in first.causes), reverse=True)
    assert not first.is_aps_error or first.causes


# The fast scans (bot/diagnosis/scan.py) must find exactly what the plain regular expressions find.
SCAN_FRAGMENTS = [
    "errorCode", "developerMessage", "HttpStatusCode", "statusCode", "Detail", "title", "reason", "code",
    '"', "'", ": ", "=", " ", "\n", "\t", "\x0b", "\x1c", "\u2028", "\xa0", "-", "_", ".", "/", "x",
    "AUTH-0", "AUTH-", "12", "403", "4031",
    "b.", "0f1c2d3e-1111-2222-3333-444455556666", "aaaa-", "US", "EMEA", "AUS", "DEU", "APAC", "USA",
    "urn:adsk.wipprod:fs.file:vf.", "URN:ADSK.", "https://", "developer.api.autodesk.com", "Autodesk.com",
    "aps.autodesk.com", "/project/v1/hubs/", "construction/admin/v1/", "/v", "da/v2/", "/regions/eu/",
    "/REGIONS/EMEA/", "\u0130", "\u017f", "\u212a", "Bearer ", "bearer\t", "Basic ", "eyJabcdef.ghijkl.mn",
    "xoxb-12345678", "xapp-1-2345678", " -u ", "--user ", "user:pa55word@", "access_token", "Client_Secret",
    "api_key", "APIKEY", '"token" = ', "passwd:", "aps_client_id not set", "client secret is undefined",
    "without setting ", "APS_CLIENT_ID", "FORGE_DEV_CLIENT_SECRET", "auth-001", "invalid_client",
    "BIM360DM_ERROR", "redirect_uri_mismatch", "?Signature=", "&X-Amz-Security-Token=", "?sig=", "?code=",
    '"code": "', "aB3", '{"key": "client_secret", "value": "', "<client_secret>", "</Client_Secret>", "echo -n ",
    "b64encode(b'", "%3D", ":=", "=>", 'setClientSecret("', '-u"', "--user=", "Bearer:", "Bearer%20", "xoxe-",
    "mYq8", "expired.", "https://x", "3599", "0123456789abcdefABCDEF01", "Zx8Cv7Bn6Mq5Lk4J", ":", "secret ", "\\\"", "'code': '", " -d code=",
    '", "', "AFAIK", "31/12/2299", ")",
]  # fmt: skip
scan_texts = st.lists(st.one_of(st.sampled_from(SCAN_FRAGMENTS), st.text(max_size=6)), max_size=40).map(
    "".join
)


def _same(fast: list[re.Match[str]], plain: Iterable[re.Match[str]]) -> bool:
    return [(m.span(), m.groups()) for m in fast] == [(m.span(), m.groups()) for m in plain]


@settings(max_examples=400, deadline=None)
@given(text=scan_texts)
def test_extraction_scans_find_what_the_plain_patterns_find(text: str) -> None:
    lower = text.lower()
    index = scan.word_index(lower)
    assert _same(scan.matches_at(E._KV, text, scan.anchored(text, E._KV_STARTS)), E._KV.finditer(text))
    assert E._key_values(text, index) == E._key_values(text)
    assert _same(E._regions(text, None if index is None else f"\n{index}\n"), E._REGION.finditer(text))
    assert _same(E._auth_codes(text), re.finditer(r"\bAUTH-\d{3}\b", text))
    assert _same(E._prefixed_ids(text), E._PREFIXED_ID.finditer(text))
    assert _same(E._bare_guids(text), E._BARE_GUID.finditer(text))
    assert _same(E._regions(text), E._REGION.finditer(text))
    assert E._region_paths(text, lower) == E._REGION_PATH.findall(text)
    assert _same(E._urns(text, lower), E._URN.finditer(text))
    assert _same(E._slashless_paths(text), E._SLASHLESS_PATH.finditer(text))
    assert _same(list(E._THREE_DIGITS.finditer(lower)), re.finditer(r"(?<!\d)[1-5]\d\d(?!\d)", lower))
    assert _same(E._three_digits(lower, index), E._THREE_DIGITS.finditer(lower))
    bare_path = rf"(?<![\w/.:-])(/(?:{E._API_ROOTS})/(?:[\w.:%{{}}\-/]|<\w+>)*)"
    assert _same(list(E._BARE_PATH.finditer(text)), re.finditer(bare_path, text))

    def aps(matches: Iterable[re.Match[str]]) -> list[re.Match[str]]:
        hosts = (E.APS_DOCS_HOSTS, E.APS_API_HOSTS)
        return [m for m in matches if any(h.fullmatch(m.group(1)) for h in hosts)]

    plain_urls = E._URL.finditer(text) if "autodesk" in lower else ()
    assert _same(aps(E._autodesk_urls(text, lower)), aps(plain_urls))


@settings(max_examples=400, deadline=None)
@given(text=scan_texts)
def test_code_and_unset_credential_scans_find_what_the_plain_patterns_find(
    diagnoser: Diagnoser, text: str
) -> None:
    lower = text.lower()
    matcher = diagnoser._matcher
    assert matcher._code_re is not None
    assert _same(matcher.code_matches(lower), matcher._code_re.finditer(lower))
    assert _same(matcher.code_matches(lower, scan.word_index(lower)), matcher._code_re.finditer(lower))
    plain = CREDENTIALS_UNSET.search(lower)
    for fast in (credentials_unset(lower), credentials_unset(lower, scan.word_index(lower))):
        assert (fast and (fast.span(), fast.groups())) == (plain and (plain.span(), plain.groups()))


def _plain_redact(text: str) -> tuple[str, tuple[str, ...]]:
    """redact() as plain `pattern.sub` calls: what the anchored scans must reproduce."""
    kinds: list[str] = []
    lower = text.lower()
    for kind, words, pattern, group in R._PATTERNS:
        if any(word in lower for word in words):

            def mask(match: re.Match[str], kind: str = kind, group: int = group) -> str:
                if R._match_kept(kind, match, group):
                    return match.group(0)
                if kind not in kinds:
                    kinds.append(kind)
                start, end, base = match.start(group), match.end(group), match.start(0)
                return match.group(0)[: start - base] + R.MASK + match.group(0)[end - base :]

            text = pattern.sub(mask, text)
    return text, tuple(kinds)


@settings(max_examples=400, deadline=None)
@given(text=scan_texts)
@example(text="passwd:developerMessage")  # a short name, then a long value: no id-secret pair
def test_redaction_equals_plain_substitution(text: str) -> None:
    result = R.redact(text)
    assert (result.text, result.kinds) == _plain_redact(text)
    assert R.redact(text, scan.word_index(text.lower())) == result


ERRORISH_WORDS = (
    "error", "denied", "forbidden", "unauthorized", "unauthorised", "permission", "privilege", "token",
    "scope", "client", "access", "invalid", "expired", "quota", "limit", "region", "integration", "hub",
    "project", "legacy", "deprecated", "redirect", "admin", "account", "exception", "fail", "not found",
    "not allowed", "entitle", "subscription", "trial", "credit", "authoriz", "authoris", "403", "5000", "x", "_451", "4",
)  # fmt: skip
PLAIN_ERRORISH = re.compile(
    r"error|denied|forbidden|unauthori[sz]ed|permission|privilege|token|scope|client|access|invalid|"
    r"expired|quota|limit|region|integration|hub|project|legacy|deprecated|redirect|admin|account|"
    r"exception|fail|not found|\b[45]\d\d\b|not allowed|entitle|subscription|trial|credit|authori[sz]"
)


@settings(max_examples=400, deadline=None)
@given(words=st.lists(st.one_of(st.sampled_from(ERRORISH_WORDS), st.text(max_size=4)), max_size=12))
def test_errorish_lines_are_the_plain_patterns_lines(words: list[str]) -> None:
    line = "".join(words).lower()
    assert bool(E._ERRORISH.search(line)) == bool(PLAIN_ERRORISH.search(line))


STATUS_FRAGMENTS = [
    "http/1.1 ", "HTTP/2 ", "403", "401", "429", "404", "500", "4031", " forbidden", " unauthorised", "status",
    "code", "statusCode", ": ", "=", '"', " got ", "returned ", "an ", "error", " response", " (", ")", "-",
    " gateway time-out", "gone", "\n", " ", "x", ".", "/",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(words=st.lists(st.one_of(st.sampled_from(STATUS_FRAGMENTS), st.text(max_size=3)), max_size=30))
def test_status_guards_skip_only_patterns_that_cannot_match(words: list[str]) -> None:
    lower = "".join(words).lower()
    windows = E._windows(lower)
    plain = []
    for offset, window in windows:
        for pattern in E._STATUS_PATTERNS:
            plain.extend((offset + m.start(), int(m.group(1))) for m in pattern.finditer(window))
    expected = tuple(dict.fromkeys(code for _, code in sorted(plain) if 100 <= code <= 599))
    assert E._statuses(lower) == expected
    assert E._windows(lower, scan.word_index(lower)) == windows


@pytest.mark.parametrize("unit", ["b.", "AUTH-", "token", "-u ", "client_id ", "US ", "-aaaa-bbbb-cccc-"])
def test_many_candidate_starts_fall_back_to_the_plain_scan_with_the_same_result(unit: str) -> None:
    text = unit * 3_000 + "b.0f1c2d3e-1111-2222-3333-444455556666 AUTH-001 token=s3cr3tValue1"
    lower = text.lower()
    assert _same(E._prefixed_ids(text), E._PREFIXED_ID.finditer(text))
    assert _same(E._auth_codes(text), re.finditer(r"\bAUTH-\d{3}\b", text))
    assert _same(E._regions(text), E._REGION.finditer(text))
    assert _same(E._bare_guids(text), E._BARE_GUID.finditer(text))
    assert (R.redact(text).text, R.redact(text).kinds) == _plain_redact(text)
    fast, plain = credentials_unset(lower), CREDENTIALS_UNSET.search(lower)
    assert (fast and fast.span()) == (plain and plain.span())


GRANT_FRAGMENTS = ["legged", "2lo", "client", "_credentials", " credentials", "app", "-only", " only", "lication",
                   " token", "user", "'s", " access", "authorization", "_code", " code", " ", "x"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.one_of(st.sampled_from(GRANT_FRAGMENTS), st.text(max_size=3)), max_size=12))
@example(words=["App", " token"])
@example(words=["user", "'s", " access", " token"])
def test_may_fold_says_whether_any_grant_spelling_occurs(words: list[str]) -> None:
    lower = "".join(words).lower()
    literals = {literal for group, _, _ in topic._FOLDS for literal in group}
    plain = any(literal in lower for literal in literals)
    assert topic.may_fold(lower) == plain
    assert topic.may_fold(lower, scan.word_index(lower)) == plain


OTHER_FRAGMENTS = ["github", ".com", "npm", " err!", "x-amz-", "iis", "docker", "google", " ads", "_apis/wit",
                   "azure", " devops", "<code>", "accessdenied", "-", " ", "\n", "é", "İ", "x"]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(words=st.lists(st.one_of(st.sampled_from(OTHER_FRAGMENTS), st.text(max_size=3)), max_size=16))
def test_keyed_literal_checks_on_the_word_index_are_the_plain_checks(words: list[str]) -> None:
    lower = "".join(words).lower()
    literals = [*gate._OTHER_SYSTEMS, *gate._OTHER_SYSTEM_WORDS, *gate._HOSTING_WORDS]
    for literal in literals:
        assert scan.any_occurs(scan.keyed([literal]), lower, scan.word_index(lower)) == (literal in lower)
    # blanking spans (as other_system does) only shortens words: the original text's index still guides
    blanked = lower.replace("github", " ").replace("docker", " ")
    for literal in literals:
        assert scan.any_occurs(scan.keyed([literal]), blanked, scan.word_index(lower)) == (literal in blanked)


def _plain_focus(text: str) -> str:
    """focus() written plainly: every line tested for every hot word, without the index."""
    if len(text) <= E.SMALL_PASTE:
        return text
    lines = [line for line in text.split("\n") if any(w in line.lower() for w in E._HOT_WORDS)]
    hot = "\n".join(dict.fromkeys(lines))
    return (
        hot if len(hot) <= E.FOCUS_HEAD + E.FOCUS_TAIL else hot[: E.FOCUS_HEAD] + "\n" + hot[-E.FOCUS_TAIL :]
    )


FOCUS_LINES = ["  File \"/srv/app/integrations/aps/client.py\", line 4", "    resp.raise_for_status()", "HTTP/1.1 403",
               "INFO synced folder", "Error: ACCESS denied", "", "x" * 50, "not found", "İ 401", "got 403",
               "see redirect_uri", "X-User-Id: 1", "scope", "Authorization: Bearer abcdefgh1234 error",
               "token=s3cr3tValue1"]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.one_of(st.sampled_from(FOCUS_LINES), st.text(max_size=40)), min_size=1, max_size=400)
)
def test_focus_keeps_the_lines_the_plain_scan_keeps(lines: list[str]) -> None:
    text = "\n".join(lines)
    text = text if len(text) > E.SMALL_PASTE else text + "\n" + "ok\n" * 1_000
    assert E.focus(text) == _plain_focus(text)
    redacted = R.redact(text).text  # the engine's index: the paste's words before redaction, and "redacted"
    index = scan.word_index(text.lower())
    assert E.focus(redacted, None if index is None else index + "\nredacted") == _plain_focus(redacted)


GRANT_PASTE_FRAGMENTS = ["2-legged", "client_credentials", "App  only", '\\"app\\nonly token\\"', "authorization_code",
                         "user's access token", "3LO", '{"message": "', '"}', "\n", " ", "\\nEMEA", "US"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(scan_texts, st.lists(st.sampled_from(GRANT_PASTE_FRAGMENTS), max_size=20).map("".join)))
def test_the_paste_word_index_changes_no_extraction_and_no_candidate_fold(text: str) -> None:
    index = scan.word_index(text.lower())  # what paste_words gives a long paste
    signals = E.extract(text, index)
    assert signals == E.extract(text)
    joined = "\n".join(signals.candidates).lower()
    assert topic.may_fold(joined, index) == topic.may_fold(joined)


_ENDPOINT_PATTERNS = [  # not_endpoints go through the same literal-start prefilter
    p
    for c in load_kb(ROOT / "knowledge").causes
    for p in (*c.signatures.endpoints, *c.signatures.not_endpoints)
]


@settings(max_examples=600, deadline=None)
@given(
    pattern=st.sampled_from(
        [*_ENDPOINT_PATTERNS, r"^/ab?c", r"^/a|^/b", r"^/x(y|z)+", r"^/A+B", r"^/v\d{0,2}x"]
    ),
    data=st.data(),
)
def test_endpoint_prefilter_never_hides_a_match(pattern: str, data: st.DataObject) -> None:
    # paths made of the pattern's own characters, cut anywhere, in any case
    plain = re.sub(r"[\\^$*+?{}\[\]|()]", "", pattern)
    alphabet = sorted(set(plain) | set("0123456789abcdef-./bB"))
    cut = data.draw(st.integers(0, len(plain)))
    endpoint = plain[:cut] + data.draw(st.text(alphabet, max_size=40))
    endpoint = endpoint.upper() if data.draw(st.booleans()) else endpoint
    if re.search(pattern, endpoint, re.IGNORECASE):
        assert endpoint.lower().startswith(scan.literal_start(pattern))


@pytest.mark.parametrize(
    ("pattern", "start"),
    [(r"^/ab?c", "/a"), (r"^/ab*", "/a"), (r"^/ab{0,1}", "/a"), (r"^/A+B", "/a"), (r"^/a|^/b", ""),
     (r"^/a(b|c)", "/a"), (r"/oss/v1/", ""), (r"^/oss/v2/buckets/[^/]+", "/oss/v2/buckets/")],
)  # fmt: skip
def test_endpoint_literal_start(pattern: str, start: str) -> None:
    assert scan.literal_start(pattern) == start


RULED_OUT_WORDS = ["I", "double-checked", "double check", "checked", "verified", "the", "client id", "client_secret",
                   "secret", "credentials", "keys", "are", "is", "seem", "fine", "correct", "ok.", "fresh", "freshly",
                   "just generated", "brand new", "2-legged", "access", "token", "successfully used", "works for other",
                   "tokens", "\n"]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(words=st.lists(st.sampled_from(RULED_OUT_WORDS) | st.text(max_size=6), max_size=30))
def test_ruled_out_scans_find_what_the_plain_patterns_find(words: list[str]) -> None:
    lower = " ".join(words).lower()
    plain = {cause for cause, pattern, _, _ in phrases.RULED_OUT_PHRASES if pattern.search(lower)}
    assert phrases.ruled_out(lower) == plain
    assert phrases.ruled_out(lower, scan.word_index(lower)) == plain

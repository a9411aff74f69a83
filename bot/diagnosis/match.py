"""Rank knowledge-base causes against a paste's signals: exact codes and endpoints first, then fuzzy messages.

Fuzzy matching runs only on the paste's candidate lines (extracted messages and short error-looking lines),
and only for signatures whose words mostly occur in the paste (an inverted index), so the cost grows with
what the paste and the knowledge base share, not with their sizes.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain

from rapidfuzz import fuzz
from rapidfuzz.distance import LCSseq
from rapidfuzz.utils import default_process

from bot.diagnosis.extract import Signals
from bot.diagnosis.phrases import credentials_unset, ruled_out, unset_evidence
from bot.diagnosis.scan import keyed, literal_start, matches_at, positions, present
from bot.diagnosis.tokens import PasteWords, content_word, paste_words, tokens
from bot.diagnosis.topic import TopicIndex, fold_grants, may_fold
from bot.knowledge import Cause, KnowledgeBase

CODE_SCORE = 88
ENDPOINT_SCORE = 80
MESSAGE_CUTOFF = 72
STATUS_AGREES = 4
STATUS_DISAGREES = 10
CORROBORATION = 6
MIN_LISTED = 30
STATUS_ONLY_SCORES = (62, 45)  # a status listed by one cause, by two
WORDS_FOR_COVERAGE = 4
RARE_WORDS_NEEDED = 0.6  # share of a signature's rarity-weighted words a line must hold
COVERAGE_WEIGHT = 0.92
MAX_LISTED = 5
TOPIC_BASE = 40  # a topic hit scores TOPIC_BASE + TOPIC_SCALE * cosine similarity, at most TOPIC_MAX
TOPIC_SCALE = 70
TOPIC_MAX = 74
TOPIC_MIN_SIMILARITY = 0.15
TOPIC_LIMIT = 3  # causes that get a topic hit
GRANT_DIRECTION_SCORE = 84  # "fails with the 3-legged token, works with the app token" names the cause
GRANT_CONTRARY = 18  # and rules out its mirror image
TOKEN_ENDPOINT_SCORE = 86  # a 401 from the token endpoint itself: the credentials, not a token

GRANT_HINT_SCORE = 58  # only one side said: a hint, not a verdict

_FAILS = re.compile(
    r"\b(?:fail\w*|40[13]|denied|forbidden|unauthori[sz]ed|reject\w*|refus\w*|errors?|not work\w*|"
    r"doesn'?t work|does not work|isn'?t accepted|not accepted|not allowed|gets? nothing|empty)\b"
)
_WORKS = re.compile(r"\b(?:works?|working|worked|succeed\w*|fine|ok|200|is accepted|goes through)\b")
_CLAUSE = re.compile(r"\bbut\b|\bwhile\b|\bwhereas\b|\bhowever\b|\bthough\b|[.;,!?\n]")
_GRANTS = ("twolegged", "threelegged")
_STATUS_WORD = re.compile(r"[45]\d\d")
# Asking for a token, not using one: the token endpoints and SDK token calls.
_TOKEN_REQUEST = re.compile(
    r"/authentication/v[12]/(?:token|authenticate|gettoken)\b|get(?:two|three)leggedtoken|"
    r"authclienttwolegged|grant_type=client_credentials|gettoken(?:async)?\("
)
CREDENTIALS_UNSET_SCORE = 92
RULED_OUT = 40  # the user says they checked this: it drops behind causes they did not rule out
_HARD_KINDS = frozenset({"code", "endpoint", "config"})
_DIRECTION_CAUSES = {"threelegged": "three-legged-not-accepted", "twolegged": "two-legged-needs-user-context"}


@dataclass(frozen=True)
class Hit:
    """One piece of evidence for a cause."""

    kind: str  # code | endpoint | message
    score: float
    evidence: str
    signature: str = ""  # the knowledge-base string that matched


@dataclass(frozen=True)
class Ranked:
    cause: Cause
    score: int
    hits: tuple[Hit, ...]


@dataclass(frozen=True)
class _Signature:
    cause_index: int
    text: str
    processed: str
    words: frozenset[str]
    sequence: tuple[str, ...]  # the content words in order
    needed: int  # how many of `words` must occur in a candidate line
    weights: dict[str, float]  # each word's rarity across the causes (IDF), normalised to sum to 1
    statuses: frozenset[str] = frozenset()  # HTTP statuses the signature names: a line must name them too


class Matcher:
    """A knowledge base compiled for fast ranking; build once, use for every paste."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.causes = kb.causes
        self._indexes: dict[str, int] = {}
        for index, cause in enumerate(kb.causes):
            self._indexes.setdefault(cause.id, index)
        owners: dict[str, set[int]] = defaultdict(set)
        self._endpoints: list[tuple[int, str, re.Pattern[str]]] = []  # (cause, literal start, pattern)
        self._not_endpoints: list[tuple[int, str, re.Pattern[str]]] = []  # endpoints that rule a cause out
        self._signatures: list[_Signature] = []
        sequences: list[tuple[int, str, str, tuple[str, ...]]] = []
        for index, cause in enumerate(kb.causes):
            for code in cause.signatures.error_codes:
                owners[code.lower()].add(index)
            self._endpoints.extend(
                (index, literal_start(p), re.compile(p, re.IGNORECASE)) for p in cause.signatures.endpoints
            )
            self._not_endpoints.extend(
                (index, literal_start(p), re.compile(p, re.IGNORECASE))
                for p in cause.signatures.not_endpoints
            )
            for message in cause.signatures.messages:
                folded = fold_grants(message)  # "2-legged" and "3-legged" must not look alike
                sequences.append((index, message, folded, tuple(tokens(folded))))
        self._topics = TopicIndex(kb)
        for index, message, folded, sequence in sequences:
            words = frozenset(sequence)
            if words:
                rarity = {w: self._topics.rarity(w) for w in dict.fromkeys(sequence)}  # fixed order
                total = sum(rarity.values())
                weights = {w: r / total for w, r in rarity.items()}
                needed = max(1, math.ceil(len(words) * 0.6))
                statuses = frozenset(w for w in words if _STATUS_WORD.fullmatch(w))
                processed = default_process(folded)
                self._signatures.append(
                    _Signature(index, message, processed, words, sequence, needed, weights, statuses)
                )
        self._code_owners = {code: frozenset(idx) for code, idx in owners.items()}
        status_owners: dict[int, set[int]] = defaultdict(set)
        for index, cause in enumerate(kb.causes):
            for status in cause.http_status:
                status_owners[status].add(index)
        self._status_owners = {status: frozenset(idx) for status, idx in status_owners.items()}
        alternatives = sorted(self._code_owners, key=len, reverse=True)
        self._code_re = (
            re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, alternatives)) + r")(?![\w-])")
            if alternatives
            else None
        )
        # Where a code match can start: at the first four letters of a code (all codes, grouped).
        self._code_prefixes = tuple(sorted({code[:4] for code in self._code_owners}))
        self._code_prefixes_keyed = keyed(self._code_prefixes)
        self._by_word: dict[str, list[int]] = defaultdict(list)
        for position, signature in enumerate(self._signatures):
            for word in signature.words:
                self._by_word[word].append(position)
        self._needed = [signature.needed for signature in self._signatures]

    def code_matches(self, lower: str, index: str | None = None) -> list[re.Match[str]]:
        """`self._code_re.finditer(lower)`, tried only at the codes' first four letters (`index`:
        `word_index(lower)`, if known: prefixes it rules out are not looked for)."""
        if self._code_re is None:
            return []
        prefixes = present(self._code_prefixes_keyed, index)
        starts = (at for prefix in prefixes for at in positions(lower, prefix))
        return matches_at(self._code_re, lower, starts)

    def rank(self, text: str, signals: Signals, words: PasteWords | None = None) -> list[Ranked]:
        """Causes with their evidence, best first (ties: more evidence, then knowledge-base order).
        `words`: `paste_words(text)`, if the caller has it."""
        hits: dict[int, list[Hit]] = defaultdict(list)
        words = paste_words(text) if words is None else words
        lower = words.lower
        grants_spelled = may_fold(lower, words.index)  # some grant-type spelling occurs (else nothing folds)
        self._status_hits(signals, hits)
        self._code_hits(text, lower, signals, hits, words.index)
        self._endpoint_hits(signals, hits)
        self._message_hits(signals, hits, words)
        self._topic_hits(text, grants_spelled, hits, words)
        penalties = self._grant_direction_hits(lower, grants_spelled, hits)
        self._token_endpoint_hits(lower, signals, hits, penalties)
        self._credentials_unset_hits(lower, hits, words.index, penalties)
        excluded = ruled_out(lower, words.index) | self._ruled_out_by_endpoints(signals)
        ranked = []
        for index, cause_hits in hits.items():
            cause = self.causes[index]
            score = self._combine(cause, cause_hits, signals) - penalties.get(cause.id, 0)
            if cause.id in excluded and not any(h.kind in _HARD_KINDS for h in cause_hits):
                score -= RULED_OUT  # the user's word against soft evidence (a code or endpoint outweighs it)
            if score >= MIN_LISTED:
                evidence = sum(h.score for h in cause_hits)  # ties: more evidence first, then KB order
                ranked.append((score, evidence, index, Ranked(cause, score, tuple(cause_hits))))
        ranked.sort(key=lambda item: (-item[0], -item[1], item[2]))
        return [item[3] for item in ranked[:MAX_LISTED]]

    def _index_of(self, cause_id: str) -> int | None:
        return self._indexes.get(cause_id)

    def _grant_direction_hits(
        self, lower: str, grants_spelled: bool, hits: dict[int, list[Hit]]
    ) -> dict[str, int]:
        """One grant type fails where the other works: that direction names the cause, not its mirror."""
        if not grants_spelled:
            return {}
        failing: set[str] = set()
        working: set[str] = set()
        for clause in _CLAUSE.split(fold_grants(lower)):
            grants = [g for g in _GRANTS if g in clause]
            if len(grants) != 1:
                continue
            fails, works = _FAILS.search(clause) is not None, _WORKS.search(clause) is not None
            if fails != works:
                (failing if fails else working).add(grants[0])
        if len(failing) != 1:
            return {}
        grant = next(iter(failing))
        other = "twolegged" if grant == "threelegged" else "threelegged"
        index = self._index_of(_DIRECTION_CAUSES[grant])
        if index is None:
            return {}
        spelled = "3-legged" if grant == "threelegged" else "2-legged"
        if other in working:
            hits[index].append(
                Hit("grant", GRANT_DIRECTION_SCORE, f"the {spelled} token fails where the other grant works")
            )
            return {_DIRECTION_CAUSES[other]: GRANT_CONTRARY}
        hits[index].append(Hit("topic", GRANT_HINT_SCORE, f"the {spelled} token fails"))
        return {}

    def _token_endpoint_hits(
        self, lower: str, signals: Signals, hits: dict[int, list[Hit]], penalties: dict[str, int]
    ) -> None:
        """A 401 on the token request itself says the client id/secret are wrong, not that a token expired."""
        if 401 not in signals.statuses:
            return
        if not any(e for e in signals.endpoints if _TOKEN_REQUEST.search(e.lower())) and not (
            "token" in lower and _TOKEN_REQUEST.search(lower)
        ):
            return
        index = self._index_of("invalid-client-credentials")
        if index is not None:
            hits[index].append(Hit("endpoint", TOKEN_ENDPOINT_SCORE, "HTTP 401 from the token request"))
            expired = "expired-or-invalid-token"
            penalties[expired] = penalties.get(expired, 0) + GRANT_CONTRARY

    def _credentials_unset_hits(
        self, lower: str, hits: dict[int, list[Hit]], index: str | None, penalties: dict[str, int]
    ) -> None:
        """Client id/secret env vars not set or undefined: whatever APS answers, the credentials are wrong
        (an unknown client id gets AUTH-001, "no access to the api product", too)."""
        if "client" not in (lower if index is None else index):  # "client" is a whole piece: in the index
            return
        match = credentials_unset(lower, index)
        index = self._index_of("invalid-client-credentials")
        if match is not None and index is not None:
            evidence = f'credentials not set: "{unset_evidence(match)}"'
            hits[index].append(Hit("config", CREDENTIALS_UNSET_SCORE, evidence))
            penalties["app-api-access-missing"] = penalties.get("app-api-access-missing", 0) + GRANT_CONTRARY

    def _topic_hits(
        self, text: str, grants_spelled: bool, hits: dict[int, list[Hit]], words: PasteWords | None = None
    ) -> None:
        """What the paste talks about, for pastes that describe a problem rather than quote it."""
        for match in self._topics.match(text, TOPIC_LIMIT, TOPIC_MIN_SIMILARITY, grants_spelled, words):
            if match.similarity >= TOPIC_MIN_SIMILARITY:
                score = min(TOPIC_MAX, TOPIC_BASE + TOPIC_SCALE * match.similarity)
                words = ", ".join(match.shared)
                hits[match.cause_index].append(Hit("topic", score, f"talks about {words} ({round(score)})"))

    def _status_hits(self, signals: Signals, hits: dict[int, list[Hit]]) -> None:
        """A status that only one or two causes list (429, say) is evidence; 403 alone says nothing."""
        for status in signals.statuses:
            owners = self._status_owners.get(status, frozenset())
            if 0 < len(owners) <= len(STATUS_ONLY_SCORES):
                for index in owners:
                    hits[index].append(Hit("status", STATUS_ONLY_SCORES[len(owners) - 1], f"HTTP {status}"))

    def _code_hits(
        self, text: str, lower: str, signals: Signals, hits: dict[int, list[Hit]], index: str | None = None
    ) -> None:
        found = {code.lower(): code for code in signals.codes}
        if self._code_re is not None:  # codes are kept lower-case; show them as pasted when offsets agree
            same_offsets = len(lower) == len(text)
            for match in self.code_matches(lower, index):
                shown = text[match.start(1) : match.end(1)] if same_offsets else match.group(1)
                found.setdefault(match.group(1), shown)
        for key, shown in found.items():
            owners = self._code_owners.get(key, frozenset())
            for index in owners:
                specificity = 1.0 if len(owners) == 1 else 0.9 if len(owners) == 2 else 0.8
                hits[index].append(Hit("code", CODE_SCORE * specificity, f"error code {shown}"))

    def _endpoint_hits(self, signals: Signals, hits: dict[int, list[Hit]]) -> None:
        if not signals.endpoints:
            return
        endpoints = [(e, e.lower()) for e in signals.endpoints]
        for index, start, pattern in self._endpoints:
            for endpoint, lower in endpoints:
                if lower.startswith(start) and pattern.search(endpoint):
                    if not any(h.kind == "endpoint" for h in hits[index]):
                        hits[index].append(Hit("endpoint", ENDPOINT_SCORE, f"endpoint {endpoint}"))
                    break

    def _ruled_out_by_endpoints(self, signals: Signals) -> set[str]:
        """Causes an endpoint the paste calls contradicts (a signed S3 upload is no retired direct upload)."""
        if not self._not_endpoints or not signals.endpoints:
            return set()
        endpoints = [(e, e.lower()) for e in signals.endpoints]
        return {
            self.causes[index].id
            for index, start, pattern in self._not_endpoints
            if any(lower.startswith(start) and pattern.search(e) for e, lower in endpoints)
        }

    def _message_hits(self, signals: Signals, hits: dict[int, list[Hit]], words: PasteWords) -> None:
        candidates = signals.candidates
        joined = "\n".join(candidates).lower()  # no grant spelling in any line: no line needs folding
        # (the candidates are cut from the paste and their white space squeezed: the paste's index still holds
        # every word of theirs)
        if may_fold(joined, words.index):
            candidates = tuple(fold_grants(line) for line in candidates)
        lines = [default_process(line) for line in candidates]
        content = content_word
        # Lines with the same content words (frames of one stack trace) pass or fail the word filters alike.
        # (A group's words may hold "", for words that are no content word: no signature word equals it.)
        groups: dict[frozenset[str], list[int]] = {}
        for number, line in enumerate(lines):
            groups.setdefault(frozenset(map(content, line.split())), []).append(number)
        by_word, needed = self._by_word, self._needed
        present = [by_word[word] for word in set().union(*groups) if word in by_word]
        counts = Counter(chain.from_iterable(present))  # signature -> how many of its words occur
        best: dict[int, Hit] = {}
        sequences: dict[int, list[str]] = {}  # line number -> its content words in order, once needed
        # In signature order: of equal scores the longer (more telling) signature is kept, then the first.
        for position in sorted(p for p, count in counts.items() if count >= needed[p]):
            signature = self._signatures[position]
            score = self._best_line_score(signature, lines, groups, content, sequences)
            kept = best.get(signature.cause_index) or Hit("", 0, "")
            if score >= MESSAGE_CUTOFF and (score, len(signature.text)) > (kept.score, len(kept.signature)):
                shown = signature.text if len(signature.text) <= 90 else signature.text[:89] + "…"
                best[signature.cause_index] = Hit(
                    "message", score, f'message ~ "{shown}" ({round(score)})', signature.text
                )
        for index, hit in best.items():
            hits[index].append(hit)

    @staticmethod
    def _best_line_score(
        signature: _Signature,
        lines: list[str],
        groups: dict[frozenset[str], list[int]],
        content: Callable[[str], str],
        sequences: dict[int, list[str]],
    ) -> float:
        """The best score of `signature` over the lines (`groups`: line numbers by their content words;
        `content`: `content_word`; `sequences`: the lines' content words in order, filled in as needed)."""
        best = 0.0
        needed, words_of_signature = signature.needed, signature.words
        for words, numbers in groups.items():
            shared = words_of_signature & words
            if len(shared) < needed:
                continue  # too few of its words
            if sum(weight for w, weight in signature.weights.items() if w in shared) < RARE_WORDS_NEEDED:
                continue  # or only its common ones ("token", "get")
            if signature.statuses - words:
                continue  # "returns 401 with …" is not a line without that 401
            for number in numbers:
                line = lines[number]
                score = fuzz.partial_ratio(signature.processed, line, score_cutoff=MESSAGE_CUTOFF)
                if len(line) < len(signature.processed):  # a short line inside a long signature proves less
                    score *= len(line) / len(signature.processed)
                if len(signature.words) >= WORDS_FOR_COVERAGE:  # a paraphrase: the words, in the same order
                    sequence = sequences.get(number)
                    if sequence is None:
                        sequence = sequences[number] = list(filter(None, map(content, line.split())))
                    in_order = LCSseq.similarity(signature.sequence, sequence)
                    score = max(score, COVERAGE_WEIGHT * 100 * in_order / len(signature.sequence))
                best = max(best, score)
        return best

    @staticmethod
    def _combine(cause: Cause, cause_hits: list[Hit], signals: Signals) -> int:
        strongest = max(h.score for h in cause_hits)
        kinds = {h.kind for h in cause_hits if h.score >= 60}
        score = strongest + CORROBORATION * (len(kinds) - 1)
        if signals.statuses and cause.http_status:
            if set(signals.statuses) & set(cause.http_status):
                score += STATUS_AGREES
            else:
                score -= STATUS_DISAGREES
        return max(0, min(100, round(score)))

"""Topic similarity: which cause a paste *talks about* when it quotes no known message.

Many real pastes describe the problem in the user's own words ("the hubs list is empty for my app but I see
the project in ACC"). Each cause's title, summary, message signatures and examples form one document; a paste
is compared to every document by TF-IDF cosine over crudely stemmed content words. Grant-type spellings are
folded into two words first, because "2-legged" vs "3-legged" often is the whole difference between causes.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import compress

from rapidfuzz.utils import default_process

from bot.diagnosis.scan import any_occurs, keyed
from bot.diagnosis.tokens import PasteWords, content_word, tokens
from bot.knowledge import KnowledgeBase

MAX_TOKENS = 3_000  # of a paste; the head of a long paste carries its topic

# (literals one of which must occur in the lower-cased text, pattern, replacement)
_FOLDS = (
    (
        ("legged", "client_credentials", "client credentials", "2lo", "app-only", "app only",
         "application-only", "application only", "app token", "application token"),
        re.compile(
            r"\b(?:2|two)[- ]?legged\b|client[_ ]credentials|\bapp(?:lication)?[- ]only\b|\b2lo\b|"
            r"\bapp(?:lication)? token\b",
            re.IGNORECASE,
        ),
        " twolegged ",
    ),
    (
        ("legged", "3lo", "authorization_code", "authorization code", "user token", "user's token",
         "user access token", "user's access token"),
        re.compile(
            r"\b(?:3|three)[- ]?legged\b|\b3lo\b|authorization[_ ]code|\buser(?:'s)? (?:access )?token\b",
            re.IGNORECASE,
        ),
        " threelegged ",
    ),
)  # fmt: skip


def fold_grants(text: str) -> str:
    """`text` with grant-type spellings folded to `twolegged` / `threelegged`."""
    lower = text.lower()
    for literals, pattern, word in _FOLDS:
        if any(literal in lower for literal in literals):
            text = pattern.sub(word, text)
    return text


# Every fold literal holds one of these roots: a text without the root needs none of its literals looked for.
_ROOTS = ("legged", "2lo", "3lo", "client", "app", "user", "authorization")
_LITERALS_BY_ROOT = {
    root: tuple(
        dict.fromkeys(
            lit for lits, _, _ in _FOLDS for lit in lits if next(r for r in _ROOTS if r in lit) == root
        )
    )
    for root in _ROOTS
}


_FOLD_KEYED = keyed(dict.fromkeys(literal for literals, _, _ in _FOLDS for literal in literals))


def may_fold(lower: str, index: str | None = None) -> bool:
    """Whether `fold_grants` can change a text whose lower-cased form is `lower` (False: it cannot). `index`:
    `scan.word_index(lower)` (or one with the same words), which rules most spellings out faster."""
    if index is not None:
        return any_occurs(_FOLD_KEYED, lower, index)
    return any(
        literal in lower
        for root, literals in _LITERALS_BY_ROOT.items()
        if root in lower
        for literal in literals
    )


def topic_tokens(text: str) -> list[str]:
    """Content words of `text`, grant types folded."""
    return tokens(fold_grants(text))


@dataclass(frozen=True)
class TopicMatch:
    cause_index: int
    similarity: float  # cosine, 0-1
    shared: tuple[str, ...]  # the most telling shared words, for the evidence line


class TopicIndex:
    """TF-IDF vectors of the causes' documents, built once per knowledge base."""

    def __init__(self, kb: KnowledgeBase) -> None:
        documents = [
            Counter(
                topic_tokens(
                    "\n".join(
                        [cause.title, cause.title, cause.summary, *cause.signatures.messages, *cause.examples]
                    )
                )
            )
            for cause in kb.causes
        ]
        count = len(documents)
        frequency = Counter(word for document in documents for word in document)
        self._idf = {word: math.log((1 + count) / (1 + df)) + 1 for word, df in frequency.items()}
        self._rarest = math.log(1 + count) + 1
        self._postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self._document_weights: list[dict[str, float]] = []  # per cause: word -> normalised weight
        for index, document in enumerate(documents):
            weights = {w: (1 + math.log(n)) * self._idf[w] for w, n in document.items()}
            norm = math.sqrt(sum(v * v for v in weights.values())) or 1.0
            normalised = {word: weight / norm for word, weight in sorted(weights.items())}
            self._document_weights.append(normalised)
            for word, weight in normalised.items():
                self._postings[word].append((index, weight))
        self._postings = dict(self._postings)
        # Each processed word whose content word is known -> that content word (a word or its plural).
        self._forms = {
            form: word for word in self._idf for form in (word, word + "s") if content_word(form) == word
        }

    def rarity(self, word: str) -> float:
        """How telling `word` is across the causes (its IDF; unseen words count as the rarest)."""
        return self._idf.get(word, self._rarest)

    def _counts(self, text: str, grants_spelled: bool, words: PasteWords | None) -> Counter[str]:
        """How often each known content word occurs in the first MAX_TOKENS content words of `text`, in
        order of first occurrence (what Counter(topic_tokens(text)[:MAX_TOKENS]) gives, without stemming
        every occurrence: each distinct word is looked at once). `words`: `paste_words(text)`, if known."""
        if words is not None and not grants_spelled and words.total <= MAX_TOKENS:
            all_counts = words.counts  # nothing to fold: the paste's own words
        else:
            processed = default_process(fold_grants(text) if grants_spelled else text)
            split = processed.split()
            if len(split) > MAX_TOKENS:  # the cut may fall inside: count the content words themselves
                return Counter(w for w in tokens(processed)[:MAX_TOKENS] if w in self._idf)
            all_counts = Counter(split)
        counts: dict[str, int] = {}  # a plain dict: Counter's missing-key hook is Python code
        # First occurrences in order, so merged words keep it too; the forms are looked up in C, and only
        # the known ones (a third of a log's words, say) reach the Python loop.
        contents = list(map(self._forms.get, all_counts))  # None, or a content word (never empty)
        for content, n in compress(zip(contents, all_counts.values(), strict=True), contents):
            counts[content] = counts.get(content, 0) + n
        return Counter(counts)

    def match(
        self,
        text: str,
        limit: int = 3,
        min_similarity: float = 0.0,
        grants_spelled: bool = True,
        words: PasteWords | None = None,
    ) -> list[TopicMatch]:
        """The `limit` causes most similar to `text` (at least `min_similarity`), best first (ties:
        knowledge-base order). `grants_spelled=False` (`may_fold` said no) skips folding grant types;
        `words` (`paste_words(text)`) saves counting the words again."""
        counts = self._counts(text, grants_spelled, words)
        if not counts:
            return []
        idf = self._idf  # (1 + log 1) * x is x exactly: most words occur once
        weights = {w: idf[w] if n == 1 else (1 + math.log(n)) * idf[w] for w, n in counts.items()}
        norm = math.sqrt(sum(v * v for v in weights.values()))
        scores: dict[int, float] = defaultdict(float)
        postings = self._postings
        for word, weight in weights.items():  # sparse: only the paste's words, only the causes holding them
            scale = weight / norm
            for index, cause_weight in postings[word]:
                scores[index] += scale * cause_weight
        best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return [
            TopicMatch(index, score, self._shared(index, weights, norm))
            for index, score in best
            if score >= min_similarity
        ]

    def _shared(self, index: int, weights: dict[str, float], norm: float) -> tuple[str, ...]:
        """The four words that add most to cause `index`'s similarity (ties: the later word first)."""
        document = self._document_weights[index]
        parts = [
            (weight / norm * document[word], word) for word, weight in weights.items() if word in document
        ]
        return tuple(word for _, word in sorted(parts, reverse=True)[:4])

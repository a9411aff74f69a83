"""Content words of a text: what the inverted index and the topic vectors key on."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.utils import default_process

from bot.diagnosis.scan import INDEX_MIN

# Pieces of GUIDs, hashes and long numbers ("9d8c7b6a", "2026", "8b2a"): they name one resource, not a topic.
_ID_PIECE = re.compile(r"^(?=[0-9a-f]*[0-9])[0-9a-f]{4,}$")

_STOPWORDS = frozenset((
    "the", "a", "an", "to", "of", "for", "this", "is", "not", "you", "your", "does", "do", "be", "in", "on",
    "and", "or", "with", "that", "it", "have", "has", "are", "was", "were", "can", "cannot", "i", "we", "my",
    "our", "at", "by", "from", "as", "but", "been", "could", "would", "should", "will",
    "null", "true", "false",  # JSON's literals: in every body, about nothing
))  # fmt: skip


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


@lru_cache(maxsize=1 << 16)  # a pure function of one word; pastes repeat their words
def content_word(word: str) -> str:
    """`word` (already processed) crudely singular, or "" when it is no content word."""
    if len(word) <= 2 or word in _STOPWORDS or _ID_PIECE.match(word):
        return ""
    return _stem(word)


def processed_tokens(processed: str) -> list[str]:
    """Content words of a text already run through rapidfuzz's `default_process` (idempotent, so equal)."""
    return [word for word in map(content_word, processed.split()) if word]


def tokens(text: str) -> list[str]:
    """Lower-case, crudely singular content words of `text`."""
    return processed_tokens(default_process(text))


@dataclass(frozen=True)
class PasteWords:
    """What ranking and the gate read off one paste, computed once."""

    lower: str  # the paste lower-cased
    counts: Counter[str]  # its `default_process`ed words, counted (first occurrences in order)
    total: int  # how many words
    index: str | None  # long ASCII paste: its distinct words, one a line (see scan.any_occurs); else None


def paste_words(text: str) -> PasteWords:
    """Count the words of `text` once, for the topic scores and the literal checks of ranking and gate."""
    words = default_process(text).split()
    counts = Counter(words)
    # for ASCII text default_process(text) == default_process(text.lower()): the index scan.word_index gives
    index = "\n".join(counts) if text.isascii() and len(text) > INDEX_MIN else None
    return PasteWords(text.lower(), counts, len(words), index)

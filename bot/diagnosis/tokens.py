"""Content words of a text: what the inverted index and the topic vectors key on."""

from __future__ import annotations

from rapidfuzz.utils import default_process

_STOPWORDS = frozenset((
    "the", "a", "an", "to", "of", "for", "this", "is", "not", "you", "your", "does", "do", "be", "in", "on",
    "and", "or", "with", "that", "it", "have", "has", "are", "was", "were", "can", "cannot", "i", "we", "my",
    "our", "at", "by", "from", "as", "but",
))  # fmt: skip


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def tokens(text: str) -> list[str]:
    """Lower-case, crudely singular content words of `text`."""
    return [_stem(t) for t in default_process(text).split() if len(t) > 2 and t not in _STOPWORDS]

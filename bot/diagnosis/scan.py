"""Exact regex scans that try only the positions where a match can start.

Python's regex engine tries a pattern at every position unless it begins with a literal; for the long
alternations and leading lookbehinds of extraction that costs ~15 ns a character per pattern. When every
match must start at a known distance before some literal (found with `str.find`), trying only those
positions gives the same matches, in the same order, for a fraction of the cost.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from itertools import compress
from typing import NamedTuple

from rapidfuzz.utils import default_process

_NON_SPACE = re.compile(r"\S+")
_PIECE = re.compile(r"[a-z0-9]+")


def anchor_offsets(words: Iterable[str], anchors: Iterable[str]) -> dict[str, tuple[int, ...]]:
    """For each anchor, how far into the words holding it it sits (each word must hold one)."""
    offsets: dict[str, set[int]] = defaultdict(set)
    for word in words:
        anchor = next((a for a in anchors if a in word), None)
        if anchor is None:
            raise ValueError(f"{word!r} holds no anchor")
        offsets[anchor].add(word.index(anchor))
    return {anchor: tuple(sorted(found)) for anchor, found in offsets.items()}


def positions(text: str, literal: str, back: int = 0) -> Iterator[int]:
    """`back` characters before each (possibly overlapping) occurrence of `literal` in `text`."""
    at = text.find(literal)
    while at != -1:
        if at >= back:
            yield at - back
        at = text.find(literal, at + 1)


def anchored(text: str, offsets: dict[str, tuple[int, ...]]) -> Iterator[int]:
    """Positions `back` before each anchor's occurrences, for every (anchor, backs) in `offsets`."""
    for anchor, backs in offsets.items():
        for at in positions(text, anchor):
            yield from (at - back for back in backs)


def matches_at(pattern: re.Pattern[str], text: str, starts: Iterable[int]) -> list[re.Match[str]]:
    """Exactly what `pattern.finditer(text)` finds, trying only `starts`, which hold every position where
    a match can start. Faster when those are few: the regex engine need not try every position (when they
    are many, as in a paste of one repeated word, it scans plainly). The pattern must not match the empty
    string (then each scan resumes at the previous match's end)."""
    limit = len(text) // 16 + 64  # past this many candidates a plain scan is cheaper (and as exact)
    candidates: set[int] = set()
    for start in starts:
        candidates.add(start)
        if len(candidates) > limit:
            return list(pattern.finditer(text))
    found: list[re.Match[str]] = []
    end = 0
    for start in sorted(candidates):
        if start >= end:
            match = pattern.match(text, start)  # lookbehinds and \b still see the text before `start`
            if match is not None:
                found.append(match)
                end = match.end()
    return found


def lines_with(text: str, needle: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each line of `text` holding `needle` (lines split at "\n" only), in order."""
    at = text.find(needle)
    while at != -1:
        start, end = text.rfind("\n", 0, at) + 1, text.find("\n", at)
        if end == -1:
            yield start, len(text)
            return
        yield start, end
        at = text.find(needle, end)


def runs_with(text: str, needle: str, haystack: str | None = None) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of non-white-space in `text` holding `needle`, in order. `haystack` (same
    offsets, e.g. the lower-cased ASCII text) is where `needle` is looked for; `text` by default.

    A pattern whose matches never hold white space finds the same matches scanning only these runs,
    provided its lookbehinds and lookaheads treat the white space around a run like the run's ends."""
    haystack = text if haystack is None else haystack
    for start, end in lines_with(haystack, needle):
        for run in _NON_SPACE.finditer(text, start, end):
            if haystack.find(needle, run.start(), run.end()) != -1:
                yield run.span()


INDEX_MIN = 2_000  # a paste this short is checked plainly: its index would cost more than it saves


def word_index(lower: str) -> str | None:
    """The distinct words of an ASCII lower-cased text, one a line: a much shorter string that holds every
    run of [a-z0-9] of `lower` (rapidfuzz's `default_process` maps exactly the other ASCII characters to
    spaces). None for other text, where no such shortcut is taken."""
    if not lower.isascii():
        return None
    return "\n".join(set(default_process(lower).split()))


class Keyed(NamedTuple):
    """Literals, each with its key (its longest run of [a-z0-9]) and its other runs: each occurrence of a
    literal holds them all."""

    keys: tuple[str, ...]
    literals: tuple[str, ...]
    others: tuple[tuple[str, ...], ...]


def keyed(literals: Iterable[str]) -> Keyed:
    """The literals with their keys and other runs."""
    literals = tuple(literals)
    pieces = [sorted(_PIECE.findall(literal), key=len, reverse=True) or [""] for literal in literals]
    return Keyed(tuple(p[0] for p in pieces), literals, tuple(tuple(p[1:]) for p in pieces))


def present(keyed_literals: Keyed, index: str | None) -> Iterable[str]:
    """The literals whose runs are all in `index = word_index(lower)` (or of a text holding every word of
    `lower`): the only ones that can occur in `lower` (None: all of them). Keys first, mapped in C."""
    if index is None:
        return keyed_literals.literals
    candidates = compress(
        zip(keyed_literals.literals, keyed_literals.others, strict=True),
        map(index.__contains__, keyed_literals.keys),
    )
    contains = index.__contains__
    return [literal for literal, others in candidates if not others or all(map(contains, others))]


def any_occurs(keyed_literals: Keyed, lower: str, index: str | None) -> bool:
    """Exactly `any(literal in lower for literal in keyed_literals.literals)`, given `index` as for `present`:
    a literal whose key the short index lacks cannot occur."""
    return any(map(lower.__contains__, present(keyed_literals, index)))


_REGEX_SYNTAX = re.compile(r"[\\.^$*+?{}\[\]|()]")


def literal_start(pattern: str) -> str:
    """What every match of `pattern` starts with, lower-cased, if it is anchored with `^` (else "")."""
    depth = 0
    for char in pattern:  # a top-level alternative may start anywhere (an escaped or bracketed "|" too: "")
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "|" and depth <= 0:
            return ""
    if not pattern.startswith("^") or not pattern.isascii():
        return ""
    rest = pattern[1:]
    syntax = _REGEX_SYNTAX.search(rest)
    literal = rest if syntax is None else rest[: syntax.start()]
    if syntax is not None and rest[syntax.start()] in "*?{":  # the last character may be optional
        literal = literal[:-1]
    return literal.lower()

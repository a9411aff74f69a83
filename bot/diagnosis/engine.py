"""The diagnosis pipeline: redact → extract → rank → gate. Pure: text in, Diagnosis out."""

from __future__ import annotations

from bot.diagnosis.extract import SMALL_PASTE, extract, focus, separate_scripts
from bot.diagnosis.gate import is_aps_access_error
from bot.diagnosis.match import Matcher
from bot.diagnosis.redact import redact
from bot.diagnosis.result import CauseMatch, Diagnosis
from bot.diagnosis.scan import word_index
from bot.diagnosis.tokens import paste_words
from bot.knowledge import KnowledgeBase

MAX_TEXT = 100_000  # past Slack's 40,000-character message limit; longer input is cut, never rejected


class Diagnoser:
    """Diagnoses pastes against one knowledge base (compiled once; thread-safe, no mutable state)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._matcher = Matcher(kb)

    def diagnose(self, text: str) -> Diagnosis:
        """Rank the causes that explain `text`; say whether it is an APS access error at all."""
        text = separate_scripts(text[:MAX_TEXT])  # "AUTH-001错误": the code needs its word boundary
        # A long paste's words, for redaction and focus to rule literals out (a short one: plain checks).
        index = word_index(text.lower()) if len(text) > SMALL_PASTE else None
        redaction = redact(text, index)
        # Redaction only blanks spans with "[REDACTED]": the paste's words and "redacted" hold all words left.
        clean = focus(redaction.text, None if index is None else index + "\nredacted")
        words = paste_words(clean)  # counted once for extraction, ranking and the gate
        signals = extract(clean, words.index)
        ranked = self._matcher.rank(clean, signals, words)
        causes = tuple(
            CauseMatch(
                id=r.cause.id,
                title=r.cause.title,
                score=r.score,
                evidence=tuple(h.evidence for h in sorted(r.hits, key=lambda h: -h.score)),
                fix=r.cause.fix,
                checklist_step=r.cause.checklist_step,
            )
            for r in ranked
        )
        return Diagnosis(
            is_aps_error=is_aps_access_error(clean, signals, ranked, words),
            causes=causes,
            signals=signals.to_json(),
            secrets_found=redaction.found,
        )

"""Accuracy on evaluation pastes kept apart from the KB examples (tests/data/eval_*.jsonl).

They stand in for the held-out set of real public pastes: top-1 >= 90 %, top-3 >= 97 %, and a false
reply on at most 3 % of messages that are not APS access errors.
"""

from __future__ import annotations

import json

from bot.diagnosis import Diagnoser
from bot.knowledge import KnowledgeBase
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data"


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]


def test_eval_pastes_are_not_kb_examples(kb: KnowledgeBase) -> None:
    examples = {e.strip() for c in kb.causes for e in c.examples}
    assert not [row["id"] for row in _rows("eval_aps.jsonl") if row["text"].strip() in examples]


def test_aps_errors_top1_and_top3(kb: KnowledgeBase, diagnoser: Diagnoser) -> None:
    rows = _rows("eval_aps.jsonl")
    known = {c.id for c in kb.causes}
    assert {row["expected"] for row in rows} <= known
    top1 = top3 = 0
    misses = []
    for row in rows:
        diagnosis = diagnoser.diagnose(row["text"])
        ranked = [c.id for c in diagnosis.causes] if diagnosis.is_aps_error else []
        top1 += ranked[:1] == [row["expected"]]
        top3 += row["expected"] in ranked[:3]
        if ranked[:1] != [row["expected"]]:
            misses.append((row["id"], row["expected"], ranked[:3]))
    assert top1 / len(rows) >= 0.90, misses
    assert top3 / len(rows) >= 0.97, misses


def test_silence_on_other_messages(diagnoser: Diagnoser) -> None:
    rows = _rows("eval_not_aps.jsonl")
    replies = [row["id"] for row in rows if diagnoser.diagnose(row["text"]).is_aps_error]
    assert len(replies) / len(rows) <= 0.03, replies

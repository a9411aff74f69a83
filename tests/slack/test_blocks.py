"""Block Kit rendering: Slack's limits, splitting at boundaries, escaping of pasted text."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.diagnosis.result import CauseMatch, Diagnosis
from bot.knowledge import Cause, KnowledgeBase
from bot.slack.blocks import (
    ELLIPSIS,
    MAX_BLOCKS,
    MAX_BUTTON_VALUE,
    MAX_MESSAGE_TEXT,
    MAX_SECTION_TEXT,
    diagnosis_blocks,
    escape,
    knowledge_mrkdwn,
    slack_to_plain,
    split_text,
    unrecognised_blocks,
    with_feedback_note,
)

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_/:.", min_size=1, max_size=40)
separators = st.sampled_from([" ", "  ", "\n", "\n\n", " \n"])


@st.composite
def long_texts(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.tuples(words, separators), min_size=1, max_size=400))
    return "".join(w + s for w, s in parts)


@settings(max_examples=200, deadline=None)
@given(long_texts(), st.integers(min_value=60, max_value=3000))
def test_split_keeps_every_word_whole_and_every_chunk_within_the_limit(text: str, limit: int) -> None:
    chunks = split_text(text, limit)
    assert all(len(c) <= limit for c in chunks)
    rejoined = " ".join(c.removeprefix(ELLIPSIS).removesuffix(ELLIPSIS) for c in chunks)
    assert rejoined.split() == text.split()
    for i, chunk in enumerate(chunks):
        assert chunk.startswith(ELLIPSIS) == (i > 0)
        assert chunk.endswith(ELLIPSIS) == (i < len(chunks) - 1)


def test_split_prefers_line_boundaries() -> None:
    lines = [f"{n}. " + "word " * 40 for n in range(1, 60)]
    chunks = split_text("\n".join(lines), 1000)
    assert len(chunks) > 1
    for chunk in chunks:
        body = chunk.removeprefix(ELLIPSIS).removesuffix(ELLIPSIS)
        assert body.split("\n")[0].split(".")[0].isdigit()  # every chunk starts at the start of a line


def test_a_single_word_longer_than_a_section_is_cut_with_an_ellipsis() -> None:
    chunks = split_text("x" * 7000, MAX_SECTION_TEXT)
    assert all(len(c) <= MAX_SECTION_TEXT for c in chunks)
    assert "".join(c.strip(ELLIPSIS) for c in chunks) == "x" * 7000
    assert chunks[0].endswith(ELLIPSIS)


def make_diagnosis(kb: KnowledgeBase, fix: str, causes: int = 4, evidence: tuple[str, ...] = ()) -> Diagnosis:
    picked = kb.causes[:causes]
    matches = tuple(
        CauseMatch(c.id, c.title, 90 - 10 * i, evidence, fix if i == 0 else c.fix, c.checklist_step)
        for i, c in enumerate(picked)
    )
    return Diagnosis(is_aps_error=True, causes=matches)


def assert_within_limits(text: str, blocks: list[dict]) -> None:
    assert len(blocks) <= MAX_BLOCKS
    assert len(text) <= MAX_MESSAGE_TEXT
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION_TEXT
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert len(element["value"]) <= MAX_BUTTON_VALUE
                assert len(element["text"]["text"]) <= 75
    assert len(json.dumps(blocks)) < 50 * MAX_SECTION_TEXT


def test_huge_fix_stays_within_slack_limits(kb: KnowledgeBase) -> None:
    fix = "\n".join(f"{n}. " + "do the thing carefully " * 30 for n in range(1, 2000))
    text, blocks = diagnosis_blocks(make_diagnosis(kb, fix), kb, channel="C1", ts="1.2")
    assert_within_limits(text, blocks)
    assert blocks[-1]["type"] == "actions"
    assert "shortened" in json.dumps(blocks)


SLACK_BLOCKS_TEXT = 12_000  # msg_blocks_too_long above about this much text in a message's blocks [seen]


def blocks_text(node: object) -> int:
    """Characters of text in a block tree (every `text` string), as Slack's cumulative limit counts them."""
    if isinstance(node, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else blocks_text(v) for k, v in node.items())
    if isinstance(node, list):
        return sum(blocks_text(v) for v in node)
    return 0


def test_a_fix_of_any_length_gives_a_reply_slack_accepts(kb: KnowledgeBase) -> None:
    """Slack refuses (msg_blocks_too_long) a message whose blocks hold more than ~12,000 characters in all,
    however few blocks: the reply would never appear. A long fix is shortened, and a feedback note still fits."""
    evidence = tuple("e" * 200 for _ in range(6))
    for fix in ("word " * 2500, "\n".join(f"{n}. " + "do the thing carefully " * 30 for n in range(1, 2000))):
        text, blocks = diagnosis_blocks(
            make_diagnosis(kb, fix, evidence=evidence), kb, channel="C1", ts="1.2"
        )
        assert_within_limits(text, blocks)
        voted = with_feedback_note(
            blocks, ":pray: Thanks <@U0123ABCD>, glad it's fixed!  Feedback so far: 1 · 0"
        )
        assert blocks_text(voted) <= SLACK_BLOCKS_TEXT
        assert "fix shortened" in json.dumps(blocks) and blocks[-1]["type"] == "actions"
        assert voted[-2]["type"] == "actions"


def test_runner_ups_are_at_most_two(kb: KnowledgeBase) -> None:
    diagnosis = make_diagnosis(kb, "Fix it.", causes=4)
    _, blocks = diagnosis_blocks(diagnosis, kb, channel="C1", ts="1.2")
    rendered = json.dumps(blocks)
    assert all(c.title in rendered for c in diagnosis.causes[:3])
    assert diagnosis.causes[3].title not in rendered


def test_evidence_from_a_paste_cannot_ping_or_leak(kb: KnowledgeBase) -> None:
    evidence = (
        "<!here> @channel <!subteam^S1|@admins>",
        "Bearer xoxb-1234567890-1234567890-abcdefABCDEF1234",
    )
    _, blocks = diagnosis_blocks(make_diagnosis(kb, "Fix it.", evidence=evidence), kb, channel="C", ts="1")
    rendered = json.dumps(blocks)
    assert "<!" not in rendered
    assert "@channel" not in rendered
    assert "xoxb-1234567890" not in rendered


def test_unrecognised_lists_the_checklist_within_limits(kb: KnowledgeBase) -> None:
    text, blocks = unrecognised_blocks(kb, channel="C1", ts="1.2")
    assert_within_limits(text, blocks)
    rendered = json.dumps(blocks)
    assert all(step.title in rendered for step in kb.checklist.steps)


def test_feedback_note_replaces_the_previous_one(kb: KnowledgeBase) -> None:
    _, blocks = diagnosis_blocks(make_diagnosis(kb, "Fix it."), kb, channel="C1", ts="1.2")
    once = with_feedback_note(blocks, "first")
    twice = with_feedback_note(once, "second")
    assert len(twice) == len(blocks) + 1
    assert "first" not in json.dumps(twice) and "second" in json.dumps(twice)


def test_escape_and_plain_round_trip() -> None:
    markup = "<!here> see <https://aps.autodesk.com/x|docs> &lt;b&gt; <!subteam^S1|@ops> <@U123>"
    plain = slack_to_plain(markup)
    assert plain == "@here see https://aps.autodesk.com/x <b> @ops @U123"
    safe = escape(plain)
    assert "<" not in safe and ">" not in safe
    assert "@here" not in safe


def test_knowledge_mrkdwn_keeps_links_and_escapes_stray_brackets() -> None:
    text = "Check `b.<account id>` & see <https://aps.autodesk.com/x|docs>, ask <@U123>. a > b"
    assert knowledge_mrkdwn(text) == (
        "Check `b.&lt;account id&gt;` &amp; see <https://aps.autodesk.com/x|docs>, ask <@U123>. a &gt; b"
    )
    assert knowledge_mrkdwn("already &lt;escaped&gt; &amp; fine") == "already &lt;escaped&gt; &amp; fine"


def test_knowledge_mrkdwn_keeps_links_whose_label_has_spaces() -> None:
    """The knowledge base writes `<https://aps.autodesk.com/myapps|APS My Apps>`: it must stay a link."""
    text = "Open <https://aps.autodesk.com/myapps|APS My Apps> or <mailto:a@b.co|the admin team>."
    assert knowledge_mrkdwn(text) == text
    assert knowledge_mrkdwn("<https://x.co/a b|c>") == "&lt;https://x.co/a b|c&gt;"  # no space in a URL


def test_every_shipped_fix_renders_without_stray_markup(kb: KnowledgeBase) -> None:
    for cause in kb.causes:
        _, blocks = diagnosis_blocks(make_diagnosis_for(cause), kb, channel="C1", ts="1.2")
        for block in blocks:
            if block["type"] == "section":
                body = block["text"]["text"]
                for inner in re.findall(r"<([^>]*)>", body):
                    assert re.match(r"(https?|mailto):|[@#][A-Z0-9]", inner), (cause.id, inner)


def make_diagnosis_for(cause: Cause) -> Diagnosis:
    match = CauseMatch(cause.id, cause.title, 80, (), cause.fix, cause.checklist_step)
    return Diagnosis(is_aps_error=True, causes=(match,))

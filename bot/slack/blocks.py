"""Block Kit for diagnosis replies, within Slack's limits. Pure: diagnosis + KB in, (text, blocks) out.

Limits respected: 50 blocks per message, 3,000 chars per section text, 40,000 chars of `text`, 150 chars
per header / button label, 2,000 chars per button value, and about 12,000 chars of text in all the blocks of
a message (more gets `msg_blocks_too_long`, however few the blocks). Long text is split at line, then word,
boundaries and every cut is marked with "…"; a single word longer than a section is the only thing ever cut
inside.
Text that came from a paste is escaped (`&`, `<`, `>`), so it can never form a mention or a link, and
@channel/@here/@everyone are defused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from bot.diagnosis import CauseMatch, Diagnosis, redact
from bot.knowledge import KnowledgeBase

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_MESSAGE_TEXT = 40_000
MAX_BUTTON_VALUE = 2000
MAX_PLAIN_LABEL = 75  # button text
MAX_CONTEXT_TEXT = 3000
# Slack refuses a message whose blocks hold more than about 12,000 characters of text in all (undocumented,
# `msg_blocks_too_long`); a reply stays well under it, room left for the feedback note added on a vote.
MAX_REPLY_TEXT = 10_000
ELLIPSIS = "…"
MAX_RUNNER_UPS = 2
FALLBACK_FIX_CHARS = 500
CHECK_HINT = "`/aps-check &lt;client-id&gt; &lt;project&gt;`"  # escaped: a bare <…> is link markup

ACTIONS_BLOCK = "diagnosis_actions"
FEEDBACK_BLOCK = "diagnosis_feedback"
FIXED, NOT_IT = "diagnosis_fixed", "diagnosis_not_it"
START_CHECKLIST, RUN_LIVE_CHECK = "start_checklist", "run_live_check"

_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_SPECIAL = re.compile(r"<!(channel|here|everyone)(\|[^>]*)?>")
_SUBTEAM = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|@?([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_USER = re.compile(r"<([@#][A-Z0-9]+)(?:\|([^>]*))?>")


def slack_to_plain(text: str) -> str:
    """Slack message markup → the text the user pasted: links unwrapped, entities decoded, broadcast and
    user-group mentions reduced to plain words (so they cannot ping anyone if echoed)."""
    text = _SPECIAL.sub(lambda m: "@" + m.group(1), text)
    text = _SUBTEAM.sub(lambda m: "@" + (m.group(1) or "group"), text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _USER.sub(lambda m: m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape(text: str) -> str:
    """Plain text → safe mrkdwn: no markup can be formed, broadcast words carry a zero-width joiner."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@\u2060" + m.group(1), text)


_MARKUP = re.compile(r"<(?:(?:https?|mailto):[^<>\s|]+|[@#][A-Z0-9]+)(?:\|[^<>]*)?>|<!date\^[^<>]+>")


def knowledge_mrkdwn(text: str) -> str:
    """Knowledge-base mrkdwn made safe to send: links (`<https://…|label>`), user/channel references and
    dates stay; any other `<`, `>` or `&` (e.g. "b.<account id>") is escaped so Slack shows it as typed."""
    out, last = [], 0
    for match in _MARKUP.finditer(text):
        out.append(_entities(text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_entities(text[last:]))
    return "".join(out)


def _entities(text: str) -> str:
    return re.sub(r"&(?!(?:amp|lt|gt);)", "&amp;", text).replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` chars at a word boundary, "…" marking the cut."""
    if len(text) <= limit:
        return text
    head = text[: limit - len(ELLIPSIS)]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip() + ELLIPSIS


def split_text(text: str, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Split into chunks of ≤ `limit` chars at line, else word, boundaries; a continued chunk ends with "…"
    and the next one starts with "…"."""
    room = limit - 2 * len(ELLIPSIS) - 1
    chunks: list[str] = []
    current = ""
    for token in _tokens(text, room):
        if current and len(current) + len(token) > room:
            chunks.append(current)
            current = token.lstrip("\n ")
        else:
            current += token
    if current or not chunks:
        chunks.append(current)
    last = len(chunks) - 1
    out = []
    for i, chunk in enumerate(chunks):
        chunk = chunk.strip("\n ")
        if i > 0:
            chunk = ELLIPSIS + chunk
        if i < last:
            chunk += ELLIPSIS
        out.append(chunk)
    return out


def _tokens(text: str, room: int) -> list[str]:
    """Lines (with their newline), lines longer than `room` broken into words, words longer than `room`
    broken into pieces: every token fits in `room`."""
    tokens: list[str] = []
    for line in text.splitlines(keepends=True):
        if len(line) <= room:
            tokens.append(line)
            continue
        for word in re.findall(r"\S+\s*|\s+", line):
            while len(word) > room:
                tokens.append(word[:room])
                word = word[room:]
            tokens.append(word)
    return tokens


def confidence_label(score: int) -> str:
    return "High" if score >= 80 else "Medium" if score >= 60 else "Low"


def button_value(cause: str | None, channel: str, ts: str) -> str:
    """The JSON every diagnosis button carries: {"cause", "channel", "ts"} (ts = the diagnosed message)."""
    value = json.dumps({"cause": cause, "channel": channel, "ts": ts}, separators=(",", ":"))
    if len(value) > MAX_BUTTON_VALUE:
        raise ValueError("button value over Slack's 2,000-character limit")
    return value


def _section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


def _context(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate(text, MAX_CONTEXT_TEXT)}],
    }
    if block_id:
        block["block_id"] = block_id
    return block


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": truncate(text, MAX_PLAIN_LABEL), "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def actions_block(cause: str | None, channel: str, ts: str, *, feedback: bool = True) -> dict[str, Any]:
    value = button_value(cause, channel, ts)
    buttons = []
    if feedback:
        buttons += [
            _button(":white_check_mark: Fixed it", FIXED, value, "primary"),
            _button(":x: Not it", NOT_IT, value),
        ]
    buttons += [
        _button(":clipboard: Start checklist", START_CHECKLIST, value),
        _button(":stethoscope: Run live check", RUN_LIVE_CHECK, value),
    ]
    return {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": buttons}


def _step_title(kb: KnowledgeBase, step_id: str) -> str:
    steps = kb.checklist.steps
    for number, step in enumerate(steps, start=1):
        if step.id == step_id:
            return f"{number}. {step.title}"
    return step_id


def _evidence(evidence: Sequence[str]) -> str:
    shown = ["`" + truncate(escape(redact(e).text).replace("`", "'"), 120) + "`" for e in evidence[:6]]
    return "Matched: " + " · ".join(shown) if shown else ""


def diagnosis_blocks(
    diagnosis: Diagnosis, kb: KnowledgeBase, *, channel: str, ts: str
) -> tuple[str, list[dict[str, Any]]]:
    """The threaded reply for a recognised error: best cause, fix, checklist step, confidence, runner-ups,
    and the four buttons. `channel`/`ts` name the diagnosed message (they go into the button values)."""
    best = diagnosis.best
    if best is None:
        raise ValueError("diagnosis_blocks needs at least one cause")
    header = (
        f":mag: *Likely cause: {escape(best.title)}*\n"
        f"Confidence: *{confidence_label(best.score)}* ({best.score}/100)"
    )
    blocks: list[dict[str, Any]] = [_section(truncate(header, MAX_SECTION_TEXT), "diagnosis_best")]
    fix_chunks = split_text(knowledge_mrkdwn(best.fix), MAX_SECTION_TEXT - len("*Fix*\n"))
    fix_chunks[0] = "*Fix*\n" + fix_chunks[0]
    context = f":clipboard: Checklist step: *{escape(_step_title(kb, best.checklist_step))}*"
    if evidence := _evidence(best.evidence):
        context += "\n" + evidence
    tail: list[dict[str, Any]] = [_context(context, "diagnosis_step")]
    if others := runner_ups_text(diagnosis.causes[1 : 1 + MAX_RUNNER_UPS]):
        tail.append(_context(others, "diagnosis_others"))
    tail.append(actions_block(best.id, channel, ts))
    used = _text_length([*blocks, *tail])
    fix_chunks = _fit(fix_chunks, MAX_BLOCKS - len(blocks) - len(tail), MAX_REPLY_TEXT - used)
    blocks += [_section(chunk) for chunk in fix_chunks]
    blocks += tail
    text = f"Likely cause: {escape(best.title)} ({confidence_label(best.score)} confidence). Fix: " + escape(
        truncate(slack_to_plain(best.fix), FALLBACK_FIX_CHARS)
    )
    return truncate(text, MAX_MESSAGE_TEXT), blocks


SHORTENED = f"{ELLIPSIS} (fix shortened; the checklist has every step)"


def _fit(chunks: list[str], max_sections: int, max_chars: int) -> list[str]:
    """The fix's chunks that fit in `max_sections` sections and `max_chars` characters (the first one always),
    a shortened fix ending with a note that says so."""
    if len(chunks) <= max_sections and sum(map(len, chunks)) <= max_chars:
        return chunks
    kept: list[str] = []
    used = len(SHORTENED)
    for chunk in chunks[: max_sections - 1]:
        if kept and used + len(chunk) > max_chars:
            break
        kept.append(chunk)
        used += len(chunk)
    return [*kept, SHORTENED]


def _text_length(node: Any) -> int:
    """Characters of text in a block tree (every `text` string), as Slack's limit per message counts them."""
    if isinstance(node, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else _text_length(v) for k, v in node.items())
    if isinstance(node, list):
        return sum(_text_length(v) for v in node)
    return 0


def runner_ups_text(causes: Sequence[CauseMatch]) -> str:
    if not causes:
        return ""
    lines = [f"• {escape(c.title)} ({confidence_label(c.score).lower()}, {c.score}/100)" for c in causes]
    return "*Other possible causes*\n" + "\n".join(lines)


def unrecognised_blocks(kb: KnowledgeBase, *, channel: str, ts: str) -> tuple[str, list[dict[str, Any]]]:
    """The answer to a mention/DM/shortcut when nothing matches: say so, checklist, /aps-check hint."""
    steps = "\n".join(
        f"{n}. {escape(step.title)}" for n, step in enumerate(kb.checklist.steps[: MAX_BLOCKS - 5], start=1)
    )
    blocks = [
        _section(
            ":thinking_face: I don't recognise this as an APS access error. If you are fighting a 401/403 "
            "from Autodesk Platform Services, paste the full response body (status, `errorCode`, "
            "`developerMessage`) and the URL you called.",
            "diagnosis_unknown",
        ),
        _section(
            truncate(f"*{escape(kb.checklist.title)}*\n{steps}", MAX_SECTION_TEXT), "diagnosis_checklist"
        ),
        _context(
            f"Run {CHECK_HINT} for a live access check, "
            "or `/aps-check checklist` to walk through the provisioning checklist."
        ),
        actions_block(None, channel, ts, feedback=False),
    ]
    text = "I don't recognise this as an APS access error. Try the provisioning checklist or /aps-check."
    return text, blocks


def with_feedback_note(blocks: Sequence[dict[str, Any]], note: str) -> list[dict[str, Any]]:
    """`blocks` with the feedback context line replaced by (or appended as) `note`, within 50 blocks."""
    kept = [b for b in blocks if b.get("block_id") != FEEDBACK_BLOCK]
    return [*kept[: MAX_BLOCKS - 1], _context(note, FEEDBACK_BLOCK)]


def secret_warning_text() -> str:
    return (
        ":warning: Your message seems to contain a secret (an access token, client secret or Slack token). "
        "Everyone in this conversation can read it: *rotate it now* (APS client secret: regenerate it in "
        "the APS Developer Hub; access tokens: revoke or let them expire; Slack tokens: regenerate them in "
        "the app settings), then edit or delete the message. I have not repeated it anywhere."
    )

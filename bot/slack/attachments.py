"""What a message carries besides its own text and snippets: a forwarded message's original and another
integration's alert sit in `attachments` (text, fields, blocks, snippets), a bot's post may hold its words
only in section blocks. Read for the message shortcut, for DMs and mentions, and for pastes in a channel."""

from __future__ import annotations

from typing import Any

from bot.slack.blocks import ACTIONS_BLOCK, slack_to_plain

# block ids of the bot's own answers (bot/slack/blocks.py): a forwarded answer is not a paste to diagnose
_OWN_ANSWER_BLOCKS = frozenset({ACTIONS_BLOCK, "diagnosis_best", "diagnosis_unknown"})


def attached_text(message: dict[str, Any], *, bot_user_id: str = "") -> str:
    """The text of the message's attachments and non-rich-text blocks, as plain text. Left out: a linked web
    page's preview, and a forwarded answer of this bot (`bot_user_id`), which would only be answered again."""
    parts = [_block_text(message.get("blocks"))]
    for attachment in message.get("attachments") or []:
        if (
            not isinstance(attachment, dict)
            or _web_unfurl(attachment)
            or _own_answer(attachment, bot_user_id)
        ):
            continue
        fields = attachment.get("fields") or []
        parts += [attachment.get(k) or "" for k in ("pretext", "title")]
        parts.append(attachment.get("text") or ("" if fields else attachment.get("fallback") or ""))
        parts += [f"{f.get('title') or ''}\n{f.get('value') or ''}" for f in fields if isinstance(f, dict)]
        parts.append(
            _block_text([*(attachment.get("blocks") or []), *(attachment.get("message_blocks") or [])])
        )
        parts += [snippet_preview(f) for f in attachment.get("files") or [] if isinstance(f, dict)]
    text = "\n".join(p for p in parts if isinstance(p, str) and p.strip())
    return slack_to_plain(text).replace("```", "\n")


def snippet_preview(file: dict[str, Any]) -> str:
    """What Slack shows of a snippet: its preview (a forwarded one's whole text is not read: it is someone
    else's file)."""
    return str(file.get("preview") or file.get("plain_text") or "")


def _web_unfurl(attachment: dict[str, Any]) -> bool:
    """A preview of a web page linked in the message (not a forwarded or linked Slack message): not what
    the user asked about."""
    linked = attachment.get("from_url") or attachment.get("original_url")
    return bool(linked) and not (attachment.get("is_share") or attachment.get("is_msg_unfurl"))


def _own_answer(attachment: dict[str, Any], bot_user_id: str) -> bool:
    """A forwarded (or linked) answer of this bot: posted by it, or holding its answer's blocks."""
    if bot_user_id and attachment.get("author_id") == bot_user_id:
        return True
    wrapped = [b.get("message") for b in attachment.get("message_blocks") or [] if isinstance(b, dict)]
    blocks = [b for m in wrapped if isinstance(m, dict) for b in m.get("blocks") or []]
    return any(isinstance(b, dict) and b.get("block_id") in _OWN_ANSWER_BLOCKS for b in blocks)


def _block_text(blocks: Any) -> str:
    """The text of section, header and context blocks (rich_text blocks only repeat the message's `text`);
    a forwarded message's blocks come wrapped as {"message": {"blocks": [...]}}."""
    texts: list[str] = []
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("message"), dict):
            texts.append(_block_text(block["message"].get("blocks")))
        items = [block.get("text"), *(block.get("fields") or [])]
        if block.get("type") == "context":
            items += block.get("elements") or []
        texts += [i["text"] for i in items if isinstance(i, dict) and isinstance(i.get("text"), str)]
    return "\n".join(t for t in texts if t)

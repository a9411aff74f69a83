"""Block Kit for checklist threads and App Home. Rendering only: state in, blocks out.

Every interactive id encodes the checklist id and the step id (`cl_tick:<checklist>:<step>`), so a button
on an old message keeps working after a restart, and the listener can check the id against storage.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from bot.checklist import INTEGRATION_STEP, ChecklistState, TickRecord
from bot.knowledge import ChecklistStep
from bot.slack.blocks import knowledge_mrkdwn

TICK, ASSIGN, UNASSIGN, RECHECK = "cl_tick", "cl_assign", "cl_unassign", "cl_recheck"
HOME_START = "cl_home_start"
START_MODAL = "cl_start_modal"
STEP_BLOCK = "cl_step"
BAR_WIDTH = 10
BOT_ACTOR = "aps-bot"

_ACTION_RE = re.compile(
    r"^(?P<kind>cl_tick|cl_assign|cl_unassign|cl_step):(?P<checklist>[0-9a-f]{16}):(?P<step>[a-z0-9]+(?:-[a-z0-9]+)*)$"
)
_RECHECK_RE = re.compile(r"^cl_recheck:(?P<checklist>[0-9a-f]{16})$")

Block = dict[str, Any]


@dataclass(frozen=True)
class ActionRef:
    kind: str
    checklist_id: str
    step_id: str | None


def parse_action_id(action_id: str) -> ActionRef | None:
    """Decode a checklist action or block id; None when it is not one of ours or malformed."""
    if match := _ACTION_RE.match(action_id or ""):
        return ActionRef(match["kind"], match["checklist"], match["step"])
    if match := _RECHECK_RE.match(action_id or ""):
        return ActionRef(RECHECK, match["checklist"], None)
    return None


def action_id(kind: str, checklist_id: str, step_id: str) -> str:
    return f"{kind}:{checklist_id}:{step_id}"


def step_block_id(checklist_id: str, step_id: str) -> str:
    return f"{STEP_BLOCK}:{checklist_id}:{step_id}"


def escape(text: str) -> str:
    """Escape user-supplied text for mrkdwn (also neutralises <!channel>-style mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def actor(user: str) -> str:
    """A Slack user mention, or the bot's name for ticks the bot made itself."""
    return f"<@{user}>" if re.fullmatch(r"[UW][A-Z0-9]+", user) else f"*{escape(user)}*"


def slack_date(at: float) -> str:
    """A date Slack shows in the reader's time zone (UTC as the fallback text)."""
    fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))
    return f"<!date^{int(at)}^{{date_short_pretty}} {{time}}|{fallback}>"


def duration(seconds: float) -> str:
    """Human duration: '45 s', '12 min', '2 h 05 min', '3 d 4 h'."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def progress_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "▓" * filled + "░" * (width - filled)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _truncate(text, 3000)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _truncate(text, 3000)}]}


# --- the parent message ------------------------------------------------------------------------------


def subject_line(state: ChecklistState) -> str:
    client = f"client id `{escape(state.client_id)}`" if state.client_id else "client id _not set_"
    project = f"project `{escape(state.project)}`" if state.project else "project _not set_"
    return f"{client} · {project}"


def parent_text(state: ChecklistState) -> str:
    status = "done" if state.done else str(state.progress)
    return f"{state.template.title}: {status}"


def parent_blocks(
    state: ChecklistState, *, cause_title: str | None = None, recheck_at: float | None = None
) -> list[Block]:
    progress = state.progress
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": _truncate(state.template.title, 150)}},
        _section(
            f"Started by {actor(state.started_by)} {slack_date(state.started_at)} · {subject_line(state)}"
            + (f"\nStarted from the diagnosis *{escape(cause_title)}*" if cause_title else "")
        ),
        _section(f"`{progress_bar(progress.fraction)}` {progress}"),
    ]
    if state.done and state.total_seconds is not None:
        blocks.append(
            _section(
                f":white_check_mark: *Done* in {duration(state.total_seconds)}: "
                f"all {progress.steps_total} steps ticked."
            )
        )
    elif recheck_at is not None:
        blocks.append(
            _context(f":hourglass: Automatic live re-check scheduled for {slack_date(recheck_at)}.")
        )
    if not state.done:
        hint = "Tick the items in the thread as you go; use *Assign to…* to hand a step to someone."
        if not state.can_recheck:
            hint += (  # escaped: a bare <…> is Slack link markup
                " Start with `/aps-check checklist &lt;client-id&gt; &lt;project&gt;` to get the automatic "
                "re-check."
            )
        blocks.append(_context(hint))
    return blocks


# --- one message per step ----------------------------------------------------------------------------


def _item_option(step: ChecklistStep, item_id: str) -> Block:
    item = next(i for i in step.items if i.id == item_id)
    return {"text": {"type": "plain_text", "text": item.text}, "value": item.id}  # ≤ 75: the KB enforces it


def _tick_line(step: ChecklistStep, item_id: str, tick: TickRecord) -> str:
    item = next(i for i in step.items if i.id == item_id)
    text = escape(_truncate(item.text, 80))
    return f":ballot_box_with_check: {text}: {actor(tick.user)}, {slack_date(tick.at)}"


def step_text(state: ChecklistState, step_id: str) -> str:
    step = state.step(step_id)
    done = len(state.ticked_items(step_id))
    number, total = state.step_number(step_id), len(state.template.steps)
    return f"Step {number}/{total}: {step.title} ({done}/{len(step.items)})"


def step_blocks(state: ChecklistState, step_id: str) -> list[Block]:
    step = state.step(step_id)
    number, total = state.step_number(step_id), len(state.template.steps)
    mark = ":white_check_mark:" if state.step_done(step_id) else ":white_square:"
    heading = f"{mark} *Step {number} of {total}: {escape(step.title)}*"
    blocks: list[Block] = [_section(f"{heading}\n{knowledge_mrkdwn(step.why)}")]
    gotchas = [knowledge_mrkdwn(g) for g in step.gotchas]
    if step_id == INTEGRATION_STEP and state.client_id:
        gotchas.insert(
            0,
            f"Paste exactly this Client ID ({len(state.client_id)} characters, no spaces): "
            f"`{escape(state.client_id)}`",
        )
    if gotchas:
        blocks.append(_section(":warning: *Gotchas*\n" + "\n".join(f"• {g}" for g in gotchas)))

    options = [_item_option(step, item.id) for item in step.items]
    ticked = state.ticked_items(step_id)
    checkboxes: Block = {
        "type": "checkboxes",
        "action_id": action_id(TICK, state.id, step_id),
        "options": options,
    }
    if ticked:
        checkboxes["initial_options"] = [o for o in options if o["value"] in ticked]
    assign: Block = {
        "type": "users_select",
        "action_id": action_id(ASSIGN, state.id, step_id),
        "placeholder": {"type": "plain_text", "text": "Assign to…"},
    }
    elements = [checkboxes, assign]
    if assignment := state.assignments.get(step_id):
        assign["initial_user"] = assignment.assignee
        elements.append(
            {
                "type": "button",
                "action_id": action_id(UNASSIGN, state.id, step_id),
                "text": {"type": "plain_text", "text": "Unassign"},
                "value": step_id,
            }
        )
    if step_id == state.template.steps[-1].id:
        elements.append(
            {
                "type": "button",
                "action_id": f"{RECHECK}:{state.id}",
                "text": {"type": "plain_text", "text": "Re-check now"},
                "value": state.id,
            }
        )
    blocks.append({"type": "actions", "block_id": step_block_id(state.id, step_id), "elements": elements})

    notes = [
        _tick_line(step, item.id, tick)
        for item in step.items
        if (tick := state.ticked(step_id, item.id)) is not None
    ]
    if assignment:
        notes.append(
            f":bust_in_silhouette: Assigned to {actor(assignment.assignee)} by {actor(assignment.by)}, "
            f"{slack_date(assignment.at)}"
        )
    if notes:
        blocks.append(_context("\n".join(notes)))
    if step.links:
        blocks.append(_context(" · ".join(f"<{link}|{_link_label(link)}>" for link in step.links)))
    return blocks


def _link_label(url: str) -> str:
    label = re.sub(r"^https?://", "", url).rstrip("/")
    return escape(_truncate(label, 60))


def selected_in_message(
    message: dict[str, Any] | None, block_id: str, checkbox_action: str
) -> set[str] | None:
    """The item ids shown ticked in the message the user clicked (None when the payload lacks it)."""
    if not isinstance(message, dict):
        return None
    for block in message.get("blocks") or []:
        if not isinstance(block, dict) or block.get("block_id") != block_id:
            continue
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == checkbox_action:
                return {
                    str(option.get("value"))
                    for option in element.get("initial_options") or []
                    if isinstance(option, dict)
                }
    return None


# --- App Home ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HomeEntry:
    state: ChecklistState
    permalink: str | None


def home_view(entries: list[HomeEntry], top_causes: list[tuple[str, int]], days: int = 30) -> Block:
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "APS access checklists"}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "Walk a project through APS provisioning, step by step, in a Slack thread.",
            },
            "accessory": {
                "type": "button",
                "action_id": HOME_START,
                "style": "primary",
                "text": {"type": "plain_text", "text": "Start checklist"},
            },
        },
        {"type": "divider"},
        {"type": "header", "text": {"type": "plain_text", "text": "Open checklists"}},
    ]
    if not entries:
        blocks.append(_section("_No open checklists._"))
    for entry in entries:
        state = entry.state
        title = escape(state.template.title)
        link = f"<{entry.permalink}|{title}>" if entry.permalink else title
        blocks.append(
            _section(
                f"*{link}* in <#{state.channel}> · {subject_line(state)}\n"
                f"`{progress_bar(state.progress.fraction)}` {state.progress} · "
                f"last activity {slack_date(state.last_activity)}"
            )
        )
    blocks += [
        {"type": "divider"},
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"Most frequent causes (last {days} days)"},
        },
    ]
    if top_causes:
        lines = [f"{rank}. *{escape(title)}*: {count}×" for rank, (title, count) in enumerate(top_causes, 1)]
        blocks.append(_section("\n".join(lines)))
    else:
        blocks.append(_section("_No diagnoses recorded yet._"))
    return {"type": "home", "blocks": blocks[:100]}


def start_modal(default_channel: str | None = None) -> Block:
    channel: Block = {
        "type": "conversations_select",
        "action_id": "channel",
        "placeholder": {"type": "plain_text", "text": "Channel for the thread"},
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    if default_channel:
        channel["initial_conversation"] = default_channel
    return {
        "type": "modal",
        "callback_id": START_MODAL,
        "title": {"type": "plain_text", "text": "Start a checklist"},
        "submit": {"type": "plain_text", "text": "Start"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "channel",
                "label": {"type": "plain_text", "text": "Post in"},
                "element": channel,
            },
            _text_input(
                "client_id", "APS client id", "The app's Client ID, copied from the developer portal"
            ),
            _text_input("project", "Project", "Project id (b.… or the GUID)"),
        ],
    }


def _text_input(block_id: str, label: str, placeholder: str) -> Block:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": True,
        "label": {"type": "plain_text", "text": label},
        "element": {
            "type": "plain_text_input",
            "action_id": block_id,
            "max_length": 100,
            "placeholder": {"type": "plain_text", "text": placeholder},
        },
    }

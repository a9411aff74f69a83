"""Block Kit for live-check reports and their progress view (within Slack's limits: 50 blocks,
3,000 characters per section, 150 per header, 2,000 per button value)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from bot.check.report import CheckReport, StepResult
from bot.slack.blocks import escape, knowledge_mrkdwn

SHARE_ACTION = "share_check_report"
SECTION_LIMIT = 3000
FIX_LIMIT = 1500  # of a step's fix, in whole lines
HEADER_LIMIT = 150
MAX_BLOCKS = 50
ICON = {"pass": ":white_check_mark:", "fail": ":x:", "warn": ":warning:", "skipped": ":heavy_minus_sign:"}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fix(fix: str) -> str:
    """A knowledge-base fix as safe mrkdwn ("b.<account id>" shown as typed), cut after whole lines so no
    `<url|label>` link is cut in half."""
    kept: list[str] = []
    size = 0
    for line in fix.strip().splitlines():
        if kept and size + len(line) > FIX_LIMIT:
            kept.append("…")
            break
        kept.append(line)
        size += len(line) + 1
    return _cut(knowledge_mrkdwn("\n".join(kept)), SECTION_LIMIT // 2)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SECTION_LIMIT)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text, SECTION_LIMIT)}]}


def _target(report: CheckReport) -> str:
    parts = [
        f"*App:* {escape(report.app_name)} (`{escape(report.client_id)}`)",
        f"*Project:* `{escape(report.project)}`",
    ]
    if report.account:
        parts.append(f"*Account:* `{escape(report.account)}`")
    if report.region:
        parts.append(f"*Region:* {escape(report.region)}")
    if report.user:
        parts.append(f"*User:* {escape(report.user)}")
    return " · ".join(parts)


def _observed(step: StepResult) -> str:
    bits = []
    if step.observed.status is not None:
        bits.append(f"HTTP {step.observed.status}" if step.observed.status else "no answer")
    if step.observed.code:
        bits.append(f"`{escape(step.observed.code)}`")
    head = " ".join(bits)
    message = escape(step.observed.message)
    return f"{head} — {message}" if head and message else head or message


def step_text(step: StepResult, *, detail: bool = True) -> str:
    line = f"{ICON[step.status]} *{escape(step.title)}*"
    observed = _observed(step)
    if observed:
        line += f"  {_cut(observed, 600)}"
    if detail and step.cause_id and step.status in ("fail", "warn"):
        line += f"\n*Cause:* {escape(step.cause_title or step.cause_id)} (`{step.cause_id}`)"
        if step.fix:
            line += f"\n*Fix:* {_fix(step.fix)}"
        if step.checklist_step:
            line += f"\n_Checklist step:_ `{step.checklist_step}`"
    return line


def report_text(report: CheckReport) -> str:
    """One-line summary (notification and fallback text)."""
    failed = report.failed_step
    if failed is None:
        warn = f" with {len(report.warnings)} warning(s)" if report.warnings else ""
        return f":white_check_mark: APS access check passed{warn}: {_target_line(report)}"
    cause = f": {escape(failed.cause_title)} ({failed.cause_id})" if failed.cause_id else ""
    return f":x: APS access check failed at *{escape(failed.title)}*{cause} — {_target_line(report)}"


def _target_line(report: CheckReport) -> str:
    """App → project as typed, escaped: the text of a channel post must not form a mention or a link."""
    return f"{escape(report.app_name)} → {escape(report.project)}"


def report_blocks(
    report: CheckReport, *, share_id: str | None = None, note: str | None = None
) -> list[dict[str, Any]]:
    """The full report: verdict, target, one section per step (skipped ones folded), optional Share button."""
    failed = report.failed_step
    verdict = "passed" if failed is None else f"failed at: {failed.title}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(f"APS access check {verdict}", HEADER_LIMIT)},
        },
        _context(_target(report)),
    ]
    skipped = [s for s in report.steps if s.status == "skipped"]
    for step in report.steps:
        if step.status != "skipped":
            blocks.append(_section(step_text(step)))
    if skipped:
        names = ", ".join(escape(s.title) for s in skipped)
        blocks.append(_context(f"{ICON['skipped']} Skipped (they need a failed step): {names}"))
    footer = f"Took {report.duration_ms} ms."
    if failed is not None and failed.cause_id:
        footer += " Fix the first failed step, then run the check again."
    blocks.append(_context(f"{note}  {footer}" if note else footer))  # `note` is trusted mrkdwn
    if share_id is not None:
        blocks.append(
            {
                "type": "actions",
                "block_id": "check_report_actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": SHARE_ACTION,
                        "text": {"type": "plain_text", "text": "Share in channel"},
                        "value": json.dumps({"report": share_id}),
                    }
                ],
            }
        )
    return blocks[:MAX_BLOCKS]


def progress_blocks(
    app_name: str, project: str, done: Sequence[StepResult], *, running: bool = True
) -> list[dict[str, Any]]:
    """The live progress view: finished steps so far, then a 'checking…' line."""
    blocks: list[dict[str, Any]] = [
        _section(f":hourglass_flowing_sand: Checking *{escape(app_name)}* → `{escape(project)}`…"),
    ]
    lines = [step_text(step, detail=False) for step in done]
    if lines:
        blocks.append(_section("\n".join(lines)))
    if running:
        blocks.append(_context("Running the remaining steps…"))
    return blocks


def spacing_text(subject: str, wait: float) -> str:
    """The refusal of a check that follows another too closely."""
    return (
        f":hourglass_flowing_sand: {subject} was checked moments ago. Try again in {math.ceil(wait)} s: "
        "checks are spaced out so repeated clicks do not use up the app's APS rate limits."
    )

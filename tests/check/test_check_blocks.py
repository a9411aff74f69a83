"""Block Kit rendering of reports: limits, escaping, share button."""

from __future__ import annotations

import json
import re

from bot.check.report import CheckReport, Observed, StepResult
from bot.slack.check_blocks import progress_blocks, report_blocks, report_text


def report(message: str = "ok", fix: str = "do this") -> CheckReport:
    steps = (
        StepResult("token", "Two-legged token", "pass", Observed(200, "", "issued")),
        StepResult(
            "hub",
            "Account hub",
            "fail",
            Observed(403, "BIM360DM_ERROR", message),
            cause_id="integration-not-provisioned",
            cause_title="Custom integration missing",
            fix=fix,
            checklist_step="add-integration",
        ),
        StepResult("project", "Data Management project", "skipped", Observed(message="skipped: needs hub")),
    )
    return CheckReport("Bot <!channel>", "CID", "P1", "A1", "US", None, steps, 12)


def test_failed_report_has_cause_fix_step_and_folds_skipped_steps() -> None:
    blocks = report_blocks(report(), share_id="abc")
    text = json.dumps(blocks)
    assert blocks[0]["text"]["text"] == "APS access check failed at: Account hub"
    assert "(`integration-not-provisioned`)" in text and "do this" in text and "`add-integration`" in text
    assert "Skipped (they need a failed step): Data Management project" in text
    assert blocks[-1]["elements"][0]["value"] == json.dumps({"report": "abc"})
    assert "failed at *Account hub*: Custom integration missing (integration-not-provisioned)" in report_text(
        report()
    )


def test_a_passed_report_counts_its_warnings() -> None:
    steps = (
        StepResult("ids", "Ids", "warn", Observed(message="b. prefix"), cause_id="id-prefix-mismatch"),
        StepResult("token", "Two-legged token", "pass", Observed(200, "", "issued")),
        StepResult("hub", "Account hub", "warn", Observed(200, "", "region"), cause_id="region-mismatch"),
    )
    passed = CheckReport("Bot", "CID", "P1", "A1", "US", None, steps, 12)
    assert passed.passed and [s.name for s in passed.warnings] == ["ids", "hub"]
    assert "APS access check passed with 2 warning(s)" in report_text(passed)


def test_untrusted_text_is_escaped_and_sections_stay_within_limits() -> None:
    blocks = report_blocks(report(message="<!channel> " + "x" * 5000, fix="y" * 5000))
    for block in blocks:
        body = block.get("text") or {"text": ""}
        assert len(body["text"]) <= 3000
        for element in block.get("elements", []):
            assert len(element.get("text", "")) <= 3000
    text = json.dumps(blocks)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert len(blocks) <= 50


def test_summary_text_forms_no_mention_or_link_from_typed_names() -> None:
    """The summary is the `text` of a shared post: a project typed as `<!channel>` or a link must not ping
    the channel or show a spoofed link."""
    typed = CheckReport(
        "@here Bot", "CID", "<!channel> <https://evil.example|APS login>", None, None, None, (), 1
    )
    for text in (report_text(typed), report_text(report())):
        assert not re.search(r"<[!@#]|<https?:|(?<!\u2060)@here", text), text
    assert "&lt;!channel&gt;" in report_text(typed)


def test_fix_shows_placeholders_as_typed_and_keeps_links_whole() -> None:
    link = "<https://aps.autodesk.com/myapps|APS My Apps>"
    fix = "1. Open " + link + " and add `b.<account id>`.\n" + "2. Wait a minute.\n" * 200 + "3. Last " + link
    text = json.dumps(report_blocks(report(fix=fix)))
    assert "`b.&lt;account id&gt;`" in text and "<account id>" not in text
    for inner in re.findall(r"<([^>]*)>", text):
        assert inner == "https://aps.autodesk.com/myapps|APS My Apps", inner  # only whole links remain


def test_progress_view_lists_finished_steps() -> None:
    steps = report().steps[:1]
    blocks = progress_blocks("Bot", "P1", steps)
    assert "Checking *Bot*" in blocks[0]["text"]["text"]
    assert "Two-legged token" in blocks[1]["text"]["text"]
    assert progress_blocks("Bot", "P1", [], running=False) == blocks[:1]

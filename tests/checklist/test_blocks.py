"""Checklist Block Kit: ids that encode checklist + step, limits, and what the messages show."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.checklist import ChecklistState
from bot.knowledge import Checklist
from bot.slack.checklist_blocks import (
    ASSIGN,
    RECHECK,
    TICK,
    UNASSIGN,
    HomeEntry,
    action_id,
    duration,
    escape,
    home_view,
    parent_blocks,
    parse_action_id,
    progress_bar,
    selected_in_message,
    slack_date,
    start_modal,
    step_block_id,
    step_blocks,
)
from tests.checklist.conftest import STEP_IDS

CID = "0123456789abcdef"


def start(template: Checklist, **kw: Any) -> ChecklistState:
    return ChecklistState.start(CID, template, channel="C1", started_by="U0", at=1000.0, **kw)


def walk(node: Any):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def assert_within_limits(blocks: list[dict[str, Any]], max_blocks: int = 50) -> None:
    assert len(blocks) <= max_blocks
    for node in walk(blocks):
        for key in ("action_id", "block_id"):
            if key in node:
                assert len(node[key]) <= 255
        if node.get("type") == "checkboxes":
            assert 1 <= len(node["options"]) <= 10
            values = [o["value"] for o in node["options"]]
            for chosen in node.get("initial_options", []):
                assert chosen in node["options"]
            assert len(values) == len(set(values))
            for option in node["options"]:
                assert len(option["text"]["text"]) <= 75
        if node.get("type") == "section" and "text" in node:
            assert len(node["text"]["text"]) <= 3000
        if node.get("type") == "header":
            assert len(node["text"]["text"]) <= 150


@pytest.mark.parametrize("kind", [TICK, ASSIGN])
@pytest.mark.parametrize("step_id", STEP_IDS)
def test_action_ids_round_trip(kind: str, step_id: str) -> None:
    ref = parse_action_id(action_id(kind, CID, step_id))
    assert ref is not None and (ref.kind, ref.checklist_id, ref.step_id) == (kind, CID, step_id)


@pytest.mark.parametrize(
    "forged",
    [
        "",
        "cl_tick",
        f"cl_tick:{CID}",
        f"cl_tick:{CID}:",
        f"cl_tick:{CID}:Create-App",
        f"cl_tick:{CID[:-1]}:create-app",
        f"cl_tick:{CID}:create-app:extra",
        f"cl_tick:{CID.upper()}:create-app",
        f"cl_delete:{CID}:create-app",
        f"cl_recheck:{CID}:create-app",
        "cl_tick:../../etc:create-app",
    ],
)
def test_forged_action_ids_do_not_parse(forged: str) -> None:
    assert parse_action_id(forged) is None


def test_recheck_id_parses() -> None:
    ref = parse_action_id(f"{RECHECK}:{CID}")
    assert ref is not None and (ref.kind, ref.checklist_id, ref.step_id) == (RECHECK, CID, None)


def test_step_message_has_checkboxes_assign_and_ticks(template: Checklist) -> None:
    state = start(template).tick("add-integration", "add-integration-2", "U7", 1500.0).state
    state = state.assign("add-integration", "U9", "U7", 1600.0).state
    blocks = step_blocks(state, "add-integration")
    assert_within_limits(blocks)
    actions = next(b for b in blocks if b["type"] == "actions")
    assert actions["block_id"] == step_block_id(CID, "add-integration")
    checkboxes, users = actions["elements"][:2]
    assert checkboxes["action_id"] == action_id(TICK, CID, "add-integration")
    assert [o["value"] for o in checkboxes["options"]] == ["add-integration-1", "add-integration-2"]
    assert [o["value"] for o in checkboxes["initial_options"]] == ["add-integration-2"]
    assert users["type"] == "users_select" and users["initial_user"] == "U9"
    text = json.dumps(blocks, ensure_ascii=False)
    assert "Gotcha of add-integration" in text and "Why add-integration matters." in text
    assert "<@U7>" in text and "<!date^1500^" in text and "https://aps.autodesk.com/" in text
    buttons = [e["action_id"] for e in actions["elements"] if e["type"] == "button"]
    assert buttons == [
        action_id(UNASSIGN, CID, "add-integration")
    ]  # assigned: it can be cleared; no re-check


def test_integration_step_shows_the_exact_client_id_to_paste(template: Checklist) -> None:
    state = start(template, client_id="AbCd1234", project="b.p")
    assert "Paste exactly this Client ID (8 characters, no spaces): `AbCd1234`" in json.dumps(
        step_blocks(state, "add-integration")
    )
    assert "Paste exactly" not in json.dumps(step_blocks(state, "create-app"))
    assert "Paste exactly" not in json.dumps(step_blocks(start(template), "add-integration"))


def test_unticked_step_has_no_initial_options(template: Checklist) -> None:
    checkboxes = next(b for b in step_blocks(start(template), "create-app") if b["type"] == "actions")
    assert "initial_options" not in checkboxes["elements"][0]


def test_only_the_last_step_has_recheck_now(template: Checklist) -> None:
    state = start(template)
    buttons = [
        element
        for step in STEP_IDS
        for block in step_blocks(state, step)
        if block["type"] == "actions"
        for element in block["elements"]
        if element["type"] == "button"
    ]
    assert [b["action_id"] for b in buttons] == [f"{RECHECK}:{CID}"]


def test_parent_shows_who_what_progress(template: Checklist) -> None:
    state = start(template, client_id="AbC<!channel>", project="b.p1")
    state = state.tick("create-app", "create-app-1", "U1", 1100.0).state
    blocks = parent_blocks(state, cause_title="Integration not provisioned", recheck_at=1700.0)
    assert_within_limits(blocks)
    text = json.dumps(blocks, ensure_ascii=False)
    assert "<@U0>" in text and "0/5 steps · 1/11 items" in text
    assert "AbC&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "Integration not provisioned" in text and "<!date^1700^" in text


def test_parent_says_done_with_total_time(template: Checklist) -> None:
    state = start(template)
    for step in template.steps:
        for item in step.items:
            state = state.tick(step.id, item.id, "U1", 1000.0 + 2 * 3600 + 5 * 60).state
    text = json.dumps(parent_blocks(state), ensure_ascii=False)
    assert "Done" in text and "2 h 05 min" in text and "5/5 steps · 11/11 items" in text


def test_parent_without_ids_explains_how_to_get_the_recheck(template: Checklist) -> None:
    assert "/aps-check checklist" in json.dumps(parent_blocks(start(template)))
    assert "/aps-check checklist" not in json.dumps(
        parent_blocks(start(template, client_id="a", project="b"))
    )


def test_parent_hint_shows_the_command_placeholders_as_typed(template: Checklist) -> None:
    """A bare `<client-id>` is Slack link markup: the reader would see a broken link, not the placeholder."""
    hint = next(
        block["elements"][0]["text"]
        for block in parent_blocks(start(template))
        if block["type"] == "context" and "/aps-check checklist" in block["elements"][0]["text"]
    )
    assert "`/aps-check checklist &lt;client-id&gt; &lt;project&gt;`" in hint
    assert "<" not in hint and ">" not in hint


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(45, "45 s"), (720, "12 min"), (7500, "2 h 05 min"), (3 * 86_400 + 4 * 3600, "3 d 4 h")],
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_progress_bar() -> None:
    assert (
        progress_bar(0) == "░" * 10 and progress_bar(1) == "▓" * 10 and progress_bar(0.5) == "▓" * 5 + "░" * 5
    )


def test_dates_fall_back_to_utc_text() -> None:
    assert slack_date(1_700_000_060) == "<!date^1700000060^{date_short_pretty} {time}|2023-11-14 22:14 UTC>"


def test_escape() -> None:
    assert escape("<!here> & <@U1>") == "&lt;!here&gt; &amp; &lt;@U1&gt;"


def test_selected_in_message_reads_what_the_user_saw(template: Checklist) -> None:
    state = start(template).tick("create-app", "create-app-2", "U1", 1.0).state
    message = {"blocks": step_blocks(state, "create-app")}
    block, action = step_block_id(CID, "create-app"), action_id(TICK, CID, "create-app")
    assert selected_in_message(message, block, action) == {"create-app-2"}
    assert selected_in_message({"blocks": step_blocks(start(template), "create-app")}, block, action) == set()
    assert selected_in_message(None, block, action) is None
    assert selected_in_message({"blocks": "junk"}, block, action) is None


def test_home_view_lists_checklists_and_causes(template: Checklist) -> None:
    state = start(template, client_id="abc", project="b.p")
    view = home_view([HomeEntry(state, "https://x.slack.com/archives/C1/p1")], [("Integration missing", 7)])
    assert view["type"] == "home"
    assert_within_limits(view["blocks"], max_blocks=100)
    text = json.dumps(view, ensure_ascii=False)
    assert "https://x.slack.com/archives/C1/p1" in text and "0/5 steps · 0/11 items" in text
    assert "Integration missing" in text and "7×" in text and "cl_home_start" in text


def test_empty_home_view_says_so() -> None:
    text = json.dumps(home_view([], []), ensure_ascii=False)
    assert "No open checklists" in text and "No diagnoses recorded yet" in text


def test_start_modal_has_channel_client_and_project() -> None:
    view = start_modal()
    assert view["type"] == "modal" and [b["block_id"] for b in view["blocks"]] == [
        "channel",
        "client_id",
        "project",
    ]


def test_the_shipped_checklist_renders_within_block_kit_limits() -> None:
    from bot.knowledge import load_kb
    from bot.settings import default_kb_dir

    checklist = load_kb(default_kb_dir()).checklist
    assert [step.id for step in checklist.steps] == list(STEP_IDS)
    state = ChecklistState.start(
        CID, checklist, channel="C1", started_by="U0", at=0.0, client_id="x" * 32, project="p"
    )
    for step in checklist.steps:
        for item in step.items:
            state = state.tick(step.id, item.id, "U1", 60.0).state
        state = state.assign(step.id, "U2", "U1", 60.0).state
    assert_within_limits(parent_blocks(state, cause_title="A cause", recheck_at=600.0))
    for step in checklist.steps:
        blocks = step_blocks(state, step.id)
        assert_within_limits(blocks)
        assert len(json.dumps(blocks)) < 12_000  # well under the ~13k where long messages were seen failing
    assert_within_limits(home_view([HomeEntry(state, "https://x")] * 15, [("t", 1)] * 5)["blocks"], 100)


def test_step_text_from_the_knowledge_base_keeps_links_and_shows_placeholders_as_typed(
    template: Checklist,
) -> None:
    """A step's `why` and gotchas are knowledge-base mrkdwn: `<https://…|label>` stays a link, while a bare
    `b.<account id>` would be a broken link unless escaped."""
    first = template.steps[0].model_copy(
        update={
            "why": "Hub ids are `b.<account id>`; see <https://aps.autodesk.com/|the docs>.",
            "gotchas": ["Paste `<client id>` & nothing else."],
        }
    )
    state = start(template.model_copy(update={"steps": [first, *template.steps[1:]]}))
    text = "\n".join(
        block["text"]["text"] for block in step_blocks(state, first.id) if block["type"] == "section"
    )
    assert "`b.&lt;account id&gt;`" in text
    assert "<https://aps.autodesk.com/|the docs>" in text
    assert "`&lt;client id&gt;` &amp; nothing else" in text

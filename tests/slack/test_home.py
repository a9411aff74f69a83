"""App Home's "Start checklist" modal over signed HTTP: what it accepts is what the checklist can use."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.checklist_blocks import START_MODAL
from bot.store.checklists import ChecklistStore
from bot.store.db import Database
from tests.fakes.bolt_server import CHANNEL, HUMAN, BotServer
from tests.fakes.slack_api import FakeSlackApi

GUID = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"


def submission(project: str, client_id: str = "", channel: str = CHANNEL) -> dict[str, Any]:
    """A view_submission of the start modal, as Slack sends it."""
    return {
        "type": "view_submission",
        "user": {"id": HUMAN},
        "team": {"id": "T0FAKE001"},
        "view": {
            "id": "V0MODAL01",
            "callback_id": START_MODAL,
            "type": "modal",
            "state": {
                "values": {
                    "channel": {
                        "channel": {"type": "conversations_select", "selected_conversation": channel}
                    },
                    "client_id": {"client_id": {"type": "plain_text_input", "value": client_id or None}},
                    "project": {"project": {"type": "plain_text_input", "value": project}},
                }
            },
        },
    }


def open_checklists(bot: BotServer) -> list[Any]:
    deps = bot.runtime.deps
    return ChecklistStore(Database(deps.settings.bot_db_path), deps.kb.checklist).open_checklists()


@pytest.mark.parametrize(
    ("project", "hint"),
    [
        (f"urn:adsk.workspace:prod.project:{GUID}", GUID),  # the project's URN, copied from a viewer
        ("b.not_an_id", "does not look like a project id"),
    ],
)
def test_a_project_the_live_check_cannot_use_is_refused_in_the_modal(
    bot: BotServer, slack: FakeSlackApi, project: str, hint: str
) -> None:
    """The checklist's re-check runs the live check with this project: one it would refuse ("a link or URN,
    not a project") must be refused while the modal is open, with the check's own reason."""
    slack.members[CHANNEL] = [HUMAN]
    response = bot.send_action(submission(project))
    bot.drain()
    answer = response.json()
    assert answer["response_action"] == "errors" and hint in answer["errors"]["project"]
    assert open_checklists(bot) == []
    assert slack.calls_to("chat.postMessage") == []


def test_a_project_id_or_name_the_live_check_reads_starts_the_checklist(
    bot: BotServer, slack: FakeSlackApi
) -> None:
    slack.members[CHANNEL] = [HUMAN]
    for project in (f"b.{GUID}", "Tower_A_Extension"):
        assert bot.send_action(submission(project)).body in (b"", b"{}")
    bot.drain()
    assert sorted(state.project for state in open_checklists(bot)) == sorted(
        [f"b.{GUID}", "Tower_A_Extension"]
    )


def test_an_id_pasted_with_invisible_characters_is_read_as_the_command_reads_it(
    bot: BotServer, slack: FakeSlackApi
) -> None:
    """A project id copied from a web page can carry a zero-width space or a byte order mark; /aps-check drops
    them, so the modal does too rather than answering "No spaces" about a character nobody can see."""
    slack.members[CHANNEL] = [HUMAN]
    response = bot.send_action(submission(f"\ufeffb.{GUID}\u200b", client_id="\u2060Integration-Bot"))
    bot.drain()
    assert response.body in (b"", b"{}")
    [state] = open_checklists(bot)
    assert (state.project, state.client_id) == (f"b.{GUID}", "Integration-Bot")

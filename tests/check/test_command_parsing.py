"""Pure parts of `/aps-check`: argument parsing and secret detection."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.check import command
from bot.check.command import UsageError, looks_secret, parse_check_args, split_words
from bot.check.report import StepResult
from bot.settings import ApsApp
from bot.slack.listeners import check_command
from tests.fakes.aps_server import ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET, PROJECT_ID
from tests.fakes.clock import Clock


def parse(text: str) -> dict:
    return parse_check_args(split_words(text))


def test_positional_and_named_arguments() -> None:
    assert parse(f'"Integration Bot" “Tower A” {ACCOUNT_ID} eu user=<mailto:a@b.co|a@b.co>') == {
        "app": "Integration Bot",
        "project": "Tower A",
        "account": ACCOUNT_ID,
        "region": "eu",
        "user": "a@b.co",
    }
    assert parse(f"{CLIENT_ID} region=US project={PROJECT_ID}")["project"] == PROJECT_ID
    assert parse(f"{CLIENT_ID} {PROJECT_ID} EMEA {ACCOUNT_ID}")["account"] == ACCOUNT_ID


@pytest.mark.parametrize(
    ("text", "app", "project"),
    [
        ('"R&amp;D Bot" "R&amp;D Tower"', "R&D Bot", "R&D Tower"),  # Slack escapes & < > in command text
        ("app Mary's", "app", "Mary's"),
        ("app Mary’s", "app", "Mary's"),
        ('app "Mary\'s Tower"', "app", "Mary's Tower"),
        ("app\xa0Tower", "app", "Tower"),  # a non-breaking space pasted from a web page
        ('app "&lt;Tower&gt;"', "app", "<Tower>"),
    ],
)
def test_names_are_read_as_typed(text: str, app: str, project: str) -> None:
    args = parse(text)
    assert (args["app"], args["project"]) == (app, project)


def test_an_unclosed_quote_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="closing quotation"):
        split_words('app "Tower A')


@pytest.mark.parametrize("text", [CLIENT_ID, f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID} {ACCOUNT_ID}", "user=x"])
def test_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse(text)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"{CLIENT_ID} {PROJECT_ID} {ACCOUNT_ID}", False),
        (f"{CLIENT_ID} b.{PROJECT_ID}", False),
        (f"{CLIENT_ID} {CLIENT_SECRET} {PROJECT_ID}", True),
        (f"{CLIENT_ID} {PROJECT_ID} client_secret=abc", True),
        (f"{CLIENT_ID} {PROJECT_ID} password: abc", True),
        (f"{CLIENT_ID} {'x' * 64}", True),
        (f"{CLIENT_ID} 2024-001_Hospital_Extension_Phase2", False),  # a long project name
        (f"{CLIENT_ID} Tower_A_North_Building_Level_3_Phase_2", False),
        (f"{CLIENT_ID} aB3kL9_qZ7xW2-mN5vR8tY1uI4oP6sD0fG", True),  # base64url-looking: opaque
        (f"{CLIENT_ID} {CLIENT_SECRET}_{CLIENT_SECRET}", True),
        (f"checklist {CLIENT_ID} {PROJECT_ID}", False),
        (f"checklist {CLIENT_ID} {CLIENT_SECRET}", True),
        # an APS secret of 16 characters, where the project or the app belongs, or joined to the id
        (f"{CLIENT_ID} c4Jhg8Fkl3ZEnn4T", True),
        (f"c4Jhg8Fkl3ZEnn4T {PROJECT_ID}", True),
        (f"checklist c4Jhg8Fkl3ZEnn4T {PROJECT_ID}", True),
        (f"{CLIENT_ID} abCD12efGH34ijKL", True),  # switches case or kind every other character
        # a named argument's value is judged alone, all of it after the first `=`
        (f"{CLIENT_ID} {PROJECT_ID} account={ACCOUNT_ID} user=ann@example.com", False),
        (f"{CLIENT_ID} {PROJECT_ID} user=c4Jhg8Fkl3ZEnn4T", True),
        (f"{CLIENT_ID} {PROJECT_ID} user=x={'A1b2' * 8}", True),
        (f"{CLIENT_ID}:c4Jhg8Fkl3ZEnn4T {PROJECT_ID}", True),
        (f"{CLIENT_ID} HospitalPhase2Tower", False),  # names run in words
        (f"{CLIENT_ID} Building7WingB3Level2 {ACCOUNT_ID} EMEA", False),
        # an unregistered client id (32 random-looking characters) in the app's place: public, no secret
        (f"Gh7kL2mN9pQ4rS6tU8vW1xY3zA5bC0dE {PROJECT_ID}", False),
        (f"{CLIENT_ID} 4f3a2b1c9d8e7f6a5b4c", False),  # one case only (a hex id): no generated secret
        (f"{CLIENT_ID} Northamptonshire-Redevelopment2024", False),  # two words: a name
    ],
)
@pytest.mark.parametrize("registered", [False, True])
def test_secret_detection(text: str, secret: bool, registered: bool) -> None:
    assert looks_secret(text, split_words(text), [CLIENT_ID] if registered else []) is secret


def test_redactor_verdict_is_used_without_registered_client_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclass
    class Redaction:
        text: str
        found: bool

    seen: list[str] = []

    def redact(text: str) -> Redaction:
        seen.append(text)
        return Redaction(text, "xoxb-" in text or CLIENT_ID in text)

    monkeypatch.setattr(command, "redact", redact)
    assert not looks_secret(f"{CLIENT_ID} {PROJECT_ID}", [CLIENT_ID, PROJECT_ID], [CLIENT_ID])
    assert CLIENT_ID not in seen[-1]
    assert looks_secret(f"{CLIENT_ID} xoxb-123", [CLIENT_ID, "xoxb-123"], [CLIENT_ID])


def test_registered_client_ids_may_come_as_a_generator() -> None:
    """The listener passes a generator; both the scrub and the later word check must see the ids."""
    text = f"checklist {PROJECT_ID} {CLIENT_ID}"
    words = split_words(text)
    assert not looks_secret(text, words, (client_id for client_id in [CLIENT_ID]))
    assert looks_secret(text, words, ())  # unregistered, the same 32-character word looks like a secret


def test_the_check_key_tells_a_corrected_argument_from_a_repeat() -> None:
    """Spacing applies to the same check again (ids with or without `b.`, any case), never to a corrected
    project, account, region or user."""
    args = {"project": PROJECT_ID, "account": ACCOUNT_ID, "region": "US", "user": "ann@example.com"}
    key = command.check_key("U1", CLIENT_ID, args)
    same = {**args, "project": f"B.{PROJECT_ID.upper()}", "account": f"b.{ACCOUNT_ID}", "region": "us "}
    same["user"] = "Ann@Example.com"
    assert command.check_key("U1", CLIENT_ID, same) == key
    for field, value in [
        ("project", ACCOUNT_ID),
        ("account", PROJECT_ID),
        ("region", "EMEA"),
        ("user", "a@b.c"),
    ]:
        assert command.check_key("U1", CLIENT_ID, {**args, field: value}) != key, field
    assert command.check_key("U2", CLIENT_ID, args) != key


def progress_calls(step_gap: float, steps: int = 9) -> list[dict]:
    """The response_url uses of a check whose steps finish `step_gap` seconds apart."""
    calls: list[dict] = []
    clock = Clock(1000.0)
    app = ApsApp(name="Integration Bot", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    view = check_command.ProgressView(lambda **kw: calls.append(kw), app, PROJECT_ID, clock)
    view.start()
    for n in range(steps):
        clock.now += step_gap
        view.on_step(StepResult(f"step{n}", f"Step {n}", "pass"))
    return calls


def test_progress_leaves_one_response_url_use_for_the_report() -> None:
    """response_url takes five uses: "checking…", at most three updates, and the final report."""
    calls = progress_calls(step_gap=1.0)
    assert len(calls) == 1 + 3
    assert all(call["replace_original"] is True for call in calls[1:])


def test_progress_is_not_updated_for_steps_finishing_close_together() -> None:
    """Nine steps 0.3 intervals apart span 2.7 intervals: two updates, however many steps."""
    assert len(progress_calls(step_gap=check_command.PROGRESS_MIN_INTERVAL * 0.3)) == 1 + 2


def test_named_arguments_in_any_case() -> None:
    """Phones capitalise: `Region=EU User=…` are the named arguments, not an account id."""
    assert parse(f"{CLIENT_ID} {PROJECT_ID} Region=eu User=a@b.co Account={ACCOUNT_ID}") == {
        "app": CLIENT_ID,
        "project": PROJECT_ID,
        "account": ACCOUNT_ID,
        "region": "eu",
        "user": "a@b.co",
    }

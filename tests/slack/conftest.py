"""Fixtures for the Slack tests: the fake Web API, settings pointing at it, the running bot, and pastes
chosen from the shipped knowledge base by what the real Diagnoser says about them (never hard-coded)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.diagnosis import Diagnoser
from bot.diagnosis.result import Diagnosis
from bot.knowledge import KnowledgeBase, load_kb
from bot.settings import Settings
from tests.fakes import bolt_server
from tests.fakes.bolt_server import BotServer, make_settings, running_bot
from tests.fakes.slack_api import FakeSlackApi

NOT_APS = "anyone up for lunch at noon? the coffee machine on floor 3 is fixed"


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, slack: FakeSlackApi) -> Settings:
    return make_settings(tmp_path, slack)


@pytest.fixture
def bot(settings: Settings) -> Iterator[BotServer]:
    with running_bot(settings) as server:
        yield server


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_kb(bolt_server.ROOT / "knowledge")


@pytest.fixture(scope="session")
def diagnoser(kb: KnowledgeBase) -> Diagnoser:
    return Diagnoser(kb)


def confident_pastes(kb: KnowledgeBase, diagnoser: Diagnoser, min_score: int) -> list[tuple[str, Diagnosis]]:
    """Every KB example the Diagnoser flags as an APS error with a best score ≥ min_score."""
    found = []
    for cause in kb.causes:
        for example in cause.examples:
            diagnosis = diagnoser.diagnose(example)
            if diagnosis.is_aps_error and diagnosis.best and diagnosis.best.score >= min_score:
                found.append((example, diagnosis))
    return found


@pytest.fixture(scope="session")
def aps_paste(kb: KnowledgeBase, diagnoser: Diagnoser) -> tuple[str, Diagnosis]:
    """A paste that earns a passive reply at the default threshold, preferring one with runner-ups."""
    default = Settings.model_fields["bot_passive_min_score"].default
    pastes = confident_pastes(kb, diagnoser, default)
    assert pastes, "the knowledge base has no example confident enough for a passive reply"
    return max(pastes, key=lambda p: len(p[1].causes))


@pytest.fixture(scope="session")
def not_aps(diagnoser: Diagnoser) -> str:
    assert not diagnoser.diagnose(NOT_APS).is_aps_error
    return NOT_APS

"""Fixtures for diagnosis tests: the shipped knowledge base, loaded once."""

from __future__ import annotations

import pytest

from bot.diagnosis import Diagnoser
from bot.knowledge import KnowledgeBase, load_kb
from tests.conftest import ROOT

KB_DIR = ROOT / "knowledge"


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_kb(KB_DIR)


@pytest.fixture(scope="session")
def diagnoser(kb: KnowledgeBase) -> Diagnoser:
    return Diagnoser(kb)

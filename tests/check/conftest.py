"""Fixtures of the live-check tests: a fake APS server and settings that register its app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.check import service
from bot.settings import Settings
from tests.fakes.aps_server import APP_NAME, CLIENT_ID, CLIENT_SECRET, FakeAps

ALLOWED_USER = "U0ALLOWED"
ALLOWED_CHANNEL = "C0CHECKS"
ALLOWED_GROUP = "S0APSADMINS"


def app_entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": APP_NAME,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "allowed_users": [ALLOWED_USER],
        "allowed_usergroups": [ALLOWED_GROUP],
        "allowed_channels": [ALLOWED_CHANNEL],
    }
    entry.update(overrides)
    return entry


def check_settings(aps_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "aps_base_url": aps_url,
        "aps_apps": [app_entry()],
        "aps_timeout_seconds": 5.0,
        "aps_max_retry_after_seconds": 2.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def apps_env(**overrides: Any) -> str:
    return json.dumps([app_entry(**overrides)])


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Token and hub caches are per process; every test starts cold."""
    service.shared_caches().clear()
    yield
    service.shared_caches().clear()


@pytest.fixture
def aps() -> Iterator[FakeAps]:
    with FakeAps() as server:
        yield server


@pytest.fixture
def settings(aps: FakeAps) -> Settings:
    return check_settings(aps.url)

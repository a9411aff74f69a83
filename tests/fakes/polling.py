"""Wait for an observable condition with a deadline (never a bare sleep standing in for synchronisation)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def wait_until(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Return the condition's first truthy value; fail the test if none comes within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        threading.Event().wait(0.01)
    raise AssertionError(f"condition not met within {timeout}s")

"""The check core imports neither HTTP nor Slack: front ends and the APS client are edges."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_importing_the_core_loads_no_http_or_slack_library() -> None:
    code = (
        "import sys, bot.check.service, bot.check.steps, bot.check.runner, bot.check.access, bot.check.command; "
        "print(sorted(m for m in ('httpx', 'slack_bolt', 'slack_sdk') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

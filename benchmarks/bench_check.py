"""Live-check wall time against the fake APS server with 100 ms per call, next to the critical-path floor.

    .venv/bin/python benchmarks/bench_check.py [--latency 0.1] [--runs 5]

The floor is the longest chain of dependent APS calls (from the step graph in `bot.check.steps`) times the
per-call latency: the best any implementation could do. Target: wall time within 1.2x of the floor. Then a
repeated check inside the token/hub cache window: it must make no token and no hubs call.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.check import service
from bot.check.request import CheckRequest
from bot.check.service import run_live_check
from bot.check.steps import build_steps
from bot.settings import Settings
from tests.fakes.aps_server import (
    ACCOUNT_ID,
    APP_NAME,
    CLIENT_ID,
    CLIENT_SECRET,
    PROJECT_ID,
    USER_EMAIL,
    FakeAps,
)

# APS calls each step makes on a healthy run (cold caches / warm caches)
CALLS_COLD = {"token": 1, "hub": 1, "account_admin": 1, "project": 1, "top_folders": 1, "folder_contents": 1}
CALLS_USER = {"user_access": 2}  # admin project users (email -> Autodesk id), then topFolders as the user
CALLS_WARM = {**CALLS_COLD, "token": 0, "hub": 0}


def longest_chain(user: bool, calls: dict[str, int]) -> int:
    """Most calls on any dependency path of the step graph."""
    request = CheckRequest.build(PROJECT_ID, account=ACCOUNT_ID, user=USER_EMAIL if user else None)
    per_step = {**calls, **(CALLS_USER if user else {})}
    depth: dict[str, int] = {}
    for step in build_steps(request):  # dependencies come first
        depth[step.name] = per_step.get(step.name, 0) + max((depth[d] for d in step.deps), default=0)
    return max(depth.values())


def timed_check(settings: Settings, user: bool) -> tuple[float, bool]:
    started = time.perf_counter()
    report = run_live_check(
        settings, CLIENT_ID, PROJECT_ID, account=ACCOUNT_ID, user=USER_EMAIL if user else None
    )
    return time.perf_counter() - started, report.passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with FakeAps(latency=args.latency) as aps:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            aps_base_url=aps.url,
            aps_apps=[{"name": APP_NAME, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}],
        )
        print(f"fake APS latency per call: {args.latency * 1000:.0f} ms; runs: {args.runs} (median shown)")
        print(f"{'check':<34}{'calls':>6}{'floor':>10}{'wall':>10}{'ratio':>8}  target <= 1.20x")
        worst = 0.0
        for label, user, warm in (
            ("healthy, cold caches", False, False),
            ("healthy + user, cold caches", True, False),
            ("healthy, warm caches (repeat)", False, True),
        ):
            walls = []
            calls = 0
            for _ in range(args.runs):
                service.shared_caches().clear()
                if warm:
                    timed_check(settings, user)  # fills the token and hub caches
                aps.reset_calls()
                wall, passed = timed_check(settings, user)
                if not passed:
                    print(f"{label}: the check did not pass", file=sys.stderr)
                    return 1
                walls.append(wall)
                calls = len(aps.calls)
            floor = longest_chain(user, CALLS_WARM if warm else CALLS_COLD) * args.latency
            wall = statistics.median(walls)
            worst = max(worst, wall / floor)
            print(f"{label:<34}{calls:>6}{floor * 1000:>8.0f}ms{wall * 1000:>8.0f}ms{wall / floor:>7.2f}x")

        service.shared_caches().clear()
        timed_check(settings, False)
        aps.reset_calls()
        timed_check(settings, False)
        token_calls = aps.count("/authentication/v2/token")
        hubs_calls = sum(1 for c in aps.calls if c.path == "/project/v1/hubs")
        print(
            f"repeated check within the cache window: token calls {token_calls}, "
            f"hubs calls {hubs_calls} (target 0)"
        )
        ok = worst <= 1.2 and token_calls == 0 and hubs_calls == 0
        print(f"worst ratio {worst:.2f}x -> {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

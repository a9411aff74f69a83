"""`aps-bot check`: run the live access check from a terminal (same report as `/aps-check`).

Exit codes: 0 every step passed (warnings allowed), 1 a step failed, 2 usage error (bad arguments,
unknown app, unreadable settings).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from bot.check.access import REGISTER_HINT, find_app
from bot.check.report import CheckReport, StepResult
from bot.check.request import CheckRequest, InvalidRequest
from bot.check.service import run_live_check
from bot.settings import SettingsProblem, load_settings

MARK = {"pass": "PASS", "fail": "FAIL", "warn": "WARN", "skipped": "SKIP"}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "check",
        help="live-check that a registered APS app can reach a BIM 360/ACC project",
        description="Walk the provisioning chain (token → hub → ACC admin ∥ project → folders) against APS "
        "with the credentials registered in APS_APPS, and say which link is missing.",
    )
    parser.add_argument(
        "--client-id", required=True, metavar="ID|NAME", help="client id or app name in APS_APPS"
    )
    parser.add_argument(
        "--project", required=True, metavar="P", help="project id (b. optional) or exact name"
    )
    parser.add_argument(
        "--account", metavar="A", help="account id (b. optional); found from the hubs if omitted"
    )
    parser.add_argument("--region", metavar="R", help="US, EMEA, AUS, CAN, DEU, IND, JPN or GBR")
    parser.add_argument("--user", metavar="U", help="also check this user's access (email or Autodesk id)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsProblem as exc:  # names the setting, never its value
        hint = "see README, 'Register the team's APS apps'"
        print(f"aps-bot check: invalid settings: {exc}; {hint}", file=sys.stderr)
        return 2
    if find_app(settings, args.client_id) is None:
        known = ", ".join(f"{a.name} ({a.client_id})" for a in settings.aps_apps) or "none"
        print(
            f"aps-bot check: no registered app {args.client_id!r} (registered: {known}).\n{REGISTER_HINT}",
            file=sys.stderr,
        )
        return 2
    try:
        CheckRequest.build(args.project, account=args.account, region=args.region, user=args.user)
    except InvalidRequest as exc:
        print(f"aps-bot check: {exc}", file=sys.stderr)
        return 2
    report = run_live_check(
        settings, args.client_id, args.project, account=args.account, region=args.region, user=args.user
    )
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_report(report))
    return 0 if report.passed else 1


def _step_lines(step: StepResult) -> list[str]:
    status = "" if step.observed.status is None else f"HTTP {step.observed.status} "
    code = f"{step.observed.code} " if step.observed.code else ""
    lines = [f"  {MARK[step.status]}  {step.title:<34} {status}{code}{step.observed.message}".rstrip()]
    if step.cause_id and step.status in ("fail", "warn"):
        lines.append(f"        cause: {step.cause_id} ({step.cause_title})")
        if step.fix:
            fix = textwrap.fill(
                " ".join(step.fix.split()),
                width=100,
                initial_indent="        fix: ",
                subsequent_indent=" " * 13,
            )
            lines.append(fix)
        lines.append(f"        checklist step: {step.checklist_step}")
    return lines


def format_report(report: CheckReport) -> str:
    """The report as plain text for a terminal."""
    where = f"project {report.project}"
    if report.account:
        where += f" in account {report.account}"
    if report.region:
        where += f" ({report.region})"
    lines = [f"APS access check: {report.app_name} ({report.client_id}) -> {where}"]
    for step in report.steps:
        lines.extend(_step_lines(step))
    failed = report.failed_step
    if failed is None:
        suffix = f" with {len(report.warnings)} warning(s)" if report.warnings else ""
        lines.append(f"Result: all steps passed{suffix} ({report.duration_ms} ms)")
    else:
        lines.append(f"Result: FAILED at step '{failed.name}' ({failed.cause_id or 'no known cause'})")
    return "\n".join(lines)

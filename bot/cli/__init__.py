"""The `aps-bot` command line: one subcommand per module in this package."""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence

from bot.cli import check, diagnose, kb, serve, stats, worker
from bot.settings import SettingsProblem

COMMANDS = (diagnose, kb, check, stats, serve, worker)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aps-bot", description="Diagnose APS (Autodesk Platform Services) access errors."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `aps-bot` console script; returns the process exit code."""
    if isinstance(sys.stdout, io.TextIOWrapper):  # UTF-8 whatever the locale says (LANG=C, PYTHONIOENCODING),
        sys.stdout.reconfigure(encoding="utf-8", errors="replace")  # --help's "…" included
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except SettingsProblem as exc:  # one line naming the setting: pydantic's own error would print its value
        print(f"aps-bot {args.command}: invalid settings: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())

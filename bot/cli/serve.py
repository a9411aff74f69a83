"""`aps-bot serve` (placeholder until its issue lands)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="(not implemented yet)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print("aps-bot serve: not implemented yet", file=sys.stderr)
    return 2

"""`aps-bot kb validate | list`: check and browse the knowledge base."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.knowledge import KnowledgeError, load_kb
from bot.settings import load_settings


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("kb", help="validate or list the knowledge base")
    actions = parser.add_subparsers(dest="kb_command", required=True, metavar="ACTION")
    for name, help_text in (("validate", "load and validate every file"), ("list", "list the causes")):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--kb", type=Path, help="knowledge base folder (default: settings BOT_KB_DIR)")
        action.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    directory = args.kb or load_settings().bot_kb_dir
    try:
        kb = load_kb(directory)
    except KnowledgeError as exc:
        print(f"aps-bot kb: invalid knowledge base: {exc}", file=sys.stderr)
        return 1
    if args.kb_command == "validate":
        examples = sum(len(c.examples) for c in kb.causes)
        print(
            f"OK: {len(kb.causes)} causes, {examples} examples, "
            f"{len(kb.checklist.steps)} checklist steps in {directory}"
        )
        return 0
    width = max(len(c.id) for c in kb.causes)
    for cause in kb.causes:
        print(f"{cause.id:<{width}}  {cause.checklist_step:<16}  {cause.title}")
    return 0

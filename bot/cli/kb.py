"""`aps-bot kb validate | list`: check and browse the knowledge base."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.diagnosis import Diagnoser
from bot.knowledge import KnowledgeBase, KnowledgeError, load_kb
from bot.settings import load_settings


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("kb", help="validate or list the knowledge base")
    actions = parser.add_subparsers(dest="kb_command", required=True, metavar="ACTION")
    for name, help_text in (
        ("validate", "load and validate every file; every example must rank its cause first"),
        ("list", "list the causes"),
    ):
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
        problems = example_problems(kb)
        for problem in problems:
            print(f"aps-bot kb: {problem}", file=sys.stderr)
        if problems:
            return 1
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


def example_problems(kb: KnowledgeBase) -> list[str]:
    """The examples that do not rank their cause first as an APS error, and the counter-examples that do
    (what tests/diagnosis/test_kb_examples.py enforces), each naming its file and field."""
    diagnoser = Diagnoser(kb)
    problems: list[str] = []
    for cause in kb.causes:
        for index, text in enumerate(cause.examples):
            diagnosis = diagnoser.diagnose(text)
            where = f"{cause.id}.yml: examples.{index}"
            if diagnosis.best is None:
                problems.append(f"{where}: matches no cause")
            elif diagnosis.best.id != cause.id:
                problems.append(f"{where}: ranks {diagnosis.best.id} first, not {cause.id}")
            elif not diagnosis.is_aps_error:
                problems.append(f"{where}: ranks {cause.id} first but is not taken for an APS error")
        for index, text in enumerate(cause.counter_examples):
            best_match = diagnoser.diagnose(text).best
            if best_match is not None and best_match.id == cause.id:
                problems.append(f"{cause.id}.yml: counter_examples.{index}: ranks {cause.id} first")
    return problems

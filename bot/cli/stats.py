"""`aps-bot stats`: the most frequent causes and how often the diagnosis helped, from stored feedback."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time

from bot.knowledge import KnowledgeError, load_kb
from bot.settings import Settings, load_settings
from bot.store.db import Database
from bot.store.feedback import FeedbackStore

DAY = 86_400
ALL_CAUSES = 1_000_000


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("stats", help="most frequent causes and the helpfulness rate")
    parser.add_argument(
        "--days",
        type=positive,
        default=30,
        help="look back this many days, for causes and votes (default 30)",
    )
    parser.add_argument("--limit", type=positive, default=10, help="causes to list (default 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def positive(text: str) -> int:
    """A whole number from 1: `--limit -1` listed all causes but the last, `--days -3` counted nothing."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {number}")
    return number


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.bot_db_path.exists():  # opening it would create an empty one and report nothing
        print(
            f"aps-bot stats: no database at BOT_DB_PATH ({settings.bot_db_path}); run it where "
            "`aps-bot serve` runs, or set BOT_DB_PATH",
            file=sys.stderr,
        )
        return 1
    try:
        store = FeedbackStore(Database(settings.bot_db_path))
        since = time.time() - args.days * DAY
        counts = store.top_causes(since, ALL_CAUSES)
        helpfulness = store.helpfulness(since)
    except (sqlite3.Error, OSError) as exc:  # a folder, not a database, damaged, unreadable
        print(f"aps-bot stats: cannot open the database at BOT_DB_PATH ({exc})", file=sys.stderr)
        return 1
    top = counts[: args.limit]
    if args.json:
        print(
            json.dumps(
                {
                    "days": args.days,
                    "diagnoses": sum(n for _, n in counts),
                    "top_causes": [{"cause": cause, "count": n} for cause, n in top],
                    "helpfulness": helpfulness,
                }
            )
        )
        return 0
    titles = _titles(settings)
    print(f"Diagnoses posted in the last {args.days} days: {sum(n for _, n in counts)}")
    if top:
        print("Most frequent causes:")
        width = max(len(cause) for cause, _ in top)
        for cause, n in top:
            print(f"  {n:>5}  {cause:<{width}}  {titles.get(cause, '')}".rstrip())
    votes = helpfulness["votes"]
    if votes:
        print(
            f"Helpfulness (votes of the last {args.days} days): {helpfulness['helpful']} of {votes} votes "
            "said it fixed the problem "
            f"({helpfulness['rate']:.0%}); {helpfulness['not_helpful']} said not it"
        )
        for cause, tally in helpfulness["by_cause"].items():
            print(f"  {cause}: {tally['helpful']} fixed, {tally['not_helpful']} not it")
    else:
        print(f"Helpfulness: no feedback in the last {args.days} days")
    return 0


def _titles(settings: Settings) -> dict[str, str]:
    try:
        return {cause.id: cause.title for cause in load_kb(settings.bot_kb_dir).causes}
    except KnowledgeError:
        return {}

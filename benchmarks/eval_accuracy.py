"""Accuracy of `aps-bot diagnose --jsonl` on the evaluation pastes in tests/data/.

Run: python benchmarks/eval_accuracy.py
Prints top-1 and top-3 accuracy on eval_aps.jsonl (a row counts only if the bot would reply; the same
for the causes listed whatever the gate says) and the false-reply rate on eval_not_aps.jsonl,
going through the CLI's batch mode exactly as the held-out evaluation does. Then the same for
eval_late_aps.jsonl: real APS pastes collected, in later rounds, by engineers who never saw the knowledge
base (each round was scored before anything was tuned for it: see the README); reported, not asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def run_batch(rows: list[dict]) -> list[dict]:
    lines = "".join(json.dumps({"id": row["id"], "text": row["text"]}) + "\n" for row in rows)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "diagnose", "--jsonl", "-"],
        input=lines,
        capture_output=True,
        text=True,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]


def score(aps: list[dict]) -> None:
    results = run_batch(aps)
    top1 = top3 = ungated1 = ungated3 = 0
    by_origin: dict[str, list[int]] = {"real thread": [0, 0, 0], "paraphrase": [0, 0, 0]}
    for row, result in zip(aps, results, strict=True):
        listed = [c["id"] for c in result["causes"]]  # ranked even when the gate keeps the bot silent
        ungated1 += listed[:1] == [row["expected"]]
        ungated3 += row["expected"] in listed[:3]
        ranked = listed if result["is_aps_error"] else []
        hit1, hit3 = ranked[:1] == [row["expected"]], row["expected"] in ranked[:3]
        top1 += hit1
        top3 += hit3
        origin = by_origin["paraphrase" if row.get("source", "paraphrase") == "paraphrase" else "real thread"]
        origin[0] += 1
        origin[1] += hit1
        origin[2] += hit3
        if not hit1:
            print(f"  miss {row['id']}: expected {row['expected']}, got {ranked[:3]}")
    print(f"APS errors: {len(aps)}  top-1 {top1 / len(aps):.1%}  top-3 {top3 / len(aps):.1%}")
    for name, (rows, hit1, hit3) in by_origin.items():
        if rows:
            print(f"  of which {name}: {rows}  top-1 {hit1 / rows:.1%}  top-3 {hit3 / rows:.1%}")
    print(
        f"  causes listed, whatever the gate says: top-1 {ungated1 / len(aps):.1%}  top-3 {ungated3 / len(aps):.1%}"
    )


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help, and no stray flags
    score(load("eval_aps.jsonl"))
    other = load("eval_not_aps.jsonl")
    replies = [r["id"] for r in run_batch(other) if r["is_aps_error"]]
    for row_id in replies:
        print(f"  false reply {row_id}")
    print(f"other messages: {len(other)}  false replies {len(replies)} ({len(replies) / len(other):.1%})")
    print("late set (never tuned before it was scored):")
    score(load("eval_late_aps.jsonl"))


if __name__ == "__main__":
    main()

"""Redaction's worst cases: 40,000-character pastes of one piece repeated (Slack's message limit).

Run: python benchmarks/bench_redact.py [--runs N]
Each piece starts a pattern's match over and over ("secretsecret…", "eyJeyJ…", "Authorization: …"); a
regular expression that backtracked over the rest of the paste would take seconds here. Prints the median
time of redact() without and with the paste's word index (the long-paste path), slowest first.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bot.diagnosis.redact import redact
from bot.diagnosis.scan import word_index

SIZE = 40_000
PIECES = (
    "token", "secret", "tokentoken", "client_secret=", '"client_secret":"', "secret=\"a", "secret='a", "Bearer ",
    "Basic ", "eyJ", "eyJa.", "eyJaaaaa.eyJaaaaa\n", "Authorization: ", "authorization:authorization", "-u ",
    "-u a:", ":", "a:", "aaaaaaa:", "https://a:", "code=", '"code":"', '"key":"secret","value":"', "name=\"token",
    "secret>", "<secret>a", "access token ", "token a", "token provided ", "token aA1", "password is ",
    "secret | ", "secret\n", "\\\"", "\\\\\\\"secret\\\\\\\":\\\\\\\"", "'a', ", "'aB3dE5gH7jK9mN2pQ4rS6tU8vW0xY1zA', ",
    "/signedresources/", "[REDACTED]\n", "Bearer aaaaaaaaaaaaaaaaaaaaa1A\n", "aA1aA1aA1aA1aA1aA1\n", "\u200b",
    "：", "api_key ", "%3D", "echo -n a:", "btoa('a:", "AuthenticationHeaderValue(\"Bearer\", \"",
)  # fmt: skip


def median_ms(text: str, index: str | None, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        redact(text, index)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for piece in PIECES:
        text = (piece * (SIZE // len(piece) + 1))[:SIZE]
        index = word_index(text.lower())
        rows.append(
            (median_ms(text, None, args.runs), median_ms(text, index, args.runs) if index else 0.0, piece)
        )
    rows.sort(key=lambda row: -max(row[:2]))
    print(
        f"redact() on {len(PIECES)} pastes of {SIZE:,} characters, median of {args.runs} runs, slowest first:"
    )
    for plain, indexed, piece in rows[:10]:
        print(f"  {plain:7.1f} ms  {indexed:7.1f} ms with the word index   {piece!r} repeated")


if __name__ == "__main__":
    main()

"""How `aps-bot serve` in Socket Mode gets over the ways a connection ends, against the fake Socket Mode
endpoint (a real serve process, its reply worker included).

    .venv/bin/python benchmarks/bench_socket_mode.py [--runs 3]

For each ending, in this order on one process: Slack's `disconnect` (refresh_requested), a close frame, a TCP
close with no close frame (a proxy timing out), a reset, a connection that goes silent (no close, no reset, no
pongs: only the client's stale check notices). Printed: seconds until the new connection is open,
seconds from then until the bot acks an envelope sent on it, and the CPU seconds serve used meanwhile. Then
the seconds from SIGTERM to a clean exit. Medians over --runs processes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.bolt_server import message_event
from tests.fakes.serve_process import socket_mode_bot

ENDINGS = ("request_refresh", "close", "hang_up", "drop", "go_silent")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run() -> dict[str, tuple[float, float, float]]:
    figures: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory() as folder, socket_mode_bot(Path(folder)) as bot:
        for count, ending in enumerate(ENDINGS, start=2):
            started, cpu = time.monotonic(), cpu_seconds(bot.process.pid)
            getattr(bot.socket_mode, ending)()
            new = bot.socket_mode.wait_for_connection(count, timeout=120)
            connected = time.monotonic()
            envelope = bot.socket_mode.send_event(message_event("hello, anyone around?"), connection=new)
            acked = bot.socket_mode.wait_for_ack(envelope, timeout=30).at
            figures[ending] = (connected - started, acked - connected, cpu_seconds(bot.process.pid) - cpu)
        stopping = time.monotonic()
        assert bot.stop() == 0, bot.log()
        figures["sigterm"] = (time.monotonic() - stopping, 0.0, 0.0)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    print(f"Socket Mode endings, medians of {args.runs} runs")
    print(f"{'ending':<18}{'new connection':>16}{'first ack':>12}{'serve CPU':>12}")
    for ending in ENDINGS:
        connect, ack, cpu = (statistics.median(run[ending][i] for run in runs) for i in range(3))
        print(f"{ending:<18}{connect:>14.2f} s{ack:>10.2f} s{cpu:>10.2f} s")
    print(f"{'SIGTERM to exit':<18}{statistics.median(run['sigterm'][0] for run in runs):>14.2f} s")


if __name__ == "__main__":
    main()

"""Ack latency and throughput of the Slack HTTP app, next to a bare Bolt app whose listener does nothing.

Fires N signed `message` events (default 500; APS pastes from the knowledge base mixed with chatter, and every
10th delivery retried with X-Slack-Retry-Num) at the app served by waitress on loopback, with M requests in
flight (default 50), the fake Slack Web API behind it. Prints ack latency p50/p99, replies posted, duplicate
replies (must be 0) and throughput; then the same load against the bare app (the framework's own ceiling).

    .venv/bin/python benchmarks/bench_slack.py [--events 500] [--in-flight 50]
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slack_bolt import App  # noqa: E402
from slack_bolt.adapter.wsgi import SlackRequestHandler  # noqa: E402
from slack_sdk import WebClient  # noqa: E402

from bot.diagnosis import Diagnoser  # noqa: E402
from bot.knowledge import load_kb  # noqa: E402
from bot.server import EVENTS_PATH, create_http_server, run_in_thread  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.fakes.bolt_server import (  # noqa: E402
    BOT_TOKEN,
    SIGNING_SECRET,
    make_settings,
    message_event,
    running_bot,
    sign,
)
from tests.fakes.slack_api import FakeSlackApi  # noqa: E402

CHATTER = "is the deploy done? lunch at noon"
HTTP_THREADS = 16


Delivery = tuple[dict[str, Any], str, int | None]  # (event, event_id, X-Slack-Retry-Num)


def workload(events: int, min_score: int) -> tuple[list[Delivery], int]:
    """`events` deliveries (every 10th a retry of the one before) and how many of them deserve a reply."""
    kb = load_kb(ROOT / "knowledge")
    diagnoser = Diagnoser(kb)
    pastes = [
        example
        for cause in kb.causes
        for example in cause.examples
        if (d := diagnoser.diagnose(example)).is_aps_error and d.best and d.best.score >= min_score
    ]
    deliveries: list[Delivery] = []
    expected = 0
    n = 0
    while len(deliveries) < events:
        aps = n % 2 == 0
        event = message_event(
            pastes[n % len(pastes)] if aps else CHATTER,
            ts=f"{1_750_000_000 + n}.{n:06d}",
            channel=f"C{n % 20:08d}",
        )
        deliveries.append((event, f"EvBENCH{n:06d}", None))
        expected += aps
        if len(deliveries) % 10 == 9:
            deliveries.append((event, f"EvBENCH{n:06d}", 1))
        n += 1
    return deliveries[:events], expected


def post_event(port: int, event: dict[str, Any], event_id: str, retry_num: int | None) -> float:
    envelope = {"type": "event_callback", "team_id": "T0FAKE001", "event_id": event_id, "event": event}
    body = json.dumps(envelope).encode()
    headers = {"Content-Type": "application/json", **sign(SIGNING_SECRET, body)}
    if retry_num is not None:
        headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", EVENTS_PATH, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
    finally:
        conn.close()
    return time.perf_counter() - start


def fire(port: int, deliveries: list[Delivery], in_flight: int) -> dict[str, float]:
    started = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        latencies = list(pool.map(lambda d: post_event(port, *d), deliveries))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "throughput": len(latencies) / elapsed,
    }


def run_aps_bot(deliveries: list[Delivery], expected_replies: int, in_flight: int) -> dict[str, float]:
    with FakeSlackApi() as slack, tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp), slack)
        with running_bot(settings) as bot:
            port = int(bot.url.rsplit(":", 1)[1].strip("/"))
            figures = fire(port, deliveries, in_flight)
            slack.wait_for("chat.postMessage", count=expected_replies, timeout=120)
            bot.drain(timeout=120)
        posts = slack.calls_to("chat.postMessage")
        per_thread = Counter((c.params["channel"], c.params["thread_ts"]) for c in posts)
        figures["replies"] = len(posts)
        figures["duplicates"] = sum(n - 1 for n in per_thread.values())
    return figures


def do_nothing() -> None:
    """The bare app's listener."""


def run_bare(deliveries: list[Delivery], in_flight: int) -> dict[str, float]:
    with FakeSlackApi() as slack:
        app = App(client=WebClient(token=BOT_TOKEN, base_url=slack.url), signing_secret=SIGNING_SECRET)
        app.event("message")(do_nothing)
        handler = SlackRequestHandler(app, path=EVENTS_PATH)
        server = create_http_server(handler, host="127.0.0.1", port=0, threads=HTTP_THREADS)
        stop = run_in_thread(server)
        try:
            figures = fire(server.effective_port, deliveries, in_flight)
        finally:
            stop()
    figures["replies"] = 0
    figures["duplicates"] = 0
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=50)
    args = parser.parse_args()
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "queue depth" notes while we flood it
    deliveries, expected = workload(args.events, Settings.model_fields["bot_passive_min_score"].default)
    distinct = {(e["channel"], e["ts"]) for e, _, _ in deliveries}
    bare = run_bare(deliveries, args.in_flight)
    ours = run_aps_bot(deliveries, expected, args.in_flight)
    print(
        f"{len(deliveries)} signed message events ({len(distinct)} distinct messages, "
        f"{len(deliveries) - len(distinct)} retried deliveries), {args.in_flight} in flight"
    )
    print(f"{'':<10}{'ack p50 ms':>12}{'ack p99 ms':>12}{'events/s':>10}{'replies':>9}{'duplicates':>12}")
    for name, f in (("aps-bot", ours), ("bare Bolt", bare)):
        print(
            f"{name:<10}{f['p50_ms']:>12.1f}{f['p99_ms']:>12.1f}{f['throughput']:>10.0f}"
            f"{int(f['replies']):>9}{int(f['duplicates']):>12}"
        )
    ratio = ours["throughput"] / bare["throughput"]
    print(f"expected replies: {expected}; throughput vs bare: {ratio:.0%}")
    ok = ours["p99_ms"] < 300 and ratio >= 0.70 and ours["duplicates"] == 0 and ours["replies"] == expected
    print("targets (p99 < 300 ms, >= 70% of bare, 0 duplicates, every reply):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

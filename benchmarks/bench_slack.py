"""Ack latency and throughput of the Slack HTTP app, next to a bare Bolt app whose listener does nothing.

Fires N signed `message` events (default 500: APS pastes from the knowledge base alternating with chatter,
every 10th delivery a retry with X-Slack-Retry-Num) with M requests in flight (default 50) at the app served
by waitress on loopback, the fake Slack Web API behind it. The app under test (with its reply worker
process, as `aps-bot serve` runs it), the fake Slack and the load generator each run in their own process.
Prints ack latency p50/p99, throughput (events acked per second while firing), replies posted, duplicate
replies (must be 0) and when the last reply landed, for aps-bot and for the bare Bolt app (the framework's
own ceiling).

    .venv/bin/python benchmarks/bench_slack.py [--events 500] [--in-flight 50] [--rounds 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.server import EVENTS_PATH, create_http_server, run_in_thread  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.fakes.bolt_server import BOT_TOKEN, SIGNING_SECRET, message_event, sign  # noqa: E402
from tests.fakes.slack_api import FakeSlackApi  # noqa: E402

CHATTER = "is the deploy done? lunch at noon"
HTTP_THREADS = 16

Delivery = tuple[dict[str, Any], str, int | None]  # (event, event_id, X-Slack-Retry-Num)


def workload(events: int, min_score: int) -> tuple[list[Delivery], int]:
    """`events` deliveries (every 10th a retry of the one before) and how many of them deserve a reply."""
    from bot.diagnosis import Diagnoser
    from bot.knowledge import load_kb

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


# -- the process under test -------------------------------------------------------------------------------


def do_nothing() -> None:
    """The bare app's listener."""


def serve(kind: str, slack_url: str, db_path: str) -> None:
    """Serve `kind` ("aps-bot" or "bare") on a free port, print it, stop when stdin closes."""
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "queue depth" notes while flooded
    if kind == "bare":
        from slack_bolt import App
        from slack_bolt.adapter.wsgi import SlackRequestHandler
        from slack_sdk import WebClient

        app = App(client=WebClient(token=BOT_TOKEN, base_url=slack_url), signing_secret=SIGNING_SECRET)
        app.event("message")(do_nothing)
        wsgi, close = SlackRequestHandler(app, path=EVENTS_PATH), (lambda: None)
    else:
        from bot.app import build

        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack_url,
            bot_db_path=Path(db_path),
            bot_kb_dir=ROOT / "knowledge",
        )
        runtime = build(settings)
        runtime.start_worker()  # the reply worker process, as `aps-bot serve` starts it
        wsgi, close = runtime.wsgi, runtime.close
    server = create_http_server(wsgi, host="127.0.0.1", port=0, threads=HTTP_THREADS)
    stop = run_in_thread(server)
    print(server.effective_port, flush=True)
    sys.stdin.read()
    stop()
    close()  # waits for the queued replies


# -- the load generator -----------------------------------------------------------------------------------


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


def fake_slack() -> None:
    """Serve the fake Slack Web API, print its URL; on stdin EOF print {"replies", "duplicates",
    "last_reply_at" (time.monotonic(), the same clock in every process of this machine)} as JSON."""
    with FakeSlackApi() as slack:
        print(slack.url, flush=True)
        sys.stdin.read()
        posts = slack.calls_to("chat.postMessage")
    per_thread = Counter((c.params["channel"], c.params["thread_ts"]) for c in posts)
    report = {
        "replies": len(posts),
        "duplicates": sum(n - 1 for n in per_thread.values()),
        "last_reply_at": max((c.at for c in posts), default=None),
    }
    print(json.dumps(report), flush=True)


def spawn(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start this script in a helper mode; return the process and the first line it prints."""
    process = subprocess.Popen(
        [sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout
    return process, process.stdout.readline().strip()


def run(kind: str, deliveries: list[Delivery], in_flight: int) -> dict[str, float]:
    """One round: fake Slack, the app under test and this load generator, each in its own process."""
    with tempfile.TemporaryDirectory() as tmp:
        slack, slack_url = spawn("--fake-slack")
        app, port = spawn("--serve", kind, "--slack-url", slack_url, "--db", f"{tmp}/bench.sqlite3")
        warm_up = message_event(CHATTER, ts="1749999999.000001")  # first-use setup is not what we measure
        post_event(int(port), warm_up, "EvBENCHWARMUP", None)
        started_at = time.monotonic()
        started = time.perf_counter()
        with ThreadPoolExecutor(in_flight) as pool:
            latencies = sorted(pool.map(lambda d: post_event(int(port), *d), deliveries))
        elapsed = time.perf_counter() - started
        app.communicate("", timeout=300)  # stdin EOF: the app stops after finishing its queued replies
        report = json.loads(slack.communicate("", timeout=60)[0])
    last = report.pop("last_reply_at")
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "throughput": len(latencies) / elapsed,
        "last_reply_s": (last - started_at) if last is not None else float("nan"),
        **report,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5, help="alternate runs per app; medians are printed")
    parser.add_argument("--serve", choices=("aps-bot", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--slack-url", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--fake-slack", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fake_slack:
        fake_slack()
        return 0
    if args.serve:
        serve(args.serve, args.slack_url, args.db)
        return 0

    deliveries, expected = workload(args.events, Settings.model_fields["bot_passive_min_score"].default)
    distinct = {(e["channel"], e["ts"]) for e, _, _ in deliveries}
    results: dict[str, list[dict[str, float]]] = {"aps-bot": [], "bare": []}
    for _ in range(args.rounds):
        for kind in ("bare", "aps-bot"):
            results[kind].append(run(kind, deliveries, args.in_flight))

    def median(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in results[kind])

    print(
        f"{len(deliveries)} signed message events ({len(distinct)} distinct messages, "
        f"{len(deliveries) - len(distinct)} retried deliveries), {args.in_flight} in flight, "
        f"median of {args.rounds} rounds"
    )
    print(
        f"{'':<10}{'ack p50 ms':>12}{'ack p99 ms':>12}{'events/s':>10}{'replies':>9}{'duplicates':>12}"
        f"{'last reply s':>14}"
    )
    for kind, label in (("aps-bot", "aps-bot"), ("bare", "bare Bolt")):
        print(
            f"{label:<10}{median(kind, 'p50_ms'):>12.1f}{median(kind, 'p99_ms'):>12.1f}"
            f"{median(kind, 'throughput'):>10.0f}{int(median(kind, 'replies')):>9}"
            f"{max(r['duplicates'] for r in results[kind]):>12.0f}{median(kind, 'last_reply_s'):>14.2f}"
        )
    # each round runs both apps back to back: the median of per-round ratios cancels slow drifts of the machine
    ratio = statistics.median(
        ours["throughput"] / bare["throughput"]
        for ours, bare in zip(results["aps-bot"], results["bare"], strict=True)
    )
    all_replies = all(r["replies"] == expected for r in results["aps-bot"])
    no_duplicates = all(r["duplicates"] == 0 for r in results["aps-bot"])
    print(
        f"expected replies per round: {expected}; aps-bot throughput vs bare (median per round): {ratio:.0%}"
    )
    ok = median("aps-bot", "p99_ms") < 300 and ratio >= 0.70 and no_duplicates and all_replies
    print("targets (p99 < 300 ms, >= 70% of bare, 0 duplicates, every reply):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

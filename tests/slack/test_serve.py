"""`aps-bot serve`: credential checks, HTTP mode as a real process, Socket Mode selection."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.diagnosis.result import Diagnosis
from bot.settings import Settings, load_settings
from tests.fakes import bolt_server
from tests.fakes.bolt_server import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, message_event, sign
from tests.fakes.polling import wait_until
from tests.fakes.slack_api import FakeSlackApi


def env_for(slack: FakeSlackApi, tmp_path: Path, **values: str) -> dict[str, str]:
    base = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
        "BOT_DB_PATH": str(tmp_path / "serve.sqlite3"),
        "BOT_KB_DIR": str(bolt_server.ROOT / "knowledge"),
    }
    base.update(values)
    return {k: v for k, v in base.items() if v}


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"SLACK_BOT_TOKEN": ""}, "SLACK_BOT_TOKEN is not set"),
        ({"SLACK_BOT_TOKEN": "xoxp-user-token-not-a-bot-token"}, "SLACK_BOT_TOKEN is malformed"),
        ({"SLACK_APP_TOKEN": "xoxb-wrong-kind"}, "SLACK_APP_TOKEN is malformed"),
        ({"SLACK_SIGNING_SECRET": ""}, "SLACK_SIGNING_SECRET is not set"),
        ({"SLACK_SIGNING_SECRET": "not-hex"}, "SLACK_SIGNING_SECRET is malformed"),
        ({"BOT_WORKER_THREADS": "zero"}, "BOT_WORKER_THREADS"),
        (
            {"APS_APPS": '[{"name": "x", "client_id": "abc", "client_secret": "Hk29sLq0pXv7"'},
            "APS_APPS is not valid JSON",
        ),
        (
            {"APS_APPS": '[{"name": "x", "client_secret": "Hk29sLq0pXv7"}]'},
            "APS_APPS[0].client_id: Field required",
        ),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL: Value error, must be DEBUG, INFO"),
        ({"BOT_SCHEDULER_POLL_SECONDS": "inf"}, "BOT_SCHEDULER_POLL_SECONDS"),  # the scheduler died on it
        ({"APS_TIMEOUT_SECONDS": "inf"}, "APS_TIMEOUT_SECONDS"),  # every APS call raised OverflowError
        ({"BOT_CHECK_SPACING_SECONDS": "inf"}, "BOT_CHECK_SPACING_SECONDS"),  # "try again in inf s" raised
        (
            {"APS_MAX_RETRY_AFTER_SECONDS": "inf"},
            "APS_MAX_RETRY_AFTER_SECONDS",
        ),  # any Retry-After was waited out
    ],
)
def test_bad_credentials_give_one_line_naming_the_setting(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    values: dict[str, str],
    named: str,
) -> None:
    with FakeSlackApi() as slack:
        for name, value in env_for(slack, tmp_path).items():
            monkeypatch.setenv(name, value)
        for name, value in values.items():
            if value:
                monkeypatch.setenv(name, value)
            else:
                monkeypatch.delenv(name, raising=False)
        assert main(["serve", "--port", "0"]) == 2
        assert slack.calls == []  # rejected before talking to Slack
    err = capsys.readouterr().err.strip()
    assert named in err
    assert len(err.splitlines()) == 1
    assert "xoxp-user-token" not in err and "xoxb-wrong-kind" not in err and "Hk29sLq0pXv7" not in err


def test_a_database_path_that_cannot_be_opened_gives_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeSlackApi() as slack:
        env = env_for(slack, tmp_path, BOT_DB_PATH=str(tmp_path))  # a folder
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert main(["serve", "--port", "0"]) == 1
        # the worker lowers its own priority: a process of its own, not this one
        worker = subprocess.run(
            [sys.executable, "-m", "bot", "worker"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
    lines = [*capsys.readouterr().err.strip().splitlines(), *worker.stderr.strip().splitlines()]
    assert worker.returncode == 1
    assert len(lines) == 2 and all("cannot open the database at BOT_DB_PATH" in line for line in lines), lines


def test_a_slack_api_that_cannot_be_reached_gives_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "cannot reach Slack at SLACK_API_URL or open BOT_DB_PATH: URLError": which one, and why?"""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections to it are refused
        with FakeSlackApi() as slack:
            for name, value in env_for(
                slack, tmp_path, SLACK_API_URL=f"http://127.0.0.1:{port}/api/"
            ).items():
                monkeypatch.setenv(name, value)
            assert main(["serve", "--port", "0"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()[-1:]
    assert line == "aps-bot serve: cannot reach Slack at SLACK_API_URL (Connection refused)"


def test_a_database_folder_that_cannot_be_made_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    with FakeSlackApi() as slack:
        for name, value in env_for(
            slack, tmp_path, BOT_DB_PATH=str(tmp_path / "a-file" / "bot.sqlite3")
        ).items():
            monkeypatch.setenv(name, value)
        assert main(["serve", "--port", "0"]) == 1
        assert slack.calls == []
    [line] = capsys.readouterr().err.strip().splitlines()[-1:]
    assert line.startswith("aps-bot serve: cannot open the database at BOT_DB_PATH ("), line
    assert "Slack" not in line


@pytest.mark.parametrize("kind", ["folder", "not-a-database"])
def test_stats_on_a_database_it_cannot_read_gives_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    path = tmp_path / "stats.sqlite3"
    if kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"not a database " * 100)
    monkeypatch.setenv("BOT_DB_PATH", str(path))
    assert main(["stats"]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1, lines
    assert lines[0].startswith("aps-bot stats: cannot open the database at BOT_DB_PATH"), lines


def test_stats_without_a_database_says_so_and_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run where the bot's database is not (a relative BOT_DB_PATH, another folder): not "0 diagnoses"."""
    path = tmp_path / "elsewhere" / "aps-bot.sqlite3"
    monkeypatch.setenv("BOT_DB_PATH", str(path))
    assert main(["stats"]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1 and "no database at BOT_DB_PATH" in lines[0], lines
    assert str(path) in lines[0]
    assert not path.exists() and not path.parent.exists()


def test_lower_case_log_level_and_an_empty_app_token_are_read_as_meant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`LOG_LEVEL=debug` is DEBUG; `SLACK_APP_TOKEN=` left empty in `.env` means HTTP mode, not a bad token."""
    (tmp_path / ".env").write_text("LOG_LEVEL=debug\nSLACK_APP_TOKEN=\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.log_level == "DEBUG" and settings.slack_app_token is None


def test_token_slack_rejects_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeSlackApi() as slack:
        slack.set_response("auth.test", {"ok": False, "error": "invalid_auth"})
        for name, value in env_for(slack, tmp_path).items():
            monkeypatch.setenv(name, value)
        assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "SLACK_BOT_TOKEN" in err and "invalid_auth" in err
    assert BOT_TOKEN not in err


def test_a_port_in_use_gives_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken, FakeSlackApi() as slack:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for name, value in env_for(slack, tmp_path).items():
            monkeypatch.setenv(name, value)
        assert main(["serve", "--host", "127.0.0.1", "--port", str(port)]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()[-1:]
    assert line.startswith(f"aps-bot serve: cannot listen on 127.0.0.1:{port}: ")
    assert "in use" in line


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error_not_another_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], port: str
) -> None:
    """`--port 70000` was bound as port 4464 (70000 - 65536) without a word; -1 ended in a traceback."""
    with FakeSlackApi() as slack:
        for name, value in env_for(slack, tmp_path).items():
            monkeypatch.setenv(name, value)
        with pytest.raises(SystemExit) as exited:
            main(["serve", "--host", "127.0.0.1", "--port", port])
        assert slack.calls == []  # refused before anything starts
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --port" in err and port in err and "Traceback" not in err


def test_a_host_that_does_not_resolve_gives_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "bot-host.invalid":  # no DNS in tests: the answer a resolver gives for an unknown name
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with FakeSlackApi() as slack:
        for name, value in env_for(slack, tmp_path).items():
            monkeypatch.setenv(name, value)
        assert main(["serve", "--host", "bot-host.invalid", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = err.strip().splitlines()[-1:]
    assert line.startswith("aps-bot serve: cannot listen on bot-host.invalid:0: "), err


def test_a_reply_worker_that_cannot_be_started_at_all_gives_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = subprocess.Popen

    def no_worker(command: list[str], *args: Any, **kwargs: Any) -> Any:
        if "worker" in command:
            raise OSError(12, "Cannot allocate memory")  # fork out of memory
        return real(command, *args, **kwargs)

    monkeypatch.setattr("bot.worker.subprocess.Popen", no_worker)
    with FakeSlackApi() as slack:
        for name, value in env_for(slack, tmp_path).items():
            monkeypatch.setenv(name, value)
        assert main(["serve", "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "aps-bot serve: cannot start the reply worker (Cannot allocate memory)" in err


def test_app_token_selects_socket_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeSlackApi() as slack:
        slack.set_response("apps.connections.open", {"ok": False, "error": "invalid_auth"})
        for name, value in env_for(
            slack, tmp_path, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET=""
        ).items():
            monkeypatch.setenv(name, value)
        assert main(["serve"]) == 1
        [opened] = slack.calls_to("apps.connections.open")
        assert opened.headers["Authorization"] == f"Bearer {APP_TOKEN}"
    assert "SLACK_APP_TOKEN" in capsys.readouterr().err


@pytest.mark.parametrize("status", [500, 503])
def test_slack_unavailable_when_socket_mode_connects_is_not_blamed_on_the_app_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], status: int
) -> None:
    with FakeSlackApi() as slack:
        slack.fail_next("apps.connections.open", status=status)
        for name, value in env_for(
            slack, tmp_path, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET=""
        ).items():
            monkeypatch.setenv(name, value)
        assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert "Slack is unavailable" in err and "SLACK_APP_TOKEN" not in err


def served_url(process: subprocess.Popen, stderr: list[str], timeout: float = 30) -> str:
    """The URL `aps-bot serve --port 0` logs once it has bound a free port. A port the test picked and freed
    again could be taken by another server before the bot binds it."""

    def logged() -> str | None:
        assert process.poll() is None, "".join(stderr)
        found = (re.search(r"serving Slack events on (http://\S+/)slack/events", line) for line in stderr[:])
        return next((m.group(1) for m in found if m), None)

    return wait_until(logged, timeout)


def wait_healthy(url: str, process: subprocess.Popen, stderr: list[str], timeout: float = 30) -> None:
    def healthy() -> bool:
        assert process.poll() is None, "".join(stderr)
        try:
            with urllib.request.urlopen(url + "healthz", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError):
            return False

    wait_until(healthy, timeout)


@contextmanager
def http_serve(
    tmp_path: Path, slack: FakeSlackApi, stop: signal.Signals = signal.SIGTERM, **values: str
) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """`aps-bot serve` in HTTP mode as a real process with `env_for` settings (plus `values`): yields the
    process, its URL once healthy, and its stderr lines as they come; stops it with `stop` on exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "APS_", "BOT_"))}
    env.update(env_for(slack, tmp_path, **values))
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr or ()), daemon=True)
    reader.start()
    try:
        url = served_url(process, lines)
        wait_healthy(url, process, lines)
        yield process, url, lines
    finally:
        process.send_signal(stop)
        process.wait(timeout=30)
        reader.join(timeout=30)
        if process.stderr:
            process.stderr.close()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_http_mode_serves_signed_events_with_waitress(
    tmp_path: Path, aps_paste: tuple[str, Diagnosis], stop: signal.Signals
) -> None:
    with FakeSlackApi() as slack, http_serve(tmp_path, slack, stop) as (process, url, lines):
        body = (
            b'{"type":"event_callback","event_id":"EvSERVE001","team_id":"T0FAKE001","event":'
            + json.dumps(message_event(aps_paste[0])).encode()
            + b"}"
        )
        request = urllib.request.Request(
            url + "slack/events",
            data=body,
            headers={"Content-Type": "application/json", **sign(SIGNING_SECRET, body)},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        slack.wait_for("chat.postMessage")
        forged = urllib.request.Request(
            url + "slack/events",
            data=body,
            headers={"Content-Type": "application/json", **sign("0" * 32, body)},
        )
        with pytest.raises(urllib.error.HTTPError) as rejected:
            urllib.request.urlopen(forged, timeout=10)
        assert rejected.value.code == 401
    stderr = "".join(lines)
    assert BOT_TOKEN not in stderr
    assert process.returncode == 0, stderr  # stopped cleanly (server closed, worker drained), not killed


def test_env_example_names_every_setting() -> None:
    named = set(re.findall(r"^#? ?([A-Z][A-Z_]+)=", (bolt_server.ROOT / ".env.example").read_text(), re.M))
    assert named == {name.upper() for name in Settings.model_fields}


@pytest.mark.parametrize("status", [500, 503])
def test_slack_unavailable_at_start_is_not_blamed_on_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], status: int
) -> None:
    with FakeSlackApi() as slack:
        slack.fail_next("auth.test", status=status)
        for name, value in env_for(slack, tmp_path).items():
            monkeypatch.setenv(name, value)
        assert main(["serve", "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "Slack is unavailable" in err and "SLACK_BOT_TOKEN" not in err


def test_a_stop_in_socket_mode_is_a_clean_exit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM (docker stop, systemd) raises KeyboardInterrupt where Socket Mode waits: exit 0, not 130."""
    from bot import server

    def stopped(app: object, token: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(server, "serve_socket_mode", stopped)
    with FakeSlackApi() as slack:
        for name, value in env_for(
            slack, tmp_path, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET=""
        ).items():
            monkeypatch.setenv(name, value)
        assert main(["serve"]) == 0


def test_the_runtime_stops_its_producers_before_the_inbox(tmp_path: Path) -> None:
    """A shortcut on the pool may hand its answer to the inbox while the bot stops: the pool must be done
    before the inbox and the worker close."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.app import build

    with FakeSlackApi() as slack:
        runtime = build(bolt_server.make_settings(tmp_path, slack))
        order: list[str] = []
        _ = runtime.deps.inbox
        inbox_close, pool_shutdown = runtime.deps.inbox.close, runtime.deps.executor.shutdown
        runtime.deps.inbox.close = lambda: (order.append("inbox"), inbox_close())[1]  # type: ignore[method-assign]
        assert isinstance(runtime.deps.executor, ThreadPoolExecutor)
        runtime.deps.executor.shutdown = lambda wait=True: (order.append("pool"), pool_shutdown(wait))[1]  # type: ignore[method-assign]
        runtime.close()
    assert order == ["pool", "inbox"]


def test_a_log_call_whose_arguments_do_not_fit_its_format_leaks_nothing() -> None:
    """logging would print the raw arguments beside the error; the filter redacts them with the message."""
    import io
    import logging

    from bot.logsetup import RedactingFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.mismatched")
    logger.addHandler(handler)
    try:
        logger.warning("token %s and %s", "xoxb-1234567890-abcdefghij")  # one argument for two %s
    finally:
        logger.removeHandler(handler)
    assert "xoxb-1234567890-abcdefghij" not in stream.getvalue() and "[REDACTED]" in stream.getvalue()


def test_a_start_with_the_bot_token_in_the_environment_logs_no_bolt_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Bolt reads SLACK_BOT_TOKEN itself and warns that the given client wins: noise at every start."""
    from bot.app import build

    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    with FakeSlackApi() as slack, caplog.at_level(logging.WARNING):
        runtime = build(bolt_server.make_settings(tmp_path, slack))
        runtime.close()
        logger = logging.getLogger("slack_bolt.App")
        logger.warning("a later warning of Bolt's still shows")
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("slack_bolt")]
    assert messages == ["a later warning of Bolt's still shows"]


def health(url: str) -> tuple[int, dict[str, Any]]:
    """`GET /healthz`: its status and JSON body, 503 included."""
    try:
        with urllib.request.urlopen(url + "healthz", timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def child_pids(pid: int) -> list[int]:
    """The child processes of `pid` (Linux), started by any of its threads."""
    tasks = Path(f"/proc/{pid}/task")
    return [int(child) for task in tasks.iterdir() for child in (task / "children").read_text().split()]


def test_healthz_fails_while_the_reply_worker_is_down_and_recovers_with_it(tmp_path: Path) -> None:
    """A worker that died and cannot be restarted (the knowledge base broken by an edit meanwhile) answers no
    message: the health check must say so, not `ok` with a queue that only grows."""
    kb = tmp_path / "kb"
    shutil.copytree(bolt_server.ROOT / "knowledge", kb)
    with (
        FakeSlackApi() as slack,
        http_serve(tmp_path, slack, BOT_KB_DIR=str(kb)) as (process, url, lines),
    ):
        [worker] = child_pids(process.pid)
        (kb / "broken.yml").write_text("id: [unclosed\n", encoding="utf-8")
        os.kill(worker, signal.SIGKILL)
        body = wait_until(lambda: (found := health(url))[0] == 503 and found[1], timeout=30)
        assert body == {"ok": False, "error": "reply_worker_down", "queued_replies": 0}
        wait_until(lambda: any("did not start" in line for line in lines[:]), timeout=30)
        assert health(url)[0] == 503  # still down: its restarts fail
        (kb / "broken.yml").unlink()
        wait_healthy(url, process, lines, timeout=90)  # restarted (its back-off is at most a minute)
        assert health(url) == (200, {"ok": True, "queued_replies": 0})
    assert process.returncode == 0, "".join(lines)

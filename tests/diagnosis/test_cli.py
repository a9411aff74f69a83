"""`aps-bot diagnose`: argument, file and stdin input; human, --json and --jsonl output."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli import diagnose as diagnose_cli
from bot.cli import main
from bot.cli.diagnose import terminal
from bot.diagnosis import Diagnoser
from bot.knowledge import KnowledgeBase

SECRET = "Zx8Cv7Bn6Mq5Lk4J"


@pytest.fixture(scope="module")
def example(kb: KnowledgeBase) -> tuple[str, str]:
    """A KB example and its cause id (whatever the KB holds, not a hard-coded answer)."""
    cause = next(c for c in kb.causes if c.id == "app-api-access-missing")
    return cause.examples[0], cause.id


def test_human_output_names_cause_and_fix(
    example: tuple[str, str], kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]
) -> None:
    text, cause_id = example
    assert main(["diagnose", text]) == 0
    out = capsys.readouterr().out
    assert f"[{cause_id}]" in out
    assert kb.cause(cause_id).fix.strip().splitlines()[0].strip() in out
    assert "<https://" not in out  # Slack's <url|label> links read "label (url)" in a terminal


def test_terminal_shows_slack_links_as_label_and_url() -> None:
    assert terminal("Open <https://aps.autodesk.com/myapps|APS My Apps>, pick") == (
        "Open APS My Apps (https://aps.autodesk.com/myapps), pick"
    )


def test_json_matches_the_contract(example: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    text, cause_id = example
    assert main(["diagnose", "--json", text]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"is_aps_error", "causes", "signals", "secrets_found"}
    assert result["causes"][0]["id"] == cause_id
    assert list(result["causes"][0]) == ["id", "title", "score", "evidence", "fix"]


def test_file_and_stdin_give_the_same_answer(
    tmp_path: Path,
    example: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text, _ = example
    paste = tmp_path / "paste.txt"
    paste.write_text(text)
    assert main(["diagnose", "--json", "--file", str(paste)]) == 0
    from_file = capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))  # bytes, as a pipe gives
    assert main(["diagnose", "--json", "-"]) == 0
    assert capsys.readouterr().out == from_file


def test_missing_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", "--file", str(tmp_path / "nope.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_jsonl_batch_one_line_out_per_line_in_in_order(kb: KnowledgeBase, diagnoser: Diagnoser) -> None:
    texts = [example for cause in kb.causes for example in cause.examples][:12]
    lines = [json.dumps({"id": f"row-{i}", "text": t}) for i, t in enumerate(texts)]
    lines.insert(3, "this is not json")
    lines.append(json.dumps({"id": "secret", "text": f"client_secret={SECRET} AUTH-003"}))
    run = subprocess.run(
        [sys.executable, "-m", "bot", "diagnose", "--jsonl", "-"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    out = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(out) == len(lines)
    assert out[3]["error"].startswith("not JSON")
    assert out[3]["is_aps_error"] is False and out[3]["causes"] == []  # contract fields even on a bad line
    rows = [row for row in out if "error" not in row]
    assert [row["id"] for row in rows[:12]] == [f"row-{i}" for i in range(12)]
    for row, text in zip(rows, texts, strict=False):
        assert row == diagnoser.diagnose(text).to_json(id=row["id"])
    assert out[-1]["secrets_found"] is True
    assert SECRET not in run.stdout


def run_cli(stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "diagnose", *args], input=stdin, capture_output=True, timeout=120
    )


def test_jsonl_reads_bytes_as_json_lines_whatever_they_hold(tmp_path: Path) -> None:
    """Raw U+2028/U+0085 inside strings (as JSON.stringify writes them), a lone surrogate (an emoji cut in
    half), bytes that are no UTF-8, a byte-order mark, CRLF: one UTF-8 line out per line in, in order."""
    lines = [
        json.dumps({"id": 1, "text": "HTTP/1.1 403\u2028AUTH-001"}, ensure_ascii=False).encode(),
        json.dumps({"id": 2, "text": "a\x85b"}, ensure_ascii=False).encode(),
        b'{"id": 3, "text": "x\\ud800 denied on the project"}',
        b'{"id": 4, "text": "caf\xe9 403 denied on the project"}',
    ]
    body = b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n"
    (tmp_path / "batch.jsonl").write_bytes(body)
    for args, stdin in (
        (["--jsonl", "-"], body),
        (["--jsonl", "--file", str(tmp_path / "batch.jsonl")], b""),
    ):
        done = run_cli(stdin, *args)
        assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr[-300:]
        out = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]  # strict UTF-8
        assert [o["id"] for o in out] == [1, 2, 3, 4] and not any("error" in o for o in out)


def test_jsonl_echoes_every_id_and_writes_strict_json() -> None:
    done = run_cli(
        b'{"id": null, "text": "x"}\n{"id": 1e400, "text": "x"}\n{"id": NaN, "text": "x"}\n', "--jsonl", "-"
    )
    strict = [json.loads(line, parse_constant=_refuse) for line in done.stdout.decode().splitlines()]
    assert len(strict) == 3 and strict[0]["id"] is None and "error" not in strict[0]
    assert all("error" in line for line in strict[1:])


def _refuse(name: str) -> None:
    raise ValueError(f"{name} is no JSON")


def test_human_output_warns_of_a_secret_even_when_nothing_matches(
    diagnoser: Diagnoser, capsys: pytest.CaptureFixture[str]
) -> None:
    text = f"password={SECRET}q hello world"
    assert diagnoser.diagnose(text).causes == ()  # nothing to rank: the case that lost the warning
    assert main(["diagnose", text]) == 0
    out = capsys.readouterr().out
    assert "Not a recognised APS access error." in out and "Rotate it" in out
    assert SECRET not in out


@pytest.mark.parametrize("mode", [["--jsonl", "-"], ["-"]])
def test_closed_stdin_is_one_line_error(mode: list[str]) -> None:
    done = subprocess.run(
        ["sh", "-c", 'exec "$0" -m bot diagnose "$@" <&-', sys.executable, *mode],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "aps-bot diagnose: cannot read stdin: stdin is closed\n"


def test_jsonl_answers_each_line_before_the_next_one_comes() -> None:
    """A caller feeding lines one at a time through a pipe (a coprocess) gets each answer before it sends
    the next line: the batch streams and flushes instead of waiting for the end of stdin."""
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "diagnose", "--jsonl", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as process:
        assert process.stdin is not None and process.stdout is not None
        try:
            for number in (1, 2):
                process.stdin.write(json.dumps({"id": number, "text": "HTTP 403 AUTH-001"}).encode() + b"\n")
                process.stdin.flush()
                ready, _, _ = select.select([process.stdout], [], [], 60)  # a deadline, not a pause
                assert ready, f"no answer to line {number} while stdin stays open"
                assert json.loads(process.stdout.readline())["id"] == number
            process.stdin.close()
            assert process.wait(timeout=60) == 0
        finally:
            process.kill()


def test_jsonl_a_line_nested_too_deeply_is_an_error_line_not_a_crash() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    near_the_limit = [f'{{"id": {"[" * depth}{"]" * depth}, "text": "x"}}' for depth in range(960, 1000, 4)]
    lines = ['{"id": "first", "text": "x"}', f'{{"id": {deep}, "text": "x"}}', *near_the_limit]
    lines.append('{"id": "last", "text": "x"}')
    done = run_cli("\n".join(lines).encode(), "--jsonl", "-")
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr[-300:]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)  # this test's own stack is deeper than the CLI's: read its echoed ids
    try:
        out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    finally:
        sys.setrecursionlimit(limit)
    assert len(out) == len(lines)
    assert all("id" in result for result in out)  # the contract's fields on every line, as on other bad lines
    assert out[1]["error"].startswith("not JSON") and out[1]["line"] == 2
    assert [out[0]["id"], out[-1]["id"]] == ["first", "last"]


def test_jsonl_lone_surrogates_in_ids_become_u_fffd() -> None:
    """A `\\ud800` escape in an id (on a good or a bad line, nested or not) is echoed as U+FFFD: never as the
    escape, which strict parsers (serde_json) refuse, nor as '?'."""
    done = run_cli(
        b'{"id": "a\\ud800", "text": 5}\n{"id": ["b\\udfff"], "text": "x"}\n{"id": {"k\\ud800": "c"}, "text": "x"}\n',
        "--jsonl",
        "-",
    )
    assert b"\\ud" not in done.stdout
    out = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
    assert [o["id"] for o in out] == ["a\ufffd", ["b\ufffd"], {"k\ufffd": "c"}]


def test_jsonl_output_lines_survive_str_splitlines() -> None:
    """An id holding U+2028, U+2029 or U+0085 (JSON allows them raw) is written escaped: a caller reading the
    output with text=True and .splitlines() got two lines for one."""
    ids = ["a\u2028b", "c\u2029d", "e\x85f"]
    stdin = "".join(json.dumps({"id": i, "text": "HTTP 403 AUTH-001"}) + "\n" for i in ids)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "diagnose", "--jsonl", "-"],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    lines = done.stdout.splitlines()
    assert len(lines) == len(ids)
    assert [json.loads(line)["id"] for line in lines] == ids


@pytest.mark.parametrize("mode", [["--jsonl"], ["--json"], []])
def test_a_file_name_given_as_text_is_read_as_that_file(
    tmp_path: Path, mode: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`diagnose --jsonl heldout.jsonl` answered the words "heldout.jsonl" with one error line, exit 0: a
    batch silently lost. A one-word TEXT that names a file is that file, as with --file."""
    batch = tmp_path / "heldout.jsonl"
    batch.write_text('{"id": 1, "text": "HTTP 403 AUTH-001"}\n')
    assert main(["diagnose", *mode, str(batch)]) == 0
    as_text = capsys.readouterr()
    assert main(["diagnose", *mode, "--file", str(batch)]) == 0
    assert as_text.out == capsys.readouterr().out != ""
    assert f"reading the file {batch}" in as_text.err
    assert main(["diagnose", *mode, "x" * 5000]) == 0  # a long one-word paste is no file name (nor a crash)
    assert main(["diagnose", *mode, f"{batch} 403"]) == 0  # words around it: a paste


@pytest.mark.parametrize("mode", [["--jsonl", "-"], ["-"], ["--json", "-"]])
def test_output_that_cannot_be_written_is_one_line_error(mode: list[str]) -> None:
    """A full disk under the output said 'cannot read stdin: No space left on device' (--jsonl) or ended in a
    traceback."""
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "diagnose", *mode],
            input=b'{"id": 1, "text": "HTTP 403 AUTH-001"}\n',
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    assert done.returncode == 1
    assert done.stderr == b"aps-bot diagnose: cannot write the output: No space left on device\n"
    closed = subprocess.run(
        ["sh", "-c", 'exec "$0" -m bot diagnose "$@" >&-', sys.executable, *mode],
        input=b'{"id": 1, "text": "HTTP 403 AUTH-001"}\n',
        capture_output=True,
        timeout=120,
    )
    assert closed.returncode == 1
    assert closed.stderr == b"aps-bot diagnose: cannot write the output: stdout is closed\n"


def test_jsonl_drops_the_byte_order_mark_of_each_concatenated_file(tmp_path: Path) -> None:
    """`cat a.jsonl b.jsonl` of two files saved with a BOM (Windows tools) put one at the start of b's first
    line, which then came back as 'not JSON: Unexpected UTF-8 BOM'."""
    one_file = b"\xef\xbb\xbf" + json.dumps({"id": "row", "text": "HTTP 403 AUTH-001"}).encode() + b"\r\n"
    done = run_cli(one_file * 3, "--jsonl", "-")
    out = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
    assert [o["id"] for o in out] == ["row"] * 3 and not any("error" in o for o in out)


def test_jsonl_a_paste_the_engine_fails_on_costs_only_its_own_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug in the engine on one paste ended the batch with a traceback: every later line unanswered."""
    real = Diagnoser.diagnose

    def failing(self: Diagnoser, text: str) -> object:
        if "boom" in text:
            raise ValueError(f"cannot handle {text!r}")  # a message quoting the paste, secret and all
        return real(self, text)

    monkeypatch.setattr(Diagnoser, "diagnose", failing)
    lines = [
        {"id": 1, "text": "HTTP 403 AUTH-001"},
        {"id": 2, "text": f"boom password={SECRET}q"},
        {"id": 3, "text": "x"},
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))
    assert main(["diagnose", "--jsonl", "-"]) == 0
    captured = capsys.readouterr()
    out = [json.loads(line) for line in captured.out.splitlines()]
    assert [o["id"] for o in out] == [1, 2, 3]
    assert out[1]["error"].startswith("internal error") and "error" not in out[0] and "error" not in out[2]
    assert "line 2: internal error: ValueError at test_cli.py" in captured.err
    assert SECRET not in captured.err + captured.out
    assert main(["diagnose", "--json", f"boom password={SECRET}q"]) == 1  # one paste: exit 1, same line
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("aps-bot diagnose: internal error: ValueError at")
    assert SECRET not in captured.err


def test_utf16_input_with_its_byte_order_mark_is_read(tmp_path: Path, example: tuple[str, str]) -> None:
    """PowerShell's `>` and Notepad's "Unicode" write UTF-16 with a BOM: read as UTF-8 it matched nothing,
    'Not a recognised APS access error.' for a paste that is one."""
    text, cause_id = example
    paste = tmp_path / "paste.txt"
    for codec in ("utf-16-le", "utf-16-be"):
        bom = "\ufeff".encode(codec)
        paste.write_bytes(bom + text.replace("\n", "\r\n").encode(codec))
        done = run_cli(b"", "--json", "--file", str(paste))
        assert json.loads(done.stdout)["causes"][0]["id"] == cause_id, done.stderr[-300:]
        batch = "".join(json.dumps({"id": i, "text": text}) + "\r\n" for i in range(3))
        done = run_cli(bom + batch.encode(codec), "--jsonl", "-")
        out = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
        assert [(o["id"], o["causes"][0]["id"]) for o in out] == [(i, cause_id) for i in range(3)]


@pytest.mark.parametrize("mode", [["--jsonl"], ["--json"]])
def test_stdin_is_read_without_text_or_file(mode: list[str]) -> None:
    """The issue runs the held-out set "through `aps-bot diagnose --jsonl`": without '-' that was a usage
    error (exit 2, no line answered)."""
    done = run_cli(b'{"id": "a", "text": "HTTP 403 AUTH-001"}\n', *mode)
    assert done.returncode == 0, done.stderr[-300:]
    result = json.loads(done.stdout.decode().splitlines()[0])
    assert result["causes"] and result.get("id", "a") == "a"


def test_without_text_a_terminal_on_stdin_is_a_usage_error() -> None:
    """No TEXT, no --file and stdin a terminal: a usage error, not a silent wait for Ctrl-D."""
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "diagnose"], stdin=terminal, capture_output=True, timeout=120
        )
    finally:
        os.close(controller)
        os.close(terminal)
    assert done.returncode == 2
    assert done.stderr == b"aps-bot diagnose: give the paste as TEXT, --file FILE or '-' (stdin)\n"


def test_help_writes_utf8_whatever_the_locale() -> None:
    """`aps-bot diagnose --help` (its '{"id": …}') crashed with UnicodeEncodeError under an ASCII stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", "diagnose", "--help"],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-300:]
    assert '{"id": …, "text": …}' in done.stdout.decode("utf-8")


LINE_PIECES = [
    b'{"id": ',
    b'"text": "',
    b"HTTP 403 AUTH-001",
    b'"}',
    b"\r",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\\ud800",
]
LINE_PIECES += [b"\\u2028", "\u2028".encode(), b"null", b"[[[", b"1e400", b"NaN", b",", b"{", b"}", b'"']
batches = st.lists(
    st.lists(st.one_of(st.sampled_from(LINE_PIECES), st.binary(max_size=40)), max_size=12).map(b"".join),
    max_size=8,
).map(lambda lines: b"\n".join(line.replace(b"\n", b"") for line in lines))
# bytes that start with a UTF-16 byte-order mark are read as UTF-16, whose lines the bytes do not show (its own test)
batches = batches.filter(lambda data: data[:2] not in (b"\xff\xfe", b"\xfe\xff"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches)
def test_jsonl_any_bytes_give_one_valid_json_line_per_line(diagnoser: Diagnoser, data: bytes) -> None:
    """Whatever the bytes: as many output lines as input lines (split at b"\\n" only), each a JSON object with
    the contract's fields, strict UTF-8 that str.splitlines() does not cut."""
    out = io.StringIO()
    assert (
        diagnose_cli._batch(diagnoser, diagnose_cli._stream_lines(io.BufferedReader(io.BytesIO(data))), out)
        == 0
    )
    expected = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    lines = out.getvalue().encode("utf-8").decode("utf-8").splitlines()
    assert len(lines) == expected
    for line in lines:
        result = json.loads(line, parse_constant=_refuse)
        assert {"is_aps_error", "causes", "signals", "secrets_found"} <= set(result)

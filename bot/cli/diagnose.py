"""`aps-bot diagnose`: diagnose a paste given as an argument, a file or stdin; human, JSON or JSON Lines."""

from __future__ import annotations

import argparse
import codecs
import contextlib
import errno
import io
import json
import math
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from bot.diagnosis import Diagnoser, Diagnosis
from bot.knowledge import KnowledgeError, load_kb
from bot.settings import load_settings

USAGE_ERROR = 2
_SLACK_LINK = re.compile(r"<(https?://[^|>\s]+)\|([^>]+)>")  # mrkdwn <url|label>
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Line breaks to str.splitlines() that JSON may hold raw in a string: escaped, so a reader splitting the
# output that way (subprocess's text=True, then .splitlines()) still counts one line per input line.
_RAW_BREAKS = {ord(c): f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"}
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_NOTHING: dict[str, Any] = {"is_aps_error": False, "causes": [], "signals": {}, "secrets_found": False}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "diagnose",
        help="diagnose a pasted APS error",
        description="Diagnose a pasted APS error. TEXT may be '-' to read stdin, as is read without TEXT or "
        "--file when stdin is no terminal (and always with --jsonl).",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("text", nargs="?", metavar="TEXT", help="the paste, or '-' for stdin")
    source.add_argument("--file", type=Path, help="read the paste from a file")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON object")
    output.add_argument(
        "--jsonl",
        action="store_true",
        help='batch: each input line {"id": …, "text": …} gives one output line, in order',
    )
    parser.add_argument("--kb", type=Path, help="knowledge base folder (default: settings BOT_KB_DIR)")
    parser.set_defaults(handler=run)


class _Unreadable(Exception):
    """The paste's file or stdin could not be read (not: the output could not be written)."""


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _Unreadable(exc.strerror or str(exc)) from exc


def _read_input(args: argparse.Namespace) -> str:
    """The paste as text: bytes that are no UTF-8 become U+FFFD, a byte-order mark is dropped."""
    with _reading():
        if args.file is not None:
            return _decode(args.file.read_bytes())
        if args.text == "-":
            return _decode(_stdin().read())
    return _valid(args.text)


def _decode(data: bytes) -> str:
    """UTF-8, or UTF-16 when it starts with its byte-order mark (what PowerShell's `>` and Notepad's
    "Unicode" write: read as UTF-8 it is noise that matches nothing)."""
    return data.decode("utf-16" if data[:2] in _UTF16_BOMS else "utf-8-sig", errors="replace")


def _stdin() -> BinaryIO:
    if sys.stdin is None:  # started with stdin closed (`<&-`)
        raise OSError(errno.EBADF, "stdin is closed")
    return sys.stdin.buffer


def _valid(text: str) -> str:
    """`text` with each lone surrogate (half an emoji from a cut string, an undecodable argv byte, a `\\ud800`
    escape) made U+FFFD, so it can be written as UTF-8 (encoding's errors="replace" would make it "?")."""
    return _SURROGATE.sub("\ufffd", text)


def _lines(text: str) -> list[str]:
    """JSON Lines are split at "\n" only (a "\r" before it dropped): U+2028 and its kin may sit raw inside a
    JSON string, where str.splitlines() would cut it."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return [line.removesuffix("\r") for line in lines]


def _stream_lines(stream: BinaryIO) -> Iterator[str]:
    """The lines of a byte stream as they arrive, split like `_lines` and decoded like `_read_input`."""
    with _reading():  # around reading only: the caller's writes do not pass through a generator
        peek = getattr(stream, "peek", None)  # a buffered file or pipe has it (a test's BytesIO does not)
        if peek is not None and peek(2)[:2] in _UTF16_BOMS:  # see _decode
            lines: Iterable[str] = io.TextIOWrapper(stream, encoding="utf-16", errors="replace", newline="\n")
        else:
            lines = (raw.decode("utf-8", errors="replace") for raw in stream)
        for line in lines:
            yield line.removesuffix("\n").removesuffix("\r")


def _source(args: argparse.Namespace) -> BinaryIO | None:
    """The open byte stream a batch reads, or None when its lines are the TEXT argument."""
    with _reading():
        if args.file is not None:
            return args.file.open("rb")
        return _stdin() if args.text == "-" else None


def _names_a_file(text: str) -> bool:
    """Whether TEXT is one word naming an existing file: `aps-bot diagnose --jsonl heldout.jsonl` means the
    file (diagnosing the words "heldout.jsonl" would lose a whole batch behind one error line, exit 0)."""
    if len(text) > 4096 or any(c.isspace() for c in text):
        return False
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # a name too long, a NUL byte
        return False


def run(args: argparse.Namespace) -> int:
    if (
        args.text is None and args.file is None
    ):  # `aps-bot diagnose --jsonl < batch.jsonl`, `… | aps-bot diagnose`
        if not (args.jsonl or sys.stdin is None or not sys.stdin.isatty()):
            print("aps-bot diagnose: give the paste as TEXT, --file FILE or '-' (stdin)", file=sys.stderr)
            return USAGE_ERROR
        args.text = "-"
    if args.text is not None and args.text != "-" and _names_a_file(args.text):
        print(f"aps-bot diagnose: reading the file {args.text} (--file says so)", file=sys.stderr)
        args.file, args.text = Path(args.text), None
    try:
        kb = load_kb(args.kb or load_settings().bot_kb_dir)
    except KnowledgeError as exc:
        print(f"aps-bot diagnose: broken knowledge base: {exc}", file=sys.stderr)
        return 1
    diagnoser = Diagnoser(kb)
    try:
        return _diagnose(diagnoser, args)
    except _Unreadable as exc:
        name = "stdin" if args.file is None else args.file
        print(f"aps-bot diagnose: cannot read {name}: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:  # the reader went away: see bot.cli.main
        raise
    except OSError as exc:  # writing the output: a full disk
        print(f"aps-bot diagnose: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        return 1


def _diagnose(diagnoser: Diagnoser, args: argparse.Namespace) -> int:
    out = sys.stdout
    if out is None:  # started with stdout closed (`>&-`)
        raise OSError(errno.EBADF, "stdout is closed")
    if args.jsonl:
        source = _source(args)
        if source is None:
            return _batch(diagnoser, _lines(_valid(args.text)), out)
        with source:
            return _batch(diagnoser, _stream_lines(source), out)
    paste = _read_input(args)
    try:
        diagnosis = diagnoser.diagnose(paste)
    except Exception as exc:  # a bug: said in one line, not a traceback whose message may quote the paste
        _report_bug(None, exc)
        return 1
    text = json.dumps(diagnosis.to_json(), ensure_ascii=False) if args.json else render_text(diagnosis)
    out.write(text + "\n")
    out.flush()  # a write error surfaces here, not as a traceback at exit
    return 0


def _batch(diagnoser: Diagnoser, lines: Iterable[str], out: TextIO) -> int:
    """One output line per input line, in order, each flushed before the next line is read (a caller may
    feed lines one at a time and wait for each answer)."""
    for number, line in enumerate(lines, start=1):
        try:
            result = json.dumps(_answer(diagnoser, line, number), ensure_ascii=False)
        except RecursionError:  # an id nested a thousand deep: json's own limit, reading or writing it
            result = json.dumps(
                {"id": None, **_NOTHING, "line": number, "error": "not JSON: nested too deeply"}
            )
        out.write(_valid(result).translate(_RAW_BREAKS) + "\n")  # _valid: the id's strings, at any depth
        out.flush()
    return 0


def _answer(diagnoser: Diagnoser, line: str, number: int) -> dict[str, Any]:
    """The result of one line; a bad line gives a result that is no APS error and says why in `error` (so a
    reader of the contract fields never trips on it), never a crash."""
    item, error = _parse_line(line)
    if error is None:
        try:
            diagnosis = diagnoser.diagnose(_valid(item["text"]))
        except Exception as exc:  # a bug on one paste must not cost the batch every later answer
            error = "internal error (reported on stderr)"
            _report_bug(number, exc)
        else:
            return diagnosis.to_json(id=item.get("id"), with_id="id" in item)
    return {"id": item.get("id"), **_NOTHING, "line": number, "error": error}


def _report_bug(number: int | None, exc: Exception) -> None:
    """Where the engine failed (on batch line `number`), for a bug report: the exception's type and place,
    never its message (which may quote the unredacted paste)."""
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    where = f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
    line = "" if number is None else f"line {number}: "
    print(f"aps-bot diagnose: {line}internal error: {type(exc).__name__} at {where}", file=sys.stderr)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is no JSON number")


def _finite(number: str) -> float:
    value = float(number)
    if not math.isfinite(value):
        raise ValueError(f"{number} is out of range")
    return value


def _parse_line(line: str) -> tuple[dict, str | None]:
    """The line's object, or an error message (with whatever object could be read, for its id)."""
    line = line.removeprefix("\ufeff")  # a byte-order mark: of the input, or of each file in `cat a b`
    if not line.strip():
        return {}, "empty line"
    try:  # strict JSON: NaN, Infinity and 1e400 would be echoed back as no JSON at all
        item = json.loads(line, parse_constant=_no_constant, parse_float=_finite)
    except ValueError as exc:
        return {}, f"not JSON: {exc}"[:200]
    if not isinstance(item, dict):
        return {}, 'expected an object {"id": …, "text": …}'
    if not isinstance(item.get("text"), str):
        return item, 'missing string field "text"'
    return item, None


def render_text(diagnosis: Diagnosis) -> str:
    """Human output: the verdict, then each cause with its score, evidence and (for the best) the fix."""
    if not diagnosis.causes:
        verdict = "Not a recognised APS access error."
    elif diagnosis.is_aps_error:
        verdict = "APS access error."
    else:
        verdict = "Probably not an APS access error; closest causes:"
    lines = [verdict]
    if diagnosis.secrets_found:  # whatever the verdict, as the Slack bot warns
        lines.append("Warning: the paste contains a secret (token or client secret). Rotate it.")
    for rank, cause in enumerate(diagnosis.causes, start=1):
        lines.append(f"\n{rank}. {cause.title} [{cause.id}] score {cause.score}")
        lines.extend(f"   why: {item}" for item in cause.evidence)
        if rank == 1:
            lines.append(f"   checklist step: {cause.checklist_step}")
            lines.append("   fix:")
            lines.extend(f"     {fix_line}" for fix_line in terminal(cause.fix).strip().splitlines())
    return "\n".join(lines)


def terminal(mrkdwn: str) -> str:
    """Slack mrkdwn for a terminal: a link `<url|label>` reads `label (url)`."""
    return _SLACK_LINK.sub(r"\2 (\1)", mrkdwn)

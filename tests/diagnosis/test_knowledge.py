"""Loading the knowledge base: a broken file is an error naming the file and the field."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.knowledge import KnowledgeError, load_kb

CHECKLIST = {
    "title": "Provisioning",
    "steps": [
        {"id": "create-app", "title": "Create the app", "why": "w", "items": [{"id": "a", "text": "t"}]}
    ],
}
CAUSE = {
    "id": "missing-scope",
    "title": "Missing scope",
    "summary": "The token lacks a scope.",
    "http_status": [403],
    "signatures": {"error_codes": ["AUTH-010"], "messages": ["Token does not have the privilege"]},
    "fix": "Request the scope.",
    "checklist_step": "create-app",
    "examples": ["AUTH-010"],
}


def write_kb(folder: Path, **files: dict) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "checklist.yml").write_text(yaml.safe_dump(files.pop("checklist", CHECKLIST)))
    for name, data in files.items():  # missing_scope=… → missing-scope.yml
        (folder / f"{name.replace('_', '-')}.yml").write_text(yaml.safe_dump(data))
    return folder


def test_a_valid_kb_loads(tmp_path: Path) -> None:
    kb = load_kb(write_kb(tmp_path / "kb", missing_scope=CAUSE))
    assert [c.id for c in kb.causes] == ["missing-scope"]
    assert kb.cause("missing-scope") is kb.causes[0]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"colour": "red"}, ["bad.yml", "colour", "Extra inputs"]),
        ({"fix": "   "}, ["bad.yml", "fix"]),
        ({"fix": ""}, ["bad.yml", "fix"]),
        ({"examples": []}, ["bad.yml", "examples"]),
        ({"checklist_step": "nowhere"}, ["bad.yml", "checklist_step", "nowhere"]),
        ({"signatures": {"endpoints": ["(unclosed"]}}, ["bad.yml", "signatures.endpoints", "(unclosed"]),
        ({"id": "Not An Id"}, ["bad.yml", "id"]),
        ({"http_status": [True, "429"]}, ["bad.yml", "http_status.0"]),  # YAML's yes/quoted numbers
        ({"http_status": [4030]}, ["bad.yml", "http_status.0"]),
        ({"signatures": {"error_codes": [""]}}, ["bad.yml", "signatures.error_codes.0"]),  # matches any paste
        ({"signatures": {"endpoints": ["  "]}}, ["bad.yml", "signatures.endpoints.0"]),
        ({"signatures": {"not_endpoints": ["[a-"]}}, ["bad.yml", "signatures.not_endpoints", "[a-"]),
        ({"title": "Missing scope\n"}, ["bad.yml", "title", "must be one line"]),  # YAML's `title: >`
        ({"docs": ["see the OAuth docs"]}, ["bad.yml", "docs.0", "plain http(s) URL"]),
    ],
)
def test_broken_cause_names_file_and_field(tmp_path: Path, change: dict, words: list[str]) -> None:
    folder = write_kb(tmp_path / "kb", bad=CAUSE | change)
    with pytest.raises(KnowledgeError) as caught:
        load_kb(folder)
    for word in words:
        assert word in str(caught.value)


def test_a_cause_file_is_named_after_its_id(tmp_path: Path) -> None:
    folder = write_kb(tmp_path / "kb", scopes=CAUSE)
    with pytest.raises(KnowledgeError, match=r"scopes\.yml: id: 'missing-scope' must be the file's name"):
        load_kb(folder)


@pytest.mark.parametrize(
    "link", ["<https://aps.autodesk.com/myapps|My Apps>", "aps.autodesk.com/myapps", "https://a b"]
)
def test_checklist_links_are_plain_urls(tmp_path: Path, link: str) -> None:
    """A link is rendered as <url|label>: one already in that form, or with a space, broke the step's message."""
    checklist = {"title": "P", "steps": [{**CHECKLIST["steps"][0], "links": [link]}]}
    with pytest.raises(KnowledgeError, match=r"checklist\.yml: steps\.0\.links\.0: .*plain http\(s\) URL"):
        load_kb(write_kb(tmp_path / "kb", checklist=checklist, missing_scope=CAUSE))


@pytest.mark.parametrize("field", ["title", "steps.0.title", "steps.0.items.0.text"])
def test_checklist_titles_and_items_are_one_line(tmp_path: Path, field: str) -> None:
    step = CHECKLIST["steps"][0]
    checklist = {"title": "P", "steps": [{**step, "items": [{"id": "a", "text": "t"}]}]}
    if field == "title":
        checklist["title"] = "Provisioning\n"
    elif field == "steps.0.title":
        checklist["steps"][0]["title"] = "Create\nthe app"
    else:
        checklist["steps"][0]["items"][0]["text"] = "Tick\n"
    with pytest.raises(KnowledgeError, match=rf"checklist\.yml: {re.escape(field)}: .*must be one line"):
        load_kb(write_kb(tmp_path / "kb", checklist=checklist, missing_scope=CAUSE))


def test_a_checklist_item_fits_a_slack_checkbox(tmp_path: Path) -> None:
    item = {"id": "a", "text": "t" * 76}
    checklist = {"title": "P", "steps": [{**CHECKLIST["steps"][0], "items": [item]}]}
    with pytest.raises(KnowledgeError, match=r"checklist\.yml: steps\.0\.items\.0\.text"):
        load_kb(write_kb(tmp_path / "kb", checklist=checklist, missing_scope=CAUSE))


def test_a_key_given_twice_and_bytes_that_are_no_utf8_name_the_file(tmp_path: Path) -> None:
    folder = write_kb(tmp_path / "kb", missing_scope=CAUSE)
    (folder / "missing-scope.yml").write_text(
        yaml.safe_dump(CAUSE) + "fix: the second fix silently won\n", encoding="utf-8"
    )
    with pytest.raises(
        KnowledgeError, match=r"missing-scope\.yml: cannot read YAML: .*key 'fix' given twice"
    ):
        load_kb(folder)
    (folder / "missing-scope.yml").write_bytes(yaml.safe_dump(CAUSE).encode() + b"# caf\xe9\n")
    with pytest.raises(KnowledgeError, match=r"missing-scope\.yml: cannot read YAML"):
        load_kb(folder)


@pytest.mark.parametrize("twice", ["step", "item"])
def test_duplicate_checklist_ids_are_errors(tmp_path: Path, twice: str) -> None:
    step = CHECKLIST["steps"][0]
    steps = [step, step] if twice == "step" else [{**step, "items": [step["items"][0]] * 2}]
    folder = write_kb(tmp_path / "kb", checklist={"title": "P", "steps": steps}, missing_scope=CAUSE)
    with pytest.raises(KnowledgeError, match=rf"checklist\.yml: .*duplicate {twice} id"):
        load_kb(folder)


def test_duplicate_ids_name_both_files(tmp_path: Path) -> None:
    folder = write_kb(tmp_path / "kb", a=CAUSE, b=CAUSE)
    with pytest.raises(KnowledgeError, match=r"b\.yml: id: duplicate id 'missing-scope' \(also in a\.yml\)"):
        load_kb(folder)


def test_invalid_yaml_and_missing_checklist(tmp_path: Path) -> None:
    folder = write_kb(tmp_path / "kb", ok=CAUSE)
    (folder / "broken.yml").write_text("id: [unclosed\n")
    with pytest.raises(KnowledgeError, match=r"broken\.yml: cannot read YAML"):
        load_kb(folder)
    (folder / "checklist.yml").unlink()
    with pytest.raises(KnowledgeError, match=r"checklist\.yml: missing"):
        load_kb(folder)


def test_kb_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_kb(tmp_path / "good", missing_scope=CAUSE)
    assert main(["kb", "validate", "--kb", str(good)]) == 0
    assert "1 causes, 1 examples, 1 checklist steps" in capsys.readouterr().out
    bad = write_kb(tmp_path / "bad", bad=CAUSE | {"fix": ""})
    assert main(["kb", "validate", "--kb", str(bad)]) == 1
    assert "bad.yml: fix" in capsys.readouterr().err


def test_shipped_kb_is_valid_and_lists(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "validate"]) == 0
    assert main(["kb", "list"]) == 0
    assert "integration-not-provisioned" in capsys.readouterr().out


@pytest.mark.parametrize(
    "env", [{"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"}]
)
def test_kb_list_writes_utf8_whatever_the_locale(tmp_path: Path, env: dict[str, str]) -> None:
    """A title with an ellipsis or a dash (the shipped KB has both) crashed `kb list` under an ASCII stdout."""
    title = "Missing scope — the token’s scopes…"
    folder = write_kb(tmp_path / "kb", missing_scope=CAUSE | {"title": title})
    done = subprocess.run(
        [sys.executable, "-m", "bot", "kb", "list", "--kb", str(folder)],
        capture_output=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-300:]
    assert title in done.stdout.decode("utf-8")


def test_yaml_errors_are_one_line_naming_where(tmp_path: Path) -> None:
    """A key given twice is reported at the second key (the mapping's start said 'line 1' for any key of a
    cause file), and PyYAML's multi-line errors quoting '<unicode string>' become one line."""
    folder = write_kb(tmp_path / "kb", missing_scope=CAUSE)
    good = yaml.safe_dump(CAUSE)
    line = good.count("\n") + 1
    cases = {
        good + "fix: the second fix silently won\n": f"line {line}, column 1: key 'fix' given twice",
        good + "docs: [unclosed\n": f"line {line + 1}, column 1: while parsing a flow sequence (line {line})",
    }
    for body, where in cases.items():
        (folder / "missing-scope.yml").write_text(body, encoding="utf-8")
        with pytest.raises(KnowledgeError) as caught:
            load_kb(folder)
        assert str(caught.value).startswith(f"missing-scope.yml: cannot read YAML: {where}")
        assert "\n" not in str(caught.value) and "<unicode string>" not in str(caught.value)
    (folder / "missing-scope.yml").write_text(good + "version: 2024-13-45\n", encoding="utf-8")  # no date
    with pytest.raises(
        KnowledgeError, match=r"^missing-scope\.yml: cannot read YAML: month must be in 1\.\.12"
    ):
        load_kb(folder)
    (folder / "missing-scope.yml").write_bytes(good.encode() + b"# caf\xe9\n")
    with pytest.raises(KnowledgeError, match=rf"^missing-scope\.yml: cannot read YAML: line {line}: bytes"):
        load_kb(folder)


@pytest.mark.parametrize("name", ["rate-limited.yaml", "rate-limited.YML"])
def test_a_cause_file_the_loader_would_skip_is_an_error(tmp_path: Path, name: str) -> None:
    """`kb validate` said OK while a cause saved as .yaml was silently left out of the bot."""
    folder = write_kb(tmp_path / "kb", missing_scope=CAUSE)
    (folder / name).write_text(yaml.safe_dump(CAUSE | {"id": "rate-limited"}), encoding="utf-8")
    with pytest.raises(KnowledgeError, match=rf"^{re.escape(name)}: not read: knowledge files end in \.yml"):
        load_kb(folder)


def test_kb_validate_on_a_folder_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["kb", "validate", "--kb", str(tmp_path / "nope")]) == 1
    assert (
        capsys.readouterr().err
        == f"aps-bot kb: invalid knowledge base: {tmp_path / 'nope'}: no such folder\n"
    )


def test_kb_validate_fails_on_an_example_that_ranks_another_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`kb validate` said OK on a KB the example tests reject, so an edit checked with the CLI (no test
    extras installed) shipped examples that no longer rank their cause first."""
    rate_limited = CAUSE | {
        "id": "rate-limited",
        "title": "Rate limited",
        "signatures": {"error_codes": ["HTTP-429"], "messages": ["Too many requests"]},
        "http_status": [429],
        "examples": [
            'HTTP/1.1 429 Too Many Requests {"errorCode": "HTTP-429", "developerMessage": "Too many requests"}',
            "AUTH-010 Token does not have the privilege",
        ],
    }
    missing_scope = CAUSE | {"counter_examples": ["AUTH-010"]}
    folder = write_kb(tmp_path / "kb", missing_scope=missing_scope, rate_limited=rate_limited)
    assert main(["kb", "validate", "--kb", str(folder)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "aps-bot kb: missing-scope.yml: counter_examples.0: ranks missing-scope first",
        "aps-bot kb: rate-limited.yml: examples.1: ranks missing-scope first, not rate-limited",
    ]


def test_kb_validate_fails_on_an_example_that_is_no_aps_error_or_matches_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The two other ways an example fails tests/diagnosis/test_kb_examples.py: it ranks its cause first but
    the gate takes it for another system's error, or it matches no cause at all."""
    examples = ["AUTH-010", "GitHub says: Token does not have the privilege", "???"]
    folder = write_kb(tmp_path / "kb", missing_scope=CAUSE | {"examples": examples})
    assert main(["kb", "validate", "--kb", str(folder)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "aps-bot kb: missing-scope.yml: examples.1: ranks missing-scope first but is not taken for an APS error",
        "aps-bot kb: missing-scope.yml: examples.2: matches no cause",
    ]

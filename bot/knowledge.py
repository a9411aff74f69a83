"""Load and validate the knowledge base (`knowledge/*.yml`) into typed models. Pure: files in, models out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

CHECKLIST_FILE = "checklist.yml"
_ID = r"^[a-z0-9]+(-[a-z0-9]+)*$"


M = TypeVar("M", bound=BaseModel)


class KnowledgeError(ValueError):
    """A knowledge-base file is broken; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _single_line(value: str) -> str:
    if "\n" in value or "\r" in value:  # a title in bold mrkdwn, a checkbox, one `kb list` line each
        raise ValueError("must be one line (YAML's '>' and '|' end a text with a newline: use '>-')")
    return value


# A title or checkbox text.
Line = Annotated[str, AfterValidator(_single_line)]


def _plain_url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s<>|]+", value):  # the reply writes <url|label>
        raise ValueError("must be a plain http(s) URL (no spaces, <, > or |; the label is made from it)")
    return value


Url = Annotated[str, AfterValidator(_plain_url)]
# A signature string: an empty code or endpoint would match every paste.
Signature = Annotated[str, Field(min_length=1, pattern=r"\S")]
HttpStatus = Annotated[StrictInt, Field(ge=100, le=599)]


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise ValueError(f"duplicate {what} id {value!r}")  # stored ticks and buttons key on ids
        seen.add(value)


class Signatures(_Strict):
    """What identifies a cause in pasted text."""

    error_codes: list[Signature] = Field(
        default_factory=list, description="Exact codes: AUTH-001, BIM360DM_ERROR, invalid_client…"
    )
    messages: list[Signature] = Field(
        default_factory=list, description="Message strings APS returns, fuzzy-matched."
    )
    endpoints: list[Signature] = Field(
        default_factory=list,
        description="Regular expressions over URL paths, e.g. ^/authentication/v1/",
    )
    not_endpoints: list[Signature] = Field(
        default_factory=list,
        description="Regular expressions over URL paths that rule the cause out: a paste calling one ranks "
        "it low unless an error code or one of its own endpoints names it (a retired endpoint's successor).",
    )

    @field_validator("endpoints", "not_endpoints")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc
        return patterns


class Cause(_Strict):
    """One known cause of an APS access error, with its fix and the pastes that show it."""

    id: str = Field(pattern=_ID)
    title: Line = Field(min_length=1, max_length=150)
    summary: str = Field(min_length=1)
    http_status: list[HttpStatus] = Field(default_factory=list)
    signatures: Signatures
    fix: str = Field(min_length=1, description="Slack mrkdwn steps.")
    checklist_step: str = Field(pattern=_ID)
    docs: list[Url] = Field(default_factory=list)
    examples: list[str] = Field(min_length=1)
    counter_examples: list[str] = Field(default_factory=list)

    _blank = field_validator("title", "summary", "fix")(_not_blank)


class ChecklistItem(_Strict):
    id: str = Field(pattern=_ID)
    text: Line = Field(min_length=1, max_length=75)  # a Slack checkbox option's text


class ChecklistStep(_Strict):
    id: str = Field(pattern=_ID)
    title: Line = Field(min_length=1, max_length=150)
    why: str = Field(min_length=1)
    items: list[ChecklistItem] = Field(min_length=1, max_length=10)
    gotchas: list[str] = Field(default_factory=list)
    links: list[Url] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_items(self) -> ChecklistStep:
        _unique([item.id for item in self.items], "item")
        return self


class Checklist(_Strict):
    title: Line = Field(min_length=1, max_length=150)
    steps: list[ChecklistStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_steps(self) -> Checklist:
        _unique([step.id for step in self.steps], "step")
        return self

    def step(self, step_id: str) -> ChecklistStep | None:
        return next((s for s in self.steps if s.id == step_id), None)


@dataclass(frozen=True)
class KnowledgeBase:
    causes: tuple[Cause, ...]
    checklist: Checklist

    def cause(self, cause_id: str) -> Cause | None:
        return next((c for c in self.causes if c.id == cause_id), None)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (the second `fix:` silently won)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        for index, key in enumerate(keys):
            if key in keys[:index]:  # the mark of the second one: a mapping's start says line 1 for a cause
                mark = node.value[index][0].start_mark
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice", mark)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> object:
    try:
        data = path.read_bytes()
        return yaml.load(data.decode("utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - safe loader
    except OSError as exc:
        raise KnowledgeError(f"{path.name}: cannot read YAML: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise KnowledgeError(f"{path.name}: cannot read YAML: line {line}: bytes that are no UTF-8") from exc
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"{path.name}: cannot read YAML: {_yaml_problem(exc)}") from exc
    except ValueError as exc:  # a value YAML takes for a date, but no date: 2024-13-45
        raise KnowledgeError(f"{path.name}: cannot read YAML: {exc}") from exc


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error on one line, with its line and column (its own text quotes the source over several)."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return " ".join(str(exc).split())
    context = exc.context or ""
    if context and exc.context_mark is not None:
        context += f" (line {exc.context_mark.line + 1})"
    what = ": ".join(part for part in (context, exc.problem or "") if part)
    mark = exc.problem_mark
    return f"line {mark.line + 1}, column {mark.column + 1}: {what}" if mark is not None else what


def _validate(model: type[M], path: Path, data: object) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise KnowledgeError(f"{path.name}: {problems}") from exc


def load_kb(directory: Path) -> KnowledgeBase:
    """Read every cause file and the checklist from `directory`; raise KnowledgeError on any problem."""
    directory = Path(directory)
    if not directory.is_dir():  # a mistyped --kb or BOT_KB_DIR, rather than a folder without its checklist
        raise KnowledgeError(f"{directory}: no such folder")
    for path in sorted(directory.iterdir()):  # a cause saved as .yaml would be left out without a word
        if path.suffix.lower() in (".yml", ".yaml") and path.suffix != ".yml":
            raise KnowledgeError(f"{path.name}: not read: knowledge files end in .yml")
    checklist_path = directory / CHECKLIST_FILE
    if not checklist_path.is_file():
        raise KnowledgeError(f"{CHECKLIST_FILE}: missing from {directory}")
    checklist = _validate(Checklist, checklist_path, _read_yaml(checklist_path))
    step_ids = {step.id for step in checklist.steps}

    causes: list[Cause] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.yml")):
        if path.name == CHECKLIST_FILE:
            continue
        cause = _validate(Cause, path, _read_yaml(path))
        if cause.id in seen:
            raise KnowledgeError(f"{path.name}: id: duplicate id {cause.id!r} (also in {seen[cause.id]})")
        if cause.checklist_step not in step_ids:
            raise KnowledgeError(
                f"{path.name}: checklist_step: unknown step {cause.checklist_step!r} "
                f"(known: {', '.join(sorted(step_ids))})"
            )
        seen[cause.id] = path.name
        causes.append(cause)
    for cause_id, name in seen.items():  # after the duplicates, which name both files
        if name != f"{cause_id}.yml":
            raise KnowledgeError(f"{name}: id: {cause_id!r} must be the file's name ({cause_id}.yml)")
    if not causes:
        raise KnowledgeError(f"{directory}: no cause files (*.yml)")
    return KnowledgeBase(causes=tuple(causes), checklist=checklist)

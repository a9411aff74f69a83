"""The result of diagnosing one paste: the contract shared by the CLI, the Slack layer and dashboards."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CauseMatch:
    """One ranked cause. `id` is a public contract (dashboards key on it)."""

    id: str
    title: str
    score: int  # 0-100
    evidence: tuple[str, ...]
    fix: str
    checklist_step: str


@dataclass(frozen=True)
class Diagnosis:
    """Everything the bot concluded from a paste. Never holds a secret from the paste."""

    is_aps_error: bool
    causes: tuple[CauseMatch, ...]  # best first
    signals: dict[str, Any] = field(default_factory=dict)
    secrets_found: bool = False

    @property
    def best(self) -> CauseMatch | None:
        return self.causes[0] if self.causes else None

    def to_json(self, id: Any = None, *, with_id: bool | None = None) -> dict[str, Any]:
        """The JSON contract of `aps-bot diagnose --json/--jsonl`. The id is echoed when given (`with_id`:
        also when it is None, as a batch line's `"id": null`)."""
        out: dict[str, Any] = {"id": id} if (id is not None if with_id is None else with_id) else {}
        out["is_aps_error"] = self.is_aps_error
        out["causes"] = [
            {"id": c.id, "title": c.title, "score": c.score, "evidence": list(c.evidence), "fix": c.fix}
            for c in self.causes
        ]
        out["signals"] = self.signals
        out["secrets_found"] = self.secrets_found
        return out

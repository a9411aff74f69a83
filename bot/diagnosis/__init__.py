"""Pure diagnosis: text in, ranked causes out. No Slack, no network."""

from bot.diagnosis.result import CauseMatch, Diagnosis

__all__ = ["CauseMatch", "Diagnosis"]

"""Pure diagnosis: text in, ranked causes out. No Slack, no network."""

from bot.diagnosis.engine import Diagnoser
from bot.diagnosis.redact import Redaction, redact
from bot.diagnosis.result import CauseMatch, Diagnosis

__all__ = ["CauseMatch", "Diagnoser", "Diagnosis", "Redaction", "redact"]

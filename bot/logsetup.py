"""Logging for every entry point: one format, and a filter that blanks secrets in every record."""

from __future__ import annotations

import logging

from bot.diagnosis.redact import redact


class RedactingFilter(logging.Filter):
    """Replace each record's message by its redacted rendering (args included), so no secret is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # format and arguments disagree: logging would print both raw
            message = f"{record.msg} {record.args!r}"
            record.msg, record.args = message, None
        redacted = redact(message)
        if redacted.found:
            record.msg, record.args = redacted.text, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text).text
        return True


def configure_logging(level: str | int = "INFO") -> None:
    """Log to stderr at `level`; every handler of the root logger redacts secrets."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())

"""Slack failures told apart: worth another attempt or not, how long Slack asked to wait, a safe name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.aps.parse import parse_retry_after

# Slack's own "try again" errors, which it may answer with HTTP 200 and `ok: false` ("likely due to a
# transient issue on our end"): told apart by their code, as a 5xx is by its status.
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
# Of those, the two whose description adds "it's possible some aspect of the operation succeeded before the
# error was raised": a retried post reads its thread first, or is not retried.
PERHAPS_DONE_ERRORS = frozenset({"internal_error", "fatal_error"})


def is_retriable(exc: BaseException) -> bool:
    """A failure worth another attempt: 5xx, rate limit left after the client's retries, one of Slack's
    transient error codes, network error."""
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200)
        return status >= 500 or status == 429 or exc.response.get("error") in TRANSIENT_ERRORS
    return isinstance(exc, OSError)


def may_have_acted(exc: BaseException) -> bool:
    """Slack's `internal_error` or `fatal_error`: part of the call may have been carried out (the message
    posted). Retried, a post that does not look for itself first may land twice."""
    return isinstance(exc, SlackApiError) and exc.response.get("error") in PERHAPS_DONE_ERRORS


def retry_after(exc: BaseException) -> float | None:
    """The seconds Slack asked to wait (a 429's `Retry-After`), if it said."""
    if not isinstance(exc, SlackApiError):
        return None
    return retry_after_header(getattr(exc.response, "headers", None))


def retry_after_header(headers: Mapping[str, Any] | None) -> float | None:
    """`Retry-After` in seconds from response headers (any case; a value or a list of them), if readable."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            value = value[0] if isinstance(value, list) and value else value
            return parse_retry_after(None if value is None else str(value))  # "inf" and "nan" are not read
    return None


def failure_name(exc: BaseException) -> str:
    """A failure named by Slack's error code or the exception type: never a token or a message text."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or getattr(exc.response, "status_code", "?"))
    return type(exc).__name__

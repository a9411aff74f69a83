"""The Slack Web API client every part of the bot uses: retries on connection errors, and on short 429s."""

from __future__ import annotations

import random
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.settings import Settings
from bot.slack.failures import retry_after_header

RATE_LIMIT_RETRIES = 2
MAX_INLINE_RETRY_AFTER = 10.0  # longer Slack waits are not slept inside a call (BoundedRateLimitRetry)


class BoundedRateLimitRetry(RateLimitErrorRetryHandler):
    """Slack's 429s retried inside the call only when `Retry-After` is short: a long wait would hold a thread
    (and a reply job past its lease); the 429 is raised instead, and the reply worker retries the job at the
    time Slack named."""

    def _can_retry(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after_header(response.headers)
        return wait is None or wait <= MAX_INLINE_RETRY_AFTER

    def prepare_for_next_attempt(
        self, *, state: Any, request: Any, response: Any = None, error: Any = None
    ) -> None:
        """Wait what `_can_retry` read (slack_sdk's own `int()` of the header raised on 'inf' or 'nan', which
        are no number of seconds and so waited like a missing header: about a second), then try again."""
        wait = retry_after_header(response.headers)
        state.next_attempt_requested = True
        time.sleep((1.0 if wait is None else wait) + random.random())
        state.increment_current_attempt()


def make_client(settings: Settings) -> WebClient:
    """The Web API client: `settings.slack_api_base`, retries on connection errors and on 429."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token,
        base_url=settings.slack_api_base,
        retry_handlers=[
            ConnectionErrorRetryHandler(),
            BoundedRateLimitRetry(max_retry_count=RATE_LIMIT_RETRIES),
        ],
    )

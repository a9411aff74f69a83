"""Who is in a Slack user group, asked once a minute at most (`usergroups.users.list`), for the live-check
permissions of `/aps-check` and of checklist re-checks alike."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.failures import failure_name, is_retriable

log = logging.getLogger(__name__)

USERGROUP_TTL = 60.0


class UserGroups:
    """Members of user groups, cached for USERGROUP_TTL seconds. A lookup Slack refuses (`no_such_subteam`,
    `missing_scope`) counts as no member; one Slack fails to answer (5xx, 429, network) falls back to the last
    membership it gave, or raises, so a short outage is no refusal."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def of(self, client: WebClient, user: str, groups: Iterable[str]) -> list[str]:
        """The groups among `groups` that `user` belongs to."""
        return [group for group in groups if user in self.members(client, group)]

    def members(self, client: WebClient, group: str) -> frozenset[str]:
        now = self.clock()
        with self._lock:
            hit = self._members.get(group)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            members = frozenset(client.usergroups_users_list(usergroup=group).get("users") or [])
        except (SlackApiError, OSError) as exc:
            if not is_retriable(exc):
                log.warning("usergroups.users.list %s refused: %s", group, failure_name(exc))
                return frozenset()
            if hit is None:
                raise
            log.warning("usergroups.users.list %s failed (%s): last answer kept", group, failure_name(exc))
            return hit[1]
        with self._lock:
            self._members[group] = (now + USERGROUP_TTL, members)
        return members

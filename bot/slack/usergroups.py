"""Who is in a Slack user group, asked once a minute at most (`usergroups.users.list`), for the live-check
permissions of `/aps-check` and of checklist re-checks alike."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

USERGROUP_TTL = 60.0


class UserGroups:
    """Members of user groups, cached for USERGROUP_TTL seconds (a failed lookup counts as no member)."""

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
        except SlackApiError as exc:
            log.warning("usergroups.users.list %s failed: %s", group, exc.response.get("error"))
            return frozenset()
        with self._lock:
            self._members[group] = (now + USERGROUP_TTL, members)
        return members

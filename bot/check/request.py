"""What to check, with ids normalised: accepts ACC ids with or without the Data Management `b.` prefix."""

from __future__ import annotations

import re
from dataclasses import dataclass

REGIONS = ("US", "EMEA", "AUS", "CAN", "DEU", "IND", "JPN", "GBR")
REGION_ALIASES = {
    "EU": "EMEA",
    "APAC": "AUS",
    "AU": "AUS",
    "CA": "CAN",
    "DE": "DEU",
    "UK": "GBR",
    "JP": "JPN",
}
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
PLAIN_ID = re.compile(r"^[A-Za-z0-9-]{6,64}$")
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
USER_ID = re.compile(r"^[A-Za-z0-9._-]{4,64}$")
MENTION = re.compile(r"^<[@#!]")  # Slack's <@U…>, <#C…|name>, <!here>
LINK = re.compile(r"^<?(https?://|urn:)", re.IGNORECASE)
PROJECT_IN_LINK = re.compile(
    r"projects?[/:](?:b\.)?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})",
    re.IGNORECASE,
)

QUOTING_HINT = 'a project name with spaces goes in quotes: "Tower A Extension"'


class InvalidRequest(ValueError):
    """An argument that cannot be checked (the message says which and why)."""


def strip_prefix(value: str) -> tuple[str, bool]:
    """(id without `b.` or `B.`, whether it had the prefix)."""
    return (value[2:], True) if value[:2].lower() == "b." else (value, False)


def _not_a_name(project: str) -> None:
    """Refuse a mention or a link where a project name belongs: searched as a name, it is never found (and
    the search reads every page of every hub)."""
    if MENTION.match(project):
        raise InvalidRequest(f"{project!r} is a Slack mention, not a project: give the project id or name")
    if LINK.match(project):
        found = PROJECT_IN_LINK.search(project)
        hint = f" (this link holds the project id `{found.group(1)}`)" if found else ""
        raise InvalidRequest(
            f"{project!r} is a link or URN, not a project: give the project id{hint} or name"
        )


def normalise_region(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    upper = value.strip().upper()
    upper = REGION_ALIASES.get(upper, upper)
    if upper not in REGIONS:
        raise InvalidRequest(f"unknown region {value!r}; one of {', '.join(REGIONS)}")
    return upper


@dataclass(frozen=True)
class CheckRequest:
    """A live check's target. `project_guid` is None when the project was given by name."""

    project_input: str
    project_guid: str | None
    project_name: str | None
    project_had_prefix: bool
    account_guid: str | None
    account_had_prefix: bool
    region: str | None
    user: str | None

    @property
    def hub_id(self) -> str | None:
        return f"b.{self.account_guid}" if self.account_guid else None

    @property
    def dm_project_id(self) -> str | None:
        return f"b.{self.project_guid}" if self.project_guid else None

    @property
    def user_is_email(self) -> bool:
        return bool(self.user and "@" in self.user)

    @classmethod
    def build(
        cls,
        project: str,
        *,
        account: str | None = None,
        region: str | None = None,
        user: str | None = None,
    ) -> CheckRequest:
        """Validate and normalise; raise `InvalidRequest` with a readable message."""
        project = (project or "").strip()
        if not project:
            raise InvalidRequest("a project id or name is required")
        if len(project) > 255:
            raise InvalidRequest("the project name is longer than 255 characters")
        bare, had_prefix = strip_prefix(project)
        is_id = had_prefix or bool(GUID.match(bare))
        if had_prefix and not PLAIN_ID.match(bare):
            raise InvalidRequest(f"{project!r} does not look like a project id")
        if not is_id:
            _not_a_name(project)
        account_guid, account_prefix = None, False
        if account is not None and account.strip():
            account_guid, account_prefix = strip_prefix(account.strip())
            if not GUID.match(account_guid):  # every BIM 360 / ACC account id is one; a name would read as
                # an account the app does not reach, i.e. "custom integration missing"
                raise InvalidRequest(
                    f"{account!r} is not an account id: that is a GUID (`b.` optional), as ACC Account "
                    "Admin shows it; leave it out and the check looks for the project in the app's accounts "
                    f"({QUOTING_HINT})"
                )
        user = user.strip() if user else None
        if user and not (EMAIL.match(user) or USER_ID.match(user)):
            raise InvalidRequest(f"{user!r} is neither an email address nor an Autodesk user id")
        return cls(  # GUIDs as APS writes them (lower case): `filter[id]` and the paths compare them as typed
            project_input=project,
            project_guid=(bare.lower() if GUID.match(bare) else bare) if is_id else None,
            project_name=None if is_id else project,
            project_had_prefix=had_prefix,
            account_guid=account_guid.lower() if account_guid else None,
            account_had_prefix=account_prefix,
            region=normalise_region(region),
            user=user or None,
        )


def project_refusal(project: str) -> str | None:
    """Why a live check would refuse `project` (a URN, a malformed `b.` id, ...), or None."""
    try:
        CheckRequest.build(project)
    except InvalidRequest as exc:
        return str(exc)
    return None

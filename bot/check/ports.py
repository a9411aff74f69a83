"""What the live check needs from APS: typed responses and the client Protocol (no HTTP here).

`bot.aps.client.ApsClient` implements `ApsApi` over httpx; tests may implement it with anything.
Nothing in these types ever holds an access token or a client secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

REGION_IN_TITLE = re.compile(r"\bBIM360DM[ _-]?([A-Z]{2,4})\b")


@dataclass(frozen=True)
class ApsWarning:
    """One JSON:API warning (`meta.warnings[]`) or error (`errors[]`), whatever its key casing."""

    status: str
    code: str
    title: str
    detail: str

    @property
    def region(self) -> str | None:
        """The region named by a BIM360DM hubs warning ("Unable to get hubs from BIM360DM EMEA.")."""
        match = REGION_IN_TITLE.search(self.title)
        return match.group(1) if match else None


@dataclass(frozen=True)
class ApsError:
    """What an error body said, parsed from any shape: gateway JSON, OAuth JSON, JSON:API, text, HTML."""

    code: str = ""  # errorCode / error / errors[0].code / AUTH-0xx found in text
    message: str = ""  # developerMessage / error_description / errors[0].detail / text excerpt
    # json | text | empty | html | unreachable | timeout; and for answers APS never gives: non-json (a 2xx
    # without a JSON body), redirect (a 3xx: the client follows none)
    body_kind: str = "json"


@dataclass(frozen=True)
class TokenInfo:
    """What the check may know about a token: never the token itself."""

    client_id: str
    scopes: tuple[str, ...]
    expires_at: float


@dataclass(frozen=True)
class ApsResponse:
    """One APS call's outcome. `status` 0 means no HTTP answer (unreachable or timed out)."""

    status: int
    data: Any = None  # parsed JSON body, or None
    error: ApsError | None = None
    warnings: tuple[ApsWarning, ...] = ()
    retry_after: float | None = None
    token: TokenInfo | None = None  # only on token responses
    from_cache: bool = False
    token_refused: bool = False  # the token endpoint's answer, given to a call whose token it would not renew

    @property
    def ok(self) -> bool:
        """A 2xx with a readable body (a sign-in page served with 200 is no success of APS's)."""
        return 200 <= self.status < 300 and self.error is None

    @property
    def items(self) -> list[dict[str, Any]]:
        """`data` of a JSON:API list (or `results` of an ACC admin page) as a list of dicts."""
        if isinstance(self.data, dict):
            for key in ("data", "results"):
                value = self.data.get(key)
                if isinstance(value, list):
                    return [item for item in value if isinstance(item, dict)]
                if isinstance(value, dict):
                    return [value]
        return []

    @property
    def code(self) -> str:
        return self.error.code if self.error else ""

    @property
    def message(self) -> str:
        return self.error.message if self.error else ""


@dataclass(frozen=True)
class Hub:
    id: str
    name: str
    region: str
    kind: str  # attributes.extension.type

    @property
    def is_account(self) -> bool:
        """A BIM 360 / ACC account hub (as opposed to Fusion Team, A360 personal…)."""
        return self.kind.startswith("hubs:autodesk.bim360") or self.id.startswith("b.")


class ApsApi(Protocol):
    """The APS calls of the live check. Every method returns an `ApsResponse`, never raises for HTTP."""

    def token(self) -> ApsResponse: ...

    def hubs(self, hub_id: str | None = None) -> ApsResponse: ...

    def hub_projects(self, hub_id: str, *, name: str | None = None) -> ApsResponse: ...

    def project(self, hub_id: str, project_id: str) -> ApsResponse: ...

    def top_folders(self, hub_id: str, project_id: str, *, user_id: str | None = None) -> ApsResponse: ...

    def folder_contents(
        self, project_id: str, folder_id: str, *, user_id: str | None = None
    ) -> ApsResponse: ...

    def admin_project(self, project_guid: str, *, region: str) -> ApsResponse: ...

    def admin_account_projects(self, account_guid: str, *, region: str, name: str) -> ApsResponse: ...

    def admin_project_users(self, project_guid: str, *, region: str, email: str) -> ApsResponse: ...


def parse_hubs(response: ApsResponse) -> tuple[Hub, ...]:
    """Hubs from a `/project/v1/hubs` body."""
    hubs = []
    for item in response.items:
        attributes = item.get("attributes") or {}
        extension = attributes.get("extension") or {}
        hubs.append(
            Hub(
                id=str(item.get("id", "")),
                name=str(attributes.get("name", "")),
                region=str(attributes.get("region", "") or ""),
                kind=str(extension.get("type", "") or ""),
            )
        )
    return tuple(hubs)

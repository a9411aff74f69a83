"""Cause ids the live check concludes, and how a cause id becomes a title, a fix and a checklist step.

The knowledge base (`knowledge/*.yml`) is the source of titles and fixes; the short fallbacks below keep
the check useful when a cause is missing from it (or no KB is loaded, e.g. in a bare CLI run).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.knowledge import KnowledgeBase

INVALID_CREDENTIALS = "invalid-client-credentials"
NOT_IN_DEVELOPER_HUB = "app-not-in-developer-hub"
API_ACCESS_MISSING = "app-api-access-missing"
MISSING_SCOPE = "missing-scope"
INTEGRATION_MISSING = "integration-not-provisioned"
REGION_MISMATCH = "region-mismatch"
ACCOUNT_ADMIN_REQUIRED = "account-admin-required"
PROJECT_NOT_FOUND = "project-not-found"
PROJECT_NOT_ACTIVATED = "project-service-not-activated"
USER_NO_ACCESS = "user-lacks-project-access"
FOLDER_DENIED = "folder-permission-denied"
ID_PREFIX = "id-prefix-mismatch"
RATE_LIMITED = "rate-limited"
EXPIRED_TOKEN = "expired-or-invalid-token"  # noqa: S105 - a cause id


@dataclass(frozen=True)
class CauseText:
    title: str
    fix: str
    checklist_step: str


FALLBACK: dict[str, CauseText] = {
    INVALID_CREDENTIALS: CauseText(
        "Invalid client credentials (or archived app)",
        "Check the client id and secret in APS_APPS. If they are right, the app was probably archived "
        "because it is not in an APS Developer Hub: move it into one.",
        "create-app",
    ),
    NOT_IN_DEVELOPER_HUB: CauseText(
        "App not in an APS Developer Hub",
        "Move the app from My Applications into your APS Developer Hub (Developer hub on aps.autodesk.com; "
        "a team admin creates the hub in manage.autodesk.com → Hubs); it un-archives by itself.",
        "create-app",
    ),
    API_ACCESS_MISSING: CauseText(
        "API not enabled on the app (AUTH-001)",
        "In the APS developer portal, open the app → API Access and enable the API the call needs "
        "(Data Management, Autodesk Construction Cloud).",
        "create-app",
    ),
    MISSING_SCOPE: CauseText(
        "Token lacks a scope",
        "Request the scopes the endpoint needs (`data:read account:read` for this check).",
        "test-access",
    ),
    INTEGRATION_MISSING: CauseText(
        "Custom integration not added in the account",
        "An account admin adds the client id: Account Admin → Custom Integrations → Add custom integration. "
        "If it was added minutes ago, re-run the check.",
        "add-integration",
    ),
    REGION_MISMATCH: CauseText(
        "Region mismatch",
        "Add the custom integration in the account of the project's region, and send `Region` accordingly.",
        "test-access",
    ),
    ACCOUNT_ADMIN_REQUIRED: CauseText(
        "Account admin rights required",
        "Ask an account admin to do this step.",
        "admin-rights",
    ),
    PROJECT_NOT_FOUND: CauseText(
        "Project not in this account (wrong id, archived, or another account)",
        "Check the project id and account id (copy them from the ACC project URL); archived projects are "
        "not served.",
        "project-access",
    ),
    PROJECT_NOT_ACTIVATED: CauseText(
        "Docs not activated on the project",
        "A project admin activates Docs (Document Management) for the project.",
        "project-access",
    ),
    USER_NO_ACCESS: CauseText(
        "User lacks access to the project",
        "A project admin adds the user to the project (Project Admin → Members).",
        "project-access",
    ),
    FOLDER_DENIED: CauseText(
        "No permission on the folder",
        "Give the integration/user at least View permission on the folder.",
        "project-access",
    ),
    ID_PREFIX: CauseText(
        "`b.` prefix mix-up",
        "Data Management ids carry `b.` (hub `b.<account>`, project `b.<project>`); the ACC Admin API takes "
        "them without.",
        "project-access",
    ),
    RATE_LIMITED: CauseText(
        "Rate limited (429)",
        "Wait for `Retry-After` seconds and retry; cache hub lookups (50 requests/min per client id).",
        "test-access",
    ),
    EXPIRED_TOKEN: CauseText(
        "Expired or invalid token",
        "Fetch a new token and retry.",
        "test-access",
    ),
}


def describe(cause_id: str, kb: KnowledgeBase | None) -> CauseText:
    """Title, fix and checklist step of a cause: from the KB when it has it, else the fallback."""
    cause = kb.cause(cause_id) if kb is not None else None
    if cause is not None:
        return CauseText(cause.title, cause.fix, cause.checklist_step)
    return FALLBACK.get(cause_id, CauseText(cause_id, "", "test-access"))

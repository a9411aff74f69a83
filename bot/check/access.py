"""Which registered APS app a check uses, and who may use it. Pure: settings in, answers out."""

from __future__ import annotations

from collections.abc import Iterable

from bot.settings import ApsApp, Settings

REGISTER_HINT = (
    "Register it in the bot's settings: add an entry to the `APS_APPS` JSON list, e.g. "
    '`APS_APPS=[{"name": "Integration Bot", "client_id": "<client id>", "client_secret": "<secret>", '
    '"allowed_channels": ["C0123ABCD"]}]`, then restart the bot. Secrets never go into Slack.'
)


def find_app(settings: Settings, ref: str) -> ApsApp | None:
    """The app whose client id equals `ref`, else whose name equals it (case-insensitive)."""
    ref = (ref or "").strip()
    if not ref:
        return None
    by_id = next((app for app in settings.aps_apps if app.client_id == ref), None)
    if by_id is not None:
        return by_id
    return next((app for app in settings.aps_apps if app.name.strip().lower() == ref.lower()), None)


def may_use(app: ApsApp, user_id: str, channel_id: str | None, usergroup_ids: Iterable[str] = ()) -> bool:
    """Allowed if the user is listed, is in a listed user group, or asks in a listed channel.

    With all three lists empty nobody may use the app (an app is never open by accident).
    """
    if user_id and user_id in app.allowed_users:
        return True
    if channel_id and channel_id in app.allowed_channels:
        return True
    return bool(set(usergroup_ids) & set(app.allowed_usergroups))


def needs_usergroups(app: ApsApp, user_id: str, channel_id: str | None) -> bool:
    """Whether the answer depends on the user's group memberships (so the caller must look them up)."""
    return bool(app.allowed_usergroups) and not may_use(app, user_id, channel_id)

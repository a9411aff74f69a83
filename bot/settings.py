"""Every setting of aps-bot, in one place.

Values come from environment variables or a `.env` file in the working directory. Secrets are
`SecretStr` so they never print in a repr or a log line.
"""

from __future__ import annotations

import json
import logging
import re
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError


def default_kb_dir() -> Path:
    """The `knowledge/` folder of a checkout, or the copy packaged inside the wheel."""
    here = Path(__file__).resolve().parent
    checkout = here.parent / "knowledge"
    return checkout if checkout.is_dir() else here / "_knowledge"


class ApsApp(BaseModel):
    """One APS app the team lets the bot use for live checks, and who may use it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Display name, also accepted in place of the client id.")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    allowed_users: list[str] = Field(
        default_factory=list, description="Slack user ids (U…) allowed to run checks."
    )
    allowed_usergroups: list[str] = Field(
        default_factory=list, description="Slack user group ids (S…) whose members may run checks."
    )
    allowed_channels: list[str] = Field(
        default_factory=list,
        description="Slack channel ids (C…/G…) in which anyone may run checks.",
    )


class Settings(BaseSettings):
    """Configuration read from the environment (names are the upper-cased field names)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Slack
    slack_bot_token: SecretStr | None = Field(None, description="Bot token, xoxb-…")
    slack_signing_secret: SecretStr | None = Field(None, description="Signing secret (HTTP mode).")
    slack_app_token: SecretStr | None = Field(
        None, description="App-level token, xapp-…; when set, `serve` uses Socket Mode."
    )
    slack_api_url: str = Field(
        "https://slack.com/api/", description="Slack Web API base URL (tests point it at a fake)."
    )

    # APS
    aps_base_url: str = Field(
        "https://developer.api.autodesk.com", description="APS base URL (tests point it at a fake)."
    )
    aps_apps: list[ApsApp] = Field(
        default_factory=list, description="JSON list of the team's APS apps for live checks."
    )
    aps_timeout_seconds: float = Field(
        10.0, gt=0, le=3600, description="Timeout of one APS HTTP call (at most an hour)."
    )
    aps_max_retry_after_seconds: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="Longest Retry-After the client waits for before giving up (at most an hour).",
    )

    # Bot behaviour
    bot_kb_dir: Path = Field(default_factory=default_kb_dir, description="Knowledge base folder.")
    bot_db_path: Path = Field(Path("aps-bot.sqlite3"), description="SQLite database file.")
    bot_passive_min_score: int = Field(
        60, ge=0, le=100, description="Lowest score for an unprompted reply in a channel."
    )
    bot_worker_threads: int = Field(
        8,
        ge=1,
        description="Threads for slow work: replies posted side by side by the reply worker, and live "
        "checks, checklists and the shortcut in the serving process.",
    )
    bot_recheck_delay_seconds: int = Field(
        600,
        ge=0,
        description="Wait after the Custom Integrations step before the automatic re-check.",
    )
    bot_check_spacing_seconds: float = Field(
        20.0,
        ge=0,
        allow_inf_nan=False,  # "try again in inf s" is no answer (math.ceil raised on it)
        description="Least time between two live checks of one user, app and project (or two re-checks "
        "of one checklist): a double click or a repeated command does not call APS again. 0: no spacing.",
    )
    bot_stale_checklist_days: int = Field(
        7, ge=1, description="Days without activity before a checklist gets a reminder."
    )
    bot_scheduler_poll_seconds: float = Field(
        15.0, gt=0, le=3600, description="How often the scheduler looks for due jobs (at most an hour)."
    )
    log_level: str = Field("INFO", description="Python logging level.")

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """`SLACK_APP_TOKEN=` (left empty in `.env`) means no app token: HTTP mode, not a malformed token."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if not isinstance(logging.getLevelName(level), int):
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("aps_base_url", "slack_api_url")
    @classmethod
    def _no_blank_url(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    def as_environment(self) -> dict[str, str]:
        """These settings as environment variables, secrets included, for a child process (the reply
        worker) to read back exactly; never log the result."""
        env = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif name == "aps_apps":
                value = json.dumps(
                    [
                        {**app.model_dump(mode="json"), "client_secret": app.client_secret.get_secret_value()}
                        for app in value
                    ]
                )
            env[name.upper()] = str(value)
        return env

    @cached_property
    def slack_api_base(self) -> str:
        """`slack_api_url` with the trailing slash that slack_sdk's urljoin needs."""
        return self.slack_api_url if self.slack_api_url.endswith("/") else self.slack_api_url + "/"


class SettingsProblem(Exception):
    """A setting that cannot be read; the message names the setting, never its value."""


def load_settings() -> Settings:
    """The settings, or SettingsProblem with one line naming the first bad setting (a malformed value such
    as APS_APPS that is not JSON included)."""
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        raise SettingsProblem(f"{_setting_path(error['loc'])}: {error['msg']}") from None
    except SettingsError as exc:  # "error parsing value for field "aps_apps" from source …": not JSON
        field = _FIELD_NAMED.search(str(exc))
        name = field.group(1).upper() if field else "a setting"
        raise SettingsProblem(f"{name} is not valid JSON") from None


_FIELD_NAMED = re.compile(r'field "(\w+)"')


def _setting_path(loc: tuple[int | str, ...]) -> str:
    """`("aps_apps", 0, "client_id")` → `APS_APPS[0].client_id`: the setting, then where inside it."""
    path = str(loc[0]).upper()
    for part in loc[1:]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path

"""`run_live_check`: the one entry point every front end (CLI, slash command, checklist) calls.

It finds the registered app, builds the APS client from settings (token and hub caches shared for the
process), runs the steps and returns the report. It never raises for bad input: an unknown app or an
unusable argument becomes a failed first step that says what to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.check.access import REGISTER_HINT, find_app
from bot.check.ports import ApsApi
from bot.check.report import CheckReport, Observed, StepResult
from bot.check.request import CheckRequest, InvalidRequest
from bot.check.runner import Context, run_steps
from bot.check.steps import build_steps
from bot.knowledge import KnowledgeBase, KnowledgeError, load_kb
from bot.settings import ApsApp, Settings

OnStep = Callable[[StepResult], None]

_caches: Any = None  # bot.aps.client.ApsCaches, created on first use (keeps this module free of httpx)


@lru_cache(maxsize=4)
def _kb_at(path: Path) -> KnowledgeBase | None:
    try:
        return load_kb(path)
    except KnowledgeError:
        return None


def shared_caches() -> Any:
    """The process-wide token/hub caches (repeated checks within the TTL make no token or hubs call)."""
    global _caches
    if _caches is None:
        from bot.aps.client import ApsCaches

        _caches = ApsCaches()
    return _caches


def client_for(settings: Settings, app: ApsApp, **overrides: Any) -> Any:
    """An `ApsClient` for `app` configured from settings (imported lazily: the edge, not the core)."""
    from bot.aps.client import ApsClient

    options: dict[str, Any] = {
        "timeout": settings.aps_timeout_seconds,
        "max_retry_after": settings.aps_max_retry_after_seconds,
        "caches": shared_caches(),
    }
    options.update(overrides)
    return ApsClient(settings.aps_base_url, app.client_id, app.client_secret, **options)


def _refused(app_ref: str, project: str, message: str, name: str, title: str) -> CheckReport:
    step = StepResult(name, title, "fail", Observed(message=message), checklist_step="create-app")
    return CheckReport(app_ref, app_ref if name != "app" else "", project, None, None, None, (step,))


def run_live_check(
    settings: Settings,
    app_ref: str,
    project: str,
    *,
    account: str | None = None,
    region: str | None = None,
    user: str | None = None,
    on_step: OnStep | None = None,
    kb: KnowledgeBase | None = None,
    api: ApsApi | None = None,
) -> CheckReport:
    """Check that the app `app_ref` (client id or name) can reach `project`; see `bot.check.steps`."""
    app = find_app(settings, app_ref)
    if app is None:
        return _refused(
            app_ref, project, f"no registered app {app_ref!r}. {REGISTER_HINT}", "app", "Registered app"
        )
    try:
        request = CheckRequest.build(project, account=account, region=region, user=user)
    except InvalidRequest as exc:
        return _refused(app.client_id, project, str(exc), "request", "Arguments")
    if kb is None:
        kb = _kb_at(Path(settings.bot_kb_dir))
    own_client = api is None
    client = api if api is not None else client_for(settings, app)
    started = time.monotonic()
    try:
        ctx = Context(request=request, api=client)
        steps = run_steps(build_steps(request), ctx, kb=kb, on_step=on_step)
    finally:
        if own_client:
            client.close()
    return CheckReport(
        app_name=app.name,
        client_id=app.client_id,
        project=project,
        account=request.account_guid,
        region=ctx.get("region") or request.region,
        user=request.user,
        steps=steps,
        duration_ms=int((time.monotonic() - started) * 1000),
    )

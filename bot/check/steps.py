"""The live-check steps (aps-facts.md §7) and how each APS answer maps to a cause.

Dependency graph (calls in brackets; `∥` = concurrent):

    ids
    token [POST token] → scopes
                       → hub [GET hubs?filter[id]] → account_admin [GET admin project]
                                                   ∥ project [GET DM project] → top_folders → folder_contents
                                                                              → user_access [x-user-id]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from bot.check import causes as C
from bot.check.ports import ApsApi, ApsError, ApsResponse, Hub, parse_hubs
from bot.check.report import Observed
from bot.check.request import CheckRequest
from bot.check.runner import Context, Outcome, Step

NEEDED_SCOPES = ("data:read", "account:read")
MAX_HUBS_SEARCHED = 10
MAX_HUBS_PROBED = 5  # on the failure path only: is the project in another account the app reaches?
DM = "Data Management API"
MEMBER_WITHOUT_ACCESS = {  # ACC Admin project member statuses that see no files (the list leaves out
    # "deleted" members unless asked; "inactive" is an account user's status, never a project member's)
    "pending": "the invitation to the project is not accepted yet",
}
ACC = "Autodesk Construction Cloud API (ACC Admin)"


def observed(response: ApsResponse, message: str | None = None) -> Observed:
    return Observed(response.status, response.code, message if message is not None else response.message)


def common_failure(response: ApsResponse, api: str) -> Outcome | None:
    """Failures that mean the same on every endpoint: no answer, 429, 5xx, a 4xx HTML page, AUTH-001,
    AUTH-010, 401."""
    if response.token_refused:
        refused = token_failure(response)
        message = f"token not renewed: {refused.observed.message}"
        renewal = dataclasses.replace(refused.observed, message=message)
        return dataclasses.replace(refused, observed=renewal)
    error = response.error
    if response.status == 0 and error is not None:
        what = "timed out" if error.body_kind == "timeout" else "unreachable"
        return Outcome("fail", observed(response, f"APS {what}: {error.message}"))
    if response.status == 429:
        wait = f" (Retry-After {response.retry_after:g} s)" if response.retry_after is not None else ""
        return Outcome(
            "fail",
            observed(response, f"rate limited{wait}: {response.message or 'Quota limit exceeded.'}"),
            C.RATE_LIMITED,
        )
    if response.status >= 500:
        kind = error.message if error else "server error"
        return Outcome("fail", observed(response, f"APS answered {response.status} ({kind}); retry later"))
    if _not_aps(response):
        return Outcome(  # a proxy's or gateway's own page: no APS verdict on provisioning or access in it
            "fail",
            observed(
                response,
                f"{response.status} answer, {error.message if error else 'no body'}: a proxy or gateway "
                f"answered, not the {api}; check the bot's network path to APS and APS_BASE_URL, then retry",
            ),
        )
    if response.code == "AUTH-001":
        return Outcome(
            "fail",
            observed(response, f"{response.message} → the {api} is not enabled on this app"),
            C.API_ACCESS_MISSING,
        )
    if response.code == "AUTH-010":
        return Outcome(
            "fail",
            observed(response, f"{response.message} → the token lacks a scope for the {api}"),
            C.MISSING_SCOPE,
        )
    if response.status == 401:
        return Outcome(
            "fail",
            observed(response, "401 even with a fresh token: " + (response.message or "empty body")),
            C.EXPIRED_TOKEN,
        )
    return None


# --- ids, token, scopes -----------------------------------------------------------------------------


def step_ids(ctx: Context) -> Outcome:
    req: CheckRequest = ctx["request"]
    forms = []
    if req.account_guid:
        forms.append(f"account `{req.account_guid}` = hub `{req.hub_id}`")
    if req.project_guid:
        forms.append(f"project `{req.project_guid}` = DM project `{req.dm_project_id}`")
    elif req.project_name:
        forms.append(f"project by name {req.project_name!r}")
    used = "; ".join(forms) or "no ids"
    if req.account_had_prefix:
        return Outcome(
            "warn",
            Observed(
                message=f"account id given as the DM hub id `{req.hub_id}`: the ACC Admin API takes "
                f"`{req.account_guid}` without `b.` (used: {used})"
            ),
            C.ID_PREFIX,
        )
    if req.account_guid and req.project_guid and req.account_guid.lower() == req.project_guid.lower():
        return Outcome(
            "warn", Observed(message=f"the project id equals the account id ({used})"), C.ID_PREFIX
        )
    return Outcome("pass", Observed(message=f"used: {used}"))


def step_token(ctx: Context) -> Outcome:
    api: ApsApi = ctx["api"]
    response = api.token()
    if response.ok and response.token is not None:
        ctx.set(token=response.token)
        cached = " (cached)" if response.from_cache else ""
        return Outcome("pass", Observed(response.status, "", f"two-legged token issued{cached}"))
    return token_failure(response)


def token_failure(response: ApsResponse) -> Outcome:
    """Why the token endpoint refused a token: at the token step, or when a call's token could not be
    renewed after a 401 (an app archived or its secret revoked since the token was issued)."""
    message = response.message
    if "developer hub" in message.lower():
        return Outcome(
            "fail",
            observed(response, f"{message} → the app is archived: it is not in an APS Developer Hub"),
            C.NOT_IN_DEVELOPER_HUB,
        )
    if response.status == 401 or response.code in ("invalid_client", "AUTH-003"):
        return Outcome(
            "fail",
            observed(
                response,
                f"{message or 'invalid client'} → either the client id/secret is wrong, or the app was "
                "archived because it is not in an APS Developer Hub",
            ),
            C.INVALID_CREDENTIALS,
        )
    if response.code in ("invalid_scope", "AUTH-004"):
        return Outcome("fail", observed(response), C.MISSING_SCOPE)
    refused = dataclasses.replace(response, token_refused=False)  # judged below as any endpoint's answer
    return common_failure(refused, "Authentication API") or Outcome("fail", observed(refused))


def step_scopes(ctx: Context) -> Outcome:
    granted = set(ctx["token"].scopes)
    missing = [scope for scope in NEEDED_SCOPES if scope not in granted]
    if missing:
        return Outcome(
            "fail",
            Observed(
                None, "", f"granted: {' '.join(sorted(granted)) or 'none'}; missing: {' '.join(missing)}"
            ),
            C.MISSING_SCOPE,
        )
    return Outcome("pass", Observed(None, "", f"granted: {' '.join(sorted(granted))}"))


# --- hub ----------------------------------------------------------------------------------------------


def _regions(response: ApsResponse) -> list[str]:
    regions = [w.region for w in response.warnings if w.region]
    return sorted(set(regions), key=regions.index)


def _found_hub(ctx: Context, hub: Hub, note: str = "") -> Outcome:
    req: CheckRequest = ctx["request"]
    region = hub.region or req.region or "US"
    ctx.set(hub=hub, region=region)
    message = f"hub {hub.name!r} ({hub.id}), region {region}{note}"
    if req.region and hub.region and req.region != hub.region:
        return Outcome(
            "warn",
            Observed(200, "", f"{message}; you said {req.region}: the account lives in {hub.region}"),
            C.REGION_MISMATCH,
        )
    return Outcome("pass", Observed(200, "", message))


def _hub_absent(
    ctx: Context, filtered: ApsResponse, hub_id: str, everything: ApsResponse | None = None
) -> Outcome:
    """The target hub is not reachable: tell missing integration from other-region provisioning.
    `everything` is the unfiltered hub list when the caller already has it."""
    api: ApsApi = ctx["api"]
    if everything is None:  # not cached (an admin may be adding the integration); the accounts it reaches
        everything = api.hubs()
    if not everything.ok and (everything.token_refused or _transient(everything)):
        return _search_failed(everything, f"hub {hub_id} not reachable; ")  # APS did not say which it reaches
    regions = _regions(filtered) or _regions(everything)
    reachable = [h for h in parse_hubs(everything) if h.is_account] if everything.ok else []
    status = filtered.status
    region_text = f" in region(s) {', '.join(regions)}" if regions else ""
    home, unanswered, _ = _search_hubs(api, reachable[:MAX_HUBS_PROBED], ctx["request"])
    if home is None and unanswered is not None:  # the project may be in the hub APS did not answer for
        return _search_failed(unanswered, f"hub {hub_id} not reachable; ")
    if home is not None:
        return Outcome(
            "fail",
            Observed(
                status,
                filtered.code,
                f"hub {hub_id} not reachable, but the project is in account {home.name!r} "
                f"({home.id.removeprefix('b.')}), which the app reaches: wrong account id",
            ),
            C.PROJECT_NOT_FOUND,
        )
    if reachable:  # added elsewhere; a region warning only says no account of that region has it
        names = ", ".join(f"{h.name} ({h.id}{', ' + h.region if h.region else ''})" for h in reachable[:5])
        absent = f", and in no account{region_text}" if regions else ""
        return Outcome(
            "fail",
            Observed(
                status,
                filtered.code or ("BIM360DM_ERROR" if regions else ""),
                f"hub {hub_id} not reachable; the app is added in other accounts only ({names}){absent}: "
                f"add the custom integration in account {hub_id.removeprefix('b.')}, or check the account id",
            ),
            C.INTEGRATION_MISSING,
        )
    given = ctx["request"].hub_id
    where = f"account {given.removeprefix('b.')}" if given else "the project's account"
    return Outcome(
        "fail",
        Observed(
            status,
            filtered.code or ("BIM360DM_ERROR" if regions else ""),
            f"no BIM 360/ACC hub reachable{region_text}: the custom integration is missing in {where}",
        ),
        C.INTEGRATION_MISSING,
    )


def step_hub(ctx: Context) -> Outcome:
    req: CheckRequest = ctx["request"]
    api: ApsApi = ctx["api"]
    response = api.hubs(req.hub_id)
    failure = common_failure(response, DM)
    if failure:
        return failure
    hubs = parse_hubs(response) if response.ok else ()
    if req.hub_id:
        match = next((h for h in hubs if h.id.lower() == req.hub_id.lower()), None)
        return _found_hub(ctx, match) if match else _hub_absent(ctx, response, req.hub_id)
    accounts = [h for h in hubs if h.is_account]
    if not accounts:
        return _hub_absent(ctx, response, "(any account)", everything=response)
    given = (req.project_guid or "").lower()
    named = next((h for h in accounts if h.id.removeprefix("b.").lower() == given), None)
    if named is not None:  # the classic mix-up, told before searching every hub for it
        return Outcome(
            "fail",
            Observed(
                response.status,
                "",
                f"{req.project_guid} is the id of account {named.name!r} (hub {named.id}), not a project id: "
                "give the project id, and this one as the account id",
            ),
            C.ID_PREFIX,
        )
    regions = _regions(response)  # where the app reaches no account: the project may be in one of those
    if len(accounts) == 1 and not regions:
        return _found_hub(ctx, accounts[0], " (the only account hub the app reaches)")
    home, unanswered, answer = _search_hubs(api, accounts[:MAX_HUBS_SEARCHED], req)
    if home is not None:
        ctx.set(project_answer=answer)  # the project step reads it: no second listing of the hub's projects
        return _found_hub(ctx, home, f" (found the project among {len(accounts)} account hub(s))")
    if unanswered is not None:
        return _search_failed(unanswered, "")
    if regions and len(accounts) <= MAX_HUBS_SEARCHED:
        return Outcome(
            "fail",
            Observed(
                response.status,
                "BIM360DM_ERROR",
                f"the project is in none of the {len(accounts)} account hub(s) the app reaches, and the app "
                f"reaches no account in region(s) {', '.join(regions)}: if the project's account is there, "
                "add the custom integration in it; otherwise check the project (the account id tells which)",
            ),
            C.INTEGRATION_MISSING,
        )
    if len(accounts) > MAX_HUBS_SEARCHED:  # the rest were not asked: no verdict on them
        return Outcome(
            "fail",
            Observed(
                response.status,
                "",
                f"the project is in none of the first {MAX_HUBS_SEARCHED} of the {len(accounts)} account "
                "hubs the app reaches (the others were not searched); pass the account id",
            ),
        )
    return Outcome(
        "fail",
        Observed(
            response.status,
            "",
            f"the project is in none of the {len(accounts)} account hubs the app reaches; "
            "pass the account id",
        ),
        C.PROJECT_NOT_FOUND,
    )


def _search_hubs(
    api: ApsApi, hubs: Sequence[Hub], req: CheckRequest
) -> tuple[Hub | None, ApsResponse | None, ApsResponse | None]:
    """The first hub holding the project, the first answer that could not tell (a timeout, 429, 5xx, an
    HTML page, a project list cut short): "not in these hubs" is a verdict only when every hub answered in
    full; and the answer that found the project."""
    unanswered = None
    for hub in hubs:
        if req.dm_project_id:
            response = api.project(hub.id, req.dm_project_id)
            found = response.ok
        else:
            response = api.hub_projects(hub.id, name=req.project_name)
            found = any(_name_of(item).lower() == (req.project_name or "").lower() for item in response.items)
        if found:
            return hub, None, response
        if response.token_refused:
            return None, response, None  # no hub can answer without a token
        if unanswered is None and _transient(response):
            unanswered = response
        elif unanswered is None and not req.dm_project_id and response.ok and _more_pages(response):
            listed = len(response.items)
            cut = f"hub {hub.id} has more than {listed} projects, the rest not listed: pass the project id"
            unanswered = dataclasses.replace(response, error=ApsError("", cut))
    return None, unanswered, None


def _transient(response: ApsResponse) -> bool:
    """An answer that says nothing about the hub: none, 429, 5xx, or not APS's (see `_not_aps`)."""
    return _not_aps(response) or response.status in (0, 429) or response.status >= 500


def _not_aps(response: ApsResponse) -> bool:
    """An answer APS does not give: a proxy's or gateway's 4xx HTML page, a redirect (a sign-in page), or a
    2xx without a JSON body."""
    error = response.error
    if error is None:
        return False
    return (response.status >= 400 and error.body_kind == "html") or error.body_kind in (
        "non-json",
        "redirect",
    )


def _search_failed(response: ApsResponse, prefix: str) -> Outcome:
    """The project search could not finish: say what APS answered (a refused token renewal: why), with no
    provisioning verdict."""
    failure = common_failure(response, DM) or Outcome("fail", observed(response))
    message = f"{prefix}looking for the project in the app's hubs: {failure.observed.message}"
    return Outcome("fail", Observed(response.status, response.code, message), failure.cause_id)


def _name_of(item: dict) -> str:
    return str((item.get("attributes") or {}).get("name") or item.get("name") or "")


# --- ACC admin and DM project (concurrent) --------------------------------------------------------------


def step_account_admin(ctx: Context) -> Outcome:
    req: CheckRequest = ctx["request"]
    api: ApsApi = ctx["api"]
    hub: Hub = ctx["hub"]
    region: str = ctx["region"]
    account_guid = hub.id.removeprefix("b.")
    if req.project_guid:
        response = api.admin_project(req.project_guid, region=region)
        project = response.data if response.ok and isinstance(response.data, dict) else None
    else:
        response = api.admin_account_projects(account_guid, region=region, name=req.project_name or "")
        wanted = (req.project_name or "").lower()
        exact = [p for p in response.items if str(p.get("name", "")).lower() == wanted]
        project = exact[0] if exact else None
    failure = common_failure(response, ACC)
    if failure:
        return failure
    if response.status == 404 and isinstance(response.data, dict) and response.data.get("code") == 1004:
        return Outcome(
            "fail",
            observed(
                response, f"{response.message} (Region: {region}) → the account is not served in that region"
            ),
            C.REGION_MISMATCH,
        )
    if response.status == 403:
        return Outcome(
            "fail",
            observed(
                response,
                "403 from the ACC Admin API: the custom integration lacks Account Administration access",
            ),
            C.INTEGRATION_MISSING,
        )
    if project is None:
        ctx.set(admin_project=None)
        return Outcome(
            "warn", observed(response, "the ACC Admin API does not know this project in this account")
        )
    ctx.set(admin_project=project)
    status = str(project.get("status", "") or "")
    owner = str(project.get("accountId", "") or "")
    if owner and owner.lower() != account_guid.lower():
        return Outcome(
            "fail",
            observed(
                response, f"project {project.get('name')!r} belongs to account {owner}, not {account_guid}"
            ),
            C.PROJECT_NOT_FOUND,
        )
    if status and status != "active":
        return Outcome(
            "fail", observed(response, f"project {project.get('name')!r} is {status}"), C.PROJECT_NOT_FOUND
        )
    return Outcome("pass", observed(response, f"project {project.get('name')!r} is {status or 'known'}"))


def step_project(ctx: Context) -> Outcome:
    req: CheckRequest = ctx["request"]
    api: ApsApi = ctx["api"]
    hub: Hub = ctx["hub"]
    searched = ctx.get("project_answer")  # the hub step's answer that found the project in this hub
    if req.dm_project_id:
        response = searched or api.project(hub.id, req.dm_project_id)
        item = response.items[0] if response.ok and response.items else None
    else:
        response = searched or api.hub_projects(hub.id, name=req.project_name)
        wanted = (req.project_name or "").lower()
        item = next((p for p in response.items if _name_of(p).lower() == wanted), None)
        if item is None and response.ok and _more_pages(response):  # the client stopped listing
            ctx.result("account_admin")  # its lookup by name may give the project's id
            admin_id = str((ctx.get("admin_project") or {}).get("id") or "")
            if not admin_id:
                return Outcome(
                    "fail",
                    observed(
                        response,
                        f"{req.project_name!r} is not among the first {len(response.items)} projects of "
                        f"hub {hub.id} (the rest were not listed): pass the project id",
                    ),
                )
            response = api.project(hub.id, f"b.{admin_id}")
            item = response.items[0] if response.ok and response.items else None
    failure = common_failure(response, DM)
    if failure:
        return failure
    if item is not None:
        project_id = str(item.get("id", ""))
        ctx.set(
            project_id=project_id, project_guid=project_id.removeprefix("b."), project_name=_name_of(item)
        )
        return Outcome("pass", observed(response, f"project {_name_of(item)!r} ({project_id})"))
    if response.status == 403:
        return Outcome(
            "fail",
            observed(
                response,
                f"403 on the project: {response.message or 'no access'}; the integration cannot read it",
            ),
            C.INTEGRATION_MISSING,
        )
    return _project_missing(ctx, response)


def _more_pages(response: ApsResponse) -> bool:
    """Whether a project list still links a next page (JSON:API `links.next`)."""
    links = response.data.get("links") if isinstance(response.data, dict) else None
    return isinstance(links, dict) and bool(links.get("next"))


def _project_missing(ctx: Context, response: ApsResponse) -> Outcome:
    """DM does not serve the project: use what the ACC Admin API said to name the reason."""
    req: CheckRequest = ctx["request"]
    hub: Hub = ctx["hub"]
    admin = ctx.result("account_admin")
    admin_project = ctx.get("admin_project")
    what = req.project_name or req.project_guid
    if admin is not None and admin.status == "fail" and admin.cause_id == C.PROJECT_NOT_FOUND:
        reason = observed(response, f"not in Docs: {admin.observed.message}")
        return Outcome("fail", reason, C.PROJECT_NOT_FOUND)
    if admin_project is not None:
        return Outcome(
            "fail",
            observed(
                response,
                f"the ACC Admin API knows project {admin_project.get('name')!r} but Data Management does not "
                "serve it: Docs is not activated on the project",
            ),
            C.PROJECT_NOT_ACTIVATED,
        )
    if req.project_guid and req.project_guid.lower() == hub.id.removeprefix("b.").lower():
        return Outcome(
            "fail", observed(response, f"{what} is the account (hub) id, not a project id"), C.ID_PREFIX
        )
    return Outcome(
        "fail",
        observed(
            response, f"project {what!r} not found in hub {hub.id}: wrong id, archived, or in another account"
        ),
        C.PROJECT_NOT_FOUND,
    )


# --- folders and user ------------------------------------------------------------------------------------


def step_top_folders(ctx: Context) -> Outcome:
    api: ApsApi = ctx["api"]
    hub: Hub = ctx["hub"]
    response = api.top_folders(hub.id, ctx["project_id"])
    failure = common_failure(response, DM)
    if failure:
        return failure
    if not response.ok:
        return Outcome("fail", observed(response), C.FOLDER_DENIED if response.status == 403 else None)
    folders = [f for f in response.items if f.get("type") == "folders"]
    if not folders:
        return Outcome("warn", observed(response, "no top folders visible"))
    names = [_name_of(f) for f in folders]
    chosen = next((f for f in folders if _name_of(f) == "Project Files"), folders[0])
    ctx.set(folder_id=str(chosen.get("id", "")), folder_name=_name_of(chosen))
    return Outcome("pass", observed(response, f"{len(folders)} top folders: {', '.join(names[:5])}"))


def step_folder_contents(ctx: Context) -> Outcome:
    api: ApsApi = ctx["api"]
    if not ctx.get("folder_id"):
        return Outcome("skipped", Observed(message="no folder to open"))
    response = api.folder_contents(ctx["project_id"], ctx["folder_id"])
    failure = common_failure(response, DM)
    if failure:
        return failure
    if not response.ok:
        return Outcome("fail", observed(response), C.FOLDER_DENIED if response.status == 403 else None)
    return Outcome(
        "pass", observed(response, f"{ctx['folder_name']!r} readable ({len(response.items)} entries)")
    )


def step_user_access(ctx: Context) -> Outcome:
    req: CheckRequest = ctx["request"]
    api: ApsApi = ctx["api"]
    hub: Hub = ctx["hub"]
    user_id = req.user or ""
    if req.user_is_email:
        users = api.admin_project_users(ctx["project_guid"], region=ctx["region"], email=user_id)
        failure = common_failure(users, ACC)
        if failure:
            return failure
        if not users.ok:  # a refused member list says nothing about the user
            return Outcome(
                "fail",
                observed(
                    users,
                    f"the ACC Admin API did not list the project's members ({users.message or 'no details'})"
                    "; see the ACC Admin API step, or pass the user's Autodesk id instead of the email",
                ),
            )
        member = next((u for u in users.items if str(u.get("email", "")).lower() == user_id.lower()), None)
        if member is None:
            return Outcome(
                "fail", observed(users, f"{user_id} is not a member of the project"), C.USER_NO_ACCESS
            )
        status = str(member.get("status") or "")
        if status in MEMBER_WITHOUT_ACCESS or not member.get("autodeskId"):
            why = MEMBER_WITHOUT_ACCESS.get(status, "has no Autodesk id yet (an invitation not accepted?)")
            return Outcome(  # x-user-id takes the Autodesk id: the ACC member id would say nothing
                "fail",
                observed(users, f"{user_id} is a member of the project with status {status or '?'}: {why}"),
                C.USER_NO_ACCESS,
            )
        user_id = str(member["autodeskId"])
    response = api.top_folders(hub.id, ctx["project_id"], user_id=user_id)
    failure = common_failure(response, DM)
    if failure:
        return failure
    denied = [w for w in response.warnings if w.status in ("401", "403")]
    if not response.ok or denied or not response.items:
        detail = denied[0].detail if denied else response.message or "no folders visible"
        return Outcome("fail", observed(response, f"as user {req.user}: {detail}"), C.USER_NO_ACCESS)
    return Outcome("pass", observed(response, f"user {req.user} sees {len(response.items)} top folders"))


def build_steps(request: CheckRequest) -> Sequence[Step]:
    """The steps of one check in report order."""
    steps = [
        Step("ids", "Ids", "test-access", step_ids),
        Step("token", "Two-legged token", "create-app", step_token),
        Step("scopes", "Granted scopes", "create-app", step_scopes, ("token",)),
        Step("hub", "Account hub (custom integration)", "add-integration", step_hub, ("token",)),
        Step("account_admin", "ACC Admin API project", "add-integration", step_account_admin, ("hub",)),
        Step("project", "Data Management project", "project-access", step_project, ("hub",)),
        Step("top_folders", "Top folders", "project-access", step_top_folders, ("project",)),
        Step("folder_contents", "Folder contents", "test-access", step_folder_contents, ("top_folders",)),
    ]
    if request.user:
        steps.append(
            Step("user_access", "User's project access", "project-access", step_user_access, ("project",))
        )
    return steps

"""A fake APS (Autodesk Platform Services) server on loopback, faithful to `shared/aps-facts.md` §8.

Shapes follow the official OpenAPI specs (autodesk-platform-services/aps-sdk-openapi: authentication,
datamanagement, construction/accountadmin) and the error bodies quoted in aps-facts.md. Behaviour the
facts mark [unsure] (ACC admin 404 bodies) is keyed on the status only by the bot.

    with FakeAps() as aps:
        aps.scenario = "integration_missing_403"
        ... point settings.aps_base_url at aps.url ...
        assert [c.path for c in aps.calls] == [...]
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

CLIENT_ID = "FakeClientId0123456789abcdefABCD"
CLIENT_SECRET = "FakeSecret0123456789abcdefGHIJKL"
APP_NAME = "Integration Bot"
ACCOUNT_ID = "6a3c5f0e-1b2d-4c3e-9f4a-0b1c2d3e4f50"
OTHER_ACCOUNT_ID = "0f1e2d3c-4b5a-4968-8776-655443322110"
PROJECT_ID = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
PROJECT_NAME = "Tower A"
FOLDER_ID = "urn:adsk.wipprod:fs.folder:co.ProjectFilesFolder1"
USER_ID = "XK7L2M9N3P4Q"  # Autodesk id of a project member
USER_EMAIL = "member@example.com"

SCENARIOS = (
    "healthy",
    "bad_secret",
    "archived_app",
    "dm_not_enabled",
    "integration_missing_403",
    "integration_missing_200",
    "integration_missing_legacy",
    "integration_missing_here",
    "other_region",
    "two_accounts",
    "missing_scope",
    "acc_api_not_enabled",
    "admin_access_missing",
    "project_not_found",
    "project_archived",
    "project_not_in_docs",
    "user_no_access",
    "token_expiring",
    "rate_limited",
    "rate_limited_brief",
    "html_502",
    "html_403",
    "sign_in_redirect",
    "sign_in_page_200",
)

AUTH_001 = {
    "developerMessage": "The client_id specified does not have access to the api product",
    "moreInfo": "https://aps.autodesk.com/en/docs/oauth/v2/developers_guide/error_handling/",
    "errorCode": "AUTH-001",
}
AUTH_010 = {
    "developerMessage": "Token does not have the privilege for this request.",
    "moreInfo": "https://aps.autodesk.com/en/docs/oauth/v2/developers_guide/error_handling/",
    "errorCode": "AUTH-010",
}
# How APS answers a token without the needed scope: text/plain, the sentence alone, no code
# (https://aps.autodesk.com/blog/401-unauthorized-403-forbidden); AUTH_010 is the JSON form of the same answer.
PRIVILEGE_TEXT = AUTH_010["developerMessage"]
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)
# A gateway or proxy in front of the API refusing the request: its own page, no APS JSON in it
HTML_403 = (
    "<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n"
    "<center><h1>403 Forbidden</h1></center>\r\n</body>\r\n</html>\r\n"
)
# A network's sign-in proxy in front of everything: a redirect to its page, or the page itself served with 200
SIGN_IN_URL = "https://login.proxy.example/sso/start?session=s3ss10nT0k3n&next=%2Fproject%2Fv1%2Fhubs"
SIGN_IN_PAGE = (
    "<!DOCTYPE html>\r\n<html><head><title>Sign in to continue</title></head>\r\n<body>"
    "<form method='post'>Corporate network sign-in</form></body></html>\r\n"
)
Answer = tuple[int, str, "str | bytes", dict[str, str]]  # status, content type, body, extra headers
SCOPES_NEEDED = {"/project/": "data:read", "/data/": "data:read", "/construction/admin/": "account:read"}


@dataclass(frozen=True)
class Call:
    """One request as the fake saw it. The Authorization value is reduced to its scheme."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str] = field(repr=False)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def dm_warning(region: str, status: str = "403") -> dict[str, Any]:
    return {
        "Id": None,
        "HttpStatusCode": status,
        "ErrorCode": "BIM360DM_ERROR",
        "Title": f"Unable to get hubs from BIM360DM {region}.",
        "Detail": "You don't have permission to access this API",
        "AboutLink": None,
        "Source": None,
        "meta": None,
    }


def _text_matches(value: str, text: str, how: str) -> bool:
    """ACC Admin `filterTextMatch` (case-insensitive; `contains` by default)."""
    checks = {"equals": value.__eq__, "startsWith": value.startswith, "endsWith": value.endswith}
    return checks.get(how, value.__contains__)(text)


def jsonapi(data: Any, *, warnings: list[dict[str, Any]] | None = None, href: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"jsonapi": {"version": "1.0"}, "links": {"self": {"href": href}}, "data": data}
    if warnings:
        body["meta"] = {"warnings": warnings}
    return body


def dm_error(status: int, code: str, detail: str, title: str = "") -> dict[str, Any]:
    return {
        "jsonapi": {"version": "1.0"},
        "errors": [
            {"id": str(uuid.uuid4()), "status": str(status), "code": code, "title": title, "detail": detail}
        ],
    }


def hub_json(hub_id: str, name: str, region: str, kind: str = "hubs:autodesk.bim360:Account") -> dict:
    return {
        "type": "hubs",
        "id": hub_id,
        "attributes": {
            "name": name,
            "extension": {"type": kind, "version": "1.0", "schema": {"href": ""}, "data": {}},
            "region": region,
        },
        "links": {"self": {"href": f"/project/v1/hubs/{hub_id}"}},
        "relationships": {
            "projects": {"links": {"related": {"href": f"/project/v1/hubs/{hub_id}/projects"}}}
        },
    }


class FakeAps:
    """Stdlib HTTP server answering like APS for the scenario set in `.scenario`."""

    def __init__(
        self,
        apps: dict[str, str] | None = None,
        *,
        scenario: str = "healthy",
        latency: float = 0.0,
        region: str = "US",
        retry_after: int = 60,
    ) -> None:
        self.apps = dict(apps) if apps is not None else {CLIENT_ID: CLIENT_SECRET}
        self.scenario = scenario
        self.latency = latency
        self.trickle = 0.0  # seconds between the bytes of each body: an answer that trickles in
        self.region = region
        self.retry_after = retry_after
        self.account_name = "Contoso Construction"
        # Projects listed before the one the tests look for (a big account): names that sort first, half of
        # them holding its name ("Tower A (archive 7)"), which a "contains" name filter also returns.
        self.other_projects = 0
        # Account hubs (without the project) the app also reaches, listed before the project's account
        self.extra_accounts = 0
        # Project members listed before USER_EMAIL's member, as (email, Autodesk id)
        self.other_members: list[tuple[str, str]] = []
        # USER_EMAIL's membership (ACC's project user statuses): "pending" until they accept the project
        # invitation (then no file access), "deleted" once removed (then listed only if `filter[status]` says)
        self.member_status = "active"
        # Hubs whose project endpoints answer this status for now (503: an outage; 429: throttled)
        self.unavailable_hubs: dict[str, int] = {}
        self._calls: list[Call] = []
        self._tokens: dict[str, dict[str, Any]] = {}
        self._issued: list[str] = []
        self._lock = threading.Lock()
        self._first_token_used = False
        self._throttled_once = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.handle_error = self._handle_error  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    # --- lifecycle ------------------------------------------------------------------------------------

    def __enter__(self) -> FakeAps:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def issued_tokens(self) -> list[str]:
        """Every access token handed out so far (for tests asserting none of them leaks)."""
        with self._lock:
            return list(self._issued)

    def revoke_tokens(self) -> None:
        """Stop accepting the tokens issued so far (as after an app is archived or its secret is rotated)."""
        with self._lock:
            self._tokens.clear()

    def count(self, path_prefix: str, method: str | None = None) -> int:
        """How many calls hit a path starting with `path_prefix`."""
        return sum(
            1 for c in self.calls if c.path.startswith(path_prefix) and (method is None or c.method == method)
        )

    # --- HTTP plumbing ----------------------------------------------------------------------------------

    def _handle_error(self, request: Any, client_address: Any) -> None:
        """A client that left mid-answer (a timeout, an answer too large to read) is no error of the fake's."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            ThreadingHTTPServer.handle_error(self._server, request, client_address)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # one small answer per call: no 40 ms delayed-ACK stalls

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                return

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                headers = {k.lower(): v for k, v in self.headers.items()}
                if "authorization" in headers:
                    headers["authorization"] = headers["authorization"].split(" ", 1)[0] + " <redacted>"
                with fake._lock:
                    fake._calls.append(Call(method, unquote(parts.path), query, headers))
                if fake.latency:
                    time.sleep(fake.latency)
                status, content_type, payload, extra = fake._route(
                    method, unquote(parts.path), query, self.headers, body
                )
                raw = payload if isinstance(payload, bytes) else payload.encode()
                try:
                    self.send_response(status)
                    if content_type:
                        self.send_header("Content-Type", content_type)
                    for key, value in extra.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    if fake.trickle:
                        for byte in raw:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(fake.trickle)  # a slow server, on purpose
                    else:
                        self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    self.close_connection = True

        return Handler

    # --- routing ----------------------------------------------------------------------------------------

    @staticmethod
    def _json(status: int, body: Any, content_type: str = "application/json", **extra: str) -> Answer:
        return status, content_type, json.dumps(body), dict(extra)

    def _route(self, method: str, path: str, query: dict, headers: Any, body: bytes) -> Answer:
        if method == "POST" and path == "/authentication/v2/token":
            return self._token(headers, body)
        if method != "GET":
            return self._json(405, {"developerMessage": "Method not allowed"})
        if self.scenario == "html_403":
            return 403, "text/html", HTML_403, {}
        if self.scenario == "sign_in_redirect":
            return 302, "text/html", b"", {"Location": SIGN_IN_URL}
        if self.scenario == "sign_in_page_200":
            return 200, "text/html; charset=utf-8", SIGN_IN_PAGE, {}
        token = self._bearer(headers)
        if token is None:
            return 401, "", b"", {}
        needed = next((scope for prefix, scope in SCOPES_NEEDED.items() if path.startswith(prefix)), None)
        if needed and needed not in token["scope"]:
            return 403, "text/plain", PRIVILEGE_TEXT, {}
        if path.startswith("/construction/admin/"):
            return self._admin(path, query, headers)
        return self._data_management(path, query, headers)

    # token endpoint: POST /authentication/v2/token

    def _token(self, headers: Any, body: bytes) -> Answer:
        form = parse_qs(body.decode())
        auth = headers.get("Authorization", "")
        if "client_secret" in form and auth:
            return self._json(
                400,
                {"error": "invalid_request", "error_description": "Client credentials were sent twice."},
            )
        client_id, secret = "", ""
        if auth.startswith("Basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = ""
        if self.scenario == "archived_app":
            return self._json(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "Application must be assigned to a Developer Hub.",
                },
            )
        if self.scenario == "bad_secret" or not client_id or self.apps.get(client_id) != secret:
            return self._json(
                401, {"error": "invalid_client", "error_description": "The client credentials are invalid."}
            )
        if form.get("grant_type") != ["client_credentials"]:
            return self._json(
                400, {"error": "unsupported_grant_type", "error_description": "Bad grant type."}
            )
        requested = " ".join(form.get("scope", [""])).split()
        granted = [s for s in requested if self.scenario != "missing_scope" or s == "data:read"]
        expires_in = 3599
        payload = {
            "scope": granted,
            "client_id": client_id,
            "aud": "https://autodesk.com",
            "iss": "https://developer.api.autodesk.com",
            "exp": int(time.time()) + expires_in,
            "jti": uuid.uuid4().hex,
        }
        header = {"alg": "RS256", "kid": "fake-key", "typ": "JWT"}
        token = ".".join(
            [_b64url(json.dumps(header).encode()), _b64url(json.dumps(payload).encode()), _b64url(b"fake")]
        )
        with self._lock:
            self._tokens[token] = payload
            self._issued.append(token)
        return self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": expires_in})

    def _bearer(self, headers: Any) -> dict[str, Any] | None:
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None
        with self._lock:
            payload = self._tokens.get(auth[7:])
            if payload is None or payload["exp"] < time.time():
                return None
            if self.scenario == "token_expiring" and not self._first_token_used:
                # the first token dies on its first use, as an expired token does: 401 with an empty body
                self._first_token_used = True
                del self._tokens[auth[7:]]
                return None
            return payload

    # Data Management

    def _reachable_hubs(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
        """(hubs, warnings, status) of GET /project/v1/hubs for the current scenario."""
        target = hub_json(f"b.{ACCOUNT_ID}", self.account_name, self.region)
        other = hub_json(f"b.{OTHER_ACCOUNT_ID}", "Contoso US Projects", "US")
        personal = hub_json("a.cGVyc29uYWw", "Personal hub", "US", "hubs:autodesk.a360:PersonalHub")
        all_regions = [dm_warning("US"), dm_warning("EMEA")]
        if self.scenario == "integration_missing_403":
            return [], all_regions, 403
        if self.scenario == "integration_missing_200":
            return [personal], all_regions, 200
        # added in other accounts of every region: no warnings
        if self.scenario == "integration_missing_here":
            return [other, hub_json(f"b.{uuid.UUID(int=7)}", "Contoso EMEA", "EMEA")], [], 200
        if self.scenario == "other_region":
            return [other], [dm_warning(self.region if self.region != "US" else "EMEA")], 200
        more = [
            hub_json(f"b.{uuid.UUID(int=100 + n)}", f"Client {n}", "US") for n in range(self.extra_accounts)
        ]
        if self.scenario == "two_accounts":
            return [*more, target, other], [], 200
        return [*more, target], [], 200

    def _data_management(self, path: str, query: dict, headers: Any) -> Answer:
        parts = [p for p in path.split("/") if p]
        if path == "/project/v1/hubs":
            return self._hubs(query)
        if self.scenario == "html_502":
            return 502, "text/html", HTML_502, {}
        if parts[:3] == ["project", "v1", "hubs"] and len(parts) >= 5 and parts[4] == "projects":
            hub_id = parts[3]
            if hub_id in self.unavailable_hubs:
                status = self.unavailable_hubs[hub_id]
                if status == 429:
                    return self._json(
                        429, {"developerMessage": "Quota limit exceeded."}, **{"Retry-After": "60"}
                    )
                return self._json(status, {"developerMessage": "Service Unavailable"})
            hubs, _, _ = self._reachable_hubs()
            if hub_id not in {h["id"] for h in hubs}:
                return self._json(
                    403, dm_error(403, "BIM360DM_ERROR", "You don't have permission to access this API")
                )
            in_hub = self._project_visible() and hub_id == f"b.{ACCOUNT_ID}"  # the project's own account
            if len(parts) == 5:
                projects = [*self._other_projects_json(hub_id), self._project_json()] if in_hub else []
                return self._json(200, self._page(projects, path, query))
            project_id = parts[5]
            if project_id != f"b.{PROJECT_ID}" or not in_hub:
                return self._json(404, dm_error(404, "NOT_FOUND", "The project could not be found."))
            if len(parts) == 6:
                return self._json(200, jsonapi(self._project_json(), href=path))
            if parts[6:] == ["topFolders"]:
                denied = self._user_denied(headers)
                if denied:
                    return denied
                folders = [
                    self._folder_json(FOLDER_ID, "Project Files"),
                    self._folder_json("urn:adsk.wipprod:fs.folder:co.PlansFolder", "Plans"),
                ]
                return self._json(200, jsonapi(folders, href=path))
        if (
            parts[:3] == ["data", "v1", "projects"]
            and parts[4:5] == ["folders"]
            and parts[6:] == ["contents"]
        ):
            if parts[3] != f"b.{PROJECT_ID}" or not self._project_visible() or parts[5] != FOLDER_ID:
                return self._json(404, dm_error(404, "NOT_FOUND", "The folder could not be found."))
            denied = self._user_denied(headers)
            if denied:
                return denied
            item = {
                "type": "items",
                "id": "urn:adsk.wipprod:dm.lineage:AbCdEf",
                "attributes": {
                    "displayName": "Model.rvt",
                    "extension": {"type": "items:autodesk.bim360:File"},
                },
            }
            return self._json(200, jsonapi([item], href=path))
        return self._json(404, dm_error(404, "NOT_FOUND", "Unknown resource."))

    def _hubs(self, query: dict) -> Answer:
        if self.scenario == "dm_not_enabled":
            return self._json(403, AUTH_001)
        if self.scenario == "rate_limited" or (
            self.scenario == "rate_limited_brief" and not self._throttled_once
        ):
            with self._lock:
                self._throttled_once = True
            return self._json(
                429, {"developerMessage": "Quota limit exceeded."}, **{"Retry-After": str(self.retry_after)}
            )
        if self.scenario == "html_502":
            return 502, "text/html", HTML_502, {}
        if self.scenario == "integration_missing_legacy":
            body = {
                "jsonapi": {"version": "1.0"},
                "errors": [
                    {
                        "id": None,
                        "status": "403",
                        "code": "BIM360DM_ERROR",
                        "title": w["Title"],
                        "detail": w["Detail"],
                    }
                    for w in (dm_warning("US"), dm_warning("EMEA"))
                ],
            }
            return self._json(403, body)
        hubs, warnings, status = self._reachable_hubs()
        wanted = query.get("filter[id]")
        if wanted:
            ids = {i for value in wanted for i in value.split(",")}
            hubs = [h for h in hubs if h["id"] in ids]
        return self._json(status, jsonapi(hubs, warnings=warnings, href="/project/v1/hubs"))

    def _project_visible(self) -> bool:
        """Whether Docs (Data Management) lists the project: only active, Docs-activated projects."""
        return self.scenario not in {"project_not_found", "project_archived", "project_not_in_docs"}

    def _user_denied(self, headers: Any) -> Answer | None:
        user = headers.get("x-user-id")
        active = self.scenario != "user_no_access" and self.member_status == "active"
        if user is None or (user == USER_ID and active):
            return None
        warning = {
            "Id": None,
            "HttpStatusCode": "401",
            "ErrorCode": "BIM360DM_ERROR",
            "Title": "Unable to get the project.",
            "Detail": "You do not have permission to access this project or the project does not exist.",
            "AboutLink": None,
            "Source": None,
            "meta": None,
        }
        return self._json(403, jsonapi([], warnings=[warning]))

    def _other_names(self) -> list[tuple[int, str]]:
        return [
            (n, f"{PROJECT_NAME} (archive {n})" if n % 2 else f"Annex {n:04d}")
            for n in range(1, self.other_projects + 1)
        ]

    def _other_projects_json(self, hub_id: str) -> list[dict[str, Any]]:
        return [
            {
                "type": "projects",
                "id": f"b.{uuid.UUID(int=n)}",
                "attributes": {"name": name, "extension": {"type": "projects:autodesk.bim360:Project"}},
                "links": {"self": {"href": f"/project/v1/hubs/{hub_id}/projects/b.{uuid.UUID(int=n)}"}},
            }
            for n, name in self._other_names()
        ]

    @staticmethod
    def _page(items: list[dict[str, Any]], path: str, query: dict) -> dict[str, Any]:
        """One JSON:API page (`page[number]` from 0, `page[limit]` up to 200), with `links.next` if more."""
        limit = min(200, int((query.get("page[limit]") or ["200"])[0]))
        number = int((query.get("page[number]") or ["0"])[0])
        body = jsonapi(items[number * limit : (number + 1) * limit], href=path)
        if (number + 1) * limit < len(items):
            body["links"]["next"] = {"href": f"{path}?page%5Bnumber%5D={number + 1}&page%5Blimit%5D={limit}"}
        return body

    def _project_json(self) -> dict[str, Any]:
        pid = f"b.{PROJECT_ID}"
        base = f"/project/v1/hubs/b.{ACCOUNT_ID}/projects/{pid}"
        return {
            "type": "projects",
            "id": pid,
            "attributes": {
                "name": PROJECT_NAME,
                "scopes": ["b360project.fake", "O2tenant.fake"],
                "extension": {
                    "type": "projects:autodesk.bim360:Project",
                    "version": "1.0",
                    "data": {"projectType": "ACC"},
                },
            },
            "links": {"self": {"href": base}},
            "relationships": {
                "hub": {"data": {"type": "hubs", "id": f"b.{ACCOUNT_ID}"}},
                "rootFolder": {"data": {"type": "folders", "id": "urn:adsk.wipprod:fs.folder:co.Root"}},
                "topFolders": {"links": {"related": {"href": base + "/topFolders"}}},
            },
        }

    @staticmethod
    def _folder_json(folder_id: str, name: str) -> dict[str, Any]:
        return {
            "type": "folders",
            "id": folder_id,
            "attributes": {
                "name": name,
                "displayName": name,
                "objectCount": 1,
                "hidden": False,
                "extension": {"type": "folders:autodesk.bim360:Folder", "version": "1.0"},
            },
        }

    # ACC account admin

    def _admin(self, path: str, query: dict, headers: Any) -> Answer:
        if self.scenario == "acc_api_not_enabled":
            return self._json(403, AUTH_001)
        if self.scenario == "admin_access_missing":  # the integration lacks Account Administration access
            return self._json(
                403, {"errors": [{"title": "Forbidden", "detail": "Access denied.", "status": "403"}]}
            )
        parts = [p for p in path.split("/") if p]
        account_region = "EMEA" if self.scenario == "other_region" and self.region == "US" else self.region
        if (headers.get("Region") or "US").upper() != account_region:
            return self._json(404, {"code": 1004, "message": "this account doesn't exist."})
        project = self._admin_project_json()
        page = {"pagination": {"limit": 20, "offset": 0, "totalResults": 0}, "results": []}
        if parts[3:4] == ["accounts"] and parts[5:] == ["projects"]:
            if parts[4] != ACCOUNT_ID:
                return self._json(404, {"code": 1004, "message": "this account doesn't exist."})
            name = (query.get("filter[name]") or [""])[0].lower()
            how = (query.get("filterTextMatch") or ["contains"])[0]
            hidden = self.scenario == "project_not_found"
            named = [
                {**project, "id": str(uuid.UUID(int=n)), "name": n_name} for n, n_name in self._other_names()
            ]
            everyone = named + ([] if hidden else [project])
            results = [p for p in everyone if _text_matches(p["name"].lower(), name, how)]
            limit = min(200, int((query.get("limit") or ["20"])[0]))
            offset = int((query.get("offset") or ["0"])[0])
            page["results"] = results[offset : offset + limit]
            page["pagination"] = {"limit": limit, "offset": offset, "totalResults": len(results)}
            if offset + limit < len(results):
                page["pagination"]["nextUrl"] = f"{path}?limit={limit}&offset={offset + limit}"
            return self._json(200, page)
        if parts[3:4] == ["projects"] and len(parts) >= 5:
            if parts[4] != PROJECT_ID or self.scenario == "project_not_found":
                return self._json(
                    404, {"errors": [{"title": "Not Found", "detail": "Project not found.", "status": "404"}]}
                )
            if len(parts) == 5:
                return self._json(200, project)
            if parts[5:] == ["users"]:
                return self._json(200, self._project_users(query))
        return self._json(
            404, {"errors": [{"title": "Not Found", "detail": "Unknown resource.", "status": "404"}]}
        )

    def _project_users(self, query: dict) -> dict[str, Any]:
        """A page of GET projects/{id}/users: `filter[email]` matched as `filterTextMatch` says (`contains`
        by default), members of the statuses `filter[status]` names (active and pending by default), then
        `offset`/`limit` (20 by default)."""
        members = [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, email)),
                "email": email,
                "name": email.split("@")[0],
                "autodeskId": autodesk_id,
                "status": self.member_status if email == USER_EMAIL else "active",
            }
            for email, autodesk_id in [*self.other_members, (USER_EMAIL, USER_ID)]
        ]
        email = (query.get("filter[email]") or [""])[0].lower()
        how = (query.get("filterTextMatch") or ["contains"])[0]
        statuses = (query.get("filter[status]") or ["active,pending"])[0].split(",")  # APS's default
        matching = [
            m for m in members if _text_matches(m["email"].lower(), email, how) and m["status"] in statuses
        ]
        limit = min(200, int((query.get("limit") or ["20"])[0]))
        offset = int((query.get("offset") or ["0"])[0])
        pagination = {"limit": limit, "offset": offset, "totalResults": len(matching)}
        return {"pagination": pagination, "results": matching[offset : offset + limit]}

    def _admin_project_json(self) -> dict[str, Any]:
        return {
            "id": PROJECT_ID,
            "name": PROJECT_NAME,
            "status": "archived" if self.scenario == "project_archived" else "active",
            "accountId": ACCOUNT_ID,
            "platform": "acc",
            "classification": "production",
            "type": "Office",
            "products": [
                {"key": "docs", "status": "active" if self.scenario != "project_not_in_docs" else "inactive"}
            ],
        }

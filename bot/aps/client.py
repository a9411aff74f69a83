"""The APS HTTP client of the live check (httpx, sync).

Two-legged tokens (v2, Basic auth) cached until shortly before they expire, hub lookups that found their
hub cached per client id (the hubs endpoint allows 50 requests/min), one refresh-and-retry on 401, bounded
waits on 429 `Retry-After`, a timeout on every call, and error bodies parsed whatever their shape. Tokens
and secrets never reach a log line, an exception message or a returned object.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from bot.aps.parse import decode_token_info, parse_body, parse_retry_after
from bot.check.ports import ApsError, ApsResponse, ApsWarning, TokenInfo
from bot.diagnosis.redact import MASK, redact

log = logging.getLogger(__name__)

TOKEN_PATH = "/authentication/v2/token"  # noqa: S105 - a URL path
DEFAULT_SCOPES = ("data:read", "account:read")
TOKEN_MARGIN_SECONDS = 60.0  # drop a cached token this long before it expires
HUBS_TTL_SECONDS = 60.0
MAX_RETRIES_429 = 2
PROJECT_PAGE = 200  # the Data Management maximum
MAX_PROJECT_PAGES = 25  # 5,000 projects: past that, pass the project id
MAX_BODY_BYTES = 16 * 1024 * 1024  # a page of 200 projects is well under 1 MB


@dataclass
class _CachedToken:
    value: str = field(repr=False)
    info: TokenInfo
    valid_until: float


@dataclass
class ApsCaches:
    """Token and hub-lookup caches, shareable between client instances (one per process in the bot)."""

    tokens: dict[tuple[str, str, tuple[str, ...]], _CachedToken] = field(default_factory=dict, repr=False)
    hubs: dict[tuple[str, str, str], tuple[float, ApsResponse]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.tokens.clear()
            self.hubs.clear()


class ApsClient:
    """Implements `bot.check.ports.ApsApi` against `base_url` with one app's credentials."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: SecretStr | str,
        *,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        timeout: float = 10.0,
        max_retry_after: float = 10.0,
        caches: ApsCaches | None = None,
        hubs_ttl: float = HUBS_TTL_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        http: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        self.scopes = tuple(scopes)
        self.timeout = timeout
        self.max_retry_after = max_retry_after
        self.caches = caches or ApsCaches()
        self.hubs_ttl = hubs_ttl
        self._sleep = sleep
        self._clock = clock
        self._http = http or httpx.Client(base_url=self.base_url, timeout=timeout)
        self._token_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"ApsClient(base_url={self.base_url!r}, client_id={self.client_id!r})"

    # --- tokens -------------------------------------------------------------------------------------

    @property
    def _token_key(self) -> tuple[str, str, tuple[str, ...]]:
        return (self.base_url, self.client_id, self.scopes)

    def token(self) -> ApsResponse:
        """A two-legged token's description (scopes, expiry), from the cache when still fresh."""
        cached, response = self._cached_or_new_token()
        return (
            response
            if cached is None
            else ApsResponse(200, token=cached.info, from_cache=response.from_cache)
        )

    def _cached_or_new_token(self) -> tuple[_CachedToken | None, ApsResponse]:
        with self._token_lock:
            with self.caches.lock:
                cached = self.caches.tokens.get(self._token_key)
            if cached is not None and cached.valid_until > self._clock():
                return cached, ApsResponse(200, token=cached.info, from_cache=True)
            response, raw = self._fetch_token()
            if raw is None or response.token is None:
                return None, response
            info = response.token
            valid_until = info.expires_at - TOKEN_MARGIN_SECONDS
            cached = _CachedToken(raw, info, valid_until)
            with self.caches.lock:
                self.caches.tokens[self._token_key] = cached
            return cached, response

    def _forget_token(self, value: str) -> None:
        with self.caches.lock:
            cached = self.caches.tokens.get(self._token_key)
            if cached is not None and cached.value == value:
                del self.caches.tokens[self._token_key]

    def _fetch_token(self) -> tuple[ApsResponse, str | None]:
        form = {"grant_type": "client_credentials", "scope": " ".join(self.scopes)}
        auth = (self.client_id, self._secret.get_secret_value())
        response = self._send("POST", TOKEN_PATH, data=form, auth=auth)
        if not response.ok or not isinstance(response.data, dict):
            return response, None
        raw = response.data.get("access_token")
        if not isinstance(raw, str) or not raw:
            return ApsResponse(
                response.status, error=ApsError("", "token response without access_token")
            ), None
        expires_in = response.data.get("expires_in")
        fallback_exp = self._clock() + (float(expires_in) if isinstance(expires_in, int | float) else 3599.0)
        info = decode_token_info(raw, client_id=self.client_id, fallback_exp=fallback_exp)
        return ApsResponse(response.status, token=info), raw

    # --- calls --------------------------------------------------------------------------------------

    def hubs(self, hub_id: str | None = None) -> ApsResponse:
        key = (self.base_url, self.client_id, hub_id or "")
        now = self._clock()
        with self.caches.lock:
            hit = self.caches.hubs.get(key)
        if hit is not None and hit[0] > now:
            return _with_cache_flag(hit[1])
        params = {"filter[id]": hub_id} if hub_id else None
        response = self._get("/project/v1/hubs", params=params)
        if response.ok and hub_id and _lists_hub(response, hub_id):
            # only "the app reaches this hub" is kept: an absent hub (or a list without the project's
            # account) is what an admin is changing, and the report says to re-run the check once they have;
            # warnings beside a found hub are other regions', which the check does not read then
            with self.caches.lock:
                self.caches.hubs[key] = (now + self.hubs_ttl, response)
        return response

    def hub_projects(self, hub_id: str, *, name: str | None = None) -> ApsResponse:
        """The hub's projects, page after page (`links.next`), up to MAX_PROJECT_PAGES; with `name`, the
        pages up to the one holding a project of that name (case-insensitive). A failed page is returned."""
        items: list[dict[str, Any]] = []
        wanted = name.lower() if name is not None else None
        for number in range(MAX_PROJECT_PAGES):
            params = {"page[limit]": str(PROJECT_PAGE), "page[number]": str(number)}
            response = self._get(f"/project/v1/hubs/{hub_id}/projects", params=params)
            if not response.ok:
                return response
            page = response.items
            items.extend(page)
            found = wanted is not None and any(_project_name(p).lower() == wanted for p in page)
            links = response.data.get("links") if isinstance(response.data, dict) else None
            if found or not (isinstance(links, dict) and links.get("next")):
                break
        data = {**response.data, "data": items} if isinstance(response.data, dict) else {"data": items}
        return dataclasses.replace(response, data=data)

    def project(self, hub_id: str, project_id: str) -> ApsResponse:
        return self._get(f"/project/v1/hubs/{hub_id}/projects/{project_id}")

    def top_folders(self, hub_id: str, project_id: str, *, user_id: str | None = None) -> ApsResponse:
        headers = {"x-user-id": user_id} if user_id else None
        return self._get(f"/project/v1/hubs/{hub_id}/projects/{project_id}/topFolders", headers=headers)

    def folder_contents(self, project_id: str, folder_id: str, *, user_id: str | None = None) -> ApsResponse:
        headers = {"x-user-id": user_id} if user_id else None
        return self._get(
            f"/data/v1/projects/{project_id}/folders/{folder_id}/contents",
            params={"page[limit]": "1"},
            headers=headers,
        )

    def admin_project(self, project_guid: str, *, region: str) -> ApsResponse:
        return self._get(f"/construction/admin/v1/projects/{project_guid}", headers={"Region": region})

    def admin_account_projects(self, account_guid: str, *, region: str, name: str) -> ApsResponse:
        return self._get(
            f"/construction/admin/v1/accounts/{account_guid}/projects",
            params={"filter[name]": name, "filterTextMatch": "equals", "limit": "20"},  # exact, any case
            headers={"Region": region},
        )

    def admin_project_users(self, project_guid: str, *, region: str, email: str) -> ApsResponse:
        return self._get(
            f"/construction/admin/v1/projects/{project_guid}/users",
            # `filter[email]` matches partially unless told otherwise: ask for the exact address
            params={"filter[email]": email, "filterTextMatch": "equals", "limit": "20"},
            headers={"Region": region},
        )

    # --- plumbing -----------------------------------------------------------------------------------

    def _get(
        self, path: str, *, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> ApsResponse:
        """GET with a bearer token: refresh once on 401, honour Retry-After via `_send`."""
        refreshed = False
        while True:
            cached, token_response = self._cached_or_new_token()
            if cached is None:  # the call is judged by why the token was refused, not as the endpoint's
                return dataclasses.replace(token_response, token_refused=True)
            auth_headers = {"Authorization": f"Bearer {cached.value}", **(headers or {})}
            response = self._send("GET", path, params=params, headers=auth_headers)
            if response.status == 401 and not refreshed:
                log.info("APS %s answered 401; fetching a new token once", path)
                self._forget_token(cached.value)
                refreshed = True
                continue
            return response

    def _send(self, method: str, path: str, **kwargs: Any) -> ApsResponse:
        for attempt in range(MAX_RETRIES_429 + 1):
            try:
                raw, content = self._exchange(method, path, kwargs)
            except httpx.TimeoutException:
                log.warning("APS %s %s: no answer within %ss", method, path, self.timeout)
                return ApsResponse(0, error=ApsError("", f"no answer within {self.timeout:g} s", "timeout"))
            except httpx.RequestError as exc:
                reason = _reason(exc)
                log.warning("APS %s %s unreachable: %s", method, path, reason)
                return ApsResponse(0, error=ApsError("", reason, "unreachable"))
            data, error, warnings = parse_body(
                raw.status_code, raw.headers.get("content-type", ""), content or b""
            )
            if content is None:  # no APS answer to these calls is that large
                error, warnings = (
                    ApsError("", f"an answer over {MAX_BODY_BYTES:,} bytes, not read", "non-json"),
                    (),
                )
            elif 300 <= raw.status_code < 400:  # not followed: APS redirects none of these calls
                error = ApsError(
                    "", f"redirect to {_without_query(raw.headers.get('location', ''))}", "redirect"
                )
            error, warnings = _scrubbed(error, warnings, _sent_secrets(kwargs))
            retry_after = parse_retry_after(raw.headers.get("retry-after"))
            log.debug("APS %s %s -> %s", method, path, raw.status_code)
            response = ApsResponse(raw.status_code, data, error, warnings, retry_after)
            if raw.status_code != 429:
                return response
            wait = retry_after if retry_after is not None else 1.0
            if wait > self.max_retry_after or attempt == MAX_RETRIES_429:
                return response
            log.info("APS %s rate limited; waiting %.1fs (Retry-After)", path, wait)
            self._sleep(wait)
        return response  # pragma: no cover - the loop always returns

    def _exchange(
        self, method: str, path: str, request: dict[str, Any]
    ) -> tuple[httpx.Response, bytes | None]:
        """The answer and its body (None: over MAX_BODY_BYTES), all within `timeout`: httpx's timeouts bound
        each read, so an answer trickling in a byte at a time would otherwise never time out."""
        deadline = time.monotonic() + self.timeout
        with self._http.stream(method, path, timeout=self.timeout, **request) as raw:
            chunks: list[bytes] = []
            size = 0
            for chunk in raw.iter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    return raw, None
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout(f"the answer took over {self.timeout:g} s")
        return raw, b"".join(chunks)


def _reason(exc: httpx.RequestError) -> str:
    """Why no answer came, as the support team needs it: a refused connection, an unknown host name, or a
    certificate a TLS-inspecting proxy signed tell different fixes apart."""
    detail = " ".join(str(exc).split())[:200]
    text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return redact(text).text


def _without_query(url: str) -> str:
    """A redirect's target without its credentials, query and fragment (a sign-in page's may carry a
    session)."""
    parts = urlsplit(url.strip())
    host = parts.netloc.rpartition("@")[2]
    where = f"{parts.scheme}://{host}{parts.path}" if host else parts.path
    return where[:200] or "nowhere (no Location)"


def _sent_secrets(request: dict[str, Any]) -> list[str]:
    """What a request carried that an answer must not repeat: the client secret, its Basic header value, the
    bearer token."""
    secrets = []
    auth = request.get("auth")
    if isinstance(auth, tuple) and len(auth) == 2:
        secrets += [auth[1], base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()]
    authorization = (request.get("headers") or {}).get("Authorization", "")
    if authorization.startswith("Bearer "):
        secrets.append(authorization.removeprefix("Bearer "))
    return [s for s in secrets if s]


def _scrub(text: str, secrets: list[str]) -> str:
    """`text` with the request's own secrets and anything secret-shaped blanked: an error body may echo the
    header it refused, and its words reach the report, which can be shared in a channel."""
    for secret in secrets:
        text = text.replace(secret, MASK)
        cut = next((k for k in range(min(len(secret), len(text)), 7, -1) if text.endswith(secret[:k])), 0)
        text = text[: len(text) - cut] + MASK if cut else text  # the excerpt ended inside it
    return redact(text).text if text else text


def _scrubbed(
    error: ApsError | None, warnings: tuple[ApsWarning, ...], secrets: list[str]
) -> tuple[ApsError | None, tuple[ApsWarning, ...]]:
    def scrub(text: str) -> str:
        return _scrub(text, secrets)

    if error is not None:
        error = dataclasses.replace(error, code=scrub(error.code), message=scrub(error.message))
    warnings = tuple(dataclasses.replace(w, title=scrub(w.title), detail=scrub(w.detail)) for w in warnings)
    return error, warnings


def _lists_hub(response: ApsResponse, hub_id: str) -> bool:
    return any(str(item.get("id", "")).lower() == hub_id.lower() for item in response.items)


def _project_name(item: dict[str, Any]) -> str:
    return str((item.get("attributes") or {}).get("name") or "")


def _with_cache_flag(response: ApsResponse) -> ApsResponse:
    return ApsResponse(
        response.status,
        response.data,
        response.error,
        response.warnings,
        response.retry_after,
        from_cache=True,
    )

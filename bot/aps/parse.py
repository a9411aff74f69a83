"""Parse APS answers whatever their shape: gateway JSON, OAuth JSON, JSON:API errors/warnings, text, HTML.

APS error bodies drift (`moreInfo` vs `"more info"`, `Title` vs `title`, JSON served as text/plain), so
keys are matched case-insensitively and only codes and messages are kept.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

from bot.check.ports import ApsError, ApsWarning, TokenInfo

AUTH_CODE = re.compile(r"\bAUTH-\d{3}\b")
# Plain-text answers APS sends without their code: a 403 text/plain "Token does not have the privilege for
# this request." (https://aps.autodesk.com/blog/401-unauthorized-403-forbidden) is AUTH-010, as its JSON says.
PLAIN_CODES = (
    ("does not have the privilege for this request", "AUTH-010"),
    ("does not have the required privilege", "AUTH-010"),  # "Token scope not set. This request does not …"
)
HTML_TITLE = re.compile(r"<title>\s*([^<]{1,120}?)\s*</title>", re.IGNORECASE)
EXCERPT = 300


def _get(mapping: dict[str, Any], *names: str) -> Any:
    """The first of `names` present in `mapping`, compared case-insensitively and ignoring spaces/_."""
    wanted = {n.lower().replace("_", "").replace(" ", "") for n in names}
    for key, value in mapping.items():
        normalised = key.lower().replace("_", "").replace(" ", "") if isinstance(key, str) else None
        if normalised in wanted and value not in (None, ""):
            return value
    return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def parse_warnings(body: Any) -> tuple[ApsWarning, ...]:
    """`meta.warnings[]` and `errors[]` of a JSON:API body as `ApsWarning`s."""
    if not isinstance(body, dict):
        return ()
    found: list[ApsWarning] = []
    meta = _get(body, "meta")
    lists = [_get(meta, "warnings") if isinstance(meta, dict) else None, _get(body, "errors")]
    for entries in lists:
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, dict):
                found.append(
                    ApsWarning(
                        status=_text(_get(entry, "HttpStatusCode", "status")),
                        code=_text(_get(entry, "ErrorCode", "code")),
                        title=_text(_get(entry, "Title")),
                        detail=_text(_get(entry, "Detail")),
                    )
                )
    return tuple(found)


def _json_error(body: Any, warnings: tuple[ApsWarning, ...]) -> ApsError:
    if not isinstance(body, dict):
        return ApsError("", "unexpected JSON body", "json")
    code = _get(body, "errorCode", "error_code")
    if code is None and isinstance(_get(body, "error"), str):
        code = _get(body, "error")
    if code is None and isinstance(_get(body, "code"), str | int):
        code = _get(body, "code")
    message = _get(body, "developerMessage", "error_description", "userMessage", "message", "detail")
    if warnings:
        code = code or warnings[0].code
        message = message or warnings[0].detail or warnings[0].title
    return ApsError(_text(code), _text(message)[:EXCERPT], "json")


def parse_body(
    status: int, content_type: str, content: bytes
) -> tuple[Any, ApsError | None, tuple[ApsWarning, ...]]:
    """(parsed JSON or None, error if status ≥ 400, warnings) from a raw HTTP answer.

    A success without a JSON body is no APS answer either (every endpoint the check calls answers JSON): a
    proxy's sign-in page or an empty 200 gets a `non-json` error, so it is never read as an empty list."""
    text = content.decode("utf-8", errors="replace").strip()
    failed = status >= 400
    if not text:
        return None, ApsError("", "empty body", "empty" if failed else "non-json"), ()
    data: Any = None
    if text[:1] in "{[":
        try:
            data = json.loads(text)
        except ValueError:
            data = None
    if data is not None:
        warnings = parse_warnings(data)
        return data, (_json_error(data, warnings) if failed else None), warnings
    lowered = text[:300].lower()
    # a page is markup: APS's bare text (AUTH-010's sentence) may come under an HTML content type too
    markup = lowered.startswith(("<!doctype", "<html")) or "<body" in lowered
    if markup or ("html" in content_type.lower() and lowered.startswith("<")):
        title = HTML_TITLE.search(text)
        page = f": {title.group(1)}" if title else ""
        return None, ApsError("", f"non-JSON body (HTML page{page})", "html" if failed else "non-json"), ()
    if not failed:
        return None, ApsError("", "non-JSON body", "non-json"), ()
    found = AUTH_CODE.search(text)
    code = found.group(0) if found else next((c for words, c in PLAIN_CODES if words in lowered), "")
    return None, ApsError(code, text[:EXCERPT], "text"), ()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds only; HTTP dates are not used by APS)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None  # "nan" would make sleep() raise


def decode_token_info(token: str, *, client_id: str, fallback_exp: float) -> TokenInfo:
    """Granted scopes, client id and expiry from a JWT payload (base64url; the signature is not checked)."""
    payload: dict[str, Any] = {}
    parts = token.split(".")
    if len(parts) == 3:
        segment = parts[1] + "=" * (-len(parts[1]) % 4)
        try:
            decoded = json.loads(base64.urlsafe_b64decode(segment))
            payload = decoded if isinstance(decoded, dict) else {}
        except (ValueError, binascii.Error):
            payload = {}
    scope = payload.get("scope", [])
    scopes = tuple(scope.split()) if isinstance(scope, str) else tuple(str(s) for s in scope or ())
    exp = payload.get("exp")
    return TokenInfo(
        client_id=str(payload.get("client_id") or client_id),
        scopes=scopes,
        expires_at=float(exp) if isinstance(exp, int | float) else fallback_exp,
    )

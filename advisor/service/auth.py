"""Protection of the write endpoints: bearer token, JSON only, no cross-site requests.

Reads are open. Writes need ``Authorization: Bearer <ADVISOR_API_TOKEN>``, compared in constant
time; in local mode without a token (see :mod:`advisor.vocabulary.settings`) writes are open.
The token is never logged or echoed.

Open writes on 127.0.0.1 would let any web page the user visits write to the service (a form
or a ``fetch`` with a ``text/plain`` body needs no CORS preflight). So every write also
(1) refuses a browser request from another origin: its ``Origin`` must be one of
``ADVISOR_CORS_ORIGINS`` or the service's own, and in local mode the service's own only under
a loopback name (a page that rebinds its DNS name to 127.0.0.1 keeps its own name), 403; and
(2) takes a body only as ``application/json`` (which a page can send elsewhere only after a
preflight the service refuses), 415. Clients that are not browsers send no ``Origin``.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from advisor.vocabulary.errors import AdvisorError
from advisor.vocabulary.settings import Settings, is_loopback

_bearer = HTTPBearer(auto_error=False, description="ADVISOR_API_TOKEN (write endpoints)")
JSON = "application/json"


class AuthError(AdvisorError, PermissionError):
    """A write request without the right bearer token."""


class CrossSiteError(AdvisorError, PermissionError):
    """A write request a browser sent from a page of another origin."""


class MediaTypeError(AdvisorError, ValueError):
    """A write request whose body is not JSON."""


def token_ok(settings: Settings, given: str | None) -> bool:
    """True when ``given`` is the configured token (or writes are open in local mode)."""
    if settings.api_token is None:
        return settings.writes_open
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"),
                               settings.api_token.get_secret_value().encode("utf-8"))


def origin_ok(settings: Settings, origin: str | None, host: str | None) -> bool:
    """Whether a write may come from a page of ``origin`` (None: not a browser) to ``host``
    (the request's ``Host`` header)."""
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if origin in {o.strip().rstrip("/").lower() for o in settings.cors_origins}:
        return True
    host = (host or "").strip().lower()
    if not host or origin not in (f"http://{host}", f"https://{host}"):
        return False
    if not settings.effective_local_mode:
        return True
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return is_loopback(name)


def json_body_ok(request: Request) -> bool:
    """A body, if any, is declared ``application/json`` (parameters such as charset allowed)."""
    declared = request.headers.get("content-type")
    has_body = (request.headers.get("content-length", "0") not in ("", "0")
                or "transfer-encoding" in request.headers)
    if declared is None:
        return not has_body
    return declared.split(";", 1)[0].strip().lower() == JSON


def require_writer(request: Request, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    settings: Settings = request.app.state.settings
    origin = request.headers.get("origin")
    if not origin_ok(settings, origin, request.headers.get("host")):
        raise CrossSiteError(
            "writes from a web page of another origin are refused, got Origin "
            f"{(origin or '')[:100]!r}"
            "; allowed: this service's own origin and ADVISOR_CORS_ORIGINS")
    if not json_body_ok(request):
        raise MediaTypeError(
            "a write's body must be JSON, got Content-Type "
            f"{request.headers.get('content-type', '(none)')[:100]!r}; allowed: {JSON}")
    if not token_ok(settings, credentials.credentials if credentials else None):
        raise AuthError("this endpoint writes and needs 'Authorization: Bearer <token>' "
                        "(ADVISOR_API_TOKEN); got "
                        + ("a wrong token" if credentials else "no bearer token"))


WriterDep = Depends(require_writer)

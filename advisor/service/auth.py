"""Bearer-token protection of the write endpoints.

Reads are open. Writes need ``Authorization: Bearer <ADVISOR_API_TOKEN>``, compared in constant
time; in local mode without a token (see :mod:`advisor.vocabulary.settings`) writes are open. The
token is never logged or echoed.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from advisor.vocabulary.errors import AdvisorError
from advisor.vocabulary.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="ADVISOR_API_TOKEN (write endpoints)")


class AuthError(AdvisorError, PermissionError):
    """A write request without the right bearer token."""


def token_ok(settings: Settings, given: str | None) -> bool:
    """True when ``given`` is the configured token (or writes are open in local mode)."""
    if settings.api_token is None:
        return settings.writes_open
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"),
                               settings.api_token.get_secret_value().encode("utf-8"))


def require_writer(request: Request, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    settings: Settings = request.app.state.settings
    if not token_ok(settings, credentials.credentials if credentials else None):
        raise AuthError("this endpoint writes and needs 'Authorization: Bearer <token>' "
                        "(ADVISOR_API_TOKEN); got "
                        + ("a wrong token" if credentials else "no bearer token"))


WriterDep = Depends(require_writer)

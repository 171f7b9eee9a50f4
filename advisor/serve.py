"""Running the HTTP service (uvicorn): settings checked for the real host, logging configured.

For :mod:`advisor.cli`'s ``serve``: ``run(get_settings(), host=host, port=port)``. A CLI
``--host`` goes through the same start-up checks as ``ADVISOR_HOST`` (a non-loopback host with
write endpoints and no token refuses to start).
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from advisor.errors import InvalidInputError
from advisor.settings import Settings


def effective_settings(settings: Settings, *, host: str | None = None,
                       port: int | None = None) -> Settings:
    """``settings`` with CLI overrides, validated again (raises InvalidInputError)."""
    values = settings.model_dump()
    values.update({k: v for k, v in (("host", host), ("port", port)) if v is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as e:
        raise InvalidInputError("; ".join(str(err["msg"]) for err in e.errors()),
                                parameter="host") from e


def run(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    from advisor.api import create_app
    from advisor.observability import configure_logging

    settings = effective_settings(settings, host=host, port=port)
    configure_logging(as_json=settings.log_json)
    if settings.writes_open:
        logging.getLogger(__name__).warning(
            "local mode: write endpoints are open without a token on %s", settings.host)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_config=None, access_log=False)

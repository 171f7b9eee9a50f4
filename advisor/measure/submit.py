"""Sending measured rows to a quant-advisor server (``POST <url>/v1/measurements``)."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable

from advisor.vocabulary.errors import AdvisorError
from advisor.vocabulary.schema import Row

log = logging.getLogger(__name__)


class SubmitError(AdvisorError, RuntimeError):
    """The server did not accept the rows; the message says why."""


def submit_rows(url: str, rows: Iterable[Row], *, timeout_s: float = 30.0) -> int:
    """POST ``{"rows": [...]}`` as JSON; returns the HTTP status on success (2xx)."""
    endpoint = url.rstrip("/") + "/v1/measurements"
    if not endpoint.startswith(("http://", "https://")):
        raise SubmitError(f"--submit must be an http(s) URL, got {url!r}")
    body = json.dumps({"rows": [r.model_dump(mode="json") for r in rows]}).encode()
    request = urllib.request.Request(endpoint, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        if e.code in (404, 405):
            raise SubmitError(f"the server at {url} does not accept measurements "
                              f"(POST {endpoint} answered {e.code}); rows were only written "
                              "to files") from e
        raise SubmitError(f"POST {endpoint} failed with HTTP {e.code}: {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise SubmitError(f"the server at {url} does not accept measurements: could not "
                          f"connect to {endpoint} ({reason}); rows were only written to files"
                          ) from e

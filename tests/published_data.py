"""The published inputs the importers read, for the tests that re-import them: the team's shared
data folder (``../shared/data`` or ``$ADVISOR_SHARED_DATA``) with ``measurements/gathered/``
laid over it (:func:`advisor.data.importers.published.published_tree`)."""

from __future__ import annotations

import atexit
import os
from contextlib import ExitStack
from functools import cache
from pathlib import Path

import pytest

from advisor.data.importers.published import published_tree

SHARED = Path(os.environ.get("ADVISOR_SHARED_DATA",
                             Path(__file__).resolve().parents[1].parent / "shared" / "data"))
needs_shared = pytest.mark.skipif(not (SHARED / "quality").is_dir(),
                                  reason=f"no shared data at {SHARED}")


@cache
def published_dir() -> Path:
    """One merged tree for the whole test session, removed at exit."""
    stack = ExitStack()
    atexit.register(stack.close)
    return stack.enter_context(published_tree(SHARED))

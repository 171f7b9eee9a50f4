"""What a retraining job is, as the routes and the error answers see it: its record, the lease
it holds, and the error when another job holds that lease."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from advisor.vocabulary.errors import AdvisorError

#: The name of the database lease a running retraining holds (one at a time, every replica).
LOCK = "retrain"


class RetrainBusyError(AdvisorError, RuntimeError):
    """Another retraining holds the lock."""


@dataclass(frozen=True)
class Job:
    id: str
    state: Literal["running", "promoted", "kept", "failed"]
    started: str
    finished: str | None = None
    version: str | None = None
    message: str = ""

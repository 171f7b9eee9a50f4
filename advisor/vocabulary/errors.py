"""The project's error hierarchy.

Library code raises these; the API turns them into 4xx answers and the CLI into exit codes.
Messages say *what* was wrong, what was *given* and what is *allowed*.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AdvisorError(Exception):
    """Base class of every error this project raises on purpose."""


class InvalidInputError(AdvisorError, ValueError):
    """A value given by a user or a caller is not acceptable."""

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class UnknownNameError(InvalidInputError, KeyError):
    """A name (quant, model, hardware, task) that is not in its table."""

    def __init__(self, kind: str, given: str, known: Iterable[str], *,
                 parameter: str | None = None) -> None:
        known = sorted(set(known), key=str.lower)
        close = difflib.get_close_matches(given.upper(), [k.upper() for k in known], n=3,
                                          cutoff=0.6)
        by_upper = {k.upper(): k for k in known}
        hint = f" Did you mean {', '.join(repr(by_upper[c]) for c in close)}?" if close else ""
        listing = ", ".join(known) if len(known) <= 60 else ", ".join(known[:60]) + ", ..."
        message = f"unknown {kind} {given!r}.{hint} Known: {listing}"
        super().__init__(message, parameter=parameter)
        self.kind = kind
        self.given = given
        self.suggestions = [by_upper[c] for c in close]

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class DataFileError(AdvisorError, ValueError):
    """A data file (measurements, catalog) is malformed; the message names file and line."""

    def __init__(self, path: object, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line


class ArtifactError(AdvisorError, RuntimeError):
    """A saved model artifact is missing, corrupt, or built with other library versions."""


class NothingFitsError(AdvisorError):
    """No candidate fits the constraints; carries the smallest budget that would."""

    def __init__(self, message: str, *, smallest_budget_bytes: int | None) -> None:
        super().__init__(message)
        self.smallest_budget_bytes = smallest_budget_bytes

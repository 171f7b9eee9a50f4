"""Computed file sizes next to published ones: the check of
:func:`advisor.data.weights.weights_bytes` against uploaders' files (``gguf_files.csv``)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from advisor.data.arch import CatalogArchitectures
from advisor.data.gguf_files import PublishedFile
from advisor.data.weights import weights_bytes
from advisor.vocabulary.errors import AdvisorError


@dataclass(frozen=True)
class SizeCheck:
    """A published file next to the size computed for it (None, with ``problem``, when the
    catalog cannot describe the model)."""

    file: PublishedFile
    predicted_bytes: int | None
    problem: str = ""

    @property
    def error(self) -> float:
        """predicted / published - 1 (fraction)."""
        if self.predicted_bytes is None:
            raise ValueError(f"no prediction for {self.file.file}: {self.problem}")
        return self.predicted_bytes / self.file.size_bytes - 1


def check_sizes(files: list[PublishedFile], archs: CatalogArchitectures) -> list[SizeCheck]:
    """:func:`weights_bytes` for every catalog model's published file, made with the file's
    options."""
    out = []
    for f in files:
        if not f.model:
            out.append(SizeCheck(f, None, "not in the catalog"))
            continue
        try:
            predicted = weights_bytes(archs.get(f.model), f.quant, f.options)
        except AdvisorError as e:
            out.append(SizeCheck(f, None, str(e)))
            continue
        out.append(SizeCheck(f, predicted))
    return out


def summarise(checks: list[SizeCheck]) -> dict[str, float]:
    """Files, models, median and worst absolute error (fractions) of checks with a
    prediction."""
    errors = [abs(c.error) for c in checks if c.predicted_bytes is not None]
    return {"files": len(errors),
            "models": len({c.file.model for c in checks if c.predicted_bytes is not None}),
            "median_abs_error": statistics.median(errors) if errors else float("nan"),
            "worst_abs_error": max(errors, default=float("nan"))}

"""Each candidate row's full-precision capability, from the fitted capability table.

The table (``models/capability.csv``, :mod:`advisor.predictors.capability`) has one entry per
catalog model and mode it answers in, on one 0-100 scale per category (the category's anchor
benchmark). A candidate row's mode is ``thinking`` or ``non-thinking``; gpt-oss-style models
whose reasoning is set by effort are fitted as ``high`` and ``low`` effort, which is what
those two modes run as (:mod:`advisor.recommender.launch` passes ``--reasoning-effort``).
A model the table does not hold (one a user added after training) has no capability: its
rows stay unranked and the answer says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from advisor.data.catalog import ModelSpec

#: (model, fitted mode) -> category -> score (``CapabilityScore``: value, low, high, ...)
CapabilityTable = Mapping[tuple[str, str], Mapping[str, Any]]
_EFFORT = {"thinking": "high", "non-thinking": "low"}


def fitted_mode(spec: ModelSpec, mode: str) -> str:
    """The capability table's mode for a candidate row of ``spec`` run in ``mode``."""
    return _EFFORT[mode] if spec.modes == "reasoning_effort" else mode


def describe(score: Any) -> str:
    """Where a capability figure comes from: its scale (anchor benchmark) and sources."""
    return f"{score.sources}; scale: {score.anchor}"


def capability_columns(table: CapabilityTable, specs: Mapping[str, ModelSpec],
                       models: np.ndarray, modes: np.ndarray, category: str
                       ) -> dict[str, np.ndarray]:
    """Columns ``cap``, ``cap_low``, ``cap_high``, ``cap_prov``, ``cap_src`` (suffixed
    ``:<category>``) for rows (``models``, ``modes``); NaN / None where the table has none."""
    n = len(models)
    value, low, high = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    prov: list[str | None] = [None] * n
    src: list[str | None] = [None] * n
    for i, (model, mode) in enumerate(zip(models, modes, strict=True)):
        score = table.get((model, fitted_mode(specs[model], mode)), {}).get(category)
        if score is not None:
            value[i], low[i], high[i] = score.value, score.low, score.high
            prov[i], src[i] = str(getattr(score.provenance, "value", score.provenance)), \
                describe(score)
    return {f"cap:{category}": value, f"cap_low:{category}": low,
            f"cap_high:{category}": high, f"cap_prov:{category}": np.array(prov, dtype=object),
            f"cap_src:{category}": np.array(src, dtype=object)}

"""Choosing among ranked candidates: the Pareto front of quality against memory, and
alternatives that show other models before other quants of the pick's."""

from __future__ import annotations

import numpy as np


def diverse_alternatives(order: np.ndarray, codes: np.ndarray, pick: int, n: int) -> list[int]:
    """Of the ranked candidates ``order`` (best first, the pick left out): the best candidate
    of each other model first, then other quants, ``n`` in all.

    ``codes`` numbers the models (one integer per candidate row), so this is array work.
    """
    models = codes[order]
    first = np.zeros(len(order), dtype=bool)
    first[np.unique(models, return_index=True)[1]] = True
    first &= models != codes[pick]
    return np.concatenate((order[first], order[~first]))[:n].tolist()  # type: ignore[no-any-return]


def pareto_front(indices: np.ndarray, score: np.ndarray, total: np.ndarray,
                 min_gain: float = 0.0) -> list[int]:
    """Indices not dominated in (higher score, lower memory), ordered by memory; with
    ``min_gain``, a point is kept only if it scores more than ``min_gain`` above the last one
    kept (steps smaller than a tie are not worth drawing or sending)."""
    order = indices[np.lexsort((-score[indices], total[indices]))]
    s = score[order]
    best_before = np.maximum.accumulate(np.concatenate(([-np.inf], s[:-1])))
    strict = order[s > best_before]
    if min_gain <= 0:
        return [int(i) for i in strict]
    kept: list[int] = []
    last = -np.inf
    for i, value in zip(strict.tolist(), score[strict].tolist(), strict=True):
        if value > last + min_gain:
            kept.append(i)
            last = value
    return kept

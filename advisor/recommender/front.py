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


def pareto_front(indices: np.ndarray, score: np.ndarray, total: np.ndarray) -> list[int]:
    """Indices not dominated in (higher score, lower memory), ordered by memory."""
    order = indices[np.lexsort((-score[indices], total[indices]))]
    s = score[order]
    best_before = np.maximum.accumulate(np.concatenate(([-np.inf], s[:-1])))
    return [int(i) for i in order[s > best_before]]

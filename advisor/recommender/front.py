"""Choosing among ranked candidates: the Pareto front of quality against memory, and
alternatives that show other models before other quants of the pick's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


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


class FrontCache(Generic[T]):
    """Pareto fronts by request shape: a front does not depend on the budget (only which of its
    points fit does), so requests that differ only in ``vram`` share one. Bounded: emptied
    when it holds ``size`` fronts."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._fronts: dict[tuple[object, ...], np.ndarray] = {}
        self._points: dict[tuple[object, ...], tuple[list[T], list[T]]] = {}

    def get(self, key: tuple[object, ...] | None, indices: np.ndarray, score: np.ndarray,
            total: np.ndarray, min_gain: float) -> np.ndarray:
        """The front of ``indices`` (see :func:`pareto_front`), from the cache when ``key``
        was seen; ``key`` None: computed, not kept."""
        found = self._fronts.get(key) if key is not None else None
        if found is None:
            found = np.asarray(pareto_front(indices, score, total, min_gain), dtype=np.intp)
            if key is not None:
                if len(self._fronts) >= self.size:
                    self._fronts.clear()
                    self._points.clear()
                self._fronts[key] = found
        return found

    def points(self, key: tuple[object, ...] | None, front: np.ndarray, fits: np.ndarray,
               make: Callable[[int, bool], T]) -> list[T]:
        """The answer's points of ``front`` (``make(row, fits)``), built once per ``key`` for
        both values of ``fits`` and shared by later requests of that shape (never changed
        after they are made)."""
        built = self._points.get(key) if key is not None else None
        if built is None:
            rows = front.tolist()
            built = ([make(i, False) for i in rows], [make(i, True) for i in rows])
            if key is not None:
                self._points[key] = built
        return [built[1][j] if fit else built[0][j]
                for j, fit in enumerate(fits[front].tolist())]

"""A bounded cache of serialised ``/recommend`` answers, keyed on the normalised query.

An answer depends only on the validated query (:class:`advisor.recommender.advisor.Query`) and on
the serving :class:`~advisor.recommender.advisor.Advisor` (its predictors, catalog and data, fixed
once loaded). So the cache stores the answer's JSON bytes, ready to send, under :func:`query_key`,
and belongs to one advisor at a time: a lookup or store for any other advisor (a promoted or
rolled-back predictor version) empties it first, and :meth:`AnswerCache.clear` does so explicitly on
a swap. A request still computing with the old advisor after a swap stores nothing, so an answer is
never served by a version that did not compute it.

Least recently used entries go first once ``max_entries`` are held (``0`` disables caching).
Only successful answers are cached; errors are computed each time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from advisor.recommender.query import Query

QueryKey = tuple[Hashable, ...]


def query_key(query: Query) -> QueryKey:
    """Everything in ``query`` the answer depends on, hashable and in the answer's order.

    The task mix keeps its order (the answer lists categories in it) and the budget keeps its
    text (the answer echoes it), so two queries share a key only if their answers are equal.
    """
    hardware = query.hardware.model_dump_json() if query.hardware is not None else None
    return (query.budget_bytes, query.budget_text,
            tuple((c.value, w) for c, w in query.mix.items()), query.context,
            query.cache_type, hardware, query.min_tokens_per_s, query.family, query.models,
            query.n_alternatives, query.mode, query.thinking_context, query.context_given,
            query.ram_bytes, query.ram_bandwidth_gbs)


class AnswerCache:
    """LRU of answer bytes for one owner (the serving advisor); thread-safe."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        self.max_entries = max_entries
        self.hits = self.misses = 0
        self._owner: object | None = None
        self._entries: OrderedDict[QueryKey, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, owner: object, key: QueryKey) -> bytes | None:
        """The cached answer of ``owner`` for ``key``, or None (a miss)."""
        with self._lock:
            if self._owner is not owner:
                self._reset(owner)
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, owner: object, key: QueryKey, value: bytes) -> None:
        """Keep ``value`` unless ``owner`` is no longer the one this cache serves."""
        if self.max_entries == 0:
            return
        with self._lock:
            if self._owner is not owner:
                return  # computed by an advisor swapped out meanwhile
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every answer (the serving predictor version changed)."""
        with self._lock:
            self._reset(None)

    def _reset(self, owner: object | None) -> None:
        self._owner = owner
        self._entries.clear()

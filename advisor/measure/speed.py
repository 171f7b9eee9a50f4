"""Throughput like llama-bench: pp<N> (one prompt of N random tokens, logits for the last one
only) and tg<N> (N single-token decodes), optionally at a depth (KV cache already holding
``depth`` tokens). One warm-up run, then ``repeats`` timed runs; raw values are kept.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from advisor.measure.llama_backend import LlamaSession
from advisor.vocabulary.schema import parse_test


@dataclass(frozen=True)
class SpeedResult:
    """Tokens per second of one test over ``repeats`` runs (raw values in run order)."""

    test: str
    raw_tokens_per_s: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.raw_tokens_per_s)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.raw_tokens_per_s)

    @property
    def stdev(self) -> float:
        vals = self.raw_tokens_per_s
        return statistics.stdev(vals) if len(vals) > 1 else 0.0

    @property
    def cv(self) -> float:
        """Coefficient of variation (stdev / mean)."""
        return self.stdev / self.mean


def context_for(tests: list[str]) -> int:
    """Context size (tokens) that holds the largest test."""
    return max(sum(parse_test(t)[i] for i in range(3)) for t in tests)


def _random_tokens(session: LlamaSession, n: int, seed: int) -> list[int]:
    return np.random.default_rng(seed).integers(0, session.n_vocab, n).tolist()


def _fill(session: LlamaSession, depth: int) -> None:
    session.clear()
    if depth:
        session.decode(_random_tokens(session, depth, 7), 0, out_from=depth)


def _time_once(session: LlamaSession, n_prompt: int, n_gen: int, depth: int, seed: int
               ) -> float:
    if not session.truncate(depth):  # a recurrent state cannot be rolled back: decode it again
        _fill(session, depth)
    tokens = _random_tokens(session, max(n_prompt, n_gen), seed)
    t0 = time.perf_counter()
    if n_prompt:
        session.decode(tokens[:n_prompt], depth)
    for i in range(n_gen):
        session.decode([tokens[i]], depth + n_prompt + i)
    session.synchronize()
    return (n_prompt + n_gen) / (time.perf_counter() - t0)


def timed_runs(session: LlamaSession, test: str) -> Iterator[float]:
    """Tokens/s of one run of ``test`` after another, without end, after one warm-up run.

    The depth prefix is decoded once, untimed; each run then drops positions past it (a model
    with recurrent layers, whose state cannot be rolled back, decodes the prefix again, untimed).
    """
    n_prompt, n_gen, depth = parse_test(test)
    if depth + n_prompt + n_gen > session.n_ctx:
        raise ValueError(f"test {test} needs a context of {depth + n_prompt + n_gen} tokens, "
                         f"the session has {session.n_ctx}")
    _fill(session, depth)
    _time_once(session, n_prompt, n_gen, depth, seed=0)  # warm-up
    for seed in itertools.count(1):
        yield _time_once(session, n_prompt, n_gen, depth, seed=seed)


def run_test(session: LlamaSession, test: str, repeats: int) -> SpeedResult:
    """Time ``test`` (``pp512``, ``tg128``, ``tg128@d2048``) ``repeats`` times after one warm-up
    run (see :func:`timed_runs`)."""
    return SpeedResult(test, tuple(itertools.islice(timed_runs(session, test), repeats)))

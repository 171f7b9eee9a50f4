"""Turning a row of the candidate table into the typed :class:`Candidate` of an answer.

What does not depend on the request (a row's bits per weight, its per-category retention,
capability and quality figures) is built once per row and kept: figures are frozen, so one
object serves every answer that shows the row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from advisor.recommender.results import SPEED_TESTS, Candidate, Figure, MemoryFigures

if TYPE_CHECKING:
    from advisor.recommender.candidates import CandidateTable
    from advisor.recommender.query import Query


class Scores(NamedTuple):
    """Request-weighted quality of every candidate row (:meth:`Advisor.weighted_quality`):
    ``score`` = sum of task weight x capability x retention x the KV cache's cost, ``low`` /
    ``high`` its 90% bounds (capability, retention and cache cost at their bounds),
    ``cap_total`` the weighted capability, ``ret_low`` / ``ret_high`` the weighted sums with
    only retention (and cache cost) at their bounds."""

    score: np.ndarray
    low: np.ndarray
    high: np.ndarray
    cap_total: np.ndarray
    ret_low: np.ndarray
    ret_high: np.ndarray


def cache_note(cache_type: str, cost: Figure | None) -> list[str]:
    """The answer's note on what a quantized KV cache costs (none for f16)."""
    if cache_type == "f16":
        return []
    if cost is None:
        return [f"no published rows price a {cache_type} KV cache: its quality cost is taken "
                "as none"]
    return [f"{cache_type} KV cache: every candidate's retention x {cost.value:.3f} "
            f"[{cost.low:.3f}-{cost.high:.3f}] ({cost.source})"]


class _TaskFigures(NamedTuple):
    """A candidate's figures for one task category (independent of the request)."""

    retention: Figure
    capability: Figure
    quality: Figure
    provenance: str


class RowFigures:
    """Builds :class:`Candidate` objects from rows of ``table`` (cached per row)."""

    def __init__(self, table: CandidateTable) -> None:
        self.table = table
        cols = table.arrays
        self._models: list[str] = [str(m) for m in cols["model"]]
        self._quants: list[str] = [str(q) for q in cols["quant"]]
        self._params_b: list[float] = [float(p) for p in cols["params_b"]]
        self._bpw: list[float] = [float(b) for b in cols["bpw"]]
        self._bpw_figures: dict[int, Figure] = {}
        self._task_figures: dict[tuple[int, str], _TaskFigures] = {}

    def candidate(self, i: int, query: Query, memory: dict[str, np.ndarray],
                   speed: dict[str, np.ndarray] | None, scores: Scores, fits: np.ndarray
                   ) -> Candidate:
        cols = self.table.arrays
        version = f"quality predictor {self.table.predictor_version}"
        tasks = {c.value: self._figures_of(i, c.value) for c in query.mix}
        provs = {t.provenance for t in tasks.values()}
        prov = "predicted" if "predicted" in provs else sorted(provs)[0]
        quality_by = {c: t.quality for c, t in tasks.items()}
        retention_by = {c: t.retention for c, t in tasks.items()}
        capability_by = {c: t.capability for c, t in tasks.items()}
        speed_figs = {}
        if speed is not None:
            for test in SPEED_TESTS:
                speed_figs[test] = Figure(
                    value=float(speed[f"tps:{test}"][i]), low=_opt(speed[f"tps_low:{test}"][i]),
                    high=_opt(speed[f"tps_high:{test}"][i]), unit="tokens/s",
                    provenance=str(speed[f"tps_prov:{test}"][i]),  # type: ignore[arg-type]
                    source=f"{speed[f'tps_src:{test}'][i]} on {query.hardware.name}")  # type: ignore[union-attr]
        assumptions = memory["assumptions"][i] if "assumptions" in memory else []
        return Candidate(
            model=self._models[i], mode=str(cols["mode"][i]), family=str(cols["family"][i]),
            params_b=self._params_b[i], quant=self._quants[i],
            quant_family=str(cols["quant_family"][i]),
            bpw=self._bpw_figure_of(i),
            file_bytes=int(cols["file_bytes"][i]),
            memory=MemoryFigures(
                weights_bytes=int(memory["weights_bytes"][i]),
                kv_cache_bytes=int(memory["kv_cache_bytes"][i]),
                compute_buffer_bytes=int(memory["compute_buffer_bytes"][i]),
                overhead_bytes=int(memory["overhead_bytes"][i]),
                total_bytes=int(memory["total_bytes"][i]),
                context=int(memory["context"][i]), cache_type=query.cache_type,
                assumptions=list(assumptions or [])),
            fits=bool(fits[i]),
            quality_score=Figure(value=float(scores.score[i]), low=float(scores.low[i]),
                                 high=float(scores.high[i]),
                                 unit="score 0-100", provenance="computed",
                                 source=f"sum of task weight x capability x retention ({prov}, "
                                 f"{version})"),
            retention=Figure(value=float(scores.score[i] / scores.cap_total[i]),
                             low=float(scores.ret_low[i] / scores.cap_total[i]),
                             high=float(scores.ret_high[i] / scores.cap_total[i]),
                             unit="fraction",
                             provenance="computed", source="capability-weighted retention"),
            quality_by_task=quality_by, retention_by_task=retention_by,
            capability_by_task=capability_by, speed=speed_figs)

    def _figures_of(self, i: int, c: str) -> _TaskFigures:
        """Retention, capability and quality of row ``i`` for category ``c`` (request
        independent, so built once per row and category and shared; figures are frozen)."""
        found = self._task_figures.get((i, c))
        if found is not None:
            return found
        cols = self.table.arrays
        cap, ret = float(cols[f"cap:{c}"][i]), float(cols[f"ret:{c}"][i])
        r_low, r_high = _opt(cols[f"ret_low:{c}"][i]), _opt(cols[f"ret_high:{c}"][i])
        c_low, c_high = _opt(cols[f"cap_low:{c}"][i]), _opt(cols[f"cap_high:{c}"][i])
        src, rprov = str(cols[f"ret_src:{c}"][i]), str(cols[f"ret_prov:{c}"][i])
        figures = _TaskFigures(
            retention=Figure(value=ret, low=r_low, high=r_high, unit="fraction",
                             provenance=rprov, source=src),  # type: ignore[arg-type]
            capability=Figure(value=cap, low=c_low, high=c_high, unit="score 0-100",
                              provenance=_cap_prov(cols[f"cap_prov:{c}"][i]),
                              source=str(cols[f"cap_src:{c}"][i])),
            quality=Figure(value=cap * ret, low=_or(c_low, cap) * _or(r_low, ret),
                           high=_or(c_high, cap) * _or(r_high, ret), unit="score 0-100",
                           provenance="computed", source=f"capability x retention ({rprov})"),
            provenance=rprov)
        self._task_figures[(i, c)] = figures
        return figures

    def _bpw_figure_of(self, i: int) -> Figure:
        found = self._bpw_figures.get(i)
        if found is None:
            found = self._bpw_figures[i] = _bpw_figure(
                self._bpw[i], self._quants[i], str(self.table.arrays["bpw_source"][i]))
        return found


def _bpw_figure(bpw: float, quant: str, source: str) -> Figure:
    """The file's bits per weight: a published file's size, llama-quantize's types for this
    architecture (computed), or the quant's typical bits per weight (weights.csv's
    ``size_source|source``)."""
    kind, _, cited = source.partition("|")
    if kind == "published":
        return Figure(value=bpw, unit="bits/weight", provenance="published",
                      source=f"size of the published {quant} file: {cited}")
    if kind == "computed":
        return Figure(value=bpw, unit="bits/weight", provenance="computed",
                      source=f"this architecture's tensors at {cited}")
    return Figure(value=bpw, unit="bits/weight", provenance="published",
                  source=f"typical {quant} file bits/weight, measured on another model "
                  f"({cited or kind})")


def _opt(x: object) -> float | None:
    v = float(x)  # type: ignore[arg-type]
    return None if np.isnan(v) else v


def _or(x: float | None, default: float) -> float:
    return default if x is None else x


def _cap_prov(x: object) -> str:
    return "predicted" if str(x) == "predicted" else "published"

"""Held-out error of the split speed on published offload runs, and the host efficiency fit.

A split's generation speed (:func:`advisor.recommender.placement.split_speed`) has one free
constant, the share of its peak memory bandwidth a host reaches reading weights while
generating (:data:`advisor.recommender.offload.HOST_EFFICIENCY`). It is fitted here as one
constant on the usable published runs (:mod:`advisor.recommender.offload_runs`) by least
squares on log tokens/s, each *setup* (source, host, device, model and quant) weighing the same
however many rows it has. Its error is measured leaving one setup out: the constant is fitted on
the other setups and the left-out setup is predicted with it. The same runs predicted with the
constant the product ships give its error as it stands.

A setup's *implied* efficiency is the one that predicts its median speed exactly; it is None
where the GPU part alone already takes longer than the run did (the all-on-GPU prediction is
too slow for it, and no host efficiency can make up for that).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import minimize_scalar

from advisor.data.dataset import atomic_write_text
from advisor.recommender.offload import HOST_EFFICIENCY
from advisor.recommender.offload_runs import (
    Excluded,
    OffloadRun,
    offload_generation_rows,
    screen,
)
from advisor.recommender.placement import split_speed

if TYPE_CHECKING:
    from advisor.data.dataset import Dataset
    from advisor.recommender.advisor import Advisor

log = logging.getLogger(__name__)

#: Range the efficiency is fitted in: a share of peak bandwidth, above 1 only where a host's
#: real bandwidth is above the figure assumed for it.
EFFICIENCY_BOUNDS = (0.02, 2.0)


def predict(runs: list[OffloadRun], efficiency: float) -> np.ndarray:
    """Generation tokens/s of each run at host ``efficiency``, as the advisor computes it."""
    return np.array([float(split_speed(np.array([r.all_gpu_tps]), r.split, r.bandwidth_gbs,
                                       efficiency)[0]) for r in runs])


def implied_efficiency(run: OffloadRun, tokens_per_s: float) -> float | None:
    """The efficiency at which ``run`` is predicted at ``tokens_per_s`` (None: none can)."""
    t_cpu = 1.0 / tokens_per_s - run.gpu_share / run.all_gpu_tps
    if t_cpu <= 0 or run.cpu_active_bytes <= 0:
        return None
    return run.cpu_active_bytes / (run.bandwidth_gbs * 1e9 * t_cpu)


def _weights(runs: list[OffloadRun]) -> np.ndarray:
    setups = [r.setup for r in runs]
    return np.array([1.0 / setups.count(s) for s in setups])


def fit_efficiency(runs: list[OffloadRun]) -> float:
    """The one efficiency minimising the setup-weighted squared error of log tokens/s."""
    if not runs:
        raise ValueError("fit_efficiency needs at least one run")
    observed = np.log([r.observed_tps for r in runs])
    weights = _weights(runs)

    def loss(log_eff: float) -> float:
        error = np.log(predict(runs, float(np.exp(log_eff)))) - observed
        return float(np.sum(weights * error ** 2))

    low, high = np.log(EFFICIENCY_BOUNDS)
    result = minimize_scalar(loss, bounds=(low, high), method="bounded",
                             options={"xatol": 1e-6})
    return float(np.exp(result.x))


@dataclass(frozen=True)
class SetupResult:
    """One setup's runs: what was measured, and the advisor's prediction held out."""

    setup: str
    runs: tuple[OffloadRun, ...]
    observed_tps: float                 # median of its rows
    implied_efficiency: float | None
    held_out_efficiency: float | None   # fitted on the other setups (None: no others)
    held_out_tps: float | None
    held_out_ape: float | None          # median over its rows of |predicted - observed| / obs
    current_tps: float                  # at the shipped HOST_EFFICIENCY
    current_ape: float


@dataclass(frozen=True)
class OffloadEvaluation:
    setups: tuple[SetupResult, ...]
    excluded: tuple[Excluded, ...]
    fitted_efficiency: float | None     # on every setup (None: no usable run)
    current_efficiency: float
    median_ape_held_out: float | None
    median_ape_current: float | None

    @property
    def n_rows(self) -> int:
        return sum(len(s.runs) for s in self.setups)


def _ape(predicted: np.ndarray, runs: list[OffloadRun]) -> float:
    observed = np.array([r.observed_tps for r in runs])
    return float(np.median(np.abs(predicted - observed) / observed))


def leave_one_setup_out(runs: list[OffloadRun],
                        current: float = HOST_EFFICIENCY) -> list[SetupResult]:
    """Per setup: the efficiency fitted without it, its prediction with that, and at
    ``current``."""
    names = list(dict.fromkeys(r.setup for r in runs))
    out = []
    for name in names:
        mine = [r for r in runs if r.setup == name]
        others = [r for r in runs if r.setup != name]
        observed = float(np.median([r.observed_tps for r in mine]))
        eff = fit_efficiency(others) if others else None
        held = predict(mine, eff) if eff is not None else None
        now = predict(mine, current)
        out.append(SetupResult(
            setup=name, runs=tuple(mine), observed_tps=observed,
            implied_efficiency=implied_efficiency(mine[0], observed),
            held_out_efficiency=eff,
            held_out_tps=float(np.median(held)) if held is not None else None,
            held_out_ape=_ape(held, mine) if held is not None else None,
            current_tps=float(np.median(now)), current_ape=_ape(now, mine)))
    return out


def evaluate_offload(advisor: Advisor, dataset: Dataset) -> OffloadEvaluation:
    """Screen the published offload generation rows and measure the split speed's error."""
    runs, excluded = screen(advisor, offload_generation_rows(dataset))
    setups = leave_one_setup_out(runs)
    held = [s.held_out_ape for s in setups if s.held_out_ape is not None]
    return OffloadEvaluation(
        setups=tuple(setups), excluded=tuple(excluded),
        fitted_efficiency=fit_efficiency(runs) if runs else None,
        current_efficiency=HOST_EFFICIENCY,
        median_ape_held_out=float(np.median(held)) if held else None,
        median_ape_current=float(np.median([s.current_ape for s in setups]))
        if setups else None)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def offload_section(ev: OffloadEvaluation, predictor_version: str = "") -> str:
    """The ``EVALUATION.md`` section of the offload evaluation (markdown)."""
    lines = [
        "## Offload speed (published split runs)", "",
        "A split placement's generation speed is `1 / (GPU share / all-on-GPU tg + RAM bytes per "
        "token / (host bandwidth x host efficiency))` (advisor.recommender.placement). Each "
        "published generation run with part of the model in system RAM "
        "(measurements/speed.jsonl, flag `offload`) is predicted as the advisor would: the "
        "candidate table's all-on-GPU tg128 for that device, model and quant"
        + (f" (speed predictor {predictor_version})" if predictor_version else "")
        + ", the split rebuilt from the run's flags on weights.csv, and the host's bandwidth "
        "(advisor.data.offload_hosts: stated, the CPU maker's rated memory, or the product's "
        "default where the host is not stated). The host efficiency is one constant fitted on "
        "log tokens/s, each setup weighing the same; its error is measured leaving one setup "
        "(source, host, device, model and quant) out.", "",
        f"- usable: {ev.n_rows} rows in {len(ev.setups)} setups; excluded: "
        f"{len(ev.excluded)} rows (reasons below)",
        f"- host efficiency fitted on all setups: **{_num(ev.fitted_efficiency, 3)}** "
        f"(shipped: {ev.current_efficiency:g})",
        f"- median absolute percentage error, one setup left out: "
        f"**{_pct(ev.median_ape_held_out)}**; at the shipped {ev.current_efficiency:g} (fitted "
        f"on these same setups, so not held out): {_pct(ev.median_ape_current)}", "",
        "| setup | rows | split | host GB/s (basis) | all-on-GPU tg | observed tg | implied "
        "eff. | held-out eff. | held-out tg | error | tg at shipped | error |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in ev.setups:
        run = s.runs[0]
        lines.append(
            f"| {s.setup} | {len(s.runs)} | `{run.placement}` | {run.bandwidth_gbs:g} "
            f"({run.host.basis}) | {run.all_gpu_tps:.1f} ({run.all_gpu_provenance}) | "
            f"{s.observed_tps:.1f} | {_num(s.implied_efficiency)} | "
            f"{_num(s.held_out_efficiency)} | {_num(s.held_out_tps, 1)} | "
            f"{_pct(s.held_out_ape)} | {s.current_tps:.1f} | {_pct(s.current_ape)} |")
    lines += ["", "Excluded rows (every reason each has):", "",
              "| source | device | model quant | host | rows | reasons |",
              "|---|---|---|---|---:|---|"]
    groups: dict[tuple[str, ...], int] = {}
    for e in ev.excluded:
        key = (e.source_id, e.hardware, f"{e.model} {e.quant or '?'}", e.host,
               "; ".join(e.reasons))
        groups[key] = groups.get(key, 0) + 1
    for (source, device, model, host, reasons), n in groups.items():
        lines.append(f"| {source} | {device} | {model} | {host} | {n} | {reasons} |")
    return "\n".join(lines) + "\n"


def append_offload_section(path: Path, advisor: Advisor, dataset: Dataset) -> OffloadEvaluation:
    """Evaluate the offload speed with ``advisor``'s predictors and add its section to the
    ``EVALUATION.md`` at ``path`` (written just before by the predictors' evaluation)."""
    ev = evaluate_offload(advisor, dataset)
    text = path.read_text(encoding="utf-8").rstrip("\n")
    atomic_write_text(path, f"{text}\n\n{offload_section(ev, advisor.predictor_version)}")
    log.info("offload speed evaluation (%d rows, %d setups) added to %s", ev.n_rows,
             len(ev.setups), path)
    return ev

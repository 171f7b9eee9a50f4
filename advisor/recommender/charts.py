"""The data behind the trade-off charts, and the charts drawn with matplotlib (PNG or SVG).

:func:`chart_points` (no plotting library needed) gives one row per candidate for a validated
query; the web page and the ``plot`` command draw from it. The ``plot_*`` functions import
matplotlib (the ``plot`` extra) lazily, with the non-interactive Agg backend, and write the file
type named by the output suffix.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from advisor.vocabulary.errors import AdvisorError, InvalidInputError
from advisor.vocabulary.units import GB

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from advisor.data.dataset import Dataset
    from advisor.recommender.advisor import Advisor
    from advisor.recommender.query import Query
    from advisor.recommender.results import Recommendation

log = logging.getLogger(__name__)

FORMATS = (".png", ".svg")
#: model-size classes used to colour points, in billions of parameters (upper bounds)
SIZE_CLASSES: tuple[tuple[str, float], ...] = (
    ("< 4B", 4.0), ("4-10B", 10.0), ("10-35B", 35.0), ("35B +", float("inf")))
POINT_COLUMNS = ("model", "mode", "family", "params_b", "quant", "bpw", "file_bytes",
                 "total_bytes",
                 "quality_score", "retention", "fits", "fast_enough", "tg128", "pp512")


def size_class(params_b: float) -> str:
    """The :data:`SIZE_CLASSES` label of a model with ``params_b`` billion parameters."""
    return next(label for label, top in SIZE_CLASSES if params_b < top)


def chart_points(advisor: Advisor, query: Query) -> pd.DataFrame:
    """Every rankable candidate of ``query``: columns :data:`POINT_COLUMNS`, by total bytes.

    ``quality_score`` is the task-weighted capability x retention (0-100) the ranking uses,
    ``retention`` the capability-weighted fraction kept, ``total_bytes`` the memory estimate at the
    query's context and cache type, ``tg128``/``pp512`` tokens/s on the query's hardware (NaN
    without hardware); ``fits`` compares memory with the budget (and, on several GPUs, each one's
    share with one GPU's memory: :meth:`~advisor.recommender.advisor.Query.fits`) and
    ``fast_enough`` speed with ``min_tokens_per_s``. Only the candidates the query ranks are kept
    (:meth:`~advisor.recommender.advisor.Advisor.rankable`).
    """
    frame = advisor.table.frame
    scores = advisor.weighted_quality(query)
    score, cap_total = scores.score, scores.cap_total
    memory = advisor.memory_arrays(query)
    out = frame[["model", "mode", "family", "params_b", "quant", "bpw", "file_bytes"]].copy()
    out["total_bytes"] = memory["total_bytes"].astype(np.int64)
    out["quality_score"] = score
    with np.errstate(invalid="ignore", divide="ignore"):
        out["retention"] = score / cap_total
    if query.hardware is not None:
        speed = advisor.table.speed(query.hardware)
        out["tg128"] = speed["tps:tg128"].to_numpy(dtype=float)
        out["pp512"] = speed["tps:pp512"].to_numpy(dtype=float)
    else:
        out["tg128"] = out["pp512"] = np.nan
    out["fits"] = query.fits(out["total_bytes"].to_numpy())
    minimum = query.min_tokens_per_s
    out["fast_enough"] = True if minimum is None else out["tg128"] >= minimum
    keep = advisor.rankable(query, score, memory)
    return out.loc[keep, list(POINT_COLUMNS)].sort_values("total_bytes").reset_index(drop=True)


def points_records(points: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows of :func:`chart_points` (NaN becomes None)."""
    clean = points.astype(object).where(points.notna(), None)
    return [{k: _plain(v) for k, v in row.items()} for row in clean.to_dict(orient="records")]


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return value


# -- drawing ---------------------------------------------------------------------------------
def check_output(path: Path) -> str:
    """The format (``png`` or ``svg``) named by ``path``'s suffix; raises for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInputError(
            f"output file must end in {' or '.join(FORMATS)}, got {str(path)!r}",
            parameter="out")
    return suffix[1:]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as e:
        raise AdvisorError("plots need matplotlib: pip install 'quant-advisor[plot]'") from e
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Figure, path: Path) -> Path:
    fmt = check_output(path)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format=fmt, dpi=110, bbox_inches="tight",
                metadata={"Date": None} if fmt == "svg" else None)
    log.info("wrote %s", path)
    return path


def plot_recommendation(rec: Recommendation, points: pd.DataFrame, path: Path) -> Path:
    """Quality against memory for ``points`` with the Pareto front, budget line and pick."""
    check_output(path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    try:
        _draw_candidates(ax, points)
        front = rec.pareto_front
        ax.step([p.total_bytes / GB for p in front], [p.quality_score for p in front],
                where="post", color="#1f5fbf", lw=1.5, label="Pareto front")
        ax.axvline(rec.request.budget_bytes / GB, color="#c0392b", ls="--", lw=1.2,
                   label=f"budget {rec.request.budget}")
        pick = rec.pick
        ax.scatter([pick.memory.total_bytes / GB], [pick.quality_score.value], s=160,
                   marker="*", color="#f1c40f", edgecolor="black", zorder=5,
                   label=f"pick: {pick.model} {pick.quant}")
        mix = ", ".join(f"{k} {v:.0%}" for k, v in rec.request.task_mix.items())
        ax.set_title(f"Quality against memory ({mix}; context {rec.request.context})")
        ax.set_xlabel("memory needed, GB (weights + KV cache + compute + overhead)")
        ax.set_ylabel("predicted quality (0-100)")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(_plain_numbers())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        return _save(fig, path)
    finally:
        plt.close(fig)


def _plain_numbers() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: f"{value:g}")


def _draw_candidates(ax: Axes, points: pd.DataFrame) -> None:
    colours = _size_colours()
    sizes = points["params_b"].map(size_class)
    for label, _ in SIZE_CLASSES:
        sel = points[sizes == label]
        if sel.empty:
            continue
        ok = sel["fits"] & sel["fast_enough"]
        ax.scatter(sel.loc[ok, "total_bytes"] / GB, sel.loc[ok, "quality_score"], s=14,
                   color=colours[label], alpha=0.8, label=f"{label} (fits)")
        ax.scatter(sel.loc[~ok, "total_bytes"] / GB, sel.loc[~ok, "quality_score"], s=14,
                   facecolor="none", edgecolor=colours[label], alpha=0.5)


def _size_colours() -> dict[str, str]:
    palette = ("#2a9d8f", "#e9c46a", "#f4a261", "#9b2226")
    return {label: palette[i] for i, (label, _) in enumerate(SIZE_CLASSES)}


def plot_speed_data(dataset: Dataset, path: Path, test: str = "tg128") -> Path:
    """Measured/published tokens/s against bandwidth / bytes read per token, by hardware kind.

    Bytes read per token are the model file's bytes times the active share of the parameters
    (all of them for dense models, fewer for mixtures of experts).
    """
    check_output(path)
    frame = dataset.speed_frame()
    if frame.empty:
        raise InvalidInputError("the dataset has no speed rows to plot", parameter="kind")
    frame = frame[(frame["test"] == test) & frame["bandwidth_gbs"].notna()
                  & frame["model_bytes"].notna() & (frame["n_devices"] == 1)]
    if frame.empty:
        raise InvalidInputError(f"the dataset has no single-device {test} rows with bandwidth "
                                "and model size", parameter="kind")
    active = (frame["active_params_b"].fillna(frame["params_b"]) / frame["params_b"]).fillna(1.0)
    bound = frame["bandwidth_gbs"] * 1e9 / (frame["model_bytes"] * active)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    try:
        for kind, colour in zip(("gpu", "apple", "apu", "cpu"),
                                ("#1f77b4", "#7f7f7f", "#2ca02c", "#d62728"), strict=True):
            sel = frame["hardware_kind"] == kind
            if sel.any():
                ax.scatter(bound[sel], frame.loc[sel, "tokens_per_s"], s=10, alpha=0.6,
                           color=colour, label=f"{kind} ({int(sel.sum())})")
        low = float(min(bound.min(), frame["tokens_per_s"].min()))
        top = float(max(bound.max(), frame["tokens_per_s"].max()))
        ax.plot([low, top], [low, top], color="black", lw=0.8, ls=":",
                label="tokens/s = bandwidth / bytes")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("memory bandwidth / weight bytes read per token (bound on tokens/s)")
        ax.set_ylabel(f"{test} tokens/s")
        ax.set_title(f"Generation speed against the bandwidth bound ({len(frame)} rows)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_quality_data(dataset: Dataset, path: Path) -> Path:
    """Retention (accuracy) and PPL ratio against bits per weight, coloured by model size."""
    check_output(path)
    frame = dataset.quality_frame()
    if frame.empty or "bpw" not in frame:
        raise InvalidInputError("the dataset has no quality rows to plot", parameter="kind")
    frame = frame[frame["bpw"].notna() & frame["params_b"].notna()]
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    try:
        colours = _size_colours()
        sizes = frame["params_b"].map(size_class)
        for label, _ in SIZE_CLASSES:
            sel = frame[sizes == label]
            ret = sel[sel["retention"].notna()]
            ppl = sel[sel["ppl_ratio"].notna()]
            left.scatter(ret["bpw"], ret["retention"], s=10, alpha=0.6, color=colours[label],
                         label=f"{label} ({len(ret)})")
            right.scatter(ppl["bpw"], ppl["ppl_ratio"], s=10, alpha=0.6, color=colours[label],
                          label=f"{label} ({len(ppl)})")
        left.set_title("Accuracy kept (retention) against bits per weight")
        left.set_ylabel("retention (quantized / full-precision score)")
        right.set_title("Perplexity ratio against bits per weight")
        right.set_ylabel("PPL / full-precision PPL (log)")
        right.set_yscale("log")
        for ax in (left, right):
            ax.set_xlabel("bits per weight")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, title="model size")
        return _save(fig, path)
    finally:
        plt.close(fig)

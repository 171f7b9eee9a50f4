"""How much of a model's benchmark score survives a quant: the retention curve and its bounds.

``retention = exp(-exp(z))`` with

    z = c0 + c_group - b (bpw - 4) - d log(params_b / 8)

so the lost share is ``~exp(z)`` while small and saturates at all of it. ``b > 0`` keeps
retention non-decreasing in bits for any model, task and scheme.

* **Task sensitivity**: one offset per task group (``exact``: coding and maths, whose answers
  chain many exact steps; ``reasoning``; ``recall``: knowledge and language; see
  :data:`TASK_GROUPS`), shrunk toward 0; unknown
  categories get 0. Offsets per category were tried and lost held-out accuracy (few rows each).
* **Schemes** are not terms here: bits per weight carry what a mix or an imatrix buys, and
  counting schemes again as the log-error model values them raised held-out error (the accuracy
  rows contain almost no contrast between schemes to check them against).
* **Size**: accuracy rows cover few small models, while the perplexity/KLD rows cover sixty
  models from 0.1 B to 1 T parameters. A penalty ties ``d / b`` to the same ratio of the
  log-error model's slopes (``size_ratio``), so the size effect on retention borrows the shape
  the error data shows instead of extrapolating from a handful of 8 B models.
* Each model's rows weigh ``1 / sqrt(rows of that model)`` together, so a model measured on many
  tasks informs the curve without deciding it. The loss is robust (soft L1, 2 points).

:func:`retention_floor` is the lowest retention the training rows show at a bit width or more:
a 90% interval never reaches below what the data has seen there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

#: Task categories grouped by how quantization hurts them (the seed article's split): tasks
#: that chain many exact steps (code, maths) against recall and language.
TASK_GROUPS: dict[str, str] = {
    "coding": "exact", "math": "exact", "reasoning": "reasoning", "aggregate": "reasoning",
    "knowledge": "recall", "reading_comprehension": "recall", "language": "recall",
    "language_modeling": "recall", "instruction_following": "recall"}
REF_BPW, REF_LOG_PARAMS = 4.0, float(np.log(8.0))
GROUP_RIDGE = 0.017       # penalty on group offsets (in retention units)
SIZE_PRIOR = 0.2          # weight of the d/b = size_ratio penalty
ROBUST_SCALE = 0.02       # soft-L1 scale: residuals beyond ~2 points count linearly
GROUPS: tuple[str, ...] = tuple(sorted(set(TASK_GROUPS.values())))


class RetentionCurve:
    """The curve above. ``fit(rows, size_ratio)`` takes rows of
    :func:`~advisor.predictors.quality_features.quality_features` with ``retention`` and
    ``model``; with fewer than 3 rows it predicts no loss (retention 1)."""

    def fit(self, rows: pd.DataFrame, size_ratio: float | None = None) -> RetentionCurve:
        self.size_ratio_ = size_ratio
        if len(rows) < 3:
            self.c0_, self.log_b_, self.d_ = -50.0, 0.0, 0.0
            self.group_offset_ = dict.fromkeys(GROUPS, 0.0)
            return self
        y = rows["retention"].to_numpy(dtype="float64")
        design = self._design(rows)
        counts = rows["model"].astype(str).map(rows["model"].astype(str).value_counts())
        weight = counts.to_numpy(dtype="float64") ** -0.25  # squared: 1 / sqrt(rows)

        def residuals(p: np.ndarray) -> np.ndarray:
            fit = np.exp(-np.exp(self._z(p, design)))
            parts = [weight * (fit - y), GROUP_RIDGE * p[3:]]
            if size_ratio is not None:
                parts.append([SIZE_PRIOR * (p[2] - np.exp(p[1]) * size_ratio)])
            return np.concatenate(parts)

        p0 = np.zeros(3 + len(GROUPS))
        p0[0] = np.log(0.02)
        p = least_squares(residuals, p0, loss="soft_l1", f_scale=ROBUST_SCALE).x
        self.c0_, self.log_b_, self.d_ = float(p[0]), float(p[1]), float(p[2])
        self.group_offset_ = dict(zip(GROUPS, map(float, p[3:]), strict=True))
        return self

    @staticmethod
    def _design(x: pd.DataFrame) -> dict[str, np.ndarray]:
        groups = x["task_category"].astype(str).map(TASK_GROUPS)
        return {
            "bpw": x["bpw"].to_numpy(dtype="float64") - REF_BPW,
            "lp": x["log_params"].to_numpy(dtype="float64") - REF_LOG_PARAMS,
            "group": np.stack([groups.eq(g).to_numpy(dtype="float64") for g in GROUPS], axis=1),
        }

    @staticmethod
    def _z(p: np.ndarray, d: dict[str, np.ndarray]) -> np.ndarray:
        return p[0] - np.exp(p[1]) * d["bpw"] - p[2] * d["lp"] + d["group"] @ p[3:]

    @property
    def params_(self) -> np.ndarray:
        return np.array([self.c0_, self.log_b_, self.d_,
                         *(self.group_offset_[g] for g in GROUPS)])

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """Retention for rows of ``quality_features`` (unknown categories: no offset)."""
        z = self._z(self.params_, self._design(x))
        return np.exp(-np.exp(np.clip(z, -50.0, 50.0)))

    def scaled_residual(self, rows: pd.DataFrame, floor: float) -> np.ndarray:
        """``(measured - predicted) / (predicted loss + floor)``, the conformal score."""
        pred = self.predict(rows)
        return (rows["retention"].to_numpy(dtype="float64") - pred) / (1.0 - pred + floor)


def retention_floor(rows: pd.DataFrame, tolerance: float = 0.25) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """``(bpw grid, floor)``: the lowest retention of ``rows`` at ``bpw >= grid - tolerance``.

    Non-decreasing in bits; :func:`floor_at` reads it for any bpw.
    """
    if rows.empty:
        return np.array([0.0]), np.array([0.0])
    order = rows.sort_values("bpw", ascending=False)
    bpw = order["bpw"].to_numpy(dtype="float64")
    running = np.minimum.accumulate(order["retention"].to_numpy(dtype="float64"))
    return bpw[::-1] + tolerance, running[::-1]


def floor_at(grid: tuple[np.ndarray, np.ndarray], bpw: np.ndarray) -> np.ndarray:
    """The floor for each ``bpw``: below every row's bit width it is the lowest retention seen
    at all; above every row's, the lowest among the rows with the most bits."""
    points, floors = grid
    idx = np.searchsorted(points, bpw, side="left")
    out = floors[np.clip(idx, 0, len(floors) - 1)]
    return np.where(idx >= len(floors), floors[-1], out)

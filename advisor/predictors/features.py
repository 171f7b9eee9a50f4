"""The label helpers the quality and speed predictors share (a leaf of the import graph).

The quality predictor's own columns are in :mod:`advisor.predictors.quality_features`, the
speed predictor's (and the quant helpers) in :mod:`advisor.predictors.speed_features`; both
take a plain :class:`pandas.DataFrame` (one row per question), so that training rows (from
:meth:`Dataset.quality_frame` / :meth:`Dataset.speed_frame`) and prediction rows go through the
same code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

UNKNOWN = "unknown"


def _column(frame: pd.DataFrame, name: str, default: object = np.nan) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series(default, index=frame.index, dtype="object" if isinstance(default, str)
                     else "float64")


def _numeric(frame: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(_column(frame, name), errors="coerce").astype("float64")


def flag_set(value: object) -> set[str]:
    """A row's ``flags`` (a list, or missing) as a set of strings."""
    return {str(v) for v in value} if isinstance(value, list | tuple | set | np.ndarray) \
        else set()

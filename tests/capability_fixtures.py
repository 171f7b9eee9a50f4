"""A small synthetic catalog (models.csv + scores.csv) whose capability is known by design."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from advisor.data.importers.scores import SCORE_COLUMNS
from advisor.predictors.capability_data import ANCHORS

#: Benchmarks besides the anchors: (id, category, how much it rewards thinking).
EXTRA = [("reported: GPQA Diamond", "reasoning", 1.0), ("reported: AIME 2025", "math", 1.5),
         ("LiveBench 2026-01-08: coding", "coding", 0.5), ("reported: MMLU", "knowledge", 0.2),
         ("AA 2026-07-10: IFBench", "instruction_following", 1.0),
         ("reported: MMMLU", "language", 0.2)]


def synthetic_catalog(n_models: int = 36, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, models) frames of strings: ability grows with log size and release date,
    thinking adds to reasoning-heavy benchmarks, families differ by a constant; about 60 % of
    the scores are published. ``Unscored-8B`` (hybrid) gets no score at all."""
    rng = np.random.default_rng(seed)
    rows, scores = [], []
    benches = [(a.benchmark, c, 1.0) for c, a in ANCHORS.items()] + EXTRA
    for i in range(n_models):
        family = ["Alpha", "Beta", "Gamma"][i % 3]
        params = float(np.round(10 ** rng.uniform(-0.3, 2.0), 2)) if i else 8.0
        year, month = (2024, 1 + i % 12) if i % 2 else (2025, 1 + i % 12)
        modes = "hybrid" if i % 4 == 0 else "instruct"
        name = f"{family}-{i}-{params}B" if i else "Unscored-8B"
        rows.append({"name": name, "family": family, "modes": modes, "params_b": str(params),
                     "active_params_b": "", "released": f"{year}-{month:02d}",
                     "recommendable": "True"})
        base = 1.2 * np.log10(params) + 0.8 * (year - 2024 + month / 12) \
            + {"Alpha": 0.3, "Beta": 0.0, "Gamma": -0.3}[family]
        for mode in (["thinking", "non-thinking"] if modes == "hybrid" else ["non-thinking"]):
            for bench, category, think in benches:
                if i == 0 or rng.random() > 0.6:
                    continue
                z = base - 1.0 + think * (mode == "thinking") + rng.normal(0, 0.15)
                scores.append({"model": name, "model_id": name, "variant": name, "mode": mode,
                               "benchmark": bench, "category": category,
                               "score": str(round(100 / (1 + np.exp(-z)), 2)),
                               "scale": "0-100 (percent)", "setting": "", "source_key": "SYN",
                               "source": "synthetic", "date": ""})
    # a base checkpoint's score and a hybrid's unstated mode are never used
    scores.append({**scores[0], "mode": "base", "score": "1.0"})
    hybrid = next(r["name"] for r in rows[1:] if r["modes"] == "hybrid")
    scores.append({**scores[0], "model": hybrid, "mode": "default", "score": "2.0"})
    return (pd.DataFrame(scores, columns=list(SCORE_COLUMNS)),
            pd.DataFrame(rows).fillna(""))


def write_synthetic_catalog(folder: Path, **kw: int) -> Path:
    """Write the synthetic catalog's ``scores.csv`` and ``models.csv`` into ``folder``."""
    scores, models = synthetic_catalog(**kw)
    folder.mkdir(parents=True, exist_ok=True)
    scores.to_csv(folder / "scores.csv", index=False)
    models.to_csv(folder / "models.csv", index=False)
    return folder

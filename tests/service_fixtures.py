"""Helpers for the team-service tests: valid rows, a fast fake trainer, an isolated app."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from advisor.data.dataset import Dataset, default_measurements_dir
from advisor.predictors.artifacts import QUALITY_FILE, SPEED_FILE
from advisor.predictors.card import CARD_FILE, ModelCard, read_card
from advisor.vocabulary.settings import Settings

SHIPPED_MODELS = Path(__file__).resolve().parent.parent / "models"
TOKEN = "test-token-0123456789abcdef"


def quality_row(i: int, **changes: Any) -> dict[str, Any]:
    row = {"kind": "quality", "source_id": "team_upload", "provenance": "measured",
           "run_id": f"run-{i}", "model": "Llama-3.1-8B", "model_as_published": "Llama 3.1 8B",
           "params_b": 8.03, "quant": "Q4_K_M", "quant_as_published": "Q4_K_M",
           "metric": "mmlu", "metric_kind": "accuracy", "task_category": "knowledge",
           "value": 60.0 + i * 1e-3, "baseline_value": 66.0, "retention": 0.9}
    row.update(changes)
    return row


def speed_row(i: int, **changes: Any) -> dict[str, Any]:
    row = {"kind": "speed", "source_id": "team_upload", "provenance": "measured",
           "model": "Llama-3.1-8B", "model_as_published": "Llama 3.1 8B", "params_b": 8.03,
           "quant": "Q4_K_M", "quant_as_published": "Q4_K_M",
           "hardware": "NVIDIA GeForce RTX 3090", "hardware_kind": "gpu", "backend": "cuda",
           "test": "tg128", "tokens_per_s": 100.0 + i * 1e-3, "bandwidth_gbs": 935.8}
    row.update(changes)
    return row


class FakeTrainer:
    """Copies the shipped predictors with a new card whose errors are scaled by ``factor``."""

    def __init__(self, factor: float = 1.0, delay_s: float = 0.0) -> None:
        self.factor, self.delay_s = factor, delay_s
        self.datasets: list[Dataset] = []

    def __call__(self, dataset: Dataset, out_dir: Path) -> ModelCard:
        import time

        self.datasets.append(dataset)
        for name in (QUALITY_FILE, SPEED_FILE):
            shutil.copyfile(SHIPPED_MODELS / name, out_dir / name)
            time.sleep(self.delay_s / 2)
        card = read_card(SHIPPED_MODELS)
        card = dataclasses.replace(card, data_hash=dataset.content_hash,
                                   metrics=_scale(card.metrics, self.factor))
        (out_dir / CARD_FILE).write_text(card.to_json(), encoding="utf-8")
        return card


def _scale(metrics: dict[str, Any], factor: float) -> dict[str, Any]:
    return {k: _scale(v, factor) if isinstance(v, dict) else
            v * factor if k.endswith(("_ae", "_ape")) and isinstance(v, float) else v
            for k, v in metrics.items()}


def service_settings(tmp_path: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path / "data",
                              "measurements_dir": default_measurements_dir(),
                              "models_dir": SHIPPED_MODELS, "log_json": False}
    values.update(changes)
    return Settings(**values)

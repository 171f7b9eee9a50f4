"""Shared fixtures: fake predictors with known monotone answers, an isolated advisor."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from advisor.data.catalog import load_catalog
from advisor.data.dataset import default_measurements_dir
from advisor.predictors.capability import load_capability
from advisor.recommender.advisor import Advisor
from advisor.vocabulary.schema import Hardware, HardwareKind
from advisor.vocabulary.settings import Settings


class FakeQuality:
    """retention = 1 - 0.6 * exp(-(bpw - 1) * (1 + 0.1 * log(params))): monotone in both."""

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        bpw = frame["bpw"].to_numpy(dtype=float)
        params = frame["params_b"].to_numpy(dtype=float)
        loss = 0.6 * np.exp(-(bpw - 1) * (1 + 0.1 * np.log(params)))
        ret = 1 - loss
        return pd.DataFrame({
            "retention": ret, "retention_low": ret - 0.02, "retention_high": np.minimum(ret + 0.02, 1.0),
            "ppl_ratio": 1 + loss, "ppl_ratio_low": 1 + 0.8 * loss, "ppl_ratio_high": 1 + 1.2 * loss,
            "kld": loss / 2, "kld_low": loss / 3, "kld_high": loss,
        }, index=frame.index)


class FakeSpeed:
    """tokens/s = 0.6 x bandwidth / GB read per token (generation), 40x that for prompts."""

    assumed_build = "llama.cpp of the fake's choosing"

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        active = frame["active_params_b"].fillna(frame["params_b"]).to_numpy(dtype=float)
        read = frame["model_bytes"].to_numpy(dtype=float) * active / frame["params_b"].to_numpy(dtype=float)
        tg = 0.6 * frame["bandwidth_gbs"].to_numpy(dtype=float) * 1e9 / read
        tps = np.where(frame["n_gen"].to_numpy() > 0, tg, 40 * tg)
        return pd.DataFrame({"tokens_per_s": tps, "tokens_per_s_low": 0.8 * tps,
                             "tokens_per_s_high": 1.2 * tps}, index=frame.index)


@dataclass
class FakeCard:
    version: str = "test-fake"


@dataclass
class FakePredictors:
    """Fake quality and speed; the capability is the shipped fit's (a table, not a model)."""

    quality: FakeQuality
    speed: FakeSpeed
    card: FakeCard
    capability: dict[tuple[str, str], dict[str, Any]] = field(
        default_factory=lambda: shipped_capability())


@cache
def shipped_capability() -> dict[tuple[str, str], dict[str, Any]]:
    return load_capability(Path(__file__).resolve().parents[1] / "models")


HARDWARE = {
    "NVIDIA GeForce RTX 3090": Hardware(name="NVIDIA GeForce RTX 3090", kind=HardwareKind.GPU,
                                       memory_gb=24, bandwidth_gbs=935.8, fp16_tflops=35.68),
    "Apple M2 Pro (19-core GPU, 32GB)": Hardware(name="Apple M2 Pro (19-core GPU, 32GB)",
                                                 kind=HardwareKind.APPLE, memory_gb=32,
                                                 bandwidth_gbs=200.0),
}


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    """Every test gets its own service data dir (SQLite store, retrained versions)."""
    monkeypatch.setenv("ADVISOR_DATA_DIR", str(tmp_path / "advisor-data"))


@pytest.fixture
def fake_predictors() -> FakePredictors:
    return FakePredictors(FakeQuality(), FakeSpeed(), FakeCard())


@pytest.fixture(scope="session")
def fake_advisor() -> Advisor:
    settings = Settings()
    catalog = load_catalog(default_measurements_dir() / "catalog")
    return Advisor(catalog, FakePredictors(FakeQuality(), FakeSpeed(), FakeCard()), None,
                   dict(HARDWARE), settings)

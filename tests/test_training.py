"""Tests for advisor.predictors.training: one call evaluates, fits and saves a loadable artifact."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from capability_fixtures import write_synthetic_catalog
from test_quality_model import synthetic_quality
from test_speed_model import synthetic_speed

from advisor.predictors.artifacts import load_predictors
from advisor.predictors.capability import load_capability
from advisor.predictors.training import train


@dataclass
class FrameDataset:
    """Stands in for :class:`advisor.data.dataset.Dataset` (same three members train reads)."""

    quality: pd.DataFrame
    speed: pd.DataFrame
    content_hash: str = "feedbeef"

    def quality_frame(self) -> pd.DataFrame:
        return self.quality

    def speed_frame(self) -> pd.DataFrame:
        return self.speed


def test_train_writes_models_card_and_evaluation(tmp_path: Path) -> None:
    data = FrameDataset(synthetic_quality(), synthetic_speed())
    catalog = write_synthetic_catalog(tmp_path / "catalog")
    card = train(data, tmp_path, n_jobs=1,  # type: ignore[arg-type]
                 speed_params={"calibration_folds": 2, "max_iter": 15}, catalog_dir=catalog)
    assert card.data_hash == "feedbeef"
    assert {"speed", "quality_by_model", "quality_by_source"} <= set(card.metrics)
    assert card.metrics["speed"]["generation/gpu"]["devices"] == 4
    assert card.metrics["speed"]["generation/apple"]["devices"] == 2
    # one source (the synthetic rows name none): nothing to hold out by source, and it says so
    assert "2 sources" in card.metrics["speed_by_source"]["not computed"]["reason"]
    assert (tmp_path / "EVALUATION.md").read_text().startswith("# Held-out evaluation")
    assert "## Speed, devices held out (one at a time)" in (tmp_path / "EVALUATION.md").read_text()
    assert len(list((tmp_path / "plots").glob("*.png"))) >= 4
    # the capability model: its table, its card entry and its held-out section
    assert {"capability_by_score", "capability_by_model"} <= set(card.metrics)
    assert len(card.extra["capability"]["data_hash"]) == 16
    assert "## Capability, held out" in (tmp_path / "EVALUATION.md").read_text()
    capability = load_capability(tmp_path)
    assert ("Unscored-8B", "thinking") in capability
    loaded = load_predictors(tmp_path)
    assert loaded.card.data_hash == "feedbeef"
    assert loaded.speed.exclusions_ == card.rows["speed_excluded"]


def test_train_can_hold_devices_out_in_groups(tmp_path: Path) -> None:
    """``device_folds=k``: the speed evaluation holds out k groups of devices (fewer fits) and
    its section says so."""
    data = FrameDataset(synthetic_quality(), synthetic_speed())
    catalog = write_synthetic_catalog(tmp_path / "catalog")
    card = train(data, tmp_path, n_jobs=1, device_folds=2,  # type: ignore[arg-type]
                 speed_params={"calibration_folds": 2, "max_iter": 15}, catalog_dir=catalog)
    text = (tmp_path / "EVALUATION.md").read_text()
    assert "## Speed, devices held out (2 groups)" in text and "one at a time" not in text
    assert card.metrics["speed"]["generation/gpu"]["devices"] == 4  # every device still scored

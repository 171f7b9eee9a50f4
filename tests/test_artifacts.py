"""Tests for advisor.predictors.artifacts: round trip, version refusal, missing and corrupt files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_quality_model import synthetic_quality
from test_speed_model import query, synthetic_speed

from advisor.predictors.artifacts import (
    QUALITY_FILE,
    SPEED_FILE,
    load_predictors,
    save_predictors,
)
from advisor.predictors.capability import CAPABILITY_FILE
from advisor.predictors.card import CARD_FILE
from advisor.predictors.quality import QualityPredictor
from advisor.predictors.speed import SpeedPredictor
from advisor.vocabulary.errors import ArtifactError


@pytest.fixture(scope="module")
def predictors() -> tuple[QualityPredictor, SpeedPredictor]:
    return (QualityPredictor(calibration_folds=2).fit(synthetic_quality()),
            SpeedPredictor(calibration_folds=2, max_iter=20).fit(synthetic_speed()))


@pytest.fixture
def saved(tmp_path: Path, predictors: tuple) -> Path:
    save_predictors(*predictors, tmp_path, card_extra={"data_hash": "abc123",
                                                       "metrics": {"x": 1.0}, "note": "n"})
    # train writes the capability table beside them (fitted on the catalog, not these rows)
    shutil.copyfile(Path(__file__).resolve().parents[1] / "models" / CAPABILITY_FILE,
                    tmp_path / CAPABILITY_FILE)
    return tmp_path


def test_round_trip_predicts_the_same(saved: Path, predictors: tuple) -> None:
    loaded = load_predictors(saved)
    frame = pd.DataFrame({"params_b": [8.0], "quant": ["Q4_K_M"], "task_category": ["math"]})
    pd.testing.assert_frame_equal(loaded.quality.predict(frame), predictors[0].predict(frame))
    pd.testing.assert_frame_equal(loaded.speed.predict(query()), predictors[1].predict(query()))
    card = loaded.card
    assert card.data_hash == "abc123" and card.metrics == {"x": 1.0}
    assert card.extra == {"note": "n"}
    assert set(card.libraries) == {"sklearn", "numpy", "pandas", "joblib", "python",
                                   "quant_advisor_models"}
    assert card.rows["speed_excluded"] and card.features["quality"]
    assert not [p for p in saved.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("library", ["sklearn", "numpy", "python", "quant_advisor_models"])
def test_other_library_version_is_refused(saved: Path, library: str) -> None:
    card = json.loads((saved / CARD_FILE).read_text())
    card["libraries"][library] = "0.0.1"
    (saved / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match=rf"{library} '0.0.1'.*quant-advisor train"):
        load_predictors(saved)


@pytest.mark.parametrize("name, damage, message", [
    (CARD_FILE, None, "missing"), (QUALITY_FILE, None, "missing"),
    (CAPABILITY_FILE, None, "missing"), (CAPABILITY_FILE, b"value,low\n1,x\n", r"corrupt .*capability.csv:2"),
    (SPEED_FILE, b"not a pickle", "corrupt"), (CARD_FILE, b"{not json", "corrupt"),
    (CARD_FILE, b"[1, 2]", "corrupt"),
])
def test_missing_or_corrupt_files_are_refused(saved: Path, name: str, damage: bytes | None,
                                              message: str) -> None:
    if damage is None:
        (saved / name).unlink()
    else:
        (saved / name).write_bytes(damage)
    with pytest.raises(ArtifactError, match=message):
        load_predictors(saved)


def test_unfitted_predictors_are_not_saved(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="fitted"):
        save_predictors(QualityPredictor(), SpeedPredictor(), tmp_path)

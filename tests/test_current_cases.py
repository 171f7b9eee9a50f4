"""Speed questions a user asks by name about current models on current devices: the committed
case file is what scripts/current_cases.py makes of the imported rows, and the shipped
predictors answer at least 90% of it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from advisor.predictors.batch import predict_file
from advisor.vocabulary.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("current_cases",
                                                  ROOT / "scripts" / "current_cases.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_committed_cases_are_what_the_script_writes(tmp_path):
    script = _script()
    fresh = tmp_path / "cases.csv"
    script.write(script.current_cases(ROOT / "measurements" / "speed.jsonl"), fresh)
    assert fresh.read_bytes() == script.OUT.read_bytes(), "run `python scripts/current_cases.py`"


def test_the_shipped_predictors_answer_nine_in_ten(tmp_path):
    script = _script()
    cases = pd.read_csv(script.OUT)
    assert len(cases) >= 500
    assert cases["hardware"].nunique() >= 5 and cases["model"].nunique() >= 10
    out = tmp_path / "predicted.csv"
    predict_file(script.OUT, out, Settings(data_dir=tmp_path))
    answered = pd.read_csv(out)["pred_tokens_per_s"].notna()
    assert answered.mean() >= 0.9, f"{answered.mean():.1%} answered"

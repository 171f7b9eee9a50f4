"""Write ``tests/data/current_speed_cases.csv``: speed questions asked by name only, as a user
asks them, about models released in 2025-2026 on devices of 2024-2026, and print how many
``quant-advisor predict`` answers and how far off it is.

Every measured case is one imported, usable, single-device published row (``measured_tokens_per_s``
and ``source_id`` say which); its device is named as users type it (an alias of the hardware
table where one exists), its model as the source named it, its quant as published (an
uploader's ``UD-Q4_K_XL`` included). A second block asks the same questions of current devices
that no imported row measured with these models (DGX Spark, RTX PRO 6000, MI50, M3/M4 Max,
M3 Ultra, RTX 5070/5060 Ti, Arc B580): answerability only, no measured value.

    PYTHONPATH=. python benchmarks/current_speed_cases.py [--write]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from advisor.data.catalog import load_catalog
from advisor.data.dataset import load_dataset
from advisor.data.hardware import load_hardware
from advisor.predictors.artifacts import load_predictors
from advisor.predictors.batch import predict_cases, prepare, read_cases, speed_answerable
from advisor.vocabulary.errors import AdvisorError
from advisor.vocabulary.settings import get_settings

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "current_speed_cases.csv"
CURRENT_MODELS = re.compile(r"^(gpt-oss|Qwen3\.[56]|gemma-4|(NVIDIA-)?Nemotron-3|Ministral-3)",
                            re.IGNORECASE)
CURRENT_DEVICES = re.compile(r"RTX 50|RTX PRO|DGX|Ryzen AI Max|MI50|M3 Max|M4 Max|M3 Ultra|"
                             r"M2 Ultra|M5|Arc|R9700", re.IGNORECASE)
TESTS = ("pp512", "tg128")
#: current devices no imported row measured with a current model: questions only
UNMEASURED = ("dgx spark", "rtx pro 6000", "mi50", "m3 max", "m4 max", "m3 ultra", "rtx 5070",
              "rtx 5060 ti 16gb", "arc b580")
QUESTIONS = (("gpt-oss-20b", "MXFP4"), ("gpt-oss-120b", "MXFP4"), ("Qwen3.6-35B-A3B", "UD-Q4_K_XL"),
             ("Qwen3.6-27B", "Q4_K_M"), ("gemma-4-26B-A4B-it", "Q4_K_M"),
             ("gemma-4-31B-it", "Q8_0"), ("Ministral-3-8B-Instruct-2512", "Q4_K_M"),
             ("NVIDIA-Nemotron-3-Nano-30B-A3B", "UD-Q4_K_XL"))


def _alias(name: str, hardware: dict) -> str:
    device = hardware.get(name)
    return device.aliases[0] if device is not None and device.aliases else name


def measured_cases() -> pd.DataFrame:
    frame = load_dataset().speed_frame()
    hardware = load_hardware()
    keep = (frame["model"].str.match(CURRENT_MODELS) & frame["hardware"].str.contains(
        CURRENT_DEVICES) & (frame["n_devices"] == 1) & frame["test"].isin(TESTS)
        & frame["hardware"].isin(list(hardware)) & frame["fork"].isna())
    rows = frame[keep].copy()
    rows["quant_asked"] = np.where(rows["quant_variant"].notna(), rows["quant_as_published"],
                                   rows["quant"])
    rows = rows.drop_duplicates(["hardware", "model", "quant_asked", "test"])
    return pd.DataFrame({
        "model": rows["model"], "quant": rows["quant_asked"],
        "hardware": rows["hardware"].map(lambda n: _alias(n, hardware)), "test": rows["test"],
        "measured_tokens_per_s": rows["tokens_per_s"].round(2), "source_id": rows["source_id"]})


def question_cases() -> pd.DataFrame:
    return pd.DataFrame([{"model": m, "quant": q, "hardware": d, "test": t,
                          "measured_tokens_per_s": "", "source_id": ""}
                         for d in UNMEASURED for m, q in QUESTIONS for t in TESTS])


def main(write: bool) -> None:
    if write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        pd.concat([measured_cases(), question_cases()], ignore_index=True).to_csv(OUT,
                                                                                 index=False)
    asked = read_cases(OUT)
    cases = asked
    try:
        predictors = load_predictors(get_settings().models_dir)
    except AdvisorError as e:  # saved predictors of another version: answerability only
        print(f"(no predictions: {e})")
        query, notes = prepare(asked, load_catalog(), load_hardware())
        answered = speed_answerable(query)
        print(f"{len(cases)} cases; answerable {answered.mean():.1%}")
        return
    out = predict_cases(asked, predictors, load_catalog(), load_hardware())
    answered = out["pred_tokens_per_s"].notna()
    print(f"{len(cases)} cases ({(cases['source_id'] != '').sum()} measured); answered "
          f"{answered.mean():.1%}; predictions for {out['pred_build'].iloc[0]}")
    measured = pd.to_numeric(cases["measured_tokens_per_s"], errors="coerce")
    ape = (out["pred_tokens_per_s"] / measured - 1).abs()
    for test in TESTS:
        m = answered & measured.notna() & (cases["test"] == test)
        print(f"  {test}: {m.sum()} measured cases, median APE {ape[m].median():.1%} "
              "(in sample: these rows are in the training data)")
    for note, n in out.loc[~answered, "pred_note"].value_counts().items():
        print(f"  not answered ({n}): {note}")


if __name__ == "__main__":
    main("--write" in sys.argv)

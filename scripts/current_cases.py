"""Write tests/data/current_speed_cases.csv: speed questions asked by name only (device, model,
quant, test) for current models on current devices, one per imported published row.

The rows are those of measurements/speed.jsonl for models of 2025-2026 (gpt-oss, Qwen3.5/3.6,
Gemma 4, Nemotron 3, Ministral 3) on devices of 2024-2026 (RTX 50xx, RTX PRO 6000, Strix Halo,
Apple M3-M5 Max/Ultra, Intel Arc), single device, pp512 and tg128, named as a user asks:
the catalog's model name, the hardware table's device name and the quant as published (an
uploader's scheme such as UD-Q4_K_XL included). tests/test_current_cases.py checks that the
committed file is what this script writes and that `quant-advisor predict` answers at least
90% of it.

    python scripts/current_cases.py
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "current_speed_cases.csv"
MODELS = re.compile(r"gpt-oss|Qwen3\.[5-9]|gemma-4|Nemotron-3|Ministral-3", re.I)
DEVICES = re.compile(r"RTX 50\d0|RTX PRO 6000|Ryzen AI Max|Strix Halo|M[345] (Max|Ultra)|M5\b|"
                     r"Arc", re.I)
COLUMNS = ("model", "params_b", "quant", "bpw", "task_category", "metric", "hardware", "kind",
           "backend", "bandwidth_gbs", "fp16_tflops", "memory_gb", "test", "measured_tokens_per_s",
           "source_id")


def current_cases(speed_jsonl: Path) -> list[dict[str, str]]:
    """One case per matching row, sorted, with the published names."""
    cases = []
    with speed_jsonl.open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            hardware = str(r["hardware"])
            if not (r.get("model") and MODELS.search(r["model"]) and DEVICES.search(hardware)
                    and r["test"] in ("pp512", "tg128") and (r.get("n_devices") or 1) == 1):
                continue
            cases.append({"model": r["model"],
                          "quant": r["quant_as_published"] or r["quant"] or "",
                          "hardware": hardware, "test": r["test"],
                          "measured_tokens_per_s": f"{r['tokens_per_s']:g}",
                          "source_id": r["source_id"]})
    cases.sort(key=lambda c: tuple(c.values()))
    return cases


def write(cases: list[dict[str, str]], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(cases)


def main() -> int:
    cases = current_cases(ROOT / "measurements" / "speed.jsonl")
    write(cases, OUT)
    print(f"{OUT}: {len(cases)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())

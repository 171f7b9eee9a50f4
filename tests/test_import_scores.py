"""The unified scores table: names, modes, benchmark ids, scales, and the shipped file."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from advisor.data.dataset import default_measurements_dir
from advisor.data.importers.score_names import (
    SCORE_CATEGORIES,
    benchmark_category,
    canonical_benchmark,
)
from advisor.data.importers.scores import SCORE_COLUMNS, SCORE_MODES, score_rows, unscored
from advisor.vocabulary.errors import DataFileError

MODELS = [
    {"name": "Big-8B", "hf_repo": "org/Big-8B-Instruct", "modes": "instruct"},
    {"name": "Hyb-4B", "hf_repo": "org/Hyb-4B", "modes": "hybrid"},
    {"name": "Think-7B", "hf_repo": "org/Think-7B", "modes": "thinking"},
    {"name": "Quiet-1B", "hf_repo": "org/Quiet-1B", "modes": "instruct"},
]
BOARD = ["model_as_in_source", "model", "mode", "benchmark", "category", "score", "scale",
         "setting", "source", "date", "notes"]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture()
def shared(tmp_path: Path) -> Path:
    folder = tmp_path / "catalog"
    _write(folder / "scores.csv", ["model", "arch_model", "benchmark", "task_category", "score",
                                   "scale", "shots/setting", "source"], [
        ["Big-8B", "Big-8B", "MMLU", "knowledge", "60", "percent (0-100)", "5-shot",
         "CARD_X (base table)"],
        ["Big-8B-Instruct", "Big-8B", "MMLU", "knowledge", "70", "percent (0-100)", "0-shot",
         "CARD_X (instruct table)"],
        ["Hyb-4B", "Hyb-4B", "AIME'25", "math", "70", "percent (0-100)",
         "thinking mode (T=0.6)", "QWEN3_TR Table 17"],
        ["Hyb-4B", "Hyb-4B", "AIME'25", "math", "20", "percent (0-100)",
         "non-thinking mode (T=0.7)", "QWEN3_TR Table 18"],
    ])
    boards = folder / "leaderboards"
    _write(boards / "livebench.csv", BOARD, [
        ["big-8b-instruct", "Big-8B-Instruct", "default", "LiveBench reasoning", "reasoning",
         "30.5", "percent (0-100)", "category average", "LB", "2026-01-08", ""],
        ["big-8b-instruct", "Big-8B-Instruct", "default", "LiveBench reasoning/zebra",
         "reasoning", "31", "percent (0-100)", "task", "LB", "2026-01-08", ""],
        ["hyb-4b", "Hyb-4B", "default", "LiveBench mathematics", "math", "50",
         "percent (0-100)", "category average", "LB", "2025-05-30", ""],
    ])
    _write(boards / "artificial_analysis.csv", BOARD, [
        ["Think 7B", "Think-7B", "default", "GPQA Diamond (AA)", "reasoning", "0.5123",
         "fraction (0-1)", "AA", "aa@1:data/2026-07-10/llms.json (AA page payload of x)",
         "2026-07-10", ""],
        ["Other 70B (Reasoning)", "Other-70B", "thinking", "GPQA Diamond (AA)", "reasoning",
         "0.8", "fraction (0-1)", "AA", "aa@1", "2026-07-10", ""],
        ["Big Base", "Big-8B-Base", "default", "GPQA Diamond (AA)", "reasoning", "0.3",
         "fraction (0-1)", "AA", "aa@1", "2026-07-10", ""],
    ])
    _write(boards / "aider.csv", BOARD, [
        ["big:q4", "Big-8B-Instruct", "default", "Aider polyglot pass_rate_2 (x)", "coding",
         "10", "percent (0-100)", "", "aider", "2025-01-01", "QUANTIZED: Ollama q4_K_M"],
        ["big", "Big-8B-Instruct", "default", "Aider polyglot pass_rate_2 (x)", "coding",
         "12", "percent (0-100)", "", "aider", "2025-01-01", "fp16"],
    ])
    _write(folder / "arch" / "x" / "card_scores.csv",
           ["model", "mode", "benchmark", "score", "scale", "setting", "table", "source", "date",
            "notes"], [
        ["Hyb-4B", "default", "GPQA-Diamond (Pass@1)", "55", "percent", "", "card",
         "CARD_H", "2025-09", ""],
        ["Hyb-4B", "default", "MTOB", "50.8/46.7", "chrF", "", "card", "CARD_H", "2025-09", ""],
    ])
    _write(folder / "aliases.csv", ["alias", "model", "mode", "source", "reason"], [
        ["Hyb-4B", "Hyb-4B", "thinking", "card_scores", "card: thinking by default"],
        ["hyb-4b", "", "non-thinking", "livebench", "config sets no thinking"],
    ])
    return folder


def _frame(shared: Path) -> pd.DataFrame:
    return pd.DataFrame(score_rows(shared, MODELS), columns=list(SCORE_COLUMNS))


def test_names_modes_and_ids(shared: Path) -> None:
    rows = _frame(shared)
    got = {(r.variant, r.model, r.mode, r.benchmark, r.score) for r in rows.itertuples()}
    assert got == {
        # the first catalog names a model by its base checkpoint when the repo name differs
        ("Big-8B", "Big-8B", "base", "reported: MMLU", 60.0),
        ("Big-8B-Instruct", "Big-8B", "non-thinking", "reported: MMLU", 70.0),
        ("Hyb-4B", "Hyb-4B", "thinking", "reported: AIME 2025", 70.0),
        ("Hyb-4B", "Hyb-4B", "non-thinking", "reported: AIME 2025", 20.0),
        # LiveBench: category averages only, the release in the id; an instruct model's
        # default is non-thinking, a hybrid's comes from aliases.csv
        ("big-8b-instruct", "Big-8B", "non-thinking", "LiveBench 2026-01-08: reasoning", 30.5),
        ("hyb-4b", "Hyb-4B", "non-thinking", "LiveBench 2025-05-30: mathematics", 50.0),
        # fractions become percent; a model outside the catalog is kept with a blank model;
        # a -Base checkpoint is its own mode
        ("Think 7B", "Think-7B", "thinking", "AA 2026-07-10: GPQA Diamond", 51.23),
        ("Other 70B (Reasoning)", "", "thinking", "AA 2026-07-10: GPQA Diamond", 80.0),
        ("Big Base", "Big-8B", "base", "AA 2026-07-10: GPQA Diamond", 30.0),
        # quantized Aider runs are dropped
        ("big", "Big-8B", "non-thinking", "Aider: polyglot pass_rate_2", 12.0),
        # a card row without a single number is skipped; the spelling is canonical
        ("Hyb-4B", "Hyb-4B", "thinking", "reported: GPQA Diamond", 55.0),
    }
    aa = rows[rows["source_key"] == "AA"]
    assert set(aa["scale"]) == {"0-100 (fraction (0-1), x100)"}
    assert not aa["source"].str.contains("payload").any()
    assert set(rows["category"]) <= set(SCORE_CATEGORIES)
    assert rows.loc[rows["benchmark"] == "LiveBench 2025-05-30: mathematics",
                    "category"].item() == "math"
    assert unscored(score_rows(shared, MODELS), MODELS) == ["Quiet-1B"]


@pytest.mark.parametrize(("line", "match"), [
    (["X", "Nope-1B", "", "", "r"], "'Nope-1B' is not in the catalog"),
    (["X", "Big-8B", "sideways", "", "r"], "mode must be one of"),
    (["X", "Big-8B", "", "", ""], "reason are required"),
])
def test_bad_alias_lines_name_the_line(shared: Path, line: list[str], match: str) -> None:
    _write(shared / "aliases.csv", ["alias", "model", "mode", "source", "reason"], [line])
    with pytest.raises(DataFileError, match=rf"aliases\.csv:2: .*{match}"):
        score_rows(shared, MODELS)


def test_alias_dash_keeps_a_name_out_of_the_catalog(shared: Path) -> None:
    _write(shared / "aliases.csv", ["alias", "model", "mode", "source", "reason"],
           [["Think 7B", "-", "", "", "a different model of the same name"]])
    rows = _frame(shared)
    assert rows.loc[rows["variant"] == "Think 7B", "model"].item() == ""


def test_first_catalog_score_must_name_a_catalog_model(shared: Path) -> None:
    _write(shared / "scores.csv", ["model", "arch_model", "benchmark", "task_category",
                                   "score", "scale", "shots/setting", "source"],
           [["X", "Nope-1B", "MMLU", "knowledge", "1", "p", "", "SRC"]])
    with pytest.raises(DataFileError, match="Nope-1B"):
        score_rows(shared, MODELS)


@pytest.mark.parametrize(("name", "canonical", "category"), [
    ("GPQA-Diamond (Pass@1)", "GPQA Diamond", "reasoning"),
    ("AIME 2025", "AIME 2025", "math"),
    ("AIME25 (with tools)", "AIME25 (with tools)", "math"),
    ("MMLU Pro (5-shot CoT)", "MMLU-Pro", "knowledge"),
    ("MMLU-ProX", "MMLU-ProX", "language"),
    ("LiveCodeBench (v5)", "LiveCodeBench v5", "coding"),
    ("SWE-bench Verified (Agentic Coding)", "SWE-bench Verified", "agentic"),
    ("Multi-SWE-Bench", "Multi-SWE-bench", "agentic"),
    ("BFCL v3 (tool use)", "BFCL v3", "agentic"),
    ("Arena-Hard v2*", "Arena-Hard v2", "instruction_following"),
    ("MathVista", "MathVista", "other"),
    ("MMLU (5-shot) German", "MMLU German", "language"),
    ("IMOAnswerBench", "IMOAnswerBench", "math"),
])
def test_benchmark_names(name: str, canonical: str, category: str) -> None:
    assert canonical_benchmark(name) == canonical
    assert benchmark_category(canonical) == category


# ---- the shipped table ----
@pytest.fixture(scope="module")
def shipped() -> pd.DataFrame:
    return pd.read_csv(default_measurements_dir() / "catalog" / "scores.csv",
                       keep_default_na=False)


def test_shipped_scores_table(shipped: pd.DataFrame) -> None:
    assert tuple(shipped.columns) == SCORE_COLUMNS
    assert set(shipped["mode"]) <= set(SCORE_MODES)
    assert set(shipped["category"]) <= set(SCORE_CATEGORIES)
    # one category per benchmark id
    assert (shipped.groupby("benchmark")["category"].nunique() == 1).all()
    assert not shipped["setting"].str.contains("QUANTIZED").any()
    # LiveBench's qwen3-30b-a3b-thinking is the hybrid Qwen3-30B-A3B in thinking mode
    lb = shipped[shipped["variant"] == "qwen3-30b-a3b-thinking"]
    assert set(zip(lb["model"], lb["mode"], strict=True)) == {("Qwen3-30B-A3B", "thinking")}
    # base checkpoints keep their own mode and never stand in for the released model
    base = shipped[shipped["variant"].isin(["Qwen2.5-32B", "Qwen3-32B-Base", "gemma-3-27b-pt",
                                            "Llama-3.1-8B"])]
    assert len(base) > 50 and set(base["mode"]) == {"base"}
    qwen3 = shipped[(shipped["model"] == "Qwen3-32B") & (shipped["mode"] != "base")]
    assert {"thinking", "non-thinking"} <= set(qwen3["mode"])
    # gpt-oss: the efforts a source states; LiveBench's run states none (left out of the fit)
    assert set(shipped.loc[shipped["model"] == "gpt-oss-120b", "mode"]) == {"high", "low",
                                                                            "default"}
    # closed anchors and other open models are kept with a blank model
    assert (shipped["model"] == "").sum() > 1000

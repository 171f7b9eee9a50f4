"""File bytes and their breakdown for placement and MoE speed."""

from __future__ import annotations

import gguf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from weights_fixtures import catalog, thireus_layouts, with_gaps_filled

from advisor.data.quant_rules import QuantOptions
from advisor.data.tensors import supported_architectures, tensor_layout
from advisor.data.weights import (
    ALIGNMENT,
    ggml_bytes,
    header_bytes,
    weights_breakdown,
    weights_bytes,
)

LADDER = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "IQ3_XXS", "IQ2_XXS")


def _buildable() -> list[str]:
    archs = catalog()
    out = []
    for name, arch in sorted(archs.by_name.items()):
        if arch.gguf_arch in supported_architectures():
            try:
                tensor_layout(with_gaps_filled(archs, name))
            except ValueError:
                continue
            out.append(name)
    return out


BUILDABLE = _buildable()


def test_block_sizes_come_from_the_gguf_package():
    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q4_K]
    assert ggml_bytes("Q4_K", (4096, 14336)) == 14336 * 4096 // block * size
    assert ggml_bytes("F32", (7,)) == 28
    assert ggml_bytes("MXFP4", (2880, 2880, 32)) == 2880 * 32 * 2880 // 32 * 17


def test_bf16_tensor_bytes_equal_the_published_bf16_maps():
    """Thireus's BF16 maps give every tensor's bytes: the BF16 file's tensor data is exactly
    their sum (each tensor padded to 32 bytes, which these shapes already are)."""
    layouts = thireus_layouts()
    for model in ("Qwen3.5-27B", "GLM-4.7-Flash", "gemma-4-31B-it", "Qwen3-4B-Instruct-2507"):
        b = weights_breakdown(with_gaps_filled(catalog(), model), "BF16")
        assert b.tensor_bytes == layouts[model]["n_bytes"], model


@pytest.mark.parametrize("model", ["Qwen3-14B", "Qwen3-30B-A3B", "gpt-oss-20b",
                                   "GLM-4.5-Air", "Qwen3.5-35B-A3B", "gemma-4-E4B-it"])
def test_breakdown_parts_add_up(model):
    b = weights_breakdown(with_gaps_filled(catalog(), model), "Q4_K_M")
    assert sum(b.layer_bytes) + b.non_repeating_bytes + b.mtp_bytes == b.tensor_bytes
    assert b.file_bytes == b.tensor_bytes + b.header_bytes
    assert b.loaded_bytes == b.tensor_bytes - b.mtp_bytes
    assert all(t.n_bytes % ALIGNMENT == 0 for t in b.tensors)
    assert all(e <= lb for e, lb in zip(b.expert_bytes, b.layer_bytes, strict=True))
    assert b.active_bytes_per_token <= b.loaded_bytes


def test_dense_model_reads_every_layer_per_token():
    b = weights_breakdown(catalog().get("Qwen3-14B"), "Q4_K_M")
    assert sum(b.expert_bytes) == 0 and b.mtp_bytes == 0
    embd = b.named_bytes("token_embd.weight")
    expected = b.loaded_bytes - embd + embd // 151936
    assert b.active_bytes_per_token == expected


def test_moe_reads_its_share_of_the_experts():
    """Qwen3-30B-A3B: 8 of 128 experts per token; about 3.3B of 30.5B parameters active."""
    b = weights_breakdown(catalog().get("Qwen3-30B-A3B"), "Q8_0")
    experts = sum(b.expert_bytes)
    assert experts > 0.9 * b.tensor_bytes
    assert b.active_bytes_per_token == pytest.approx(
        b.loaded_bytes - experts * 120 / 128 - b.named_bytes("token_embd.weight"), rel=1e-3)
    assert 3.0e9 < b.active_bytes_per_token / (8.5 / 8) < 3.6e9


def test_glm_nextn_layer_is_in_the_file_but_not_loaded():
    b = weights_breakdown(with_gaps_filled(catalog(), "GLM-4.5-Air"), "Q4_K_M")
    assert b.mtp_bytes > 0 and len(b.layer_bytes) == 46
    assert weights_breakdown(with_gaps_filled(catalog(), "GLM-4.5-Air"), "Q4_K_M",
                             mtp=False).tensor_bytes == b.loaded_bytes


def test_tied_output_is_the_embedding_table():
    b = weights_breakdown(catalog().get("gemma-3-4b"), "Q4_K_M")
    assert b.output_bytes == b.named_bytes("token_embd.weight") > 0


def test_header_estimate_is_near_llama_cpp_vocab_files():
    """llama.cpp's vocab-only GGUFs (models/ggml-vocab-*.gguf): the estimate for a vocabulary
    that is not in its table is within 10% of the measured file (phi-3 32064 tokens: 726019
    bytes; llama-spm: 723869; deepseek-llm 102400: 3970167)."""
    archs = catalog()
    for model, update, vocab_file_bytes in (
            ("Phi-3-mini-4k-instruct", {"vocab_size": 32064}, 726_019),
            ("Mistral-7B-v0.3", {"vocab_size": 32000}, 723_869),
            ("Qwen3-8B", {"vocab_size": 102400}, 3_970_167)):
        arch = archs.get(model).model_copy(update=update)
        layout = tensor_layout(arch)
        index = sum(8 + len(s.name) + 4 + 8 * len(s.shape) + 12 for s in layout)
        assert header_bytes(arch, layout) - index == pytest.approx(vocab_file_bytes, rel=0.1)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(BUILDABLE), st.integers(0, len(LADDER) - 2))
def test_more_bits_never_make_a_smaller_file(model, i):
    arch = with_gaps_filled(catalog(), model)
    assert weights_bytes(arch, LADDER[i]) >= weights_bytes(arch, LADDER[i + 1])


def test_qwen3_14b_q8_0_is_the_published_15_70_gb():
    """The issue's example: bartowski's Qwen_Qwen3-14B-Q8_0.gguf, 15.70 GB."""
    size = weights_bytes(catalog().get("Qwen3-14B"), "Q8_0", QuantOptions())
    assert size == pytest.approx(15.70e9, rel=0.003)

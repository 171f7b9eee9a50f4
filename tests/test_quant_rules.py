"""llama-quantize's per-tensor type choice, case by case (llama.cpp 0c1e570, llama-quant.cpp)."""

from __future__ import annotations

from collections import Counter

import pytest
from weights_fixtures import catalog

from advisor.data.quant_rules import (
    QAT_Q4_0,
    QuantOptions,
    allows_quantization,
    canonical_quant,
    category,
    tensor_types,
)
from advisor.data.tensors import TensorSpec, tensor_layout
from advisor.vocabulary.errors import UnknownNameError


def types_of(model: str, quant: str, opts: QuantOptions | None = None, **update):
    arch = catalog().get(model).model_copy(update=update)
    layout = tensor_layout(arch)
    return {s.name: t for s, t in zip(layout, tensor_types(arch, layout, quant, opts),
                                       strict=True)}


def kinds(types: dict[str, str], kind: str) -> Counter[str]:
    return Counter(t for n, t in types.items() if n.endswith(kind))


@pytest.mark.parametrize(("given", "expected"), [
    ("q4_k_m", "Q4_K_M"), ("Q4_K", "Q4_K_M"), ("MXFP4_MOE", "MXFP4"), ("iq2-xxs", "IQ2_XXS"),
    ("bf16", "BF16"),
])
def test_file_type_names(given, expected):
    assert canonical_quant(given) == expected


def test_unknown_file_type_suggests_close_names():
    with pytest.raises(UnknownNameError, match="Did you mean 'Q4_K_M'"):
        canonical_quant("Q4_KM")


@pytest.mark.parametrize(("name", "shape", "allowed"), [
    ("blk.0.attn_q.weight", (4096, 4096), True),
    ("blk.0.attn_norm.weight", (4096,), False),
    ("blk.0.ffn_gate_inp.weight", (2048, 128), False),     # MoE router
    ("blk.0.ssm_conv1d.weight", (4, 8192), False),
    ("blk.0.ffn_gate_inp_shexp.weight", (2048, 1), False),  # one row: not 2-D for ggml
    ("blk.0.ssm_out.weight", (6144, 5120), True),
    ("blk.0.attn_q.bias", (4096, 2), False),
])
def test_which_tensors_are_quantized(name, shape, allowed):
    assert allows_quantization(TensorSpec(name, shape, "BF16", 0)) is allowed


@pytest.mark.parametrize(("name", "cat"), [
    ("token_embd.weight", "token_embd"), ("per_layer_token_embd.weight", "token_embd"),
    ("output.weight", "output"), ("blk.3.attn_qkv.weight", "attn_qkv"),
    ("blk.3.ffn_down_exps.weight", "ffn_down"), ("blk.3.ffn_gate_up_exps.weight", "ffn_gate"),
    ("blk.3.attn_k_b.weight", "other"), ("blk.3.ssm_out.weight", "other"),
])
def test_categories(name, cat):
    assert category(name) == cat


def test_q4_k_m_mix_on_a_32_layer_model():
    """Q6_K for attn_v and ffn_down in the first and last four layers and every third between
    (16 of 32), Q6_K output, Q4_K elsewhere (embeddings included)."""
    t = types_of("Llama-3.1-8B", "Q4_K_M")
    assert kinds(t, "attn_v.weight") == {"Q6_K": 16, "Q4_K": 16}
    assert kinds(t, "ffn_down.weight") == {"Q6_K": 16, "Q4_K": 16}
    assert t["blk.0.attn_v.weight"] == t["blk.6.attn_v.weight"] == "Q6_K"
    assert t["blk.5.attn_v.weight"] == "Q4_K"
    assert t["output.weight"] == "Q6_K" and t["token_embd.weight"] == "Q4_K"
    assert t["blk.0.attn_norm.weight"] == "F32" and t["rope_freqs.weight"] == "F32"


def test_q3_k_m_mix():
    t = types_of("Llama-3.1-8B", "Q3_K_M")
    assert kinds(t, "attn_v.weight") == {"Q5_K": 2, "Q4_K": 30}
    assert kinds(t, "ffn_down.weight") == {"Q5_K": 2, "Q4_K": 30}
    assert kinds(t, "attn_output.weight") == {"Q4_K": 32}
    assert kinds(t, "ffn_up.weight") == {"Q3_K": 32}


@pytest.mark.parametrize(("quant", "embd", "output"), [
    ("Q4_K_M", "Q6_K", None), ("Q4_0", "Q6_K", None), ("Q8_0", "Q8_0", None),
    ("IQ2_XXS", "Q5_K", None), ("BF16", "BF16", None),
])
def test_tied_embeddings_quantize_like_the_output(quant, embd, output):
    t = types_of("gemma-3-4b", quant)
    assert t["token_embd.weight"] == embd and "output.weight" not in t


def test_iq2_mixes_lower_the_untied_embeddings():
    t = types_of("Llama-3.1-8B", "IQ2_XXS")
    assert t["token_embd.weight"] == "Q2_K" and t["output.weight"] == "Q5_K"
    assert kinds(t, "attn_v.weight") == {"Q4_K": 32}  # grouped-query attention (32/8 heads)
    assert kinds(t, "ffn_down.weight") == {"Q2_K": 4, "IQ2_XXS": 28}


def test_rows_that_are_no_whole_number_of_blocks_fall_back():
    """gpt-oss rows of 2880 values are not whole 256-value k-quant blocks: Q4_K -> Q5_0,
    Q6_K -> Q8_0; its experts stay MXFP4 as the checkpoint ships them."""
    t = types_of("gpt-oss-20b", "Q4_K_M")
    assert kinds(t, "attn_q.weight") == {"Q5_0": 24}
    assert t["output.weight"] == "Q8_0" and t["token_embd.weight"] == "Q5_0"
    assert kinds(t, "ffn_up_exps.weight") == {"MXFP4": 24}
    t = types_of("gpt-oss-20b", "IQ4_XS")
    assert kinds(t, "attn_q.weight") == {"IQ4_NL": 24}
    assert kinds(t, "attn_output.weight") == {"IQ4_XS": 24}  # rows of 64 x 64 values


def test_mxfp4_moe_keeps_experts_and_makes_the_rest_q8_0():
    t = types_of("Qwen3-30B-A3B", "MXFP4")
    assert kinds(t, "ffn_down_exps.weight") == {"MXFP4": 48}
    assert kinds(t, "attn_q.weight") == {"Q8_0": 48} and t["output.weight"] == "Q8_0"
    assert t["blk.0.ffn_gate_inp.weight"] == "F32"


def test_moe_ffn_down_bumps_follow_the_layer_in_the_name():
    t = types_of("Qwen3-30B-A3B", "Q4_K_M")
    down = {int(n.split(".")[1]): v for n, v in t.items() if n.endswith("ffn_down_exps.weight")}
    assert [i for i, v in sorted(down.items()) if v == "Q6_K"][:6] == [0, 1, 2, 3, 4, 5]
    assert down[6] == "Q4_K" and down[8] == "Q6_K"


def test_70b_attn_v_bump():
    """Llama 70B (80 layers, GQA) and Qwen2 with 80 layers get Q5_K attn_v over Q3_K/Q4_K."""
    assert kinds(types_of("Llama-3.1-70B", "Q3_K_S"), "attn_v.weight") == {"Q5_K": 80}
    assert kinds(types_of("Qwen2.5-72B", "Q3_K_S"), "attn_v.weight") == {"Q5_K": 80}
    assert kinds(types_of("Qwen2.5-32B", "Q3_K_S"), "attn_v.weight") == {"Q3_K": 64}


def test_fused_qkv_rule_now_and_before():
    """phi-4's fused attn_qkv: treated like attn_v now (GQA 40/10: Q2_K -> Q4_K), its own
    rule before the 2026 refactor (Q2_K stays, Q4_K_M -> Q5_K)."""
    assert kinds(types_of("phi-4", "Q2_K"), "attn_qkv.weight") == {"Q4_K": 40}
    legacy = QuantOptions(legacy_qkv=True)
    assert kinds(types_of("phi-4", "Q2_K", legacy), "attn_qkv.weight") == {"Q2_K": 40}
    assert kinds(types_of("phi-4", "Q4_K_M", legacy), "attn_qkv.weight") == {"Q5_K": 40}


def test_gated_deltanet_qkv_counts_with_attention_v():
    """Qwen3.5-27B: 48 linear-attention attn_qkv + 16 attn_v, counted in file order."""
    t = types_of("Qwen3.5-27B", "Q4_K_M")
    bumped = [n for n, v in t.items() if ("attn_qkv" in n or "attn_v." in n) and v == "Q6_K"]
    assert len(bumped) == 8 + 8 + 16  # n = 64: first/last eighth and every third between
    assert t["blk.0.ssm_alpha.weight"] == "Q4_K" and t["blk.0.ssm_a"] == "F32"


@pytest.mark.parametrize(("quant", "imatrix", "expected"), [
    ("IQ4_XS", False, {"Q5_K": 5, "IQ4_XS": 35}), ("IQ4_XS", True, {"IQ4_XS": 40}),
    ("Q4_0", True, {"Q4_1": 5, "Q4_0": 35}), ("Q4_0", False, {"Q4_0": 40}),
])
def test_importance_matrix_changes_ffn_down(quant, imatrix, expected):
    t = types_of("Qwen3-14B", quant, QuantOptions(imatrix=imatrix))
    assert kinds(t, "ffn_down.weight") == expected


def test_qat_q4_0_keeps_embeddings_in_f16():
    t = types_of("gemma-3-27b", "Q4_0", QAT_Q4_0)
    assert t["token_embd.weight"] == "F16"
    assert set(kinds(t, "ffn_down.weight")) == {"Q4_0"}

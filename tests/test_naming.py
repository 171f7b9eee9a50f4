"""Tests for advisor.data.naming: model names and quant labels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from advisor.data.naming import normalise_model, parse_quant_label, size_to_bytes
from advisor.vocabulary.errors import InvalidInputError, UnknownNameError


@pytest.mark.parametrize(
    ("published", "canonical", "family", "instruct", "remark"),
    [
        ("Meta-Llama-3-8B", "Llama-3-8B", "Llama 3", None, ""),
        ("Meta-Llama-3.1-8B", "Llama-3.1-8B", "Llama 3.1", None, ""),
        ("Mistral-7B (as named in source)", "Mistral-7B", "Mistral", None, "as named in source"),
        ("Meta-Llama-3-70B (variant not stated)", "Llama-3-70B", "Llama 3", None,
         "variant not stated"),
        ("Qwen2.5-7B-Instruct", "Qwen2.5-7B-Instruct", "Qwen2.5", True, ""),
        ("gemma-2-9b", "gemma-2-9b", "Gemma 2", None, ""),
        ("gemma-2-9b-it", "gemma-2-9b-it", "Gemma 2", True, ""),
        ("Gemma-3-27B (Google QAT checkpoint)", "gemma-3-27b", "Gemma 3", None,
         "Google QAT checkpoint"),
        ("DeepSeek-V3", "DeepSeek-V3", "DeepSeek-V3", None, ""),
        ("DeepSeek-R1-Distill-Qwen-32B", "DeepSeek-R1-Distill-Qwen-32B", "DeepSeek-R1-Distill",
         None, ""),
        ("LLaMA-1-7B", "Llama-1-7B", "Llama 1", None, ""),
        ("Qwen1.5-7B-Chat", "Qwen1.5-7B-Chat", "Qwen1.5", True, ""),
        ("Llama-3-Chinese-8B (base)", "Llama-3-Chinese-8B", "Llama 3", False, "base"),
        ("deepseek-coder-6.7b-instruct", "DeepSeek-Coder-6.7B-Instruct", "DeepSeek-Coder", True,
         ""),
        ("(any; type nominal)", "any", None, None, "any; type nominal"),
        ("Qwen3.6-35B-A3B", "Qwen3.6-35B-A3B", "Qwen3.6", None, ""),
        ("gemma-4-31B-it", "gemma-4-31B-it", "Gemma 4", True, ""),
        ("GLM-4.5-Air", "GLM-4.5-Air", "GLM", None, ""),
        ("Kimi-K2.5", "Kimi-K2.5", "Kimi", None, ""),
    ],
)
def test_normalise_model(published: str, canonical: str, family: str | None,
                         instruct: bool | None, remark: str) -> None:
    name = normalise_model(published)
    assert (name.canonical, name.family, name.instruct, name.remark) == (
        canonical, family, instruct, remark)
    assert name.as_published == published
    assert "(" not in name.canonical


@pytest.mark.parametrize(
    ("published", "params_b", "moe", "active"),
    [
        ("Qwen3-30B-A3B-Instruct-2507", 30.5, True, 3.0),   # catalog
        ("Qwen2-57B-A14B-Instruct", 57.0, True, 14.0),      # stated in the name
        ("Mixtral-8x7B-Instruct-v0.1", 46.7, True, None),   # MoE, active not stated
        ("DeepSeek-R1", 671.0, True, None),
        ("gpt-oss-120b", 116.8, True, 5.1),                 # model card (MOE_ACTIVE_PARAMS)
        ("Llama-3.1-8B", 8.0, False, None),
    ],
)
def test_moe_and_active_params(published: str, params_b: float, moe: bool,
                               active: float | None) -> None:
    name = normalise_model(published, params_b)
    assert (name.moe, name.active_params_b) == (moe, active)


def test_catalog_spelling_is_preferred() -> None:
    assert normalise_model("Gemma-2-9B").canonical == "gemma-2-9b"
    assert normalise_model("Qwen2.5-7B-Instruct").base == "Qwen2.5-7B"
    assert normalise_model("Qwen2.5-7B-Instruct").in_catalog


@pytest.mark.parametrize(("name", "params_b"), [("", None), ("   ", None), ("Llama-3-8B", 0.0),
                                                ("Llama-3-8B", -1.0)])
def test_normalise_model_rejects_bad_input(name: str, params_b: float | None) -> None:
    with pytest.raises(InvalidInputError):
        normalise_model(name, params_b)


@pytest.mark.parametrize(
    ("label", "quant", "base_type", "variant", "imatrix", "not_gguf", "flag"),
    [
        ("Q4_K_M", "Q4_K_M", None, None, None, False, None),
        ("Q4_K_M [imatrix WT 10m]", "Q4_K_M", None, "imatrix", True, False, "imatrix_data:WT 10m"),
        ("Q2_K [unsloth]", "Q2_K", None, "unsloth", None, False, None),
        ("Q4_K_M [bartowski]", "Q4_K_M", None, "bartowski", None, False, None),
        ("IQ2_XS (pure; Q8_0 token_embd/output)", None, "IQ2_XS", "pure", None, False, "pure"),
        ("q4_K [pure; imatrix]", None, "Q4_K_M", "pure", True, False, "pure_type:Q4_K"),
        ("iq2_kt [pure; imatrix; ik_llama.cpp-only type]", None, None, "pure", True, False,
         "ik_llama_type"),
        ("IQ4_KS [from QAT weights; pure; imatrix; ik type]", None, None, "pure", True, False,
         "qat"),
        ("Q8_0 (non-QAT)", "Q8_0", None, None, None, False, None),
        ("Q4_K_L [bartowski]", None, "Q4_K_M", "bartowski", None, False, "non_catalog_mix"),
        ("Q6_K_L [bartowski]", None, "Q6_K", "bartowski", None, False, "non_catalog_mix"),
        ("UD_Q2_K_XL [unsloth]", None, "Q2_K", "unsloth-dynamic", None, False,
         "non_catalog_mix"),
        ("IQ4_XS [mradermacher]", "IQ4_XS", None, "mradermacher", None, False, None),
        ("smol-IQ4_NL [ubergarm]", None, "IQ4_NL", "ubergarm", None, False,
         "recipe:smol-IQ4_NL"),
        ("DQ4_K_R4 [anikifoss]", None, "Q4_K_M", "anikifoss", None, False, "non_catalog_mix"),
        ("Q4_K_M-NAIVE [eaddario]", None, "Q4_K_M", "eaddario", None, False, "non_catalog_mix"),
        ("IQK-6 mix [no imatrix, w=1; ik_llama.cpp]", None, None, None, False, False,
         "imatrix_data:none"),
        ("opt-rtn (2bit) [AutoRound iters=0]", None, None, "auto_round", None, False,
         "bit_class:2"),
        ("MXFP4_MOE", "MXFP4", None, None, None, False, None),  # llama-quantize's preset
        ("MXFP4 RTN [torchao]", None, None, "torchao", None, True, "RTN"),
        ("transformers 4bitnf4 (bitsandbytes)", None, None, "bitsandbytes", None, True, None),
        ("Original weights", None, "BF16", None, None, False, None),
        ("Q2_K_XL [Unsloth]", None, "Q2_K", "unsloth", None, False, "non_catalog_mix"),
        ("UD-Q2_K_XL", None, "Q2_K", "unsloth-dynamic", None, False, "non_catalog_mix"),
        ("Q4_K_XL [Unsloth Dynamic 2.0]", None, "Q4_K_M", "unsloth-dynamic", None, False, None),
        ("Q3_K_XS", None, "Q3_K_S", None, None, False, "non_catalog_mix"),
        ("DQ3_K_M", None, "Q3_K_M", "dynamic-mix", None, False, None),
        ("Q2_K_L [bartowski]", None, "Q2_K", "bartowski", None, False, None),
        ("Q3_K_S [ikawrakow improved quants]", "Q3_K_S", None, "ikawrakow-new", None, False,
         None),
        ("Q2_K_S [Optimized RTN]", "Q2_K_S", None, "auto_round", None, False, "optimized_rtn"),
        ("Q5_K", "Q5_K_M", None, None, None, False, None),
        ("FP16", "F16", "F16", None, None, False, None),
        ("FP8", None, None, None, None, True, "fp8"),
        ("BF16/FP16", None, "BF16", None, None, False, "float_type_not_stated:BF16/FP16"),
        ("RTN W4A16 g128", None, None, "rtn", None, True, "W4A16"),
        ("SmoothQuant W8A8 per-channel", None, None, "smoothquant", None, True, "W8A8"),
        ("NormalFloat W4", None, None, "normalfloat", None, True, "W4"),
        ("1 bit [Unsloth Dynamic]", None, None, "unsloth-dynamic", None, False, "bit_class:1"),
        ("mixed Q2_K_S/Q4_K_S avg 3.5 bits [auto_round auto-scheme, fake-quant]", None, None,
         "auto_round", None, False, "fake_quant"),
        ("Q1_0", None, None, None, None, False, "non_catalog_type"),
    ],
)
def test_parse_quant_label(label: str, quant: str | None, base_type: str | None,
                           variant: str | None, imatrix: bool | None, not_gguf: bool,
                           flag: str | None) -> None:
    parsed = parse_quant_label(label)
    assert (parsed.quant, parsed.base_type, parsed.variant, parsed.imatrix, parsed.not_gguf) == (
        quant, base_type, variant, imatrix, not_gguf)
    if flag is not None:
        assert flag in parsed.flags
    assert parsed.as_published == label


@pytest.mark.parametrize(("label", "quant", "cache_type", "flag"), [
    ("Q8_0 [kv q4_0]", "Q8_0", "q4_0", None),
    ("Q4_0 [kv q8_0] rot", "Q4_0", "q8_0", "kv_rotation"),
    ("F16 [kv k=q8_0 v=f16]", "F16", "k=q8_0,v=f16", None),
    ("Q8_0 [kv-k q8_kv]", "Q8_0", "k=q8_kv,v=f16", None),
    ("Q8_0 [kv q4_0] -khad -vhad", "Q8_0", "q4_0", "kv_hadamard_v"),
    ("FP16 [kv fp16]", "F16", "f16", None),
    ("EXL2 4.0 bpw [kv q4, pre-0.0.18 method]", None, "q4", "kv_note:pre-0.0.18 method"),
    ("UD-Q4_K_XL [unsloth] [kv q8_0]", None, "q8_0", "non_catalog_mix"),
    ("(unsloth GGUF, type not stated) [kv q8_0]", None, "q8_0", "type_not_stated"),
    ("Q4_K_M", "Q4_K_M", None, None),
])
def test_cache_type_tags(label: str, quant: str | None, cache_type: str | None,
                         flag: str | None) -> None:
    parsed = parse_quant_label(label)
    assert (parsed.quant, parsed.cache_type) == (quant, cache_type)
    if flag is not None:
        assert flag in parsed.flags


@pytest.mark.parametrize(("label", "nbytes"), [
    ("IQ1_M [Unsloth Dynamic, 206 GB]", 206 * 10**9),
    ("IQ2_M [other community imatrix GGUF, 215 GB]", 215 * 10**9),
    ("Q4_K_M", None),
])
def test_size_inside_label(label: str, nbytes: int | None) -> None:
    assert parse_quant_label(label).file_bytes == nbytes


@pytest.mark.parametrize(("label", "error"), [("", InvalidInputError),
                                              ("banana", UnknownNameError)])
def test_parse_quant_label_rejects(label: str, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        parse_quant_label(label)
    assert repr(label) in str(info.value) or label == ""


@pytest.mark.parametrize(("number", "unit", "nbytes"), [("1", "GiB", 2**30), ("1", "GB", 10**9),
                                                        ("302", "MB", 302 * 10**6),
                                                        ("2", "G", 2 * 2**30)])
def test_size_to_bytes(number: str, unit: str, nbytes: int) -> None:
    assert size_to_bytes(number, unit) == nbytes


def test_size_to_bytes_rejects_unknown_unit() -> None:
    with pytest.raises(InvalidInputError, match="unit"):
        size_to_bytes("3", "parsecs")


@given(st.sampled_from(["Q4_K_M", "IQ2_XS", "Q8_0", "Q2_K_XL", "RTN W4A16 g128"]),
       st.text(alphabet="abcdefghijklmnopqrstuvwxyz _-", min_size=1, max_size=12))
def test_a_bracketed_tag_never_changes_the_type(label: str, tag: str) -> None:
    plain, tagged = parse_quant_label(label), parse_quant_label(f"{label} [{tag}]")
    assert (tagged.quant, tagged.base_type) == (plain.quant, plain.base_type)


@given(st.text(min_size=1, max_size=40).filter(lambda s: s.strip()))
def test_normalise_model_is_total_and_idempotent(name: str) -> None:
    first = normalise_model(name)
    assert first.canonical
    assert normalise_model(first.canonical).canonical == first.canonical

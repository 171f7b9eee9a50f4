"""Memory estimate: hand-computed examples, SWA, cache types, monotonicity, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from advisor.data.catalog import ModelSpec
from advisor.recommender.kv_cache import CACHE_TYPE_BYTES, LLAMA_CTX_PAD
from advisor.recommender.memory import (
    ACTIVATION_TENSORS,
    CPU_RUNTIME_OVERHEAD_BYTES,
    RUNTIME_OVERHEAD_BYTES,
    VOCAB_HEAP_BYTES_PER_TOKEN,
    estimate_memory,
    host_compute_buffer_bytes,
    host_work_buffer_bytes,
    kv_cache_bytes,
    per_device_bytes,
)
from advisor.vocabulary.errors import InvalidInputError, UnknownNameError
from advisor.vocabulary.quants import get_quant
from advisor.vocabulary.units import GIB, MIB, format_bytes

# Numbers as in the catalog (architectures.csv: LLAMA_SKU / GEMMA_JAX configs).
LLAMA_8B = ModelSpec(name="Llama-3.1-8B", family="Llama 3.1", params_b=8.0, n_layers=32,
                     hidden_size=4096, n_heads=32, n_kv_heads=8, head_dim=128,
                     vocab_size=128256, max_context=131072)
GEMMA3_12B = ModelSpec(name="gemma-3-12b", family="Gemma 3", params_b=11.77, n_layers=48,
                       hidden_size=3840, n_heads=16, n_kv_heads=8, head_dim=256,
                       vocab_size=262144, max_context=131072, sliding_window=1024,
                       n_swa_layers=40, n_full_attn_layers=8)
GEMMA3_NO_SWA = GEMMA3_12B.model_copy(update={"sliding_window": None, "n_swa_layers": 0,
                                              "n_full_attn_layers": None})


def test_llama_8k_f16_kv_is_one_gib() -> None:
    assert kv_cache_bytes(LLAMA_8B, context=8192) == 2 * 32 * 8 * 128 * 8192 * 2 == GIB


def test_llama_breakdown_hand_computed() -> None:
    m = estimate_memory(LLAMA_8B, bpw=4.0, context=8192, batch=512)
    assert m.weights_bytes == 4 * 10**9
    assert m.kv_cache_bytes == GIB
    assert m.compute_buffer_bytes == 512 * 128256 * 4 + ACTIVATION_TENSORS * 512 * 4096 * 4
    assert m.overhead_bytes == RUNTIME_OVERHEAD_BYTES
    assert m.total_bytes == (m.weights_bytes + m.kv_cache_bytes + m.compute_buffer_bytes
                             + m.overhead_bytes)
    assert m.as_dict()["total_bytes"] == m.total_bytes
    assert any("estimate" in a for a in m.assumptions)


def test_gemma3_swa_layers_hold_only_the_window() -> None:
    # llama.cpp layout, period 6: 8 global layers, 40 sliding-window layers; a sliding layer
    # keeps the window plus one micro-batch (512), rounded up to 256 cells: 1536
    swa = kv_cache_bytes(GEMMA3_12B, context=32768)
    assert swa == 2 * 8 * 256 * 2 * (8 * 32768 + 40 * 1536)
    # --swa-full (llama-cpp-python's default) keeps the whole context in every layer
    assert kv_cache_bytes(GEMMA3_12B, context=32768, swa_full=True) == \
        kv_cache_bytes(GEMMA3_NO_SWA, context=32768)
    assert swa < kv_cache_bytes(GEMMA3_NO_SWA, context=32768) / 4
    # below the window SWA changes nothing
    assert kv_cache_bytes(GEMMA3_12B, context=512) == kv_cache_bytes(GEMMA3_NO_SWA, context=512)


def test_cache_types_order() -> None:
    sizes = [kv_cache_bytes(LLAMA_8B, context=4096, cache_type=t)
             for t in ("f32", "f16", "q8_0", "q4_0")]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 4
    assert sizes[2] == 2 * 32 * 8 * 128 * 4096 * 34 // 32


def test_weights_file_size_wins_and_quant_uses_typical_bpw() -> None:
    by_file = estimate_memory(LLAMA_8B, quant="Q4_K_M", weights_bytes=123_456_789)
    assert by_file.weights_bytes == 123_456_789
    by_quant = estimate_memory(LLAMA_8B, quant="q4_k_m")
    assert by_quant.weights_bytes == pytest.approx(8e9 * get_quant("Q4_K_M").typical_bpw / 8,
                                                   abs=1)


def test_without_flash_attention_scores_are_added() -> None:
    fa = estimate_memory(LLAMA_8B, bpw=8, context=4096)
    no_fa = estimate_memory(LLAMA_8B, bpw=8, context=4096, flash_attn=False)
    assert no_fa.compute_buffer_bytes - fa.compute_buffer_bytes == 512 * 32 * 4096 * 4


@given(st.integers(1, 131072), st.integers(1, 131072), st.sampled_from(sorted(CACHE_TYPE_BYTES)))
def test_monotone_in_context(c1: int, c2: int, cache_type: str) -> None:
    lo, hi = sorted((c1, c2))
    for spec in (LLAMA_8B, GEMMA3_12B):
        a = estimate_memory(spec, bpw=4.5, context=lo, cache_type=cache_type)
        b = estimate_memory(spec, bpw=4.5, context=hi, cache_type=cache_type)
        assert a.kv_cache_bytes <= b.kv_cache_bytes and a.total_bytes <= b.total_bytes


@given(st.floats(0.5, 32), st.floats(0.5, 32))
def test_monotone_in_bpw(b1: float, b2: float) -> None:
    lo, hi = sorted((b1, b2))
    assert estimate_memory(LLAMA_8B, bpw=lo).total_bytes <= \
        estimate_memory(LLAMA_8B, bpw=hi).total_bytes


@given(st.integers(1, 8))
def test_sequences_scale_the_cache(n_seq: int) -> None:
    one = kv_cache_bytes(LLAMA_8B, context=2048)
    assert kv_cache_bytes(LLAMA_8B, context=2048, n_seq=n_seq) == one * n_seq


INCOMPLETE = ModelSpec(name="Distill-7B", family="D", params_b=7.6)


@pytest.mark.parametrize(("spec", "kwargs", "error", "match"), [
    (LLAMA_8B, {"bpw": 4, "context": 200_000}, InvalidInputError,
     r"200000 tokens exceeds Llama-3.1-8B's longest context of 131072 tokens; allowed: "
     r"1-131072"),
    (LLAMA_8B, {"bpw": 4, "context": 0}, InvalidInputError, "context must be a whole number"),
    (LLAMA_8B, {"bpw": 4, "batch": -1}, InvalidInputError, "batch must be"),
    (LLAMA_8B, {"bpw": 4, "n_seq": 0}, InvalidInputError, "n_seq must be"),
    (LLAMA_8B, {"bpw": 0}, InvalidInputError, r"bpw must be a number in \(0, 32\]"),
    (LLAMA_8B, {"bpw": float("nan")}, InvalidInputError, "bpw must be"),
    (LLAMA_8B, {}, InvalidInputError, "give one of weights_bytes, bpw or quant"),
    (LLAMA_8B, {"quant": "Q4_K_N"}, UnknownNameError, "Did you mean"),
    (LLAMA_8B, {"bpw": 4, "cache_type": "q3"}, UnknownNameError, "unknown cache type"),
    (LLAMA_8B, {"weights_bytes": -5}, InvalidInputError, "weights_bytes must be"),
    (INCOMPLETE, {"bpw": 4}, InvalidInputError, "lacks"),
])
def test_errors(spec: ModelSpec, kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        estimate_memory(spec, **kwargs)


# SmolLM2-135M as its GGUF describes it; compute buffer sizes below are what llama.cpp 0.3.36's
# CPU backend logged ("CPU compute buffer size") for it, n_ubatch 512.
SMOL = ModelSpec(name="SmolLM2-135M", family="llama", params_b=0.1345, n_layers=30,
                 hidden_size=576, n_heads=9, n_kv_heads=3, head_dim=64, vocab_size=49152,
                 max_context=8192)


@pytest.mark.parametrize(("context", "flash_attn", "logged_mib"), [
    (2176, True, 98.2520), (2176, False, 99.3770), (8192, True, 98.2520),
    (8192, False, 166.3848), (6144, False, 126.3848), (512, False, 98.2520),
])
def test_cpu_compute_buffer_matches_llama_cpp_log(context: int, flash_attn: bool,
                                                  logged_mib: float) -> None:
    padded = -(-context // LLAMA_CTX_PAD) * LLAMA_CTX_PAD
    got = host_compute_buffer_bytes(SMOL, context=padded, batch=512, flash_attn=flash_attn)
    assert got / MIB == pytest.approx(logged_mib, rel=0.015)


def test_resident_output_stage_is_the_logits_rows_asked_for() -> None:
    """A big vocabulary's output stage is allocated for the whole micro-batch but written for
    one row per sequence: Gemma-3-270M's 512 x 262,144 x 4 bytes stay mostly untouched."""
    gemma = SMOL.model_copy(update={"hidden_size": 640, "n_heads": 4, "n_kv_heads": 1,
                                    "head_dim": 256, "vocab_size": 262144})
    allocated = host_compute_buffer_bytes(gemma, context=2304, batch=512, flash_attn=False)
    resident = host_compute_buffer_bytes(gemma, context=2304, batch=512, flash_attn=False,
                                         logits_rows=1)
    assert allocated == 512 * (262144 + 2 * 640) * 4
    assert resident < allocated / 10
    everything = host_compute_buffer_bytes(gemma, context=2304, batch=512, flash_attn=False,
                                           logits_rows=512)
    assert everything == allocated


def test_cpu_work_buffer_is_the_widest_conversion() -> None:
    """ggml-cpu converts a MUL_MAT's f32 input to the weights' dot type (q8_K, 292 bytes per
    256) and, without flash attention, kq to f16 for the V product; the largest one counts."""
    moe = SMOL.model_copy(update={"intermediate_size": 1536, "n_experts": 128,
                                  "n_experts_used": 8, "moe_intermediate_size": 768})
    assert host_work_buffer_bytes(moe, context=256, batch=512, flash_attn=True) == (
        256 * 8 * 768 * 292 // 256)  # ub capped at the context; experts used x width
    assert host_work_buffer_bytes(moe, context=4096, batch=512, flash_attn=False) == (
        512 * 4096 * 9 * 2)


def test_cpu_breakdown_hand_computed() -> None:
    m = estimate_memory(SMOL, weights_bytes=144_811_072, context=2176, flash_attn=False,
                        runtime="cpu", repack_bytes=1000)
    assert m.weights_bytes == 144_811_072 + 1000
    assert m.kv_cache_bytes == 2 * 30 * 3 * 64 * 2304 * 2  # context padded to 2304
    # resident: the attention stage (live activations + f32 scores and mask over 2304 cells)
    # outweighs one logits row; plus the output buffer's row
    attention = 512 * (4 * 576 + (9 + 2 * 3) * 64) * 4 + 512 * 2304 * (9 + 1) * 4
    # + the CPU backend's work buffer: the f32 scores of one layer converted to f16 for kq x V
    work = max(512 * 576 * 292 // 256, 512 * 2304 * 9 * 2)
    assert m.compute_buffer_bytes == (max(1 * (49152 + 2 * 576) * 4, attention) + 49152 * 4
                                      + work)
    assert m.overhead_bytes == CPU_RUNTIME_OVERHEAD_BYTES + VOCAB_HEAP_BYTES_PER_TOKEN * 49152
    assert m.total_bytes == (m.weights_bytes + m.kv_cache_bytes + m.compute_buffer_bytes
                             + m.overhead_bytes)
    assert any("excludes the host process" in a for a in m.assumptions)


def test_unified_memory_counts_gpu_buffers_and_cpu_counts_the_process() -> None:
    def est(**kw: str) -> int:
        return estimate_memory(SMOL, weights_bytes=10**8, context=4096, **kw).total_bytes

    assert est(runtime="cpu") < est(runtime="unified") == est(runtime="gpu") == est()
    assert estimate_memory(SMOL, weights_bytes=10**8, runtime="unified").runtime == "unified"
    gpu = estimate_memory(SMOL, weights_bytes=10**8, context=4096)
    assert gpu.overhead_bytes == RUNTIME_OVERHEAD_BYTES == 400 * MIB
    assert gpu.compute_buffer_bytes == 512 * 49152 * 4 + ACTIVATION_TENSORS * 512 * 576 * 4


@given(st.integers(1, 8192), st.integers(1, 8192), st.booleans())
def test_cpu_monotone_in_context(c1: int, c2: int, fa: bool) -> None:
    lo, hi = sorted((c1, c2))
    a = estimate_memory(SMOL, bpw=4.5, context=lo, runtime="cpu", flash_attn=fa)
    b = estimate_memory(SMOL, bpw=4.5, context=hi, runtime="cpu", flash_attn=fa)
    assert a.total_bytes <= b.total_bytes


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"runtime": "tpu"}, UnknownNameError, "unknown runtime"),
    ({"repack_bytes": -1}, InvalidInputError, "repack_bytes must be"),
])
def test_runtime_errors(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        estimate_memory(SMOL, bpw=4, **kwargs)


# -- several GPUs: layers split, each device with its own overhead and compute buffer ---------

@pytest.mark.parametrize("n", [2, 3, 8])
def test_several_gpus_add_an_overhead_and_a_compute_buffer_per_device(n: int) -> None:
    one = estimate_memory(LLAMA_8B, bpw=4.0, context=8192)
    many = estimate_memory(LLAMA_8B, bpw=4.0, context=8192, n_devices=n)
    assert (many.weights_bytes, many.kv_cache_bytes) == (one.weights_bytes, one.kv_cache_bytes)
    assert many.overhead_bytes == n * RUNTIME_OVERHEAD_BYTES == n * one.overhead_bytes
    assert many.compute_buffer_bytes == n * one.compute_buffer_bytes
    assert many.total_bytes == (one.weights_bytes + one.kv_cache_bytes
                                + n * (one.compute_buffer_bytes + RUNTIME_OVERHEAD_BYTES))
    assert any(a.startswith(f"{n} devices (llama.cpp layer split): weights and KV cache split "
                            "across them, runtime overhead and compute buffer per device")
               for a in many.assumptions)
    assert "runtime overhead 400 MiB per device (assumed, discrete GPU)" in many.assumptions
    # one device: exactly as before, no word of devices
    assert estimate_memory(LLAMA_8B, bpw=4.0, context=8192, n_devices=1) == one
    assert not any("devices" in a for a in one.assumptions)


def test_each_device_holds_its_share_plus_its_own_overhead_and_compute() -> None:
    m = estimate_memory(LLAMA_8B, bpw=4.0, context=8192, n_devices=2)
    share = (m.weights_bytes + m.kv_cache_bytes) / 2 + (m.compute_buffer_bytes
                                                        + m.overhead_bytes) / 2
    assert per_device_bytes(m.total_bytes, 2) == pytest.approx(share, abs=1)
    assert per_device_bytes(7, 1) == 7 and per_device_bytes(7, 2) == 4  # rounded up
    np.testing.assert_array_equal(per_device_bytes(np.array([10, 11], dtype=np.int64), 2),
                                  [5, 6])
    assert f"each holds about {format_bytes(per_device_bytes(m.total_bytes, 2))}" in \
        m.assumptions[-1]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_devices": 0}, "n_devices must be a whole number > 0"),
    ({"n_devices": 2, "runtime": "cpu"}, "n_devices > 1 needs the gpu runtime"),
    ({"n_devices": 2, "runtime": "unified"}, "n_devices > 1 needs the gpu runtime"),
])
def test_device_count_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match) as err:
        estimate_memory(LLAMA_8B, bpw=4, **kwargs)
    assert err.value.parameter == "n_devices"

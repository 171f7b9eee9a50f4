"""Random-weight GGUF files with a catalog architecture's shapes (advisor.measure.synthetic_model),
and what the memory model reads back from them. No llama.cpp load here except in the slow test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from advisor.data.arch import load_architectures
from advisor.data.gguf_header import read_tensors, spec_from_gguf
from advisor.data.weights import ggml_bytes
from advisor.measure.synthetic_model import random_block_data, scaled, write_random_gguf
from advisor.recommender.file_memory import predicted_memory, predicted_memory_mib
from advisor.vocabulary.errors import InvalidInputError
from advisor.vocabulary.units import MIB


@pytest.fixture(scope="module")
def archs():
    return load_architectures()


def test_scaled_keeps_every_width_and_cuts_the_layer_layout(archs):
    full = archs.get("Qwen3.5-4B")
    small = scaled(full, 8)
    assert small.n_layers == 8 and len(small.layer_pattern) in (0, 8)
    assert (small.hidden_size, small.n_heads, small.n_kv_heads, small.vocab_size) == (
        full.hidden_size, full.n_heads, full.n_kv_heads, full.vocab_size)
    assert all(i < 8 for i in small.full_attn_idxs)
    # the hybrid's layout is the full model's first 8 layers
    assert [small.mixer(i) for i in range(8)] == [full.mixer(i) for i in range(8)]
    assert {small.mixer(i) for i in range(8)} == {"attention", full.mixer(0)} != {"attention"}


@pytest.mark.parametrize("n", [0, -1, 10**6])
def test_scaled_refuses_a_layer_count_outside_the_model(archs, n):
    with pytest.raises(InvalidInputError, match="n_layers must be in 1-"):
        scaled(archs.get("Qwen3-8B"), n)


@pytest.mark.parametrize("type_name", ["Q4_K", "Q6_K", "Q8_0", "MXFP4", "F16", "F32"])
def test_random_blocks_have_the_type_size_and_finite_scales(type_name):
    shape = (4, 256)
    data = random_block_data(type_name, shape, np.random.default_rng(0))
    assert data.nbytes == ggml_bytes(type_name, shape)
    if type_name == "Q8_0":  # 34-byte blocks, f16 scale first
        scales = data.reshape(-1, 34)[:, :2].copy().view(np.float16)
        assert np.all(scales == np.float16(2e-3))
    if type_name in ("F16", "F32"):
        values = data.view(np.float16 if type_name == "F16" else np.float32)
        assert np.all(np.isfinite(values)) and 0 < np.abs(values).max() < 1


def test_random_blocks_of_an_unsupported_type_are_refused():
    with pytest.raises(InvalidInputError, match="IQ2_XXS is not supported"):
        random_block_data("IQ2_XXS", (1, 256), np.random.default_rng(0))


def test_written_file_holds_the_layout_at_the_quantizer_types(tmp_path: Path, archs):
    arch = scaled(archs.get("SmolLM2-135M"), 2)
    path = tmp_path / "s.gguf"
    written = write_random_gguf(arch, path, "Q4_K_M")
    tensors = {t.name: t for t in read_tensors(path)}
    assert set(tensors) == {spec.name for spec, _ in written}
    for spec, type_name in written:
        assert tensors[spec.name].type_name == type_name
        assert tensors[spec.name].n_bytes == ggml_bytes(type_name, spec.shape)
    assert {"Q4_K", "Q6_K"} <= {t for _, t in written}
    spec = spec_from_gguf(path)
    assert (spec.n_layers, spec.hidden_size, spec.vocab_size) == (2, 576, 49152)
    est = predicted_memory(path, context=1024, batch=512, flash_attn=False, isa=["avx2"])
    assert est is not None and est.runtime == "cpu"
    assert est.total_bytes / MIB == predicted_memory_mib(path, context=1024, batch=512,
                                                         flash_attn=False, isa=["avx2"])
    # AVX2 repacks the Q4_K matrices: weights = file + their bytes
    q4k = sum(t.n_bytes for t in tensors.values()
              if t.type_name == "Q4_K" and t.name != "token_embd.weight")
    assert est.weights_bytes == path.stat().st_size + q4k


def test_moe_file_without_shared_experts_reads_back_as_plain_moe(tmp_path: Path, archs):
    arch = scaled(archs.get("Qwen3-30B-A3B"), 1).model_copy(
        update={"n_experts": 4, "n_experts_used": 2, "vocab_size": 512})
    path = tmp_path / "moe.gguf"
    write_random_gguf(arch, path, "Q4_K_M")
    spec = spec_from_gguf(path)
    assert spec.n_experts == 4 and spec.n_experts_used == 2
    assert not spec.n_shared_experts and spec.shared_expert_intermediate_size is None


def _measure(arch, path: Path):  # type: ignore[no-untyped-def]
    from advisor.measure.environment import isa_flags
    from advisor.measure.llama_backend import RunConfig
    from advisor.measure.worker import FileJob, run_in_subprocess

    write_random_gguf(arch, path, "Q4_K_M")
    config = RunConfig(threads=2, batch_size=256)
    est = predicted_memory(path, context=512, batch=256, flash_attn=False, isa=isa_flags(),
                           swa_full=config.swa_full)
    job = FileJob(path, config, ("pp256@d256", "tg8@d500"), 1,
                  reference=path.with_suffix(".npz"), is_reference=False, skip_quality=True)
    result = run_in_subprocess(job)
    assert est is not None
    return est, result, result.peak_rss_mib - result.rss_before_load_mib


@pytest.mark.slow
def test_llama_cpp_allocates_what_the_terms_say(tmp_path: Path, archs):
    """Real loads of two synthetic files (a dense GQA and a Gated DeltaNet hybrid, 4 layers,
    a 4,096-token vocabulary): the repacked copies and the KV cache plus recurrent state are
    what llama.cpp logs allocating, and the dense file's peak RSS is within 5% (or 8 MiB, for a
    file this small) of the total."""
    pytest.importorskip("llama_cpp")
    for name in ("Qwen3-0.6B", "Qwen3.5-0.8B"):
        arch = scaled(archs.get(name), 4).model_copy(update={"vocab_size": 4096})
        path = tmp_path / f"{name}.gguf"
        est, result, measured = _measure(arch, path)
        buffers = result.llama_buffers_mib
        repack = (est.weights_bytes - path.stat().st_size) / MIB
        assert repack == pytest.approx(buffers.get("CPU_REPACK model", 0.0), abs=0.01)
        logged_cache = buffers.get("CPU KV", 0.0) + buffers.get("CPU RS", 0.0)
        assert est.kv_cache_bytes / MIB == pytest.approx(logged_cache, abs=0.01)
        if name == "Qwen3-0.6B":  # 117 MiB in all: allow 8 MiB of allocator and thread noise
            assert abs(est.total_bytes / MIB - measured) < max(0.05 * measured, 8.0)
        else:  # the recurrent state is allocated; its layers' compute stage is not modelled
            assert buffers.get("CPU RS", 0) > 0

"""CPU repack accounting of advisor.recommender.file_memory on a hand-written GGUF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFWriter

from advisor.data.gguf_header import read_tensors
from advisor.recommender.file_memory import repack_bytes


def _write(path: Path) -> Path:
    w = GGUFWriter(str(path), "llama")
    # Q4_0: 18 bytes per 32 weights; shapes given as (rows, bytes per row)
    w.add_tensor("token_embd.weight", np.zeros((16, 18 * 2), np.uint8),
                 raw_dtype=GGMLQuantizationType.Q4_0)  # GET_ROWS: never repacked
    w.add_tensor("blk.0.ffn_up.weight", np.zeros((16, 18 * 2), np.uint8),
                 raw_dtype=GGMLQuantizationType.Q4_0)  # 16 rows: repacked
    w.add_tensor("blk.0.ffn_down.weight", np.zeros((12, 18 * 2), np.uint8),
                 raw_dtype=GGMLQuantizationType.Q4_0)  # 12 rows: not a multiple of 8
    w.add_tensor("blk.0.attn_q.weight", np.zeros((16, 34 * 2), np.uint8),
                 raw_dtype=GGMLQuantizationType.Q8_0)  # Q8_0: repacked on ARM only
    w.add_tensor("blk.0.attn_norm.weight", np.ones(64, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_repack_follows_llama_cpp_rules(tmp_path: Path) -> None:
    tensors = read_tensors(_write(tmp_path / "r.gguf"))
    assert repack_bytes(tensors, isa=["avx", "avx2", "fma"]) == 16 * 36
    assert repack_bytes(tensors, isa=["avx"]) == 0
    # NEON rows multiple of 4: both Q4_0 matrices and the Q8_0 one
    assert repack_bytes(tensors, isa=["asimd"]) == 16 * 36 + 12 * 36 + 16 * 68


def _write_shapes(path: Path, tensors: dict[str, tuple[tuple[int, ...], GGMLQuantizationType]]
                  ) -> Path:
    """A GGUF with Q4_0 / F32 tensors of the given numpy shapes (bytes per row for Q4_0)."""
    w = GGUFWriter(str(path), "qwen3moe")
    for name, (shape, qtype) in tensors.items():
        dtype = np.float32 if qtype == GGMLQuantizationType.F32 else np.uint8
        w.add_tensor(name, np.zeros(shape, dtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_expert_stacks_are_repacked_and_batched_matrices_are_not(tmp_path: Path) -> None:
    q4 = GGMLQuantizationType.Q4_0
    tensors = read_tensors(_write_shapes(tmp_path / "e.gguf", {
        "blk.0.ffn_up_exps.weight": ((4, 16, 18 * 2), q4),  # 4 experts x 16 rows: MUL_MAT_ID
        "blk.0.attn_k_b.weight": ((4, 16, 18 * 2), q4),  # batched 3-D MUL_MAT: not repacked
        "per_layer_token_embd.weight": ((16, 18 * 2), q4),  # GET_ROWS
        "blk.0.ffn_gate_inp.weight": ((1, 16, 18 * 2), q4),  # 3-D of one: a 2-D matrix
    }))
    by_name = {t.name: t.n_bytes for t in tensors}
    assert repack_bytes(tensors, isa=["avx2"]) == (by_name["blk.0.ffn_up_exps.weight"]
                                                    + by_name["blk.0.ffn_gate_inp.weight"])


def test_buffer_lines_are_summed_by_name_and_a_new_context_replaces_the_old() -> None:
    from advisor.measure import llama_backend as lb

    lb._BUFFERS.clear()
    for line in (b"load_tensors:   CPU_Mapped model buffer size =   812.50 MiB\n",
                 b"load_tensors:   CPU_REPACK model buffer size =   300.00 MiB\n",
                 b"llama_context:        CPU  output buffer size =     0.58 MiB\n",
                 b"llama_kv_cache:        CPU KV buffer size =    64.00 MiB\n",
                 b"llama_context:        CPU compute buffer size =   300.01 MiB\n",
                 b"some other line\n",
                 b"llama_context:        CPU  output buffer size =     0.58 MiB\n",
                 b"llama_kv_cache:        CPU KV buffer size =    24.00 MiB\n",  # SWA layers
                 b"llama_kv_cache:        CPU KV buffer size =     8.00 MiB\n",  # full layers
                 b"llama_memory_recurrent:        CPU RS buffer size =     2.50 MiB\n",
                 b"sched_reserve:        CPU compute buffer size =   120.25 MiB\n"):
        lb._BUFFERS.append(line)
    assert lb.pop_buffer_sizes() == {
        "CPU_Mapped model": 812.5, "CPU_REPACK model": 300.0, "CPU output": 0.58,
        "CPU KV": 32.0, "CPU RS": 2.5, "CPU compute": 120.25}
    assert lb.pop_buffer_sizes() == {}


def test_benchmark_shows_the_model_terms_beside_llama_cpp_buffers() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "memory_check", Path(__file__).parents[1] / "benchmarks" / "memory_check.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from advisor.recommender.memory import MemoryBreakdown

    est = MemoryBreakdown(weights_bytes=1100 * 2**20, kv_cache_bytes=64 * 2**20,
                          compute_buffer_bytes=20 * 2**20, overhead_bytes=12 * 2**20,
                          total_bytes=1196 * 2**20, context=2048, cache_type="f16",
                          runtime="cpu")
    text = bench.itemised(est, {"CPU_Mapped model": 800.0, "CPU_REPACK model": 300.0,
                                "CPU KV": 60.0, "CPU RS": 4.0, "CPU compute": 300.0,
                                "CPU output": 0.5}, file_mib=800.0)
    assert "weights 1100 (file 800 + repack 300)" in text
    assert "model 1100 (mapped 800 + repack 300), KV+RS 64.0, compute+output 300.5" in text
    assert bench._parse_models("Qwen3-8B:4:Q4_K_M") == [("custom", "Qwen3-8B", 4, "Q4_K_M")]
    with pytest.raises(SystemExit, match="MODEL:LAYERS:QUANT"):
        bench._parse_models("Qwen3-8B:four")

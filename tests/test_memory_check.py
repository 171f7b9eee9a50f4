"""CPU repack accounting of advisor.recommender.file_memory on a hand-written GGUF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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

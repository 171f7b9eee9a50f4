"""GGUF files with a catalog architecture's shapes and no weights, for checks against llama.cpp.

:func:`write_sparse_gguf` writes the metadata keys llama.cpp's ``load_hparams`` reads and the
tensor index of :func:`advisor.data.tensors.tensor_layout` (each tensor at the type the
converter stores), leaving the data as a hole: a sparse file of the model's full size that
uses no disk. :class:`QuantizeDryRun` runs llama-cpp-python's ``llama_model_quantize`` with
``dry_run`` on it and reads back the type llama.cpp picks for each tensor, so
:mod:`advisor.data.quant_rules` can be checked against llama.cpp itself
(``benchmarks/quant_types_check.py``).
"""

from __future__ import annotations

import ctypes
import re
from pathlib import Path
from typing import Any

from advisor.data.arch import Architecture
from advisor.data.tensors import TensorSpec, tensor_layout
from advisor.data.weights import ggml_bytes
from advisor.measure import MeasurementError

_PER_LAYER_KV = ("granitehybrid", "nemotron_h", "nemotron_h_moe", "lfm2", "lfm2moe")
_LINE = re.compile(r"\]\s+(\S+)\s+-\s+\[[^\]]*\], type =\s*(\S+), (?:size =\s*[\d.]+ MiB ->"
                   r"\s*[\d.]+ MiB \((\w+)\)|size =\s*[\d.]+ MiB)")


def metadata(a: Architecture, n_blocks: int) -> dict[str, tuple[str, Any]]:
    """The hyperparameter keys ``convert_hf_to_gguf.py`` writes that ``load_hparams`` needs."""
    p, u32, f32 = a.gguf_arch, "add_uint32", "add_float32"
    attn = [a.mixer(i) == "attention" for i in range(n_blocks)]
    kv_heads: Any = a.n_kv_heads
    if p in _PER_LAYER_KV:
        kv_heads = [a.n_kv_heads if x else 0 for x in attn]
    if p == "gemma4":
        kv_heads = [(a.n_global_kv_heads or a.n_kv_heads) if a.is_full_attention(i)
                    else a.n_kv_heads for i in range(n_blocks)]
    ff: Any = a.intermediate_size or a.expert_width
    if p.startswith("nemotron_h"):
        ff = [a.intermediate_size if a.ffn(i) == "dense" else
              (a.expert_width if a.ffn(i) == "moe" else 0) for i in range(n_blocks)]
    rope = a.qk_rope_head_dim or (a.key_dim - a.qk_nope_head_dim if a.kv_lora_rank else
                                  a.key_dim)
    kv: dict[str, tuple[str, Any]] = {
        f"{p}.context_length": (u32, 4096), f"{p}.embedding_length": (u32, a.hidden_size),
        f"{p}.block_count": (u32, n_blocks), f"{p}.vocab_size": (u32, a.vocab_size),
        f"{p}.attention.head_count": (u32, a.n_heads),
        f"{p}.attention.head_count_kv": ("add_array" if isinstance(kv_heads, list) else u32,
                                         kv_heads),
        f"{p}.feed_forward_length": ("add_array" if isinstance(ff, list) else u32, ff),
        f"{p}.attention.key_length": (u32, a.global_head_dim or a.key_dim),
        f"{p}.attention.value_length": (u32, a.global_head_dim or a.value_dim),
        f"{p}.attention.layer_norm_rms_epsilon": (f32, 1e-6),
        f"{p}.attention.layer_norm_epsilon": (f32, 1e-5),
        f"{p}.rope.dimension_count": (u32, rope), f"{p}.rope.freq_base": (f32, 1e6),
        "general.file_type": (u32, 32),
    }
    if a.is_moe:
        kv |= {f"{p}.expert_count": (u32, a.n_experts),
               f"{p}.expert_used_count": (u32, a.n_experts_used),
               f"{p}.expert_feed_forward_length": (u32, a.expert_width),
               f"{p}.leading_dense_block_count": (u32, a.n_dense_layers),
               f"{p}.expert_weights_scale": (f32, 1.0), f"{p}.expert_gating_func": (u32, 2),
               f"{p}.expert_weights_norm": ("add_bool", True)}
        if a.n_shared_experts:
            kv |= {f"{p}.expert_shared_count": (u32, a.n_shared_experts),
                   f"{p}.expert_shared_feed_forward_length": (u32, a.shared_width)}
    if a.sliding_window or p in ("gemma4", "gpt-oss", "gemma3", "gemma2"):
        kv |= {f"{p}.attention.sliding_window": (u32, a.sliding_window or 1024),
               f"{p}.attention.sliding_window_pattern": (
                   "add_array", [not a.is_full_attention(i) for i in range(n_blocks)])}
    if a.kv_lora_rank:
        kv |= {f"{p}.attention.q_lora_rank": (u32, a.q_lora_rank),
               f"{p}.attention.kv_lora_rank": (u32, a.kv_lora_rank),
               f"{p}.attention.key_length": (u32, a.kv_lora_rank + rope),
               f"{p}.attention.value_length": (u32, a.kv_lora_rank),
               f"{p}.attention.key_length_mla": (u32, a.key_dim),
               f"{p}.attention.value_length_mla": (u32, a.v_head_dim or a.key_dim),
               f"{p}.attention.head_count_kv": (u32, 1)}
    if a.linear_num_value_heads:
        kv |= {f"{p}.ssm.conv_kernel": (u32, a.linear_conv_kernel_dim),
               f"{p}.ssm.state_size": (u32, a.linear_key_head_dim),
               f"{p}.ssm.group_count": (u32, a.linear_num_key_heads),
               f"{p}.ssm.time_step_rank": (u32, a.linear_num_value_heads),
               f"{p}.ssm.inner_size": (u32, a.linear_value_head_dim * a.linear_num_value_heads),
               f"{p}.full_attention_interval": (u32, a.full_attention_interval or 4)}
    if a.mamba_n_heads:
        kv |= {f"{p}.ssm.conv_kernel": (u32, a.mamba_d_conv),
               f"{p}.ssm.state_size": (u32, a.mamba_d_state),
               f"{p}.ssm.group_count": (u32, a.mamba_n_groups),
               f"{p}.ssm.time_step_rank": (u32, a.mamba_n_heads),
               f"{p}.ssm.inner_size": (u32, a.d_inner)}
    if p in ("qwen35", "qwen35moe", "qwen3next", "qwen2vl", "qwen3vl"):
        kv[f"{p}.rope.dimension_sections"] = ("add_array", [11, 11, 10, 0])
    if p == "llama4":
        kv[f"{p}.interleave_moe_layer_step"] = (u32, a.moe_layer_step or 1)
    if a.conv_L_cache:
        kv[f"{p}.shortconv.l_cache"] = (u32, a.conv_L_cache)
    if p == "gemma4":
        kv |= {f"{p}.attention.key_length_swa": (u32, a.swa_head_dim or a.key_dim),
               f"{p}.attention.value_length_swa": (u32, a.swa_head_dim or a.key_dim),
               f"{p}.attention.shared_kv_layers": (u32, a.num_kv_shared_layers),
               f"{p}.embedding_length_per_layer_input": (u32, a.hidden_size_per_layer_input)}
    if n_blocks > a.n_layers:
        kv[f"{p}.nextn_predict_layers"] = (u32, n_blocks - a.n_layers)
    return kv


def write_sparse_gguf(a: Architecture, path: Path) -> list[TensorSpec]:
    """Write ``a``'s GGUF to ``path``: metadata and tensor index as the converter writes them,
    tensor data left as a hole (a sparse file: no disk used, llama.cpp never reads it in a
    dry run). Returns the layout written."""
    import gguf
    import numpy as np

    layout = tensor_layout(a)
    blocks = max((t.layer for t in layout if t.layer is not None), default=-1) + 1
    w = gguf.GGUFWriter(path, a.gguf_arch)
    for key, (method, value) in metadata(a, blocks).items():
        getattr(w, method)(key, value)
    data = 0
    for t in layout:
        n_bytes = ggml_bytes(t.source_type, t.shape)
        w.add_tensor_info(t.name, tuple(reversed(t.shape)), np.dtype(np.float32), n_bytes,
                          raw_dtype=gguf.GGMLQuantizationType[t.source_type])
        data += -(-n_bytes // 32) * 32
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    if w.fout is None:
        raise MeasurementError(f"the GGUF writer did not open {path}")
    fh = w.fout[0]
    fh.flush()
    fh.truncate(-(-fh.tell() // 32) * 32 + data)  # sparse: the data is never read
    w.close()
    return layout


class QuantizeDryRun:
    """llama-cpp-python's ``llama_model_quantize`` with ``dry_run``: the type llama.cpp picks
    for every tensor of a file, read from its log (no output file is written)."""

    def __init__(self) -> None:
        import llama_cpp

        self.llama_cpp = llama_cpp
        self.log: list[str] = []

        @ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
        def _log(level: int, text: bytes, user: Any) -> None:
            self.log.append(text.decode(errors="replace"))

        self._callback = _log
        llama_cpp.llama_log_set(_log, None)

    def types(self, path: Path, quant: str, imatrix: bool) -> dict[str, str]:
        """Tensor name -> ggml type name llama-quantize chooses for ``quant``."""
        lc = self.llama_cpp
        self.log.clear()
        params = lc.llama_model_quantize_default_params()
        params.ftype = getattr(lc, f"LLAMA_FTYPE_{'MOSTLY_' if quant != 'F32' else 'ALL_'}"
                                   f"{quant}")
        params.dry_run = True
        entries = (lc.llama_model_imatrix_data * 2)()
        if imatrix:  # an importance matrix is present (its values do not matter for types)
            entries[0].name, entries[0].size = b"-", 0
            params.imatrix = ctypes.cast(entries, ctypes.POINTER(lc.llama_model_imatrix_data))
        out = str(path.with_suffix(".out.gguf")).encode()
        if lc.llama_model_quantize(str(path).encode(), out, ctypes.byref(params)) != 0:
            raise MeasurementError(f"llama_model_quantize --dry-run {quant} failed on {path}: "
                                   + "".join(self.log)[-1500:])
        text = "".join(self.log)
        return {m[1]: (m[3] or m[2]).upper() for m in _LINE.finditer(text)}

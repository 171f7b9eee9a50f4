"""What a GGUF file's header says about its model, read with the ``gguf`` package without
loading any tensor data: the metadata llama.cpp reads (``{arch}.block_count``, attention
heads, experts, SSM sizes ...) and the tensor list (names, types, shapes, bytes).

:func:`model_row_from_gguf` turns a header into a catalog row, so a model a user has on disk
can be sized and ranked like a catalog one (``quant-advisor models add FILE.gguf``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.data.catalog import ModelRow, ModelSpec
from advisor.vocabulary.errors import InvalidInputError

#: Header keys without which a file cannot be sized (``{arch}.`` prefixed).
REQUIRED_KEYS = ("block_count", "embedding_length", "attention.head_count")
#: llama.cpp's default sliding-window layout for architectures whose GGUF has no per-layer
#: pattern: every ``period``-th layer is global (Gemma 3: 5 local then 1 global).
_SWA_PERIOD = {"gemma3": 6, "gemma2": 2, "gpt-oss": 2, "cohere2": 4}
_RECURRENT_ARCHS = {"qwen3next": "gated_deltanet", "qwen35": "gated_deltanet",
                    "qwen35moe": "gated_deltanet", "mamba2": "mamba2",
                    "nemotron_h": "mamba2", "nemotron_h_moe": "mamba2",
                    "granitehybrid": "mamba2", "lfm2": "short_conv", "lfm2moe": "short_conv"}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a GGUF file: its name, ggml type name, shape and bytes in the file."""

    name: str
    type_name: str
    shape: tuple[int, ...]
    n_bytes: int


def _reader(path: Path) -> Any:
    from gguf import GGUFReader

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"no file at {path}", parameter="file")
    try:
        return GGUFReader(path)
    except Exception as e:  # the reader raises ValueError, KeyError, struct errors ...
        raise InvalidInputError(f"{path.name} is not a GGUF file the gguf package can read "
                                f"({type(e).__name__}: {e})", parameter="file") from e


def read_metadata(path: Path) -> dict[str, Any]:
    """The header's key/value pairs (tokenizer tables left out, their size kept as
    ``tokenizer.n_tokens``) plus ``n_params``, the total number of tensor elements."""
    reader = _reader(path)
    out: dict[str, Any] = {}
    for key, fld in reader.fields.items():
        if not key.startswith("tokenizer.") and not key.startswith("GGUF."):
            out[key] = fld.contents()
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    if tokens is not None:
        out["tokenizer.n_tokens"] = len(tokens.data)
    out["n_params"] = sum(int(t.n_elements) for t in reader.tensors)
    out["n_bytes"] = sum(int(t.n_bytes) for t in reader.tensors)
    return out


def read_tensors(path: Path) -> list[TensorInfo]:
    """Every tensor of ``path`` as :class:`TensorInfo`, in file order."""
    return [TensorInfo(t.name, t.tensor_type.name, tuple(int(n) for n in t.shape),
                       int(t.n_bytes)) for t in _reader(path).tensors]


def _scalar(value: Any) -> int | None:
    """A header value as one number: arrays (per-layer values) give their largest."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        numbers = [int(v) for v in value if v is not None]
        return max(numbers) if numbers else None
    return int(value)


def model_row_from_gguf(path: Path, name: str | None = None) -> ModelRow:
    """The catalog row of the model in ``path``; a file that is not GGUF, or lacks a key the
    memory estimate needs, fails with :class:`InvalidInputError` naming what is missing."""
    m = read_metadata(path)
    arch = str(m.get("general.architecture") or "")
    if not arch:
        raise InvalidInputError(f"{Path(path).name} has no general.architecture key",
                                parameter="file")

    def g(key: str) -> Any:
        return m.get(f"{arch}.{key}")

    missing = [f"{arch}.{k}" for k in REQUIRED_KEYS if g(k) is None]
    if missing:
        raise InvalidInputError(f"{Path(path).name} lacks {', '.join(missing)}, needed to size "
                                "the model", parameter="file")
    n_layers, hidden = int(g("block_count")), int(g("embedding_length"))
    n_heads = _scalar(g("attention.head_count")) or 1
    kv_per_layer = g("attention.head_count_kv")
    n_kv_heads = _scalar(kv_per_layer) or n_heads
    head_dim = _scalar(g("attention.key_length")) or hidden // n_heads
    v_dim = _scalar(g("attention.value_length"))
    fields: dict[str, Any] = {
        "name": name or str(m.get("general.name") or Path(path).stem),
        "family": str(m.get("general.basename") or arch), "gguf_arch": arch,
        "license": str(m.get("general.license") or ""),
        "params_b": m["n_params"] / 1e9, "n_layers": n_layers, "hidden_size": hidden,
        "n_heads": n_heads, "n_kv_heads": n_kv_heads, "head_dim": head_dim,
        "v_head_dim": v_dim if v_dim and v_dim != head_dim else None,
        "vocab_size": _scalar(g("vocab_size")) or m.get("tokenizer.n_tokens"),
        "max_context": _scalar(g("context_length")),
        "intermediate_size": _scalar(g("feed_forward_length")),
        # a zero count or width (a converter writing the key for a model without it) is none
        "n_experts": _scalar(g("expert_count")) or None,
        "n_experts_used": _scalar(g("expert_used_count")) or None,
        "n_shared_experts": _scalar(g("expert_shared_count")),
        "moe_intermediate_size": _scalar(g("expert_feed_forward_length")) or None,
        "shared_expert_intermediate_size": _scalar(g("expert_shared_feed_forward_length"))
        or None,
        "n_dense_layers": _scalar(g("leading_dense_block_count")),
        "q_lora_rank": _scalar(g("attention.q_lora_rank")),
        "kv_lora_rank": _scalar(g("attention.kv_lora_rank")),
        "qk_rope_head_dim": _scalar(g("rope.dimension_count")) if g("attention.kv_lora_rank")
        else None,
        "mtp_layers": _scalar(g("nextn_predict_layers")),
        "sources": f"GGUF header of {Path(path).name}",
        "notes": f"added from {Path(path).resolve()} (file type "
                 f"{m.get('general.file_type', 'unknown')}, {m['n_bytes']} bytes of tensors)",
    }
    if fields["n_experts"] and fields["n_experts"] > 1 and fields["n_experts_used"]:
        fields["active_params_b"] = _active_params(read_tensors(path), fields)
    _layers(fields, arch, g, kv_per_layer)
    return ModelRow.model_validate({k: v for k, v in fields.items() if v not in (None, "")})


def _active_params(tensors: list[TensorInfo], fields: dict[str, Any]) -> float:
    """Parameters a token uses: every tensor but the routed experts, plus ``used / count`` of
    those (``ffn_*_exps``), in billions."""
    share = fields["n_experts_used"] / fields["n_experts"]
    total = 0.0
    for t in tensors:
        n = 1
        for d in t.shape:
            n *= d
        total += n * share if "_exps." in t.name else n
    return total / 1e9


def _layers(fields: dict[str, Any], arch: str, g: Any, kv_per_layer: Any) -> None:
    """Which layers keep a full KV cache, a sliding window, or a recurrent state."""
    n = fields["n_layers"]
    kind = _RECURRENT_ARCHS.get(arch)
    if kind is not None:
        fields["recurrent_kind"] = kind
        interval = _scalar(g("full_attention_interval"))
        if isinstance(kv_per_layer, list | tuple):
            attention = sum(1 for v in kv_per_layer if v)
        elif interval:
            attention = n // interval
        else:
            attention = 0
        fields["n_full_attn_layers"] = attention
        fields["n_recurrent_layers"] = n - attention
        if kind == "short_conv":
            fields["conv_L_cache"] = _scalar(g("shortconv.l_cache"))
        elif kind == "gated_deltanet":
            d_inner, heads_v = _scalar(g("ssm.inner_size")), _scalar(g("ssm.time_step_rank"))
            fields.update(linear_num_value_heads=heads_v,
                          linear_value_head_dim=d_inner // heads_v if d_inner and heads_v
                          else None,
                          linear_num_key_heads=_scalar(g("ssm.group_count")),
                          linear_key_head_dim=_scalar(g("ssm.state_size")),
                          linear_conv_kernel_dim=_scalar(g("ssm.conv_kernel")))
        else:
            fields.update(mamba_d_inner=_scalar(g("ssm.inner_size")),
                          mamba_d_state=_scalar(g("ssm.state_size")),
                          mamba_n_groups=_scalar(g("ssm.group_count")),
                          mamba_d_conv=_scalar(g("ssm.conv_kernel")))
        return
    window = _scalar(g("attention.sliding_window"))
    if not window:
        return
    pattern = g("attention.sliding_window_pattern")
    if isinstance(pattern, list | tuple) and pattern:
        swa = sum(1 for p in pattern if p)
    else:
        period = _SWA_PERIOD.get(arch)
        if period is None:
            return  # a window key without a layout llama.cpp applies
        swa = n - n // period
    fields.update(sliding_window=window, n_swa_layers=swa, n_full_attn_layers=n - swa)


def spec_from_gguf(path: Path) -> ModelSpec:
    """A :class:`~advisor.data.catalog.ModelSpec` built from the file's own metadata."""
    return ModelSpec(**model_row_from_gguf(path).model_dump())

"""The ggml type ``llama-quantize`` gives each tensor of a file type (Q4_K_M, IQ3_XXS, ...).

A re-expression, not a copy, of llama.cpp's choice in ``src/llama-quant.cpp``
(``tensor_allows_quantization``, ``llama_tensor_get_type_impl``, ``tensor_type_fallback``,
``llama_ftype_get_default_type``) as vendored by llama-cpp-python 0.3.36 (llama.cpp commit
0c1e570, 2026-10). What it reproduces:

* which tensors stay as the converter wrote them (vectors, norms, routers, convolution
  kernels, Gemma's altup/laurel/per-layer projection);
* the file type's default type, and the mixes: token embeddings and the output matrix
  (tied embeddings quantize like the output), attention V / fused QKV bumps by layer,
  ffn_down bumps in the first and last eighths and every third layer between
  ("use more bits"), IQ-mix demotions of attn_q/attn_k/ffn_gate/ffn_up, MoE and
  grouped-query bumps, the Llama-70B attn_v bump, MXFP4_MOE (experts MXFP4, the rest Q8_0);
* the fallback when a row length is not a multiple of the type's block (IQ -> IQ4_NL,
  Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, then F16).

Tensors are visited in the loader's order (layer, then name) because the attn_v bumps count
them in that order. A tensor whose converted type is already quantized (gpt-oss's MXFP4
experts) keeps it: llama-quantize refuses to requantize without ``--allow-requantize``, and
published gpt-oss quants keep their experts in MXFP4.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from advisor.vocabulary.errors import InvalidInputError, UnknownNameError

if TYPE_CHECKING:
    from advisor.data.arch import Architecture
    from advisor.data.tensors import TensorSpec

#: File type -> the type most tensors get (``llama_ftype_get_default_type``).
DEFAULT_TYPE: dict[str, str] = {
    "F32": "F32", "F16": "F16", "BF16": "BF16", "Q8_0": "Q8_0", "Q4_0": "Q4_0",
    "Q4_1": "Q4_1", "Q5_0": "Q5_0", "Q5_1": "Q5_1", "MXFP4": "MXFP4", "Q2_K": "Q2_K",
    "Q2_K_S": "Q2_K", "Q3_K_S": "Q3_K", "Q3_K_M": "Q3_K", "Q3_K_L": "Q3_K", "Q4_K_S": "Q4_K",
    "Q4_K_M": "Q4_K", "Q5_K_S": "Q5_K", "Q5_K_M": "Q5_K", "Q6_K": "Q6_K", "IQ1_S": "IQ1_S",
    "IQ1_M": "IQ1_M", "IQ2_XXS": "IQ2_XXS", "IQ2_XS": "IQ2_XS", "IQ2_S": "IQ2_XS",
    "IQ2_M": "IQ2_S", "IQ3_XXS": "IQ3_XXS", "IQ3_XS": "IQ3_S", "IQ3_S": "IQ3_S",
    "IQ3_M": "IQ3_S", "IQ4_NL": "IQ4_NL", "IQ4_XS": "IQ4_XS", "TQ1_0": "TQ1_0",
    "TQ2_0": "TQ2_0",
}
_ALIASES = {"Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M", "Q3_K": "Q3_K_M", "MXFP4_MOE": "MXFP4",
            "FP16": "F16", "FP32": "F32"}

_IQ2_MIX = frozenset({"IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"})
_IQ_OUTPUT_Q5K = frozenset({"IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"})
_EMBD_RULE = {"IQ2_XXS": "Q2_K", "IQ2_XS": "Q2_K", "IQ1_S": "Q2_K", "IQ1_M": "Q2_K",
              "IQ2_S": "IQ3_S", "IQ2_M": "IQ3_S", "IQ3_XXS": "IQ3_S", "TQ1_0": "Q4_K",
              "TQ2_0": "Q4_K"}
#: Fallback when a row is not a whole number of blocks (``tensor_type_fallback``).
_FALLBACK = {**dict.fromkeys(("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS",
                              "IQ3_S", "IQ4_XS"), "IQ4_NL"),
             **dict.fromkeys(("Q2_K", "Q3_K", "TQ1_0", "TQ2_0"), "Q4_0"),
             "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}
#: Name fragments of tensors llama-quantize never quantizes (``tensor_allows_quantization``).
_KEEP_FRAGMENTS = ("_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup",
                   "laurel", "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight",
                   "indexer.k_proj.weight", "indexer.q_proj.weight", "attn_rel_b.weight")
#: Architectures whose converter stores per-layer KV head counts with 0 for layers without
#: attention: llama.cpp's "GQA factor" (layer 0's) is then 0 when layer 0 does not attend.
_PER_LAYER_KV = frozenset({"granitehybrid", "nemotron_h", "nemotron_h_moe", "lfm2", "lfm2moe"})


def canonical_quant(name: str) -> str:
    """The llama-quantize file-type name for ``name`` (case-insensitive, Q4_K = Q4_K_M)."""
    key = name.strip().upper().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in DEFAULT_TYPE:
        raise UnknownNameError("llama-quantize file type", name, DEFAULT_TYPE, parameter="quant")
    return key


@dataclass(frozen=True)
class QuantOptions:
    """The ``llama-quantize`` options that change sizes. ``imatrix``: an importance matrix
    was given (it changes a few IQ3_XXS/IQ4/Q4_0 choices); ``token_embedding_type`` /
    ``output_tensor_type``: ``--token-embedding-type`` / ``--output-tensor-type``.
    ``legacy_qkv``: the rule llama.cpp applied to fused ``attn_qkv`` tensors before its 2026
    tensor-category refactor (Q3_K_M/Q3_K_L/IQ3_M -> Q4_K, Q4_K_M -> Q5_K, Q5_K_M -> Q6_K,
    otherwise the default; still the rule in ik_llama.cpp's ``src/llama-quantize.cpp``); the
    installed version treats them like attn_v. Files made before 2026 (Phi-3/Phi-4) follow it."""

    imatrix: bool = True
    token_embedding_type: str | None = None
    output_tensor_type: str | None = None
    legacy_qkv: bool = False


#: Google's QAT Q4_0 releases: Q4_0 weights with the embedding table kept in F16.
QAT_Q4_0 = QuantOptions(imatrix=False, token_embedding_type="F16")


def category(name: str) -> str:
    """llama.cpp's broad category of a tensor name (``tensor_get_category``)."""
    if name == "output.weight":
        return "output"
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return "token_embd"
    for fragment, cat in (("attn_qkv.weight", "attn_qkv"), ("attn_kv_b.weight", "attn_kv_b"),
                          ("attn_v.weight", "attn_v"), ("attn_k.weight", "attn_k"),
                          ("attn_q.weight", "attn_q"), ("attn_output.weight", "attn_output"),
                          ("ffn_up", "ffn_up"), ("ffn_gate", "ffn_gate"),
                          ("ffn_down", "ffn_down")):
        if fragment in name:
            return cat
    return "other"


def allows_quantization(spec: TensorSpec) -> bool:
    """Whether llama-quantize may change this tensor's type at all."""
    return (spec.n_dims >= 2 and spec.name.endswith("weight")
            and not any(f in spec.name for f in _KEEP_FRAGMENTS))


@dataclass
class _State:
    """What llama-quantize knows while it walks the tensors (``quantize_state_impl``)."""

    quant: str
    opts: QuantOptions
    n_gqa: int
    n_expert: int
    is_70b: bool
    n_layer: int
    tied: bool
    n_attention_wv: int
    i_attention_wv: int = 0
    counters: dict[str, int] = field(default_factory=lambda: {"down": 0, "gate": 0, "up": 0})


def _more_bits(i: int, n: int) -> bool:
    """The "use more bits" layers: first and last eighth, and every third one between."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _layer_of(st: _State, spec: TensorSpec, counter: str) -> int:
    """The layer index the FFN rules use: parsed from the name for MoE models, otherwise the
    count of such tensors seen so far."""
    if st.n_expert > 1:
        match = re.match(r"blk\.(\d+)\.", spec.name)
        return int(match.group(1)) if match else 0
    return st.counters[counter]


def _output_type(st: _State, spec: TensorSpec, new: str) -> str:
    q = st.quant
    if q == "MXFP4" or spec.shape[0] % _block(new) != 0:
        return "Q8_0"
    if q in _IQ_OUTPUT_Q5K:
        return "Q5_K"
    return new if new == "Q8_0" else "Q6_K"


def _iq2_mix(st: _State, spec: TensorSpec, cat: str, new: str) -> str:
    q, low = st.quant, st.quant in ("IQ2_S", "IQ2_M")
    if cat in ("attn_v", "attn_qkv", "attn_kv_b"):
        st.i_attention_wv += 1
        if st.n_gqa >= 4 or st.n_expert >= 4:
            return "Q4_K"
        return "IQ3_S" if low else "Q2_K"
    if cat == "attn_k" and st.n_expert == 8:
        return "Q4_K"
    if cat == "ffn_down":
        bump = st.counters["down"] < st.n_layer // 8
        st.counters["down"] += 1
        return ("IQ3_S" if low else "Q2_K") if bump else new
    if cat == "attn_output":
        if st.n_expert == 8:
            return "Q5_K"
        if q in ("IQ1_S", "IQ1_M"):
            return "IQ2_XXS"
        return "IQ3_S" if low else new
    return new


def _attn_v(st: _State, new: str) -> str:
    q, i, n, gqa4 = st.quant, st.i_attention_wv, st.n_attention_wv, st.n_gqa >= 4
    by_quant = {
        "Q2_K": "Q4_K" if gqa4 else "Q3_K",
        "Q2_K_S": "Q4_K" if gqa4 else new,
        "IQ3_XXS": "Q4_K" if gqa4 else ("IQ3_XXS" if st.opts.imatrix else "IQ3_S"),
        "IQ3_XS": "Q4_K" if gqa4 else new, "IQ3_S": "Q4_K" if gqa4 else new,
        "IQ3_M": "Q4_K", "Q3_K_M": "Q5_K" if i < 2 else "Q4_K", "Q3_K_L": "Q5_K",
        "IQ4_NL": "Q5_K" if gqa4 else new, "IQ4_XS": "Q5_K" if gqa4 else new,
        "Q4_K_M": "Q6_K" if _more_bits(i, n) else new,
        "Q5_K_M": "Q6_K" if _more_bits(i, n) else new,
        "Q4_K_S": "Q5_K" if i < 4 else new,
    }
    new = by_quant.get(q, new)
    if st.is_70b and new in ("Q3_K", "Q4_K"):
        new = "Q5_K"
    if st.n_expert == 8:
        new = "Q8_0"
    st.i_attention_wv += 1
    return new


def _ffn_down(st: _State, spec: TensorSpec, new: str) -> str:
    q, i, n = st.quant, _layer_of(st, spec, "down"), st.n_layer
    st.counters["down"] += 1
    first8, more = i < n // 8, _more_bits(i, n)
    if q == "Q2_K":
        return "Q3_K"
    if q == "Q2_K_S":
        return "Q4_K" if first8 else new
    if q == "IQ3_XXS" and not st.opts.imatrix:
        return "Q4_K" if first8 else "Q3_K"
    if q == "Q3_K_M":
        return "Q5_K" if i < n // 16 else "Q4_K"
    if q == "IQ3_M" and (first8 or (st.n_expert == 8 and more)):
        return "Q4_K"
    if q == "Q3_K_L":
        return "Q5_K"
    if q == "Q4_K_M":
        return "Q6_K" if more else new
    if q in ("IQ4_NL", "IQ4_XS") and first8 and not st.opts.imatrix:
        return "Q5_K"
    if q == "Q5_K_M" and more:
        return "Q6_K"
    if q == "Q4_K_S" and first8:
        return "Q5_K"
    if q in ("Q4_0", "Q5_0") and st.opts.imatrix and first8:
        return "Q4_1" if q == "Q4_0" else "Q5_1"
    return new


_LEGACY_QKV = {"Q3_K_M": "Q4_K", "Q3_K_L": "Q4_K", "IQ3_M": "Q4_K", "Q4_K_M": "Q5_K",
               "Q5_K_M": "Q6_K"}
_ATTN_OUTPUT_MOE8 = frozenset({"Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL",
                               "Q4_K_S", "Q4_K_M", "IQ3_S", "IQ3_M", "IQ4_XS"})
_ATTN_OUTPUT = {"Q2_K": "Q3_K", "IQ3_XXS": "IQ3_S", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K",
                "IQ3_M": "Q4_K"}


def _mixed_type(st: _State, spec: TensorSpec, cat: str, new: str) -> str:
    """``llama_tensor_get_type_impl``: the mix's choice for one quantizable tensor."""
    q = st.quant
    if cat == "output" or (st.tied and cat == "token_embd"):
        return st.opts.output_tensor_type or _output_type(st, spec, new)
    if q == "MXFP4":
        return "MXFP4" if len(spec.shape) > 2 and spec.shape[2] > 1 else "Q8_0"
    if cat == "token_embd":
        return st.opts.token_embedding_type or _EMBD_RULE.get(q, new)
    if q in _IQ2_MIX:
        return _iq2_mix(st, spec, cat, new)
    if cat == "attn_qkv" and st.opts.legacy_qkv:
        return _LEGACY_QKV.get(q, new)
    if cat in ("attn_v", "attn_qkv", "attn_kv_b"):
        return _attn_v(st, new)
    if cat == "attn_k":
        return "Q8_0" if st.n_expert == 8 else {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(
            q, new)
    if cat == "attn_q":
        return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(q, new)
    if cat == "ffn_down":
        return _ffn_down(st, spec, new)
    if cat == "attn_output":
        if st.n_expert == 8:
            return "Q5_K" if q in _ATTN_OUTPUT_MOE8 else new
        return _ATTN_OUTPUT.get(q, new)
    if cat in ("ffn_gate", "ffn_up"):
        counter = "gate" if cat == "ffn_gate" else "up"
        i, n = _layer_of(st, spec, counter), st.n_layer
        st.counters[counter] += 1
        if q == "IQ3_XS" and n // 8 <= i < 7 * n // 8:
            return "IQ3_XXS"
    return new


def _block(type_name: str) -> int:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    return int(GGML_QUANT_SIZES[GGMLQuantizationType[type_name]][0])


def _fallback(spec: TensorSpec, target: str) -> str:
    ncols = spec.shape[0]
    if ncols % _block(target) == 0:
        return target
    out = _FALLBACK.get(target, target)
    if _block(out) > 32:
        raise InvalidInputError(f"no fallback type for {target} (tensor {spec.name})",
                                parameter="quant")
    return out if ncols % _block(out) == 0 else "F16"


def _state(arch: Architecture, layout: list[TensorSpec], quant: str,
           opts: QuantOptions) -> _State:
    gqa = arch.n_heads // arch.n_kv_heads if arch.n_kv_heads else 0
    if arch.gguf_arch in _PER_LAYER_KV and arch.mixer(0) != "attention":
        gqa = 0
    is_70b = arch.n_layers == 80 and (
        arch.gguf_arch in ("qwen2", "deci") or (arch.gguf_arch == "llama"
                                                and arch.n_heads != arch.n_kv_heads))
    layers = [s.layer for s in layout if s.layer is not None]
    return _State(quant=quant, opts=opts, n_gqa=gqa, n_expert=arch.n_experts, is_70b=is_70b,
                  n_layer=max(layers) + 1 if layers else 0,
                  tied=not any(s.name == "output.weight" for s in layout),
                  n_attention_wv=sum(category(s.name) in ("attn_v", "attn_qkv", "attn_kv_b")
                                     for s in layout))


def tensor_types(arch: Architecture, layout: list[TensorSpec], quant: str,
                 opts: QuantOptions | None = None) -> list[str]:
    """The ggml type of each tensor of ``layout`` (same order) in a ``quant`` file made by
    ``llama-quantize`` from the converter's 16-bit file."""
    quant = canonical_quant(quant)
    opts = opts or QuantOptions()
    default = DEFAULT_TYPE[quant]
    st = _state(arch, layout, quant, opts)
    types = [s.source_type for s in layout]
    order = sorted(range(len(layout)),
                   key=lambda k: (-1 if layout[k].layer is None else layout[k].layer,
                                  layout[k].name))
    for k in order:
        spec = layout[k]
        if not allows_quantization(spec) or spec.source_type not in ("F32", "F16", "BF16"):
            continue
        cat = category(spec.name)
        if cat == "token_embd" and opts.token_embedding_type:
            types[k] = opts.token_embedding_type
        elif cat == "output" and opts.output_tensor_type:
            types[k] = opts.output_tensor_type
        elif default in ("F32", "F16", "BF16"):
            types[k] = default
        else:
            types[k] = _fallback(spec, _mixed_type(st, spec, cat, default))
    return types

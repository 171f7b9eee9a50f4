"""Tensor layouts of hybrid decoders and Gemma 4 (see :mod:`advisor.data.tensors`).

Shapes follow llama.cpp's loader (``src/models/<arch>.cpp``, llama-cpp-python 0.3.36):
Gated DeltaNet layers of ``qwen35``/``qwen35moe``/``qwen3next``, Mamba2 blocks of
``granitehybrid`` and ``nemotron_h``, LFM2's short convolutions, and Gemma 4's per-layer head
sizes, shared K/V projections and per-layer embeddings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from advisor.data.tensors import LayoutBuilder


def _gated_deltanet(b: LayoutBuilder, il: int) -> None:
    """A linear-attention layer (``load_block_trunk``, recurrent branch)."""
    a, h = b.arch, b.arch.hidden_size
    head_k = head_v = a.linear_key_head_dim  # the loader sizes both from ssm.state_size
    key_dim, value_dim = head_k * a.linear_num_key_heads, head_v * a.linear_num_value_heads
    n_v = a.linear_num_value_heads
    b.blk(il, "attn_qkv", h, 2 * key_dim + value_dim)
    b.blk(il, "attn_gate", h, value_dim)
    b.blk(il, "ssm_conv1d", a.linear_conv_kernel_dim, 2 * key_dim + value_dim)
    b.blk(il, "ssm_dt", n_v, suffix="bias")
    b.add(f"blk.{il}.ssm_a", n_v, layer=il)
    if a.gguf_arch == "qwen3next":
        b.blk(il, "ssm_ba", h, 2 * n_v)
    else:
        b.blk(il, "ssm_beta", h, n_v)
        b.blk(il, "ssm_alpha", h, n_v)
    b.blk(il, "ssm_norm", head_v)
    b.blk(il, "ssm_out", value_dim, h)


def _qwen_next_block(b: LayoutBuilder, il: int, *, attends: bool) -> None:
    a, h = b.arch, b.arch.hidden_size
    b.blk(il, "attn_norm", h)
    b.blk(il, "post_attention_norm", h)
    if attends:
        b.attention(il, q_factor=2, qk_norm="head")  # query and its output gate, fused
    else:
        _gated_deltanet(b, il)
    if a.gguf_arch == "qwen35":
        b.dense_ffn(il)
    else:
        b.experts(il, shared_gate_inp=True)


def _qwen_next(b: LayoutBuilder) -> None:
    """Qwen3-Next and Qwen3.5/3.6: Gated DeltaNet layers with a full-attention layer every
    ``full_attention_interval`` layers."""
    b.embeddings()
    for il in range(b.arch.n_layers):
        _qwen_next_block(b, il, attends=b.arch.mixer(il) == "attention")


def _qwen_next_mtp(b: LayoutBuilder) -> None:
    """MTP layers (``--mtp`` conversions): a full-attention block plus the NextN tensors."""
    b.mtp = True
    for il in range(b.arch.n_layers, b.arch.n_layers + b.arch.mtp_layers):
        _qwen_next_block(b, il, attends=True)
        b.nextn(il, embeddings=False)
    b.mtp = False


def _mamba2(b: LayoutBuilder, il: int) -> None:
    a, h = b.arch, b.arch.hidden_size
    d_inner, ng, ds, nh = a.d_inner, a.mamba_n_groups, a.mamba_d_state, a.mamba_n_heads
    b.blk(il, "ssm_in", h, 2 * d_inner + 2 * ng * ds + nh)
    b.blk(il, "ssm_conv1d", a.mamba_d_conv, d_inner + 2 * ng * ds)
    b.blk(il, "ssm_conv1d", d_inner + 2 * ng * ds, suffix="bias")
    b.blk(il, "ssm_dt", nh, suffix="bias")
    b.add(f"blk.{il}.ssm_a", 1, nh, layer=il)
    b.add(f"blk.{il}.ssm_d", 1, nh, layer=il)
    b.blk(il, "ssm_norm", d_inner // ng, ng)
    b.blk(il, "ssm_out", d_inner, h)


def _granite_hybrid(b: LayoutBuilder) -> None:
    """Granite 4.0 H: Mamba2 layers with a few attention layers; MoE or dense FFN."""
    a, h = b.arch, b.arch.hidden_size
    b.embeddings()
    for il in range(a.n_layers):
        b.blk(il, "attn_norm", h)
        if a.mixer(il) == "mamba":
            _mamba2(b, il)
        else:
            b.attention(il)
        b.blk(il, "ffn_norm", h)
        if a.is_moe:
            b.experts(il)
        else:
            b.dense_ffn(il)


def _nemotron_h(b: LayoutBuilder) -> None:
    """Nemotron-H (v2 / 3): one block per layer, Mamba2 (M), attention (*), squared-ReLU MLP
    (-) or MoE (E), as its ``hybrid_override_pattern`` says."""
    a, h = b.arch, b.arch.hidden_size
    b.embeddings()
    for il in range(a.n_layers):
        b.blk(il, "attn_norm", h)
        mixer, ffn = a.mixer(il), a.ffn(il)
        if mixer == "mamba":
            _mamba2(b, il)
        elif mixer == "attention":
            b.attention(il)
        elif ffn == "dense":
            b.dense_ffn(il, gate=False)
        else:
            b.experts(il, gate=False, probs_bias=True)


def _lfm2(b: LayoutBuilder) -> None:
    """LFM2 / LFM2-MoE: gated short convolutions with a few attention layers (the final
    norm is named ``token_embd_norm`` in llama.cpp)."""
    a, h = b.arch, b.arch.hidden_size
    b.embeddings(output_norm="token_embd_norm.weight")
    for il in range(a.n_layers):
        b.blk(il, "ffn_norm", h)
        if a.ffn(il) == "moe":
            b.experts(il, probs_bias=True, shared=False)
        else:
            b.dense_ffn(il)
        b.blk(il, "attn_norm", h)
        if a.mixer(il) == "attention":
            b.blk(il, "attn_q_norm", a.key_dim)
            b.blk(il, "attn_k_norm", a.key_dim)
            b.attention(il)
        else:
            b.blk(il, "shortconv.conv", a.conv_L_cache, h)
            b.blk(il, "shortconv.in_proj", h, 3 * h)
            b.blk(il, "shortconv.out_proj", h, h)


def _gemma4(b: LayoutBuilder) -> None:
    """Gemma 4: sliding layers with ``swa_head_dim`` heads, global layers with
    ``global_head_dim`` heads and ``n_global_kv_heads`` KV heads (K doubles as V when
    ``attention_k_eq_v``), a dense MLP in every layer plus experts in MoE models, and
    per-layer token embeddings in the E models."""
    a, h = b.arch, b.arch.hidden_size
    ple = a.hidden_size_per_layer_input
    b.embeddings()
    if ple:
        b.add("per_layer_token_embd.weight", ple * a.n_layers,
              a.vocab_size_per_layer_input or a.vocab_size)
        b.add("per_layer_model_proj.weight", h, ple * a.n_layers)
        b.add("per_layer_proj_norm.weight", ple)
    global_hd = a.global_head_dim or a.key_dim
    b.add("rope_freqs.weight", global_hd // 2)
    first_shared = a.n_layers - a.num_kv_shared_layers
    for il in range(a.n_layers):
        full = a.is_full_attention(il)
        hd = global_hd if full else (a.swa_head_dim or a.key_dim)
        n_kv = (a.n_global_kv_heads or a.n_kv_heads) if full else a.n_kv_heads
        b.blk(il, "attn_norm", h)
        b.attention(il, n_kv=n_kv, head_dim=hd, qk_norm="head",
                    v=not (full and a.attention_k_eq_v))
        b.blk(il, "post_attention_norm", h)
        b.blk(il, "layer_output_scale", 1)
        b.blk(il, "ffn_norm", h)
        wide = il >= first_shared and a.intermediate_size_kv_shared_layers
        b.dense_ffn(il, a.intermediate_size_kv_shared_layers if wide else None)
        b.blk(il, "post_ffw_norm", h)
        if a.is_moe:
            ff, ne = a.expert_width, a.n_experts
            b.blk(il, "ffn_gate_inp", h, ne)
            b.blk(il, "ffn_gate_inp", h, suffix="scale")
            b.blk(il, "pre_ffw_norm_2", h)
            b.blk(il, "post_ffw_norm_1", h)
            b.blk(il, "post_ffw_norm_2", h)
            b.blk(il, "ffn_gate_up_exps", h, 2 * ff, ne)
            b.blk(il, "ffn_down_exps", ff, h, ne)
            b.blk(il, "ffn_down_exps", ne, suffix="scale")
        if ple:
            b.blk(il, "inp_gate", h, ple)
            b.blk(il, "proj", ple, h)
            b.blk(il, "post_norm", h)


BUILDERS: dict[str, Callable[[LayoutBuilder], None]] = {
    "qwen3next": _qwen_next, "qwen35": _qwen_next, "qwen35moe": _qwen_next,
    "granitehybrid": _granite_hybrid, "nemotron_h": _nemotron_h,
    "nemotron_h_moe": _nemotron_h, "lfm2": _lfm2, "lfm2moe": _lfm2, "gemma4": _gemma4,
}

#: Architectures whose MTP layers the converter can write (only with ``--mtp`` by default).
MTP_BUILDERS: dict[str, Callable[[LayoutBuilder], None]] = {
    "qwen3next": _qwen_next_mtp, "qwen35": _qwen_next_mtp, "qwen35moe": _qwen_next_mtp,
}

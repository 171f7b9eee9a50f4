"""Every tensor llama.cpp's converter writes for an architecture, with its shape.

``tensor_layout(arch)`` lists the tensors of the GGUF file that ``convert_hf_to_gguf.py`` makes
from a checkpoint of :class:`~advisor.data.arch.Architecture` ``arch``: names as in
llama.cpp's ``src/llama-arch.cpp`` (``LLM_TENSOR_NAMES``), shapes as its loader creates them
(``src/models/<arch>.cpp``, ``load_arch_tensors``; llama.cpp as vendored by llama-cpp-python
0.3.36), in ggml order: ``shape[0]`` is the row length (a weight's input features), then rows,
then experts. ``source_type`` is what the converter stores before any quantization: float32
for vectors, norms, routers and convolution kernels (``conversion/base.py``, the F32 list), the
checkpoint's 16-bit type (``BF16``) for the other matrices, and ``MXFP4`` where the checkpoint
ships experts already quantized (gpt-oss).

Decoder-only transformer families live here; hybrids (Gated DeltaNet, Mamba2, short
convolution) and Gemma 4 in :mod:`advisor.data.tensors_hybrid`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod

from advisor.data.arch import Architecture
from advisor.vocabulary.errors import InvalidInputError

#: Matrices the converter always keeps in float32 (conversion/base.py).
_F32_KINDS = frozenset({
    "ffn_gate_inp.weight", "ffn_gate_inp_shexp.weight", "ssm_conv1d.weight",
    "shortconv.conv.weight", "altup_correct_coef.weight", "altup_predict_coef.weight",
})


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of a GGUF file: ``shape`` in ggml order (row length first)."""

    name: str
    shape: tuple[int, ...]
    source_type: str
    layer: int | None = None
    mtp: bool = False  # part of a multi-token-prediction layer (llama.cpp skips it by default)

    @property
    def kind(self) -> str:
        """The name without its ``blk.N.`` prefix, e.g. ``attn_q.weight``."""
        return self.name.split(".", 2)[2] if self.layer is not None else self.name

    @property
    def n_elements(self) -> int:
        return prod(self.shape)

    @property
    def n_dims(self) -> int:
        """Dimensions not counting trailing ones (``ggml_n_dims``)."""
        dims = len(self.shape)
        while dims > 1 and self.shape[dims - 1] == 1:
            dims -= 1
        return dims

    @property
    def is_expert(self) -> bool:
        """A routed-experts tensor (``ffn_*_exps``): what ``-ot exps=CPU`` moves."""
        return "_exps." in self.kind


def _has_output_tensor(gguf_arch: str) -> bool:
    import gguf

    arch = next((a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == gguf_arch), None)
    return arch is None or gguf.MODEL_TENSOR.OUTPUT in gguf.MODEL_TENSORS[arch]


class LayoutBuilder:
    """Collects :class:`TensorSpec` with the converter's storage type rules."""

    def __init__(self, arch: Architecture, weight_type: str = "BF16") -> None:
        self.arch = arch
        self.weight_type = weight_type
        self.specs: list[TensorSpec] = []
        self.mtp = False

    def add(self, name: str, *shape: int, layer: int | None = None,
            source: str | None = None) -> None:
        if any(n <= 0 for n in shape):
            raise InvalidInputError(f"{self.arch.name or self.arch.gguf_arch}: tensor {name} "
                                    f"would have shape {shape}; an architecture field is "
                                    "missing or zero", parameter="model")
        kind = name.split(".", 2)[2] if layer is not None else name
        if source is None:
            f32 = (len(shape) <= 1 or kind.endswith("_norm.weight") or kind in _F32_KINDS
                   or not name.endswith(".weight"))
            source = "F32" if f32 else self.weight_type
        self.specs.append(TensorSpec(name, tuple(shape), source, layer, self.mtp))

    def blk(self, il: int, base: str, *shape: int, suffix: str = "weight",
            source: str | None = None) -> None:
        self.add(f"blk.{il}.{base}.{suffix}", *shape, layer=il, source=source)

    # -- shared pieces -------------------------------------------------------------------

    def embeddings(self, *, output_norm: str = "output_norm.weight") -> None:
        """Token embeddings, final norm, and the output matrix unless the embeddings are tied
        or llama.cpp's architecture has no output tensor (gguf ``MODEL_TENSORS``: Gemma 2,
        LFM2-MoE always reuse the embeddings)."""
        a = self.arch
        self.add("token_embd.weight", a.hidden_size, a.vocab_size)
        self.add(output_norm, a.hidden_size)
        untied = not a.tie_word_embeddings or a.lm_head_in_checkpoint
        if untied and _has_output_tensor(a.gguf_arch):
            self.add("output.weight", a.hidden_size, a.vocab_size)

    def attention(self, il: int, *, n_heads: int | None = None, n_kv: int | None = None,
                  head_dim: int | None = None, q_factor: int = 1, bias: bool = False,
                  out_bias: bool = False, qk_norm: str = "", v: bool = True) -> None:
        """q/k/v/output projections; ``qk_norm`` is ``"head"`` (per-head norms), ``"full"``
        (OLMo 2: over all heads) or ``""``; ``q_factor`` 2 = query and output gate fused."""
        a, h = self.arch, self.arch.hidden_size
        nh = n_heads or a.n_heads
        nkv = a.n_kv_heads if n_kv is None else n_kv
        hd = head_dim or a.key_dim
        q_dim, k_dim, v_dim = nh * hd, nkv * hd, nkv * (head_dim or a.value_dim)
        self.blk(il, "attn_q", h, q_dim * q_factor)
        self.blk(il, "attn_k", h, k_dim)
        if v:
            self.blk(il, "attn_v", h, v_dim)
        if bias:
            self.blk(il, "attn_q", q_dim, suffix="bias")
            self.blk(il, "attn_k", k_dim, suffix="bias")
            if v:
                self.blk(il, "attn_v", v_dim, suffix="bias")
        self.blk(il, "attn_output", q_dim if head_dim else nh * a.value_dim, h)
        if out_bias:
            self.blk(il, "attn_output", h, suffix="bias")
        if qk_norm == "head":
            self.blk(il, "attn_q_norm", hd)
            self.blk(il, "attn_k_norm", hd)
        elif qk_norm == "full":
            self.blk(il, "attn_q_norm", q_dim)
            self.blk(il, "attn_k_norm", k_dim)

    def dense_ffn(self, il: int, width: int | None = None, *, gate: bool = True) -> None:
        h, ff = self.arch.hidden_size, width or self.arch.intermediate_size
        if ff is None:
            raise InvalidInputError(f"{self.arch.name or self.arch.gguf_arch}: intermediate_size "
                                    "is required for a dense FFN", parameter="model")
        if gate:
            self.blk(il, "ffn_gate", h, ff)
        self.blk(il, "ffn_up", h, ff)
        self.blk(il, "ffn_down", ff, h)

    def experts(self, il: int, *, gate: bool = True, probs_bias: bool = False,
                shared: bool = True, shared_gate_inp: bool = False,
                expert_source: str | None = None) -> None:
        """Router, routed experts (3-D, one slice per expert) and the shared expert."""
        a, h = self.arch, self.arch.hidden_size
        ne, ff = a.n_experts, a.expert_width
        self.blk(il, "ffn_gate_inp", h, ne)
        if probs_bias:
            self.blk(il, "exp_probs_b", ne, suffix="bias")
        if gate:
            self.blk(il, "ffn_gate_exps", h, ff, ne, source=expert_source)
        self.blk(il, "ffn_up_exps", h, ff, ne, source=expert_source)
        self.blk(il, "ffn_down_exps", ff, h, ne, source=expert_source)
        if shared and a.shared_width:
            if shared_gate_inp:
                self.blk(il, "ffn_gate_inp_shexp", h, 1)
            if gate:
                self.blk(il, "ffn_gate_shexp", h, a.shared_width)
            self.blk(il, "ffn_up_shexp", h, a.shared_width)
            self.blk(il, "ffn_down_shexp", a.shared_width, h)

    def nextn(self, il: int, *, embeddings: bool) -> None:
        """The extra tensors of a multi-token-prediction layer."""
        a, h = self.arch, self.arch.hidden_size
        self.blk(il, "nextn.eh_proj", 2 * h, h)
        self.blk(il, "nextn.enorm", h)
        self.blk(il, "nextn.hnorm", h)
        if embeddings:
            self.blk(il, "nextn.embed_tokens", h, a.vocab_size)
            self.blk(il, "nextn.shared_head_head", h, a.vocab_size)
        self.blk(il, "nextn.shared_head_norm", h)


# -- transformer families ----------------------------------------------------------------

def _llama_like(b: LayoutBuilder) -> None:
    """llama, mistral3, granite, smollm3, qwen2, qwen3, qwen3moe, llama4."""
    a = b.arch
    b.embeddings()
    if a.gguf_arch in ("llama", "llama4") and a.vocab_size == 128256:
        # Llama 3.1+ checkpoints (the 128256-token vocabulary) carry llama3 rope scaling,
        # which the converter stores as one rope_freqs vector (conversion/llama.py)
        b.add("rope_freqs.weight", a.key_dim // 2)
    qk_norm = "head" if a.gguf_arch in ("qwen3", "qwen3moe") or (
        a.gguf_arch == "llama4" and a.use_qk_norm) else ""
    for il in range(a.n_layers):
        b.blk(il, "attn_norm", a.hidden_size)
        b.attention(il, bias=a.gguf_arch == "qwen2", qk_norm=qk_norm)
        b.blk(il, "ffn_norm", a.hidden_size)
        if a.ffn(il) == "moe":
            b.experts(il)
        else:
            b.dense_ffn(il)


def _phi3(b: LayoutBuilder) -> None:
    """Phi-3/3.5/4: fused qkv and fused gate+up (``ffn_up`` is twice the FFN width)."""
    a, h = b.arch, b.arch.hidden_size
    b.embeddings()
    for il in range(a.n_layers):
        b.blk(il, "attn_norm", h)
        b.blk(il, "attn_qkv", h, a.n_heads * a.key_dim + 2 * a.n_kv_heads * a.key_dim)
        b.blk(il, "attn_output", a.n_heads * a.key_dim, h)
        b.blk(il, "ffn_norm", h)
        ff = a.intermediate_size or 0
        b.blk(il, "ffn_down", ff, h)
        b.blk(il, "ffn_up", h, 2 * ff)


def _gemma2_3(b: LayoutBuilder) -> None:
    """Gemma 2 and 3: tied embeddings, pre and post norms around both blocks."""
    a, h = b.arch, b.arch.hidden_size
    b.embeddings()
    for il in range(a.n_layers):
        b.blk(il, "attn_norm", h)
        b.attention(il, qk_norm="head" if a.gguf_arch == "gemma3" else "")
        b.blk(il, "post_attention_norm", h)
        b.blk(il, "ffn_norm", h)
        b.dense_ffn(il)
        b.blk(il, "post_ffw_norm", h)


def _olmo2(b: LayoutBuilder) -> None:
    """OLMo 2 / 3: post-norms only, q/k norms over all heads."""
    a, h = b.arch, b.arch.hidden_size
    b.embeddings()
    for il in range(a.n_layers):
        b.attention(il, qk_norm="full")
        b.blk(il, "post_attention_norm", h)
        b.dense_ffn(il)
        b.blk(il, "post_ffw_norm", h)


def _gpt_oss(b: LayoutBuilder) -> None:
    """gpt-oss: biases everywhere, attention sinks, experts shipped in MXFP4."""
    a, h = b.arch, b.arch.hidden_size
    b.embeddings()
    for il in range(a.n_layers):
        b.blk(il, "attn_norm", h)
        b.blk(il, "post_attention_norm", h)
        b.attention(il, bias=True, out_bias=True)
        b.blk(il, "attn_sinks", a.n_heads)
        b.experts(il, expert_source="MXFP4", shared=False)
        b.blk(il, "ffn_gate_inp", a.n_experts, suffix="bias")
        ff, ne = a.expert_width, a.n_experts
        b.blk(il, "ffn_gate_exps", ff, ne, suffix="bias")
        b.blk(il, "ffn_up_exps", ff, ne, suffix="bias")
        b.blk(il, "ffn_down_exps", h, ne, suffix="bias")


def _glm4moe(b: LayoutBuilder, mtp: bool) -> None:
    """GLM-4.5/4.6/4.7: q/k/v biases, post-attention norm, leading dense layers, and the
    checkpoint's NextN layer appended as ``blk.<n_layers>`` (written unless ``--no-mtp``)."""
    a, h = b.arch, b.arch.hidden_size
    b.embeddings()
    for il in range(a.n_layers + (a.mtp_layers if mtp else 0)):
        b.mtp = il >= a.n_layers
        b.blk(il, "attn_norm", h)
        b.attention(il, bias=True, qk_norm="head" if a.use_qk_norm else "")
        b.blk(il, "post_attention_norm", h)
        if a.ffn(il) == "moe":
            b.experts(il, probs_bias=True)
        else:
            b.dense_ffn(il)
        if b.mtp:
            b.nextn(il, embeddings=a.mtp_embeddings)
    b.mtp = False


def _deepseek2(b: LayoutBuilder) -> None:
    """DeepSeek-V2/V3 style MLA (also Kimi K2 and GLM-4.7-Flash): low-rank q and kv, the
    kv up-projection split per head into ``attn_k_b`` and ``attn_v_b``. The converter skips
    the MTP layer (``conversion/deepseek.py``, ``skip_mtp``)."""
    a, h = b.arch, b.arch.hidden_size
    rope = a.qk_rope_head_dim or a.key_dim - a.qk_nope_head_dim
    nope = a.qk_nope_head_dim or a.key_dim - rope
    k_head, v_head = nope + rope, a.v_head_dim or a.key_dim
    b.embeddings()
    for il in range(a.n_layers):
        b.blk(il, "attn_norm", h)
        if a.q_lora_rank:
            b.blk(il, "attn_q_a_norm", a.q_lora_rank)
            b.blk(il, "attn_q_a", h, a.q_lora_rank)
            b.blk(il, "attn_q_b", a.q_lora_rank, a.n_heads * k_head)
        else:
            b.blk(il, "attn_q", h, a.n_heads * k_head)
        b.blk(il, "attn_kv_a_norm", a.kv_lora_rank)
        b.blk(il, "attn_kv_a_mqa", h, a.kv_lora_rank + rope)
        b.blk(il, "attn_k_b", nope, a.kv_lora_rank, a.n_heads)
        b.blk(il, "attn_v_b", a.kv_lora_rank, v_head, a.n_heads)
        b.blk(il, "attn_output", a.n_heads * v_head, h)
        b.blk(il, "ffn_norm", h)
        if a.ffn(il) == "moe":
            b.experts(il, probs_bias=True)
        else:
            b.dense_ffn(il)


#: Architectures whose converter writes the checkpoint's MTP layers into the main file.
MTP_IN_FILE = frozenset({"glm4moe"})


def tensor_layout(arch: Architecture, *, mtp: bool | None = None) -> list[TensorSpec]:
    """Every tensor of ``arch``'s GGUF file, in the loader's order (non-layer tensors, then
    layer by layer). ``mtp`` includes the checkpoint's multi-token-prediction layers; the
    default is what published files of that architecture hold (:data:`MTP_IN_FILE`)."""
    from advisor.data import tensors_hybrid

    builders: dict[str, Callable[[LayoutBuilder], None]] = {
        **dict.fromkeys(("llama", "mistral3", "granite", "smollm3", "qwen2", "qwen3",
                         "qwen3moe", "llama4"), _llama_like),
        "phi3": _phi3, "gemma2": _gemma2_3, "gemma3": _gemma2_3, "olmo2": _olmo2,
        "gpt-oss": _gpt_oss, "deepseek2": _deepseek2,
        **tensors_hybrid.BUILDERS,
    }
    include_mtp = arch.gguf_arch in MTP_IN_FILE if mtp is None else mtp
    b = LayoutBuilder(arch)
    if arch.gguf_arch == "glm4moe":
        _glm4moe(b, include_mtp)
    elif arch.gguf_arch in builders:
        builders[arch.gguf_arch](b)
    else:
        raise InvalidInputError(
            f"{arch.name or 'model'}: no tensor layout for llama.cpp architecture "
            f"{arch.gguf_arch!r}; supported: {', '.join(sorted([*builders, 'glm4moe']))}",
            parameter="model")
    if include_mtp and arch.mtp_layers and arch.gguf_arch in tensors_hybrid.MTP_BUILDERS:
        tensors_hybrid.MTP_BUILDERS[arch.gguf_arch](b)
    return b.specs


def supported_architectures() -> tuple[str, ...]:
    """The llama.cpp architectures :func:`tensor_layout` knows."""
    from advisor.data import tensors_hybrid

    return tuple(sorted({"llama", "mistral3", "granite", "smollm3", "qwen2", "qwen3",
                         "qwen3moe", "llama4", "phi3", "gemma2", "gemma3", "olmo2", "gpt-oss",
                         "deepseek2", "glm4moe", *tensors_hybrid.BUILDERS}))

"""Bytes of a GGUF file's weights from the architecture and llama-quantize's type choice.

``weights_bytes(arch, quant)`` is the file's size: every tensor of
:func:`~advisor.data.tensors.tensor_layout` at the type
:func:`~advisor.data.quant_rules.tensor_types` gives it (bytes per block from the ``gguf``
package's ``GGML_QUANT_SIZES``; each tensor padded to the file's 32-byte alignment), plus an
estimate of the header (key/values, tokenizer, tensor index). :func:`weights_breakdown` splits
the same bytes the way placement and MoE speed need them: per repeating layer, the tensors
outside the layers, the routed experts of each layer, and the bytes a token reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from advisor.data.arch import Architecture
from advisor.data.quant_rules import QuantOptions, canonical_quant, tensor_types
from advisor.data.tensors import TensorSpec, tensor_layout

#: GGUF's default data alignment (``general.alignment``), bytes.
ALIGNMENT = 32
#: Header bytes besides the tokenizer and tensor index: architecture keys, chat template
#: and the general.* block. llama.cpp's vocab-only files (``models/ggml-vocab-*.gguf``)
#: carry 1-12 KB of such keys (chat templates up to 12 KB); 16 KiB covers them.
_KV_BYTES = 16 * 1024
#: Tokenizer arrays per token, measured on llama.cpp's ggml-vocab-*.gguf files (llama.cpp
#: as vendored by llama-cpp-python 0.3.36): a token string costs 14.6-17.0 bytes with its
#: 8-byte length (median 15.3), a token type 4, a score 4 (SentencePiece vocabularies), a
#: BPE merge 16.1-18.6 (median 16.6), about one merge per token.
_TOKEN_BYTES, _TYPE_BYTES, _SCORE_BYTES, _MERGE_BYTES = 15.3, 4, 4, 16.6
#: Whole vocab-only files of BPE tokenizers, by token count (same files): Llama 3
#: (llama-bpe), Qwen2/2.5/3 (qwen2), Gemma 4 (gemma-4), StarCoder/SmolLM, GPT-2.
_BPE_FILES = {128256: 7_818_140, 151936: 5_928_681, 262144: 15_776_467, 49152: 1_719_346,
              50257: 1_766_807}
#: SentencePiece (scores, no merges) vocabularies: Gemma 1-3 and 32K-token Llama/Mistral/Phi-3.
_SPM_ARCHS = frozenset({"gemma2", "gemma3", "gemma3n"})


def ggml_bytes(type_name: str, shape: tuple[int, ...]) -> int:
    """Bytes of a tensor of ``shape`` (ggml order) stored as ``type_name``."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    block, size = GGML_QUANT_SIZES[GGMLQuantizationType[type_name]]
    rows = 1
    for n in shape[1:]:
        rows *= n
    return rows * (shape[0] // block) * size


def _padded(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


def header_bytes(arch: Architecture, layout: list[TensorSpec]) -> int:
    """Estimated GGUF header: key/values, tokenizer arrays and the tensor index."""
    n = arch.vocab_size
    tokens = n * (_TOKEN_BYTES + _TYPE_BYTES)
    if arch.gguf_arch in _SPM_ARCHS or n <= 32768:
        tokenizer = tokens + n * _SCORE_BYTES + _KV_BYTES
    else:
        tokenizer = _BPE_FILES.get(n, tokens + n * _MERGE_BYTES + _KV_BYTES)
    index = sum(8 + len(s.name) + 4 + 8 * len(s.shape) + 4 + 8 for s in layout)
    return _padded(int(tokenizer + index))


@dataclass(frozen=True)
class TensorBytes:
    """One tensor of a quantized file."""

    spec: TensorSpec
    type_name: str
    n_bytes: int  # padded to the file's alignment


@dataclass(frozen=True)
class WeightsBreakdown:
    """A quantized file's bytes, split for placement (all in bytes)."""

    quant: str
    tensors: tuple[TensorBytes, ...]
    header_bytes: int
    n_layers: int
    n_experts: int
    n_experts_used: int

    @property
    def tensor_bytes(self) -> int:
        """All tensor data in the file (MTP layers included)."""
        return sum(t.n_bytes for t in self.tensors)

    @property
    def file_bytes(self) -> int:
        return self.tensor_bytes + self.header_bytes

    @property
    def mtp_bytes(self) -> int:
        """Multi-token-prediction layers: in the file, not loaded by default (load_mtp)."""
        return sum(t.n_bytes for t in self.tensors if t.spec.mtp)

    @property
    def loaded_bytes(self) -> int:
        """Tensor data llama.cpp loads by default (everything but MTP layers)."""
        return self.tensor_bytes - self.mtp_bytes

    @property
    def layer_bytes(self) -> tuple[int, ...]:
        """Bytes of each repeating layer ``blk.0`` .. ``blk.<n_layers-1>``."""
        out = [0] * self.n_layers
        for t in self.tensors:
            if t.spec.layer is not None and not t.spec.mtp:
                out[t.spec.layer] += t.n_bytes
        return tuple(out)

    @property
    def expert_bytes(self) -> tuple[int, ...]:
        """Routed-expert bytes of each layer: what ``--n-cpu-moe`` / ``-ot exps=CPU`` keep
        in system memory."""
        out = [0] * self.n_layers
        for t in self.tensors:
            if t.spec.layer is not None and not t.spec.mtp and t.spec.is_expert:
                out[t.spec.layer] += t.n_bytes
        return tuple(out)

    @property
    def non_repeating_bytes(self) -> int:
        """Tensors outside the layers: embeddings, output matrix, final norm, rope tables."""
        return sum(t.n_bytes for t in self.tensors if t.spec.layer is None)

    def named_bytes(self, name: str) -> int:
        return sum(t.n_bytes for t in self.tensors if t.spec.name == name)

    @property
    def output_bytes(self) -> int:
        """The output matrix (the token embedding table when embeddings are tied)."""
        return self.named_bytes("output.weight") or self.named_bytes("token_embd.weight")

    @property
    def active_bytes_per_token(self) -> int:
        """Weight bytes one decoded token reads: every layer tensor except the routed
        experts, ``n_experts_used / n_experts`` of those, the output matrix, and one row
        of each embedding table."""
        total = sum(self.layer_bytes) - sum(self.expert_bytes)
        if self.n_experts:
            total += sum(self.expert_bytes) * self.n_experts_used // self.n_experts
        total += self.output_bytes
        for t in self.tensors:
            if t.spec.name in ("token_embd.weight", "per_layer_token_embd.weight"):
                total += t.n_bytes // t.spec.shape[1]
            elif t.spec.layer is None and t.spec.name != "output.weight":
                total += t.n_bytes
        return total


def weights_breakdown(arch: Architecture, quant: str, opts: QuantOptions | None = None, *,
                      mtp: bool | None = None) -> WeightsBreakdown:
    """The bytes of ``arch`` quantized to ``quant`` by llama-quantize, tensor by tensor."""
    layout = tensor_layout(arch, mtp=mtp)
    types = tensor_types(arch, layout, quant, opts)
    tensors = tuple(TensorBytes(s, t, _padded(ggml_bytes(t, s.shape)))
                    for s, t in zip(layout, types, strict=True))
    return WeightsBreakdown(quant=canonical_quant(quant), tensors=tensors,
                            header_bytes=header_bytes(arch, layout), n_layers=arch.n_layers,
                            n_experts=arch.n_experts if arch.is_moe else 0,
                            n_experts_used=arch.n_experts_used)


def weights_bytes(arch: Architecture, quant: str, opts: QuantOptions | None = None) -> int:
    """Size of the GGUF file of ``arch`` at ``quant`` (tensor data plus estimated header)."""
    return weights_breakdown(arch, quant, opts).file_bytes

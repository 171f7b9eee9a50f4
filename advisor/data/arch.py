"""A model's text decoder as llama.cpp builds it: the config facts that fix its tensor shapes.

:class:`Architecture` holds the catalog's architecture fields (``measurements/catalog``; field
names as in the catalog schema, values from each model's ``config.json`` / ``text_config``).
Every size is a count: layers, heads, or elements (a "dim" or "size" is a number of elements
along one axis). ``from_facts`` builds one from catalog-style strings (``"5;11;17"`` lists,
``"true"``/``"false"``, blanks for unknown).

Per-layer questions (which layers attend, which are Gated DeltaNet / Mamba2 / short-conv,
which are MoE, which use the sliding window) are answered by :meth:`Architecture.mixer` and
:meth:`Architecture.ffn`, following the layer selection in llama.cpp's loader
(``src/models/<arch>.cpp``, ``load_arch_tensors``).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from advisor.vocabulary.errors import InvalidInputError, UnknownNameError

PosInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]

Mixer = Literal["attention", "linear_attention", "mamba", "short_conv", "none"]
Ffn = Literal["dense", "moe", "none"]

#: Characters of a Nemotron-H ``hybrid_override_pattern``: Mamba2, attention, MLP, MoE.
_PATTERN_BLOCKS: dict[str, tuple[Mixer, Ffn]] = {
    "M": ("mamba", "none"), "*": ("attention", "none"), "-": ("none", "dense"),
    "E": ("none", "moe"),
}


class Architecture(BaseModel):
    """The text decoder's shapes. Unset optional fields mean "this architecture has none"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    gguf_arch: str = Field(min_length=1, description="llama.cpp general.architecture")
    n_layers: PosInt = Field(description="decoder layers (num_hidden_layers), MTP excluded")
    hidden_size: PosInt
    intermediate_size: PosInt | None = Field(None, description="dense FFN width")
    n_heads: PosInt
    n_kv_heads: NonNegInt
    head_dim: PosInt | None = Field(None, description="key head dim; default hidden/n_heads")
    v_head_dim: PosInt | None = Field(None, description="value head dim if it differs")
    vocab_size: PosInt
    tie_word_embeddings: bool = False
    lm_head_in_checkpoint: bool = Field(
        False, description="the checkpoint ships lm_head.weight although embeddings are tied "
        "(Qwen3-0.6B/1.7B): the converter writes it as output.weight")
    # mixture of experts
    n_experts: NonNegInt = 0
    n_experts_used: NonNegInt = 0
    n_shared_experts: NonNegInt = 0
    moe_intermediate_size: PosInt | None = Field(None, description="one routed expert's width")
    shared_expert_intermediate_size: PosInt | None = Field(
        None, description="all shared experts together; default n_shared x moe width")
    n_dense_layers: NonNegInt = Field(0, description="leading dense layers (first_k_dense)")
    moe_layer_step: NonNegInt = Field(0, description="interleaved MoE: every k-th layer (Llama 4)")
    # multi-head latent attention (DeepSeek-V2/V3, Kimi K2, GLM-4.7-Flash)
    q_lora_rank: NonNegInt = 0
    kv_lora_rank: NonNegInt = 0
    qk_rope_head_dim: NonNegInt = 0
    qk_nope_head_dim: NonNegInt = 0
    # which layers attend, for hybrids and sliding-window models
    full_attention_interval: NonNegInt = Field(0, description="every k-th layer attends")
    full_attn_idxs: tuple[int, ...] = Field((), description="0-based attention/global layers")
    layer_pattern: str = Field("", description="Nemotron-H pattern: M mamba, * attn, - MLP, E MoE")
    sliding_window: NonNegInt = Field(0, description="tokens; 0 = no sliding window")
    # Gated DeltaNet (Qwen3-Next, Qwen3.5)
    linear_num_key_heads: NonNegInt = 0
    linear_num_value_heads: NonNegInt = 0
    linear_key_head_dim: NonNegInt = 0
    linear_value_head_dim: NonNegInt = 0
    linear_conv_kernel_dim: NonNegInt = 0
    # Mamba2 (Granite 4 H, Nemotron-H)
    mamba_d_state: NonNegInt = 0
    mamba_n_heads: NonNegInt = 0
    mamba_head_dim: NonNegInt = 0
    mamba_n_groups: NonNegInt = 0
    mamba_d_conv: NonNegInt = 0
    mamba_d_inner: NonNegInt = Field(0, description="default mamba_n_heads x mamba_head_dim")
    # short convolution (LFM2)
    conv_L_cache: NonNegInt = 0  # noqa: N815 (the catalog's field name)
    # Gemma 3n / 4
    global_head_dim: NonNegInt = Field(0, description="head dim of full-attention layers")
    swa_head_dim: NonNegInt = Field(0, description="head dim of sliding layers")
    n_global_kv_heads: NonNegInt = Field(0, description="KV heads of full-attention layers")
    attention_k_eq_v: bool = Field(False, description="full layers share K and V (no attn_v)")
    hidden_size_per_layer_input: NonNegInt = Field(0, description="per-layer embedding width")
    vocab_size_per_layer_input: NonNegInt = 0
    num_kv_shared_layers: NonNegInt = Field(0, description="last layers reuse earlier KV")
    intermediate_size_kv_shared_layers: NonNegInt = Field(
        0, description="FFN width of KV-shared layers (double-wide MLP)")
    mtp_layers: NonNegInt = Field(0, description="multi-token-prediction layers in the checkpoint")
    mtp_embeddings: bool = Field(
        True, description="the MTP layer ships its own embed_tokens and shared_head.head")
    use_qk_norm: bool = Field(False, description="per-head q/k RMS norms (GLM-4.5 355B, "
                              "Llama 4 Scout); families that always have them ignore it")

    @field_validator("full_attn_idxs", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(int(v) for v in value.replace(",", ";").split(";") if v.strip())
        return value

    # -- derived sizes ---------------------------------------------------------------------

    @property
    def key_dim(self) -> int:
        """Key head dim (elements); ``hidden_size / n_heads`` when the config gives none."""
        return self.head_dim or self.hidden_size // self.n_heads

    @property
    def value_dim(self) -> int:
        return self.v_head_dim or self.key_dim

    @property
    def expert_width(self) -> int:
        if self.moe_intermediate_size:
            return self.moe_intermediate_size
        if self.intermediate_size and self.n_experts_used:
            return self.intermediate_size // self.n_experts_used
        raise InvalidInputError(f"{self.name or self.gguf_arch}: a MoE model needs "
                                "moe_intermediate_size", parameter="moe_intermediate_size")

    @property
    def shared_width(self) -> int:
        """Width of the shared-expert FFN (all shared experts together), 0 if none."""
        if self.shared_expert_intermediate_size:
            return self.shared_expert_intermediate_size
        return self.n_shared_experts * self.expert_width if self.n_shared_experts else 0

    @property
    def d_inner(self) -> int:
        return self.mamba_d_inner or self.mamba_n_heads * self.mamba_head_dim

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1

    # -- per layer ---------------------------------------------------------------------------

    def mixer(self, il: int) -> Mixer:
        """What mixes tokens in layer ``il``: attention or a recurrent/convolutional block."""
        if self.layer_pattern:
            return _PATTERN_BLOCKS[self.layer_pattern[il]][0]
        hybrid = {"qwen3next": "linear_attention", "qwen35": "linear_attention",
                  "qwen35moe": "linear_attention", "granitehybrid": "mamba",
                  "lfm2": "short_conv", "lfm2moe": "short_conv"}.get(self.gguf_arch)
        if hybrid is None:
            return "attention"
        if self.full_attn_idxs:
            return "attention" if il in self.full_attn_idxs else hybrid  # type: ignore[return-value]
        if self.full_attention_interval:
            attends = (il + 1) % self.full_attention_interval == 0
            return "attention" if attends else hybrid  # type: ignore[return-value]
        return hybrid  # type: ignore[return-value]

    def ffn(self, il: int) -> Ffn:
        """The feed-forward block of layer ``il``."""
        if self.layer_pattern:
            return _PATTERN_BLOCKS[self.layer_pattern[il]][1]
        if not self.is_moe or il < self.n_dense_layers:
            return "dense"
        if self.moe_layer_step and (il + 1) % self.moe_layer_step != 0:
            return "dense"
        return "moe"

    def is_full_attention(self, il: int) -> bool:
        """A global (not sliding-window) attention layer of a sliding-window model."""
        return not self.sliding_window or il in self.full_attn_idxs

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_facts(cls, facts: Mapping[str, Any], *, name: str = "") -> Architecture:
        """Build from catalog-style facts (field -> value, strings allowed); unknown fields and
        blanks are ignored. A Nemotron-H ``layer_types`` pattern (``M-M*-E``) fills
        ``layer_pattern``; ``mamba_expand`` x ``hidden_size`` fills ``mamba_d_inner``."""
        data: dict[str, Any] = {"name": name or str(facts.get("name", "") or "")}
        for key, value in facts.items():
            if key in cls.model_fields and key != "name" and not _blank(value):
                data[key] = _parse(value, cls.model_fields[key].annotation)
        pattern = str(facts.get("layer_types", "") or "")
        if "layer_pattern" not in data and pattern and set(pattern) <= set(_PATTERN_BLOCKS):
            data["layer_pattern"] = pattern
        if "mamba_d_inner" not in data and not _blank(facts.get("mamba_expand")):
            data["mamba_d_inner"] = int(float(str(facts["mamba_expand"]))) * int(
                data.get("hidden_size", 0))
        try:
            return cls(**data)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
                                 for err in e.errors())
            raise InvalidInputError(f"architecture of {data['name'] or '?'}: {problems}",
                                    parameter="model") from e


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _parse(value: Any, annotation: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if annotation is bool:
        if text.lower() not in ("true", "false"):
            raise InvalidInputError(f"expected true or false, got {value!r}", parameter="model")
        return text.lower() == "true"
    if "int" in str(annotation) and "tuple" not in str(annotation):
        return int(float(text))
    return text


@dataclass(frozen=True)
class CatalogArchitectures:
    """The catalog's models as :class:`Architecture`, and why the others could not be built."""

    by_name: dict[str, Architecture]
    problems: dict[str, str]

    def get(self, name: str) -> Architecture:
        """The architecture of catalog model ``name``; unknown or incomplete -> an error that
        says which, and what is missing."""
        if name in self.by_name:
            return self.by_name[name]
        if name in self.problems:
            raise InvalidInputError(f"no architecture for {name!r}: {self.problems[name]}",
                                    parameter="model")
        raise UnknownNameError("model", name, [*self.by_name, *self.problems], parameter="model")


def load_architectures(folder: Path | None = None) -> CatalogArchitectures:
    """Every catalog model's :class:`Architecture`: ``models.csv`` values, completed from
    ``facts.csv`` (the per-field facts it was built from: layer indices, Nemotron patterns,
    per-layer head sizes) for fields the table leaves out."""
    from advisor.data.dataset import default_measurements_dir

    folder = Path(folder) if folder is not None else default_measurements_dir() / "catalog"
    facts: dict[str, dict[str, str]] = {}
    facts_path = folder / "facts.csv"
    if facts_path.is_file():
        with facts_path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                facts.setdefault(row["model"], {})[row["field"]] = row["value"]
    by_name: dict[str, Architecture] = {}
    problems: dict[str, str] = {}
    with (folder / "models.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            merged = {**facts.get(row["name"], {}),
                      **{k: v for k, v in row.items() if v not in ("", None)}}
            try:
                by_name[row["name"]] = Architecture.from_facts(merged, name=row["name"])
            except InvalidInputError as e:
                problems[row["name"]] = str(e)
    return CatalogArchitectures(by_name, problems)

"""The model catalog: architectures the recommender can propose.

The catalog is a data folder (default ``measurements/catalog``) written by
:mod:`advisor.data.importers.catalog` and open to additions (``quant-advisor models add``):

* ``models.csv``: one :class:`ModelRow` per architecture;
* ``facts.csv`` and ``scores.csv``: the cited facts it is built from and every published
  full-precision score, which the capability model is fitted on
  (:mod:`advisor.predictors.capability`).
"""

from __future__ import annotations

import csv
import io
import logging
import threading
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from advisor.data.dataset import _read_csv_models, atomic_write_text, default_measurements_dir
from advisor.vocabulary.errors import DataFileError, InvalidInputError, UnknownNameError

log = logging.getLogger(__name__)

#: Numbers without which the memory estimate (and so a recommendation) cannot be made.
REQUIRED_FOR_MEMORY: tuple[str, ...] = (
    "params_b", "n_layers", "hidden_size", "vocab_size", "max_context",
)
#: How a model answers: no reasoning trace (``instruct``), always one (``thinking``), one
#: switchable on and off (``hybrid``), or one whose length is set (``reasoning_effort``, gpt-oss).
MODES: tuple[str, ...] = ("instruct", "thinking", "hybrid", "reasoning_effort")
#: Layers that keep a fixed-size state instead of a KV cache.
RECURRENT_KINDS: tuple[str, ...] = ("gated_deltanet", "mamba2", "short_conv", "kda")

PosInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
_MONTH = r"^(19|20)\d\d-(0[1-9]|1[0-2])$"


class ModelRow(BaseModel):
    """A line of ``models.csv``: one model as llama.cpp runs it (its text decoder), with what
    the recommender needs to size, place and rank it. Counts of layers say which layers keep
    what: ``n_full_attn_layers`` hold a KV cache over the whole context, ``n_swa_layers`` one
    over ``sliding_window`` tokens, ``n_recurrent_layers`` a fixed-size state, and
    ``num_kv_shared_layers`` reuse another layer's cache. Base and instruct checkpoints of the
    first catalog share a row; later models are named for the checkpoint people run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    family: str = Field(min_length=1)
    hf_repo: str = ""
    released: str | None = Field(None, pattern=_MONTH, description="public release, YYYY-MM")
    license: str = ""
    modes: str | None = Field(None, description=f"one of {', '.join(MODES)}")
    base_model: str = ""
    gguf_arch: str = Field("", description="llama.cpp's general.architecture")
    params_b: PosFloat | None = Field(None, description="total parameters (text decoder), 10^9")
    active_params_b: PosFloat | None = Field(None, description="parameters per token (MoE), 10^9")
    n_layers: PosInt | None = None
    hidden_size: PosInt | None = None
    intermediate_size: PosInt | None = Field(None, description="dense FFN width")
    n_heads: PosInt | None = None
    n_kv_heads: PosInt | None = None
    head_dim: PosInt | None = Field(None, description="key head size")
    v_head_dim: PosInt | None = Field(None, description="value head size if not head_dim")
    vocab_size: PosInt | None = None
    tie_word_embeddings: bool | None = None
    max_context: PosInt | None = Field(None, description="native context, tokens")
    max_context_extended: PosInt | None = Field(
        None, description="context with the RoPE scaling the card documents (YaRN), tokens")
    sliding_window: PosInt | None = Field(None, description="SWA window, tokens")
    n_swa_layers: NonNegInt = Field(0, description="layers with a sliding-window KV cache")
    n_full_attn_layers: NonNegInt | None = Field(
        None, description="layers with a full-context KV cache (None: all layers)")
    num_kv_shared_layers: NonNegInt = Field(0, description="layers reusing another's cache")
    global_head_dim: PosInt | None = Field(None, description="head size of full layers")
    n_global_kv_heads: PosInt | None = Field(None, description="KV heads of full layers")
    hidden_size_per_layer_input: NonNegInt | None = None
    n_experts: PosInt | None = None
    n_experts_used: PosInt | None = None
    n_shared_experts: NonNegInt | None = None
    moe_intermediate_size: PosInt | None = None
    shared_expert_intermediate_size: PosInt | None = None
    n_dense_layers: NonNegInt | None = Field(None, description="leading layers without MoE")
    moe_layer_step: PosInt | None = Field(None, description="MoE every k-th layer")
    q_lora_rank: PosInt | None = None
    kv_lora_rank: PosInt | None = Field(None, description="MLA latent size (cached)")
    qk_rope_head_dim: PosInt | None = None
    qk_nope_head_dim: PosInt | None = None
    recurrent_kind: str | None = Field(None, description=f"one of {', '.join(RECURRENT_KINDS)}")
    n_recurrent_layers: NonNegInt = 0
    linear_num_key_heads: PosInt | None = None
    linear_num_value_heads: PosInt | None = None
    linear_key_head_dim: PosInt | None = None
    linear_value_head_dim: PosInt | None = None
    linear_conv_kernel_dim: PosInt | None = None
    mamba_d_state: PosInt | None = None
    mamba_n_heads: PosInt | None = None
    mamba_head_dim: PosInt | None = None
    mamba_n_groups: PosInt | None = None
    mamba_d_conv: PosInt | None = None
    mamba_d_inner: PosInt | None = None
    conv_L_cache: PosInt | None = None
    mtp_layers: NonNegInt | None = None
    qat_gguf_repo: str = Field("", description="the maker's quantization-aware Q4_0 GGUF")
    recommendable: bool = True
    not_recommendable_reason: str = ""
    sources: str = Field("", description="source ids of this row's facts (facts.csv cites each)")
    notes: str = ""

    @model_validator(mode="before")
    @classmethod
    def _mark_incomplete(cls, data: Any) -> Any:
        if isinstance(data, dict):
            missing = [c for c in REQUIRED_FOR_MEMORY if data.get(c) in (None, "")]
            if data.get("kv_lora_rank") in (None, "") and any(
                    data.get(c) in (None, "") for c in ("n_kv_heads", "head_dim")):
                missing.append("n_kv_heads/head_dim (or kv_lora_rank)")
            kind = data.get("recurrent_kind")
            if kind not in (None, "") and cls._state_dims_missing(data, str(kind)):
                missing.append(f"the {kind} state sizes")
            if missing:
                data = {**data, "recommendable": False}
                if not data.get("not_recommendable_reason"):
                    data["not_recommendable_reason"] = (
                        f"missing {', '.join(missing)} (needed by the memory estimate)")
        return data

    @staticmethod
    def _state_dims_missing(data: dict[str, Any], kind: str) -> bool:
        needs = {"short_conv": ("conv_L_cache",),
                 "gated_deltanet": ("linear_num_value_heads", "linear_value_head_dim",
                                    "linear_num_key_heads", "linear_key_head_dim",
                                    "linear_conv_kernel_dim"),
                 "mamba2": ("mamba_n_groups", "mamba_d_state", "mamba_d_conv"),
                 "kda": ("linear_num_value_heads", "linear_value_head_dim",
                         "linear_conv_kernel_dim")}.get(kind, ())
        missing = any(data.get(f) in (None, "") for f in needs)
        if kind == "mamba2" and data.get("mamba_d_inner") in (None, "") and any(
                data.get(f) in (None, "") for f in ("mamba_n_heads", "mamba_head_dim")):
            missing = True
        return missing

    @model_validator(mode="after")
    def _consistent(self) -> ModelRow:
        if self.modes is not None and self.modes not in MODES:
            raise ValueError(f"modes must be one of {', '.join(MODES)}, got {self.modes!r}")
        if self.recurrent_kind is not None and self.recurrent_kind not in RECURRENT_KINDS:
            raise ValueError(f"recurrent_kind must be one of {', '.join(RECURRENT_KINDS)}, "
                             f"got {self.recurrent_kind!r}")
        if self.n_swa_layers and self.sliding_window is None:
            raise ValueError("n_swa_layers > 0 needs sliding_window")
        if self.sliding_window is not None and not self.n_swa_layers:
            raise ValueError("sliding_window is set, so n_swa_layers (layers using it) is "
                             "required")
        if self.n_layers is not None:
            held = (self.n_swa_layers + (self.n_full_attn_layers or 0)
                    + self.n_recurrent_layers + self.num_kv_shared_layers)
            if held > self.n_layers + (self.mtp_layers or 0):
                raise ValueError(f"layer counts add up to {held}, more than n_layers "
                                 f"{self.n_layers}")
        if not self.recommendable and not self.not_recommendable_reason:
            raise ValueError("recommendable is false, so not_recommendable_reason is required")
        return self

    @property
    def is_moe(self) -> bool:
        return bool(self.n_experts and self.n_experts > 1)

    @property
    def kv_layers(self) -> int:
        """Layers that hold a full-context KV cache (every layer when nothing else is said)."""
        if self.n_full_attn_layers is not None:
            return self.n_full_attn_layers
        n = self.n_layers or 0
        return max(n - self.n_swa_layers - self.n_recurrent_layers
                   - self.num_kv_shared_layers, 0)

    @property
    def is_mla(self) -> bool:
        """Multi-head latent attention (DeepSeek-V2/V3, Kimi, GLM-4.7-Flash): llama.cpp caches
        one latent of ``kv_lora_rank + qk_rope_head_dim`` values per token and layer."""
        return self.kv_lora_rank is not None

    @property
    def recurrent_state_values(self) -> int | None:
        """Values of fixed-size state one recurrent layer keeps per sequence (llama.cpp's
        ``n_embd_r + n_embd_s``, ``llama-hparams.cpp``): the convolution's last ``d_conv - 1``
        inputs plus the SSM / delta-rule state. None when this model has no recurrent layers
        or the catalog lacks a dimension the formula needs."""
        kind = self.recurrent_kind
        if kind is None or not self.n_recurrent_layers:
            return None
        if kind == "short_conv":
            if self.hidden_size is None or self.conv_L_cache is None:
                return None
            return self.hidden_size * (self.conv_L_cache - 1)
        if kind == "gated_deltanet":
            dims: tuple[int | None, ...] = (
                self.linear_num_value_heads, self.linear_value_head_dim,
                self.linear_num_key_heads, self.linear_key_head_dim,
                    self.linear_conv_kernel_dim)
            if None in dims:
                return None
            heads_v, dim_v, groups, d_state, d_conv = (int(d or 0) for d in dims)
            d_inner = heads_v * dim_v
        elif kind == "mamba2":
            inner = self.mamba_d_inner or (
                self.mamba_n_heads * self.mamba_head_dim
                if self.mamba_n_heads and self.mamba_head_dim else None)
            dims = (inner, self.mamba_n_groups, self.mamba_d_state, self.mamba_d_conv)
            if None in dims:
                return None
            d_inner, groups, d_state, d_conv = (int(d or 0) for d in dims)
        else:  # kda (Kimi Linear): q, k and v convolutions, one head_dim^2 state per head
            dims = (self.linear_num_value_heads, self.linear_value_head_dim,
                    self.linear_conv_kernel_dim)
            if None in dims:
                return None
            heads, dim, d_conv = (int(d or 0) for d in dims)
            return 3 * (d_conv - 1) * heads * dim + dim * dim * heads
        return (d_conv - 1) * (d_inner + 2 * groups * d_state) + d_state * d_inner

    @property
    def run_modes(self) -> tuple[str, ...]:
        """The ways a user can run it: ``thinking`` (a reasoning trace before the answer),
        ``non-thinking``, or both (a hybrid model; gpt-oss at high and at low reasoning
        effort)."""
        if self.modes == "thinking":
            return ("thinking",)
        if self.modes in ("hybrid", "reasoning_effort"):
            return ("thinking", "non-thinking")
        return ("non-thinking",)

    @property
    def thinks(self) -> bool:
        """Whether the model can write a reasoning trace before its answer."""
        return self.modes in ("thinking", "hybrid", "reasoning_effort")


class ModelSpec(ModelRow):
    """A catalog model as the recommender uses it (its full-precision capability is fitted:
    :mod:`advisor.predictors.capability`)."""


class Catalog:
    """Immutable set of :class:`ModelSpec`, looked up by name (case-insensitive)."""

    def __init__(self, models: tuple[ModelSpec, ...]) -> None:
        self.models = models
        self._by_key = {m.name.lower(): m for m in models}
        if len(self._by_key) != len(models):
            raise DataFileError("models.csv", None, "model names must be unique "
                                "(case-insensitive)")

    @property
    def families(self) -> list[str]:
        return sorted({m.family for m in self.models}, key=str.lower)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def get(self, name: str) -> ModelSpec:
        """The model called ``name`` (case-insensitive); unknown -> UnknownNameError."""
        found = self._by_key.get(name.strip().lower())
        if found is None:
            raise UnknownNameError("model", name, self.names, parameter="model")
        return found

    def filter(self, *, family: str | None = None,
               names: list[str] | None = None) -> list[ModelSpec]:
        """Models of ``family`` (case-insensitive) and/or in ``names``, in catalog order."""
        chosen = list(self.models)
        if family is not None:
            key = family.strip().lower()
            if key not in {f.lower() for f in self.families}:
                raise UnknownNameError("model family", family, self.families,
                                       parameter="family")
            chosen = [m for m in chosen if m.family.lower() == key]
        if names is not None:
            wanted = {self.get(n).name for n in names}
            chosen = [m for m in chosen if m.name in wanted]
        return chosen

    def __len__(self) -> int:
        return len(self.models)


_CACHE: dict[tuple[Path, tuple[int, ...]], Catalog] = {}
_LOCK = threading.Lock()


def add_model(row: ModelRow, added: Path, catalog: Catalog) -> Path:
    """Keep ``row`` in the user's file ``added`` (rewritten atomically), so it is loaded with
    the catalog from then on; a name the catalog already has fails (choose another)."""
    if row.name.strip().lower() in {n.lower() for n in catalog.names}:
        raise InvalidInputError(f"a model called {row.name!r} is already in the catalog; give "
                                "the added one another name (--name)", parameter="name")
    rows = _read_csv_models(added, ModelRow) if added.is_file() else []
    rows.append(row)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(ModelRow.model_fields), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if v is None else v for k, v in r.model_dump().items()})
    added.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(added, buf.getvalue())
    return added


def _stamp(files: list[Path]) -> tuple[int, ...]:
    return tuple(p.stat().st_mtime_ns if p.exists() else -1 for p in files)


def load_catalog(folder: Path | None = None, added: Path | None = None) -> Catalog:
    """Load ``models.csv`` of ``folder`` and the models a user added (``added``, written by
    :func:`add_model`); cached per folder and file times.

    ``folder`` defaults to ``measurements/catalog``; a malformed line fails with file:line.
    """
    folder = Path(folder) if folder is not None else default_measurements_dir() / "catalog"
    models_path = folder / "models.csv"
    if not models_path.is_file():
        raise DataFileError(models_path, None, "catalog file does not exist; run "
                            "`quant-advisor import-published --shared ../shared/data`")
    files = [models_path] + ([added] if added is not None else [])
    key = (folder.resolve(), _stamp(files))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    rows: list[ModelRow] = _read_csv_models(models_path, ModelRow)
    if added is not None and added.is_file():
        rows += _read_csv_models(added, ModelRow)
    catalog = Catalog(tuple(ModelSpec(**r.model_dump()) for r in rows))
    log.debug("loaded %d catalog models from %s", len(catalog), folder)
    with _LOCK:
        _CACHE[key] = catalog
    return catalog

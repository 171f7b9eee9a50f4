"""Every catalog model's file at every recommendable quant: bytes, and how they split.

Computing a file's bytes tensor by tensor (:func:`advisor.data.weights.weights_breakdown`)
takes milliseconds per file, too slow to redo for 3,000 candidates at every start-up, so the
importer writes the results to ``measurements/catalog/weights.csv`` (a test checks the
committed file is what it produces) and the recommender reads them back.

``size_source`` says where ``file_bytes`` comes from:

* ``published``: a standard llama-quantize file of this model and type whose size an uploader
  published (``gguf_files.csv``; the citation is in ``source``);
* ``computed``: the architecture's tensors at the types llama-quantize gives them (with an
  importance matrix, as the common uploads are made; the pre-2026 fused-QKV rule for models
  released before 2026-03), plus the estimated header;
* ``estimated``: parameters x the quant's typical bits per weight, for architectures whose
  tensors are not modelled (the ``source`` says why).

The split columns (embedding, output head, per repeating layer, routed experts per MoE layer,
bytes a token reads) come from the computed breakdown, or from parameter counts for an
estimated file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from advisor.data.dataset import _read_csv_models, default_measurements_dir
from advisor.vocabulary.quants import get_quant

if TYPE_CHECKING:
    from advisor.data.catalog import ModelRow

WEIGHTS_FILE = "weights.csv"


class WeightsRow(BaseModel):
    """One model's file at one quant type (bytes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    quant: str
    file_bytes: int = Field(gt=0)
    bpw: float = Field(gt=0, description="bits per weight of the whole file")
    size_source: str = Field(description="published, computed or estimated")
    loaded_bytes: int = Field(ge=0, description="tensor data llama.cpp loads (no MTP layers)")
    token_embd_bytes: int = Field(ge=0)
    output_bytes: int = Field(ge=0, description="output head (0 when tied to the embedding)")
    layer_bytes: float = Field(ge=0, description="one repeating layer, routed experts aside")
    expert_bytes: float = Field(ge=0, description="routed experts of one MoE layer")
    n_layers: int = Field(gt=0)
    n_moe_layers: int = Field(ge=0)
    active_bytes: int = Field(ge=0, description="bytes one generated token reads")
    source: str = ""


def read_weights_table(folder: Path | None = None) -> dict[tuple[str, str], WeightsRow]:
    """``(model, quant) -> row`` of the catalog folder's ``weights.csv`` (empty when the file
    is missing: the recommender then estimates sizes from parameter counts)."""
    path = (Path(folder) if folder is not None
            else default_measurements_dir() / "catalog") / WEIGHTS_FILE
    if not path.is_file():
        return {}
    rows: list[WeightsRow] = _read_csv_models(path, WeightsRow)
    return {(r.model, r.quant): r for r in rows}


def estimated_row(model: ModelRow, quant: str, why: str) -> WeightsRow:
    """Parameters x the quant's typical bits per weight, split by parameter counts."""
    q = get_quant(quant)
    params = (model.params_b or 0.0) * 1e9
    per_param = q.typical_bpw / 8
    file_bytes = int(math.ceil(params * per_param))
    embd = float((model.vocab_size or 0) * (model.hidden_size or 0))
    out = 0.0 if model.tie_word_embeddings else embd
    n = model.n_layers or 1
    moe_layers, per_moe, share = 0, 0.0, 1.0
    if model.is_moe and model.moe_intermediate_size and model.hidden_size and model.n_experts:
        moe_layers = n - (model.n_dense_layers or 0)
        per_moe = 3.0 * model.hidden_size * model.moe_intermediate_size * model.n_experts
        share = (model.n_experts_used or model.n_experts) / model.n_experts
    rest = max(params - embd - out - moe_layers * per_moe, 0.0)
    active = rest + out + moe_layers * per_moe * share
    return WeightsRow(
        model=model.name, quant=q.name, file_bytes=file_bytes, bpw=q.typical_bpw,
        size_source="estimated", loaded_bytes=file_bytes,
        token_embd_bytes=int(embd * per_param), output_bytes=int(out * per_param),
        layer_bytes=rest / n * per_param, expert_bytes=per_moe * per_param, n_layers=n,
        n_moe_layers=moe_layers, active_bytes=int(active * per_param),
        source=f"typical {q.name} bits/weight ({q.typical_source}); tensors not modelled: "
               f"{why}")

"""Shared data of the weights tests: the catalog's known gaps and the Thireus tensor maps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from advisor.data.arch import Architecture, CatalogArchitectures, load_architectures

FIXTURES = Path(__file__).resolve().parent / "fixtures"

#: Facts a model's GGUF layout needs that the catalog (measurements/catalog) lacks or states
#: otherwise, with the value the published files / tensor maps show. The tests use the value
#: (and say so); ``test_catalog_gaps_are_still_gaps`` fails once the catalog has the fact, so
#: an entry is removed when the catalog is fixed.
CATALOG_GAPS: dict[str, dict[str, Any]] = {
    # the checkpoints ship lm_head.weight although tie_word_embeddings is true: bartowski's
    # Q4_K_M files are 484220320 and 1282439584 bytes, 18% and 14% above a tied layout
    "Qwen3-0.6B": {"lm_head_in_checkpoint": True},
    "Qwen3-1.7B": {"lm_head_in_checkpoint": True},
    # LFM2 ties its embeddings (the catalog leaves tie_word_embeddings blank for this one;
    # LiquidAI's Q4_K_M is 229312224 bytes, 16% below an untied layout)
    "LFM2.5-350M": {"tie_word_embeddings": True},
    # the 2501 release converts as llama.cpp's llama architecture
    "Mistral-Small-24B": {"gguf_arch": "llama"},
    # GLM-4.5/4.6/4.7 (355B) have per-head q/k norms (Thireus maps: attn_q_norm, attn_k_norm);
    # GLM-4.6's MTP layer has no embed_tokens / shared_head.head of its own
    "GLM-4.5": {"use_qk_norm": True},
    "GLM-4.6": {"use_qk_norm": True, "mtp_embeddings": False},
    "GLM-4.7": {"use_qk_norm": True},
}
#: Catalog models with published sizes whose architecture the catalog cannot describe at all
#: (besides CATALOG_GAPS).
NO_ARCHITECTURE: set[str] = set()


def catalog() -> CatalogArchitectures:
    return load_architectures()


def with_gaps_filled(archs: CatalogArchitectures, name: str) -> Architecture:
    """``name``'s architecture with :data:`CATALOG_GAPS` applied."""
    gaps = CATALOG_GAPS.get(name, {})
    if name in archs.by_name:
        return archs.by_name[name].model_copy(update=gaps)
    row = _models_row(name)
    return Architecture.from_facts({**row, **gaps}, name=name)


def _models_row(name: str) -> dict[str, str]:
    import csv

    from advisor.data.dataset import default_measurements_dir

    path = default_measurements_dir() / "catalog" / "models.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return next(r for r in csv.DictReader(fh) if r["name"] == name)


def thireus_layouts() -> dict[str, Any]:
    """``fixtures/gguf_layouts.json`` (see ``make_gguf_layouts.py``)."""
    data: dict[str, Any] = json.loads((FIXTURES / "gguf_layouts.json").read_text())
    return data

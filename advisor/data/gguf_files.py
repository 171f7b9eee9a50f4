"""Published GGUF file sizes (``measurements/catalog/gguf_files.csv``) and how far
:func:`~advisor.data.weights.weights_bytes` is from them.

The file is written by :mod:`advisor.data.importers.gguf_files`. A row is one file an uploader
published, with its size, the llama-quantize options it was made with (``imatrix``,
``legacy_qkv``) and whether it is a plain llama-quantize recipe (``standard``).
:func:`published_file` gives the measured size for a (model, quant) when one is known, so a
caller can show it (marked as published) instead of the computed one.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from advisor.data.dataset import _read_csv_models, default_measurements_dir
from advisor.data.quant_rules import QuantOptions, canonical_quant
from advisor.vocabulary.errors import AdvisorError

GGUF_FILES = "gguf_files.csv"


class PublishedFile(BaseModel):
    """One published GGUF file and its size."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field("", description="catalog name; blank if the catalog lacks the model")
    published_model: str
    repo: str
    file: str = Field("", description="blank where the source names only the type")
    quant: str
    size_bytes: int = Field(gt=0)
    size_tolerance: float = Field(ge=0, description="relative rounding of the printed size")
    imatrix: bool
    imatrix_basis: str = ""
    legacy_qkv: bool
    uploader_mix: str = ""
    standard: bool
    exclusion: str = ""
    source: str
    notes: str = ""

    @property
    def options(self) -> QuantOptions:
        """The llama-quantize options this file was made with."""
        return QuantOptions(imatrix=self.imatrix, legacy_qkv=self.legacy_qkv)


def read_gguf_files(path: Path | None = None) -> list[PublishedFile]:
    """The rows of ``gguf_files.csv`` (default: the shipped catalog folder's)."""
    path = path or default_measurements_dir() / "catalog" / GGUF_FILES
    rows: list[PublishedFile] = _read_csv_models(path, PublishedFile)
    return rows


def published_file(files: list[PublishedFile], model: str, quant: str) -> PublishedFile | None:
    """The standard published file of ``model`` at ``quant`` with the most precise size
    (exact byte counts first), or None when no uploader's size is known."""
    key = canonical_quant(quant)
    found = [f for f in files if f.standard and f.model == model
             and _same_quant(f.quant, key)]
    return min(found, key=lambda f: f.size_tolerance, default=None)


def _same_quant(published: str, key: str) -> bool:
    try:
        return canonical_quant(published) == key
    except AdvisorError:
        return False

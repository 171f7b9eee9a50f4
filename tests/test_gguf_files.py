"""Computed file sizes against the sizes uploaders publish (measurements/catalog/gguf_files.csv)."""

from __future__ import annotations

import statistics

import pytest
from weights_fixtures import CATALOG_GAPS, NO_ARCHITECTURE, catalog, with_gaps_filled

from advisor.data.arch import CatalogArchitectures
from advisor.data.gguf_files import published_file, read_gguf_files
from advisor.data.importers.gguf_files import import_gguf_files
from advisor.data.size_check import check_sizes, summarise
from advisor.data.weights import weights_bytes
from advisor.vocabulary.errors import DataFileError

FILES = read_gguf_files()
STANDARD = [f for f in FILES if f.standard]


def test_catalog_gaps_are_still_gaps():
    """Each gap the tests fill is one the catalog still has; drop the entry once it is fixed."""
    archs = catalog()
    for name, facts in CATALOG_GAPS.items():
        arch = archs.by_name.get(name)
        assert arch is None or any(getattr(arch, k) != v for k, v in facts.items()), name
    assert set(archs.problems) >= NO_ARCHITECTURE


def test_sizes_from_the_catalog_match_published_files():
    """Within 2% median and 5% worst for standard llama-quantize files of catalog models whose
    architecture the catalog describes completely (see CATALOG_GAPS for the others)."""
    checks = [c for c in check_sizes(STANDARD, catalog()) if c.file.model not in CATALOG_GAPS]
    described = [c for c in checks if c.predicted_bytes is not None]
    assert {c.file.model for c in checks if c.predicted_bytes is None} == NO_ARCHITECTURE
    s = summarise(described)
    assert s["files"] >= 30 and s["models"] >= 10, s
    assert s["median_abs_error"] <= 0.02 and s["worst_abs_error"] <= 0.05, s


def test_catalog_gaps_filled_explain_their_files():
    """With the facts the catalog lacks, those models' files are within 2% as well."""
    archs = catalog()
    filled = CatalogArchitectures(
        {name: with_gaps_filled(archs, name) for name in CATALOG_GAPS}, {})
    checks = [c for c in check_sizes(STANDARD, filled) if c.file.model in CATALOG_GAPS]
    assert len(checks) >= 15
    assert max(abs(c.error) for c in checks) <= 0.02


def test_most_files_are_within_their_printed_rounding():
    """Sizes printed to 3 digits round by up to 0.5%: most computed sizes are that close."""
    checks = [c for c in check_sizes(STANDARD, catalog())
              if c.predicted_bytes is not None and c.file.model not in CATALOG_GAPS]
    inside = [abs(c.error) <= c.file.size_tolerance + 0.002 for c in checks]
    assert statistics.mean(inside) >= 0.9


def test_published_file_prefers_exact_sizes():
    f = published_file(FILES, "gemma-2-27b", "Q4_K_M")
    assert f is not None and f.size_bytes == 16_645_383_008 and f.size_tolerance == 0
    assert published_file(FILES, "gemma-2-27b", "IQ1_S") is None
    assert published_file(FILES, "gpt-oss-20b", "MXFP4_MOE") is not None


def test_excluded_files_say_why():
    excluded = [f for f in FILES if not f.standard]
    assert excluded and all(f.exclusion for f in excluded)
    reasons = {f.exclusion.split(" ")[0] for f in excluded}
    assert {"unsloth's", "not", "Qwen's", "experts"} <= reasons


def test_split_files_are_summed():
    f = next(f for f in FILES if f.repo == "unsloth/gpt-oss-120b-GGUF")
    assert f.size_bytes == round(49.6e9 + 13.1e9) and "(2 of 2 shards)" in f.file


def test_importer_names_a_bad_size(tmp_path):
    (tmp_path / "file_sizes.csv").write_text(
        "model,repo,file,quant,size_bytes,size_as_printed,unit,imatrix,uploader_mix,source,"
        "notes\nQwen3-8B,r,f.gguf,Q8_0,,about nine,GB,unknown,standard,s,\n")
    models = tmp_path / "models.csv"
    models.write_text("name,released\nQwen3-8B,2025-04\n")
    with pytest.raises(DataFileError, match=r"file_sizes.csv:2: size 'about nine'"):
        import_gguf_files(tmp_path, models, tmp_path / "out.csv")


def test_issue_example_qwen3_14b_q8_0():
    f = published_file(FILES, "Qwen3-14B", "Q8_0")
    assert f is not None and f.size_bytes == 15_700_000_000
    assert weights_bytes(catalog().get("Qwen3-14B"), "Q8_0", f.options) == pytest.approx(
        f.size_bytes, rel=0.02)

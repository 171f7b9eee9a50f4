"""Where a pick's GGUF file is published: the importer of gguf/repos.csv and the choice of repo."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from advisor.data.catalog import load_catalog
from advisor.data.dataset import default_measurements_dir
from advisor.data.downloads import RepoEntry, RepoTable, load_repos
from advisor.data.importers.gguf_repos import (
    build_rows,
    catalog_name,
    file_pattern,
    import_gguf_repos,
    source_keys,
)
from advisor.data.importers.published import default_gathered_dir
from advisor.vocabulary.errors import DataFileError

NAMES = ["Llama-3.1-8B", "gemma-3-27b", "Qwen3-14B", "Mistral-7B-v0.3", "Mistral-Small-24B",
         "Mistral-Nemo-12B", "Qwen3-30B-A3B-Instruct-2507", "Qwen3-4B", "gpt-oss-20b",
         "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"]


@pytest.mark.parametrize("published, expected", [
    ("Llama-3.1-8B-Instruct", "Llama-3.1-8B"),  # old catalog rows stand for the instruct model
    ("gemma-3-27b-it", "gemma-3-27b"),
    ("Qwen3-14B", "Qwen3-14B"),
    ("qwen3-14b", "Qwen3-14B"),
    ("Mistral-7B-Instruct-v0.3", "Mistral-7B-v0.3"),
    ("Mistral-Small-24B-Instruct-2501", "Mistral-Small-24B"),
    ("Mistral-Nemo-Instruct-2407", "Mistral-Nemo-12B"),
    ("Qwen3-30B-A3B-Instruct-2507", "Qwen3-30B-A3B-Instruct-2507"),  # new names: the HF name
    ("gpt-oss-20b", "gpt-oss-20b"),
    ("NVIDIA-Nemotron-3-Nano-30B-A3B", "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"),
    ("Qwen3-4B-Instruct-2507", None),  # a dated release is another checkpoint than Qwen3-4B
    ("Mistral-Small-3.1-24B-Instruct-2503", None),
    ("Llama-3.3-70B-Instruct", None),
])
def test_catalog_name(published, expected):
    assert catalog_name(published, NAMES) == expected


@pytest.mark.parametrize("pattern, repo, kind, expected", [
    ("Qwen_Qwen3-14B-{QUANT}.gguf; quants >50 GB go into folder Qwen_Qwen3-14B-{QUANT}/",
     "bartowski/Qwen_Qwen3-14B-GGUF", "bartowski",
     ("Qwen_Qwen3-14B-{QUANT}.gguf", "published", [], False)),
    ("qwen2.5-3b-instruct-{quant lower-case}.gguf", "Qwen/Qwen2.5-3B-Instruct-GGUF", "official",
     ("qwen2.5-3b-instruct-{quant}.gguf", "published", [], False)),
    ("Qwen2.5-3B-Instruct-{QUANT}.gguf (Q3_K_L, Q4_K_M, Q6_K, Q8_0 only)",
     "lmstudio-community/Qwen2.5-3B-Instruct-GGUF", "lmstudio-community",
     ("Qwen2.5-3B-Instruct-{QUANT}.gguf", "published", ["Q8_0", "Q6_K", "Q4_K_M", "Q3_K_L"],
      True)),
    ("gpt-oss-20b-{QUANT}.gguf (F16, Q2_K ... Q8_0; UD variants)", "unsloth/gpt-oss-20b-GGUF",
     "unsloth", ("gpt-oss-20b-{QUANT}.gguf", "published", ["F16", "Q8_0", "Q2_K"], False)),
    ("{QUANT}/GLM-4.5-Air-{QUANT}-0000k-of-0000N.gguf (Q8_0: 3 parts)",
     "unsloth/GLM-4.5-Air-GGUF", "unsloth",
     ("{QUANT}/GLM-4.5-Air-{QUANT}-*-of-*.gguf", "published", ["Q8_0"], False)),
    ("gpt-oss-120b-mxfp4-0000k-of-00003.gguf (3 parts, repo root)",
     "ggml-org/gpt-oss-120b-GGUF", "ggml-org",
     ("gpt-oss-120b-mxfp4-*-of-00003.gguf", "published", ["MXFP4"], True)),
    ("{Model}.{QUANT}.gguf (static); i1 repo: {Model}.i1-{QUANT}.gguf",
     "mradermacher/phi-4-GGUF", "other", ("phi-4.{QUANT}.gguf", "published", [], False)),
    ("", "ggml-org/Qwen3-8B-GGUF", "ggml-org", ("Qwen3-8B-{QUANT}.gguf", "convention", [], False)),
    ("", "someone/Qwen3-8B-GGUF", "other", ("", "", [], False)),
])
def test_file_pattern(pattern, repo, kind, expected):
    assert file_pattern(pattern, repo, kind) == expected


def _repo_row(model: str, repo: str, kind: str, pattern: str = "", tag: str = "",
              notes: str = "", source: str = "S") -> dict[str, str]:
    return {"model": model, "repo": repo, "kind": kind, "quant_pattern": pattern,
            "ollama_tag": tag, "source": source, "notes": notes}


def test_build_rows_marks_quants_seen_and_excluded_repos():
    repos = [
        _repo_row("Qwen3-8B", "Qwen/Qwen3-8B-GGUF", "official", "Qwen3-8B-{QUANT}.gguf",
                  "qwen3:8b", source="README: -hf Qwen/Qwen3-8B-GGUF:Q8_0"),
        _repo_row("gemma-3-27b-it", "google/gemma-3-27b-it-qat-q4_0-gguf", "official",
                  notes="Google QAT Q4_0 release"),
        _repo_row("GLM-4.5-Air", "ubergarm/GLM-4.5-Air-GGUF", "other",
                  notes="REQUIRES ik_llama.cpp fork"),
    ]
    sizes = [{"model": "Qwen3-8B", "repo": "Qwen/Qwen3-8B-GGUF", "file": "Qwen3-8B-Q4_K_M.gguf",
              "quant": "Q4_K_M"}]
    rows = {r["repo"]: r for r in build_rows(repos, sizes, ["Qwen3-8B", "gemma-3-27b"])}
    qwen = rows["Qwen/Qwen3-8B-GGUF"]
    assert (qwen["quants"], qwen["quants_basis"], qwen["in_catalog"]) == ("Q8_0;Q4_K_M", "seen",
                                                                          "true")
    qat = rows["google/gemma-3-27b-it-qat-q4_0-gguf"]
    assert (qat["model"], qat["quants"], qat["quants_basis"]) == ("gemma-3-27b", "Q4_0",
                                                                   "complete")
    assert "quantization-aware" in qat["excluded_reason"]
    assert "ik_llama.cpp" in rows["ubergarm/GLM-4.5-Air-GGUF"]["excluded_reason"]
    assert rows["ubergarm/GLM-4.5-Air-GGUF"]["in_catalog"] == "false"


def test_build_rows_refuses_an_unknown_kind():
    with pytest.raises(DataFileError, match="kind must be one of"):
        build_rows([_repo_row("x", "a/b", "random")], [], [])


def _entry(repo: str, kind: str, quants: tuple[str, ...] = (), basis: str = "",
           pattern: str = "M-{QUANT}.gguf", excluded: str = "") -> RepoEntry:
    return RepoEntry(model="M", repo=repo, kind=kind, file_pattern=pattern,
                     file_pattern_basis="published", quants=quants, quants_basis=basis,
                     excluded_reason=excluded, ollama_tag="m:7b", pattern_as_published="",
                     source="S", notes="")


TABLE = RepoTable([
    _entry("Maker/M-GGUF", "official", ("Q8_0", "Q4_K_M"), "complete"),
    _entry("bartowski/M-GGUF", "bartowski"),
    _entry("unsloth/M-GGUF", "unsloth", ("Q2_K",), "seen"),
    _entry("ggml-org/M-GGUF", "ggml-org", ("Q8_0", "F16"), "complete"),
    _entry("someone/M-GGUF", "other", ("IQ1_S",), "seen"),
    _entry("Maker/M-qat-q4_0-gguf", "official", ("Q4_0",), "complete", excluded="QAT"),
])


@pytest.mark.parametrize("quant, repo, basis", [
    ("Q8_0", "Maker/M-GGUF", "listed"),       # the maker's repo holds it
    ("Q2_K", "unsloth/M-GGUF", "listed"),     # a standard uploader shown to hold it
    ("Q5_K_M", "bartowski/M-GGUF", "assumed"),  # a full-ladder uploader
    ("F16", "ggml-org/M-GGUF", "listed"),
    ("Q4_0", "bartowski/M-GGUF", "assumed"),  # the QAT repo is never chosen
    ("IQ1_S", "bartowski/M-GGUF", "assumed"),  # a standard ladder before another uploader
])
def test_choose_prefers_the_makers_repo_then_standard_uploaders(quant, repo, basis):
    choice = TABLE.choose("m", quant)
    assert (choice.entry.repo, choice.quant_basis) == (repo, basis)
    assert repo not in choice.others and "Maker/M-qat-q4_0-gguf" not in choice.others


def test_choose_another_uploader_last_and_none_when_no_repo_holds_it():
    only = RepoTable([_entry("ggml-org/M-GGUF", "ggml-org", ("Q8_0",), "complete"),
                      _entry("someone/M-GGUF", "other", ("IQ1_S",), "seen")])
    assert only.choose("M", "IQ1_S").entry.repo == "someone/M-GGUF"
    assert only.choose("M", "Q4_K_M") is None and only.choose("other", "Q8_0") is None


def test_file_name_of_a_quant():
    assert _entry("a/b", "official", pattern="m-{quant}.gguf").file_name("Q4_K_M") == \
        "m-q4_k_m.gguf"
    assert _entry("a/b", "official", pattern="").file_name("Q4_K_M") is None


def test_committed_table_covers_the_catalog_and_names_the_makers_repos():
    repos = load_repos()
    catalog = load_catalog()
    covered = sum(bool(repos.of(m.name)) for m in catalog.models)
    assert covered >= 0.5 * len(catalog.models)  # the rest: the importer's report lists them
    assert repos.choose("Qwen3-8B", "Q8_0").entry.repo == "Qwen/Qwen3-8B-GGUF"
    gemma = repos.choose("gemma-3-27b", "Q4_0")
    assert gemma is not None and "qat" not in gemma.entry.repo.lower()
    assert repos.ollama_tag("Qwen3-14B") == "qwen3:14b"


def test_source_keys_of_sources_md():
    text = ("# x\n## Source keys\n\n| key | citation | what was read |\n|---|---|---|\n"
            "| LOCALAI | mudler/LocalAI @ 82c1 : `gallery/index.yaml` | uri entries |\n"
            "| OTHER | same @ 9f0e : `x.yaml` | y |\n\n## Next\n| A | b | c |\n")
    assert source_keys(text) == [
        {"source_id": "LOCALAI", "kind": "catalog",
         "citation": "mudler/LocalAI @ 82c1 : `gallery/index.yaml`; read: uri entries"},
        {"source_id": "OTHER", "kind": "catalog",
         "citation": "mudler/LocalAI @ 9f0e : `x.yaml`; read: y"}]


def test_every_source_key_of_the_table_is_cited():
    cited = {r["source_id"] for r in csv.DictReader(
        (default_measurements_dir() / "sources_gguf.csv").open(encoding="utf-8"))}
    used = {part.split(" ")[0] for e in load_repos().entries for part in e.source.split("; ")}
    keys = {k for k in used if k.isupper() and k not in ("DOCS", "PAGES")}
    assert keys <= cited, keys - cited


def test_missing_table_is_empty_and_a_bad_one_names_its_line(tmp_path: Path):
    assert len(load_repos(tmp_path)) == 0
    path = tmp_path / "gguf_repos.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["model", "repo", "kind", "file_pattern", "quants", "quants_basis"])
        writer.writerow(["M", "no-slash", "official", "", "", ""])
    with pytest.raises(DataFileError, match="2"):
        load_repos(tmp_path)


def test_reimport_reproduces_the_committed_table(tmp_path: Path):
    committed = default_measurements_dir() / "catalog"
    shutil.copyfile(committed / "models.csv", tmp_path / "models.csv")
    report = import_gguf_repos(default_gathered_dir() / "gguf", tmp_path)
    assert (tmp_path / "gguf_repos.csv").read_bytes() == \
        (committed / "gguf_repos.csv").read_bytes(), "run `quant-advisor import-published`"
    assert (tmp_path.parent / "sources_gguf.csv").read_bytes() == \
        (committed.parent / "sources_gguf.csv").read_bytes()
    names = [m.name for m in load_catalog(committed).models]
    assert report.catalog_models_without_repo == [n for n in names if not load_repos().of(n)]

"""Tests of advisor.data.importers.speed and its label parsing (advisor.data.importers.speed_labels)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from published_data import needs_shared, published_dir

from advisor.data.dataset import load_dataset
from advisor.data.importers.speed import (
    HARDWARE_COLUMNS,
    SPEED_COLUMNS,
    citation_for,
    import_speed,
    read_citations,
    write_speed,
)
from advisor.data.importers.speed_labels import (
    clean_model_name,
    parse_backend,
    parse_model,
    parse_notes,
    parse_quant,
    split_hardware,
)
from advisor.vocabulary.errors import DataFileError, UnknownNameError
from advisor.vocabulary.schema import HardwareKind, SpeedRow

# ---------------------------------------------------------------------------------------------
# label parsing, table-driven
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "backend", "fork", "flags"), [
    ("CUDA", "cuda", None, ()),
    ("CUDA [p100]", "cuda", None, ()),
    ("Metal", "metal", None, ()),
    ("MTL,BLAS", "metal", None, ("blas",)),
    ("Metal,BLAS", "metal", None, ("blas",)),
    ("BLAS", "blas", None, ()),
    ("ROCm [rocm-7-nightly-rocwmma]", "rocm", None, ("rocwmma",)),
    ("HIP", "rocm", None, ()),
    ("Vulkan [vulkan_radv]", "vulkan", None, ()),
    ("Vulkan (PR)", "vulkan", None, ("pr_build",)),
    ("Vulkan (master)", "vulkan", None, ()),
    ("SYCL [sycl]", "sycl", None, ()),
    ("OpenCL", "opencl", None, ()),
    ("CPU AVX512", "cpu", None, ()),
    ("CPU (llama.cpp master build 081fe431/3441, tinyBLAS on)", "cpu", None, ("tinyblas",)),
    ("CPU (ik_llama.cpp iqk_mul_mat fork)", "cpu", "ik_llama.cpp", ()),
    ("CPU (ik_llama.cpp, -rtr 1)", "cpu", "ik_llama.cpp", ("rtr",)),
    ("ROCm,RPC", "rocm", None, ("rpc",)),
    ("Vulkan,RPC [llama.cpp-vulkan_amdvlk]", "vulkan", None, ("rpc",)),
    ("Metal,BLAS,RPC", "metal", None, ("blas", "rpc")),
    ("llama.cpp / metal", "metal", None, ()),
])
def test_parse_backend(text: str, backend: str, fork: str | None, flags: tuple[str, ...]) -> None:
    label = parse_backend(text)
    assert (label.backend, label.fork, label.flags, label.detail) == (backend, fork, flags, text)


@pytest.mark.parametrize("text", ["Kompute", "", "TPU [x]", "CUDA,Glide"])
def test_parse_backend_unknown_lists_allowed(text: str) -> None:
    with pytest.raises(UnknownNameError, match="unknown backend.*Known: blas, cpu, cuda"):
        parse_backend(text)


def test_parse_backend_blank_is_unknown_when_allowed() -> None:
    label = parse_backend("  ", allow_blank=True)
    assert (label.backend, label.flags) == ("unknown", ("backend_not_stated",))


@pytest.mark.parametrize(("text", "device", "n"), [
    ("NVIDIA GeForce RTX 3090 x2", "NVIDIA GeForce RTX 3090", 2),
    ("AMD Radeon AI PRO R9700 x2", "AMD Radeon AI PRO R9700", 2),
    ("NVIDIA GeForce RTX 4090 x8", "NVIDIA GeForce RTX 4090", 8),
    ("Apple M1 Max (32-core GPU, 64GB)", "Apple M1 Max (32-core GPU, 64GB)", 1),
    ("Intel Arc A310", "Intel Arc A310", 1),
])
def test_split_hardware(text: str, device: str, n: int) -> None:
    assert split_hardware(text) == (device, n)


@given(st.from_regex(r"[A-Za-z][A-Za-z0-9 ()-]{0,30}[A-Za-z)]", fullmatch=True),
       st.integers(min_value=2, max_value=64))
def test_split_hardware_round_trip(name: str, n: int) -> None:
    assert split_hardware(f"{name} x{n}") == (name.strip(), n)


@pytest.mark.parametrize(("published", "params", "source", "notes", "model", "family", "flags"), [
    ("llama 8B (LLaMA 3)", 8.03, "", "", "Llama-3-8B", "Llama 3", []),
    ("LLaMA-3-8B", 8.03, "", "", "Llama-3-8B", "Llama 3", []),
    ("LLaMA-3.1-8B-Instruct", 8.03, "", "", "Llama-3.1-8B", "Llama 3.1", []),
    ("llama-2-7b.Q4_0 (llama 7B)", 6.738, "", "", "Llama-2-7B", "Llama 2", []),
    ("gemma-3-27b-it-BF16-00001-of-00002", 27.01, "", "", "gemma-3-27b", "Gemma 3", []),
    ("Mistral-Small-3.1-24B-Instruct-2503-UD-Q4_K_XL (llama 13B)", 23.572, "", "",
     "Mistral-Small-3.1-24B", "Mistral-Small", []),
    ("Devstral-2-123B-Instruct-2512-Q3_K_S-00001-of-00002", 125.03, "", "",
     "Devstral-2-123B", "Devstral 2", []),
    ("shisa-v2-llama3.1-8b.i1-Q4_K_M (llama 8B)", 8.03, "", "", "Llama-3.1-8B", "Llama 3.1",
     ["finetune"]),
    ("Qwen3.5-4B (qwen35)", 4.2058, "", "", "Qwen3.5-4B", "Qwen3.5", []),
    ("llama 7B", 6.74, "llamacpp_pr4766", "codellama-7b F16/Q8_0/Q4_0", "CodeLlama-7B",
     "CodeLlama", []),
    ("llama 7B", 7.24, "x", "host Ryzen 5700X; mistral-7b-instruct-v0.2; ROCm 6.0",
     "Mistral-7B-v0.2", "Mistral", []),
    ("llama 3B", 3.21, "x", "tinyllama-1.1b-1t-openorca.Q4_K_M and Llama-3.2-3B-Instruct-Q4_K_M",
     "Llama-3.2-3B", "Llama 3.2", []),
    ("llama 1B", 1.1, "geerlingguy_ai_benchmarks", "3B table truncated", "TinyLlama-1.1B",
     "TinyLlama", ["model_from_source_list"]),
    ("llama 7B", 7.24, "llamacpp_pr5301", "llama 7B Q4_K_M (7.24B, Mistral-class)",
     "llama-7.24B-unidentified", None, ["model_unidentified"]),
    ("phi2 3B", 2.78, "x", "", "phi2-2.78B-unidentified", None, ["model_unidentified"]),
])
def test_parse_model_names(published: str, params: float, source: str, notes: str, model: str,
                           family: str | None, flags: list[str]) -> None:
    label = parse_model(published, params, source_id=source, notes=notes)
    assert (label.model, label.family, label.flags) == (model, family, flags)
    assert label.moe is False and label.active_params_b == params


@pytest.mark.parametrize(("published", "params", "notes", "model", "active"), [
    ("qwen35moe 35B.A3B Q4_0", 34.66, "model=Qwen3.6-35B-A3B-Q4_0.gguf", "Qwen3.6-35B-A3B", 3.0),
    ("gemma4 31B Q6_K", 30.7, "model=bartowski/google_gemma-4-31B-it-GGUF; "
     "model_file=google_gemma-4-31B-it-Q6_K.gguf", "gemma-4-31B", None),
    ("gpt-oss ?B F16", 20.91, "model=gpt-oss-20b-F16", "gpt-oss-20b", 3.6),
    ("gpt-oss 20B MXFP4 MoE", 20.91, "", "gpt-oss-20b", 3.6),
    ("deepseek2 30B.A3B Q8_0", 29.94, "model=ggml-org/GLM-4.7-Flash-GGUF", "GLM-4.7-Flash", 3.0),
    ("glm4moe 106B.A12B Q4_K - Medium", 110.47, "model=GLM-4.5-Air; active_params_b=12",
     "GLM-4.5-Air", 12.0),
    ("qwen3moe 30B.A3B Q4_0", 30.53, "", "qwen3moe-30.53B-unidentified", 3.0),
    ("llama 3.1 8b (normiebench label)", 8.03,
     'model=Llama 3.1 8B Q4_K_M (normiebench label "llama 3.1 8b", quant q4_k_m)',
     "Llama-3.1-8B", None),
    ("Qwen3-4B-Instruct-2507-GGUF", 4.02, "", "Qwen3-4B", None),
])
def test_parse_model_from_notes_and_bench_labels(published: str, params: float, notes: str,
                                                 model: str, active: float | None) -> None:
    label = parse_model(published, params, notes=notes)
    assert label.model == model
    assert label.active_params_b == (active if active is not None else params)


def test_parse_model_takes_the_catalog_spelling_and_counts() -> None:
    catalog = {"gemma-4-26b-a4b": ("gemma-4-26B-A4B-it", 25.2, 3.8),
               "qwen3-4b-instruct-2507": ("Qwen3-4B-Instruct-2507", 4.0, 4.0),
               "qwen3-4b": ("Qwen3-4B", 4.0, 4.0)}
    label = parse_model("gemma4 26B.A4B Q4_K - Medium", 25.23, catalog=catalog,
                        notes="model=unsloth/gemma-4-26B-A4B-it-GGUF; active_params_b=4")
    assert (label.model, label.active_params_b, label.family) == ("gemma-4-26B-A4B-it", 3.8,
                                                                  "Gemma 4")
    dated = parse_model("Qwen3-4B-Instruct-2507-GGUF", 4.02, catalog=catalog)
    assert dated.model == "Qwen3-4B-Instruct-2507"  # a dated instruct release is its own model


@pytest.mark.parametrize(("published", "params", "notes", "active", "flags"), [
    ("Qwen3.5-122B-A10B-UD-Q5_K_XL-00001-of-00003", 122.11, "", 10.0, ["moe"]),
    ("Qwen3-Coder-30B-A3B-Instruct-BF16-00001-of-00002", 30.53, "", 3.0, ["moe"]),
    ("NVIDIA-Nemotron-3-Super-120B-A12B-UD-Q4_K_XL-00001-of-00003", 120.67, "", 12.0, ["moe"]),
    ("gemma-4-26B-A4B-it-UD-Q8_K_XL", 25.23, "", 4.0, ["moe"]),
    # active parameters from the model cards (advisor.data.moe_active.MOE_ACTIVE_PARAMS)
    ("gpt-oss-20b-mxfp4", 20.91, "MoE (params_b = total params)", 3.6, ["moe"]),
    ("GLM-4.7-Flash-BF16-00001-of-00002", 29.94, "", 3.0, ["moe"]),
    ("MiniMax-M2.7-UD-Q3_K_S-00001-of-00003", 228.69, "", 10.0, ["moe"]),
    # a mixture of experts nobody gave the active count of
    ("Some-Experts-Model-Q4_0", 40.0, "MoE (params_b = total params)", None,
     ["moe", "moe_active_unknown"]),
])
def test_parse_model_moe(published: str, params: float, notes: str, active: float | None,
                         flags: list[str]) -> None:
    label = parse_model(published, params, notes=notes)
    assert (label.moe, label.active_params_b, label.flags) == (True, active, flags)


def test_parse_model_active_from_catalog() -> None:
    label = parse_model("Foo-30B-Instruct", 30.5, catalog={"foo-30b": ("Foo-30B-it", 30.0, 3.3)})
    assert (label.model, label.moe, label.active_params_b) == ("Foo-30B-it", True, 3.3)
    assert any("catalog" in r for r in label.remarks)


@given(st.sampled_from(["Qwen3.5-9B", "gemma-3-4b", "Llama-3.1-8B", "gpt-oss-120b",
                        "Qwen3.6-35B-A3B", "Ministral-3-14B"]),
       st.sampled_from(["", "-Q4_K_M", "-UD-Q4_K_XL", "-BF16", ".Q4_0", "-mxfp4", "-IQ2_XXS"]),
       st.booleans(), st.booleans())
def test_file_noise_never_changes_the_model_name(base: str, quant: str, shard: bool,
                                                 gguf: bool) -> None:
    name = base + quant + ("-00001-of-00003" if shard else "") + (".gguf" if gguf else "")
    assert clean_model_name(name) == (base, False)
    assert clean_model_name(clean_model_name(name)[0])[0] == base


@pytest.mark.parametrize(("label", "model", "notes", "quant", "variant"), [
    ("Q4_K_M", "Qwen3-Coder-30B-A3B-Instruct-Q4_K_M", "", "Q4_K_M", None),
    ("mxfp4", "gpt-oss-20b-mxfp4", "", "MXFP4", None),
    ("q8_0", "", "", "Q8_0", None),
    ("UD-Q4_K_XL", "gemma-4-31B-it-UD-Q4_K_XL", "", "Q4_K_M", "unsloth-dynamic"),
    ("UD-Q8_K_XL", "x", "", "Q8_0", "unsloth-dynamic"),
    ("Q4_K_M", "gemma-3-27b-it-UD-Q4_K_XL (gemma3 27B)", "", "Q4_K_M", "unsloth-dynamic"),
    ("Q4_K_M", "qwen3 4B", "Qwen3-4B-UD-Q4_K_XL (Unsloth dynamic)", "Q4_K_M", "unsloth-dynamic"),
    ("Q4_0", "llama-2-7b.Q4_0", "UD-* = Unsloth dynamic mixed quant", "Q4_0", None),
    ("Q4_0", "gemma3 4B Q4_0", "model=ggml-org/gemma-3-4b-it-qat-GGUF", "Q4_0", "qat"),
    ("Q6_K_L", "x", "", "Q6_K", "q8-embed-output"),
    ("IQ4_XS_R8", "x", "", "IQ4_XS", "ik-repacked"),
])
def test_parse_quant(label: str, model: str, notes: str, quant: str | None,
                     variant: str | None) -> None:
    parsed = parse_quant(label, model_published=model, notes=notes)
    assert (parsed.quant, parsed.variant, parsed.known) == (quant, variant, True)
    assert ("quant_mix" in parsed.flags) == (variant is not None)
    assert ("unsloth_dynamic" in parsed.flags) == (variant == "unsloth-dynamic")


def test_parse_quant_unknown_is_reported() -> None:
    assert parse_quant("Q9_Z").known is False


@pytest.mark.parametrize(("notes", "expected"), [
    ("build=d088d5b74 (8240); fa=0; stddev=17.26",
     {"flash_attn": False, "stdev": 17.26, "llama_cpp_build": "d088d5b74 (8240)"}),
    ("toolbox=rocm-7.9; flags=hblt0,fa1; build=8aa6ef3e (7064); fa=1",
     {"flash_attn": True, "hipblaslt": False, "toolbox": "rocm-7.9"}),
    ("llm-bench/x/results.jsonl; flags=-fa 1 hipblaslt=1", {"flash_attn": True,
                                                            "hipblaslt": True}),
    ("flags=default", {"flash_attn": None}),
    ("host=Raspberry Pi 5 (PCIe x1; host-limited); Vulkan RADV GFX1201",
     {"host_limit": "Raspberry Pi 5 (PCIe x1; host-limited)"}),
    ("host=Intel Core Ultra 265K PC 64GB, Ubuntu 25.10; Vulkan",
     {"host_limit": None, "host": "Intel Core Ultra 265K PC 64GB, Ubuntu 25.10"}),
    ("GPU on a riser cable", {"host_limit": "riser"}),
    ("tg128 @ d2048; n_batch=512", {"depth": 2048, "batch_size": 512}),
    ("build 141a908a (5298), PR branch during review", {"pr_build": True}),
    ("Vulkan; with PR #10536 (change, later merged)", {"pr_build": True}),
    ("'Vulkan (master)' = before PR, 'Vulkan (PR)' = with PR #5835", {"pr_build": False}),
    ("params_b not printed in this table", {"params_elsewhere": True}),
    ("raw/x.md; https://github.com/ggml-org/llama.cpp/pull/5835 comment by N 2024-03-03",
     {"pr_thread": True, "pr_build": False}),
    ("https://github.com/ggerganov/llama.cpp/pull/2059", {"pr_thread": True}),
    ("https://github.com/ggml-org/llama.cpp/issues/4167; build=858f6b73 (2797)",
     {"pr_thread": False}),
    ("build=2e97c5f96 (9100); fa=False; n_batch=2048; n_ubatch=512; type_k=q8_0; type_v=f16",
     {"flash_attn": False, "batch_size": 2048, "n_ubatch": 512, "type_k": "q8_0",
      "type_v": "f16", "llama_cpp_build": "2e97c5f96 (9100)"}),
    ("fa=True; date=2026-05-13", {"flash_attn": True, "date": "2026-05-13"}),
    ("cmd_flags=-b 512 -ub 512 --no-flash-attn", {"flash_attn": False}),
    ("fa=1; ot=exps=CPU; offload=expert tensors on CPU; host=2x EPYC",
     {"placement": {"ot": "exps=CPU", "offload": "expert tensors on CPU"}}),
    ("n_cpu_moe=99; rpc_nodes=2", {"placement": {"n_cpu_moe": "99"}, "rpc_nodes": 2}),
    ("fa=1; n_batch=512", {"placement": {}}),
])
def test_parse_notes(notes: str, expected: dict[str, object]) -> None:
    info = parse_notes(notes)
    for key, value in expected.items():
        got = getattr(info, key) if hasattr(info, key) else info.environment.get(key)
        assert got == value, key


# ---------------------------------------------------------------------------------------------
# the importer on small shared folders
# ---------------------------------------------------------------------------------------------

SOURCES_MD = """# speed sources

## Sources (source_id -> citation)

1. **bench_a**: GitHub someone/bench, commit abc123, results/*.csv. **Caveat:** noisy.
2. **ik_src**: ik_llama.cpp README at commit def456.
3. **llamacpp_pr\\***: llama.cpp PR threads:
   - #4766 (ggerganov, 2024-01-10): RTX 4090.
   - #2059 (0cc4m, 2024-01-22): RX 6800 XT.
"""

HARDWARE = [
    ["NVIDIA GeForce RTX 3090", "gpu", "24.0", "935.8", "35.68", "wiki", "vector", "", ""],
    ["Apple M2 Max (CPU only)", "apple-cpu", "", "400.0", "", "macrumors", "", "NEON", "CPU"],
    ["AMD Radeon RX 580", "gpu", "4 or 8 (variant not stated)", "256.0", "", "wiki", "", "",
     ""],
]

ROWS = [
    ["bench_a", "NVIDIA GeForce RTX 3090", "CUDA", "llama 8B (LLaMA 3)", "8.03", "Q4_K_M", "",
     "4.58", "pp512", "5000.5", "99", "", "build=abc1234 (2000); fa=1"],
    ["bench_a", "NVIDIA GeForce RTX 3090 x2", "CUDA", "gpt-oss-20b-mxfp4", "20.91", "mxfp4", "",
     "11.27", "tg128", "150.0", "99.0", "", "MoE (params_b = total params)"],
    ["ik_src", "Apple M2 Max (CPU only)", "CPU (ik_llama.cpp, -rtr 1)", "LLaMA-2-7B", "6.74",
     "IQ4_XS", "4.25", "3.37", "tg128", "20.5", "0", "8", "NEON; params_b not printed"],
    ["llamacpp_pr4766", "AMD Radeon RX 580", "Vulkan", "Qwen3.6-35B-A3B-UD-Q4_K_XL", "34.66",
     "UD-Q4_K_XL", "", "20.7", "pp 512", "300", "99", "",
     "host=Raspberry Pi 5 (PCIe x1; host-limited)"],
]


def _write_csv(path: Path, header: tuple[str, ...] | list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    root = tmp_path / "shared"
    _write_csv(root / "speed" / "hardware.csv", HARDWARE_COLUMNS, HARDWARE)
    _write_csv(root / "speed" / "speed_a.csv", SPEED_COLUMNS, ROWS[:1] + ROWS[2:])
    _write_csv(root / "speed" / "speed_multi.csv", SPEED_COLUMNS, ROWS[1:2])
    (root / "speed" / "SOURCES.md").write_text(SOURCES_MD, encoding="utf-8")
    return root


def test_import_small_folder(shared: Path) -> None:
    rows, devices, sources = import_speed(shared)
    assert len(rows) == len(ROWS) and all(r.usable for r in rows)
    by_model = {r.model_as_published: r for r in rows}

    dense = by_model["llama 8B (LLaMA 3)"]
    assert (dense.model, dense.hardware, dense.hardware_kind, dense.n_devices) == (
        "Llama-3-8B", "NVIDIA GeForce RTX 3090", HardwareKind.GPU, 1)
    assert dense.model_bytes == round(4.58 * 2**30) and dense.bpw_basis == "file_size"
    assert dense.bpw == pytest.approx(4.58 * 2**30 * 8 / 8.03e9)
    assert (dense.flash_attn, dense.gpu_layers, dense.memory_gb) == (True, 99, 24.0)
    assert dense.environment["llama_cpp_build"] == "abc1234 (2000)"

    multi = by_model["gpt-oss-20b-mxfp4"]
    assert (multi.hardware, multi.n_devices, multi.quant) == ("NVIDIA GeForce RTX 3090", 2,
                                                               "MXFP4")
    assert {"multi_gpu", "moe"} <= set(multi.flags)
    assert multi.active_params_b == 3.6 and multi.bandwidth_gbs == 935.8

    ik = by_model["LLaMA-2-7B"]
    assert (ik.fork, ik.backend, ik.hardware_kind, ik.bpw, ik.bpw_basis) == (
        "ik_llama.cpp", "cpu", HardwareKind.CPU, 4.25, "stated")
    assert {"fork", "rtr", "apple_cpu", "params_from_other_table"} <= set(ik.flags)
    assert (ik.threads, ik.gpu_layers) == (8, 0)

    ud = by_model["Qwen3.6-35B-A3B-UD-Q4_K_XL"]
    assert (ud.quant, ud.quant_variant, ud.test, ud.active_params_b) == (
        "Q4_K_M", "unsloth-dynamic", "pp512", 3.0)
    assert ud.host_limit == "Raspberry Pi 5 (PCIe x1; host-limited)" and ud.memory_gb is None
    assert {"host_limited", "unsloth_dynamic", "moe"} <= set(ud.flags)

    assert [d.name for d in devices] == [h[0] for h in HARDWARE]
    assert "4 or 8" in devices[2].notes and devices[1].kind is HardwareKind.CPU
    cited = {s.source_id: s.citation for s in sources}
    assert set(cited) == {"bench_a", "ik_src", "llamacpp_pr4766"}
    assert "Caveat" not in cited["bench_a"] and "#4766" in cited["llamacpp_pr4766"]
    assert "#2059" not in cited["llamacpp_pr4766"]


def test_write_speed_round_trips_through_load_dataset(shared: Path, tmp_path: Path) -> None:
    out = tmp_path / "measurements"
    counts = write_speed(shared, out)
    assert counts["rows"] == len(ROWS) and counts["hardware"] == len(HARDWARE)
    assert counts["by_backend"] == {"cuda": 2, "cpu": 1, "vulkan": 1}
    data = load_dataset(out)
    assert len(data.speed) == len(ROWS) and set(data.hardware) == {h[0] for h in HARDWARE}
    assert set(data.sources) == {"bench_a", "ik_src", "llamacpp_pr4766"}
    assert sorted(r.content_hash() for r in data.speed) == sorted(
        r.content_hash() for r in import_speed(shared)[0])


def test_unknown_device_is_kept_but_excluded(shared: Path) -> None:
    row = ["bench_a", "Mystery GPU", "CUDA", "llama 8B (LLaMA 3)", "8.03", "Q4_K_M", "", "4.58",
           "tg128", "50", "99", "", ""]
    _write_csv(shared / "speed" / "speed_b.csv", SPEED_COLUMNS, [row])
    rows, _, _ = import_speed(shared)
    odd = [r for r in rows if r.hardware == "Mystery GPU"]
    assert len(odd) == 1 and "not in hardware.csv" in (odd[0].excluded_reason or "")


@pytest.mark.parametrize(("column", "value", "message"), [
    ("tokens_per_s", "fast", "column 'tokens_per_s' must be a number, got 'fast'"),
    ("tokens_per_s", "", "column 'tokens_per_s' is empty"),
    ("tokens_per_s", "-3", "tokens_per_s must be positive"),
    ("ngl", "9.5", "ngl must be a whole number"),
    ("backend", "Kompute", "unknown backend 'Kompute'"),
    ("test", "bench", "test"),
])
def test_malformed_speed_value_names_file_and_line(shared: Path, column: str, value: str,
                                                   message: str) -> None:
    bad = list(ROWS[0])
    bad[SPEED_COLUMNS.index(column)] = value
    _write_csv(shared / "speed" / "speed_a.csv", SPEED_COLUMNS, [ROWS[0], bad])
    with pytest.raises(DataFileError, match=message) as info:
        import_speed(shared)
    assert info.value.line == 3 and str(info.value).startswith(
        f"{shared / 'speed' / 'speed_a.csv'}:3:")


def test_wrong_field_count_and_missing_column(shared: Path) -> None:
    path = shared / "speed" / "speed_a.csv"
    _write_csv(path, SPEED_COLUMNS, [ROWS[0], ROWS[0][:5]])
    with pytest.raises(DataFileError, match=r"speed_a\.csv:3: expected 13 fields, got 5"):
        import_speed(shared)
    _write_csv(path, SPEED_COLUMNS[:-1], [ROWS[0][:-1]])
    with pytest.raises(DataFileError, match=r"speed_a\.csv:1: missing columns \['notes'\]"):
        import_speed(shared)


def test_bad_hardware_kind_and_missing_citation(shared: Path) -> None:
    _write_csv(shared / "speed" / "hardware.csv", HARDWARE_COLUMNS,
               HARDWARE + [["X", "quantum", "", "", "", "", "", "", ""]])
    with pytest.raises(DataFileError, match=r"hardware\.csv:5: kind must be one of"):
        import_speed(shared)
    _write_csv(shared / "speed" / "hardware.csv", HARDWARE_COLUMNS, HARDWARE)
    (shared / "speed" / "SOURCES.md").write_text("1. **bench_a**: x\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="no citation for source_id 'ik_src'"):
        import_speed(shared)


def test_citation_for_prefix_items(tmp_path: Path) -> None:
    path = tmp_path / "SOURCES.md"
    path.write_text(SOURCES_MD, encoding="utf-8")
    citations = read_citations(path)
    assert citation_for("llamacpp_pr2059", citations).endswith("#2059 (0cc4m, 2024-01-22): "
                                                               "RX 6800 XT.")
    assert citation_for("nothing", citations) is None


# ---------------------------------------------------------------------------------------------
# the real shared data
# ---------------------------------------------------------------------------------------------

@needs_shared
def test_real_shared_data_every_row_once_and_every_device_joins() -> None:
    shared = published_dir()
    rows, devices, sources = import_speed(shared)
    published: Counter[tuple[object, ...]] = Counter()
    for path in sorted((shared / "speed").glob("*.csv")):
        if path.name == "hardware.csv":
            continue
        with path.open(encoding="utf-8", newline="") as fh:
            for rec in csv.DictReader(fh):
                published[(rec["source_id"], rec["hardware"], rec["backend"], rec["model"],
                           rec["quant"], rec["test"].replace(" ", "").lower(),
                           float(rec["tokens_per_s"]), rec["notes"])] += 1
    def as_published(r: SpeedRow) -> str:
        name = str(r.environment.get("hardware_as_published", r.hardware))
        return name + (f" x{r.n_devices}" if r.n_devices > 1 else "")

    imported = Counter(
        (r.source_id, as_published(r), r.backend_detail, r.model_as_published,
         r.quant_as_published, r.test, r.tokens_per_s, r.notes.split(" [import: ")[0])
        for r in rows)
    assert len(rows) == sum(published.values())
    assert imported == published
    names = {d.name for d in devices}
    with (shared / "speed" / "hardware.csv").open(encoding="utf-8", newline="") as fh:
        assert {rec["hardware"] for rec in csv.DictReader(fh)} <= names
    assert len(devices) >= 100
    assert {s.source_id for s in sources} == {r.source_id for r in rows}
    # a row is excluded only for what the importer cannot use: an unlisted device, a quant
    # outside the catalog, weights offloaded to the host, layers on networked hosts
    reasons = Counter(r.excluded_reason for r in rows if not r.usable)
    for reason in reasons:
        assert any(k in reason for k in ("not in hardware.csv", "not in the quant catalog",
                                         "host memory", "networked hosts",
                                         "the source doubts the figure")), reason
    assert sum(r.usable for r in rows) >= 5600  # 5,689: 6 rows their own source doubts are out
    assert len(rows) >= 6000 and len({r.hardware for r in rows}) >= 100  # 6,475 rows, 102
    offload = [r for r in rows if "offload" in r.flags]
    assert len(offload) >= 60 and all(r.environment.get("placement") for r in offload)
    current = {r.model for r in rows if r.usable and r.hardware in names}
    for model in ("gpt-oss-20b", "gpt-oss-120b", "Qwen3.6-35B-A3B", "Qwen3.6-27B",
                  "gemma-4-26B-A4B-it", "gemma-4-31B-it", "Ministral-3-8B-Instruct-2512"):
        assert model in current, model

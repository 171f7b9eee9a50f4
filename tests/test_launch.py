"""From a pick to a running model: the download and the llama.cpp command lines."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from advisor.data.downloads import RepoTable, load_repos
from advisor.recommender.launch import ALL_LAYERS, LaunchSpec, attach_launch, build_commands
from advisor.recommender.placement import flags as placement_flags
from advisor.recommender.results import Candidate, Placement
from advisor.vocabulary.schema import Hardware, HardwareKind

REPO = "bartowski/Qwen_Qwen3-14B-GGUF"


def _argv(line: str) -> list[str]:
    return shlex.split(line)


def _flag(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


@pytest.mark.parametrize("spec, present, absent", [
    (LaunchSpec(REPO, "Q4_K_M", 4096, "f16", n_layers=40),
     {"-hf": f"{REPO}:Q4_K_M", "-c": "4096", "-ngl": str(ALL_LAYERS)},
     ["-ctk", "-ctv", "-fa", "--n-cpu-moe", "-ot", "-t", "--no-mmproj"]),
    (LaunchSpec(REPO, "Q4_K_M", 32768, "q8_0", n_layers=40),
     {"-c": "32768", "-ctk": "q8_0", "-ctv": "q8_0", "-fa": "on"}, ["-m"]),
    (LaunchSpec(REPO, "IQ3_M", 8192, "q4_0", n_layers=40),
     {"-hf": f"{REPO}:IQ3_M", "-ctk": "q4_0", "-ctv": "q4_0", "-fa": "on"}, []),
    (LaunchSpec(REPO, "Q8_0", 4096, n_layers=40, gpu_layers=0, threads=16),
     {"-ngl": "0", "-t": "16"}, []),
    (LaunchSpec("unsloth/Qwen3-30B-A3B-GGUF", "Q4_K_M", 4096, n_layers=48, n_cpu_moe=12),
     {"--n-cpu-moe": "12", "-ngl": str(ALL_LAYERS)}, ["-ot"]),
    (LaunchSpec(REPO, "Q4_K_M", 4096, n_layers=40, gpu_layers=30,
                override_tensor=(r"blk\.(3[0-9])\.ffn_.*=CPU", "token_embd=CPU")),
     {"-ngl": "30", "-ot": r"blk\.(3[0-9])\.ffn_.*=CPU,token_embd=CPU"}, []),
    (LaunchSpec(None, "Q4_K_M", 4096, n_layers=40, model_file="my-model-Q4_K_M.gguf"),
     {"-m": "my-model-Q4_K_M.gguf"}, ["-hf", "--no-mmproj"]),
    (LaunchSpec(REPO, "Q4_K_M", 4096, n_layers=126), {"-ngl": "127"}, []),
    (LaunchSpec("ggml-org/gemma-3-27b-it-GGUF", "Q4_K_M", 4096, no_mmproj=True), {}, []),
])
def test_command_lines(spec, present, absent):
    run = build_commands(spec)
    for line, program in ((run.llama_server, "llama-server"), (run.llama_cli, "llama-cli")):
        argv = _argv(line)
        assert argv[0] == program and argv[1:] == _argv(run.llama_server)[1:]
        for flag, value in present.items():
            assert _flag(argv, flag) == value, (flag, line)
        for flag in absent:
            assert flag not in argv, (flag, line)
        assert ("--no-mmproj" in argv) == (spec.no_mmproj and spec.hf_repo is not None)
    assert run.gpu_layers == int(_flag(_argv(run.llama_server), "-ngl"))


def test_quantized_v_cache_says_why_flash_attention_is_on():
    run = build_commands(LaunchSpec(REPO, "Q4_K_M", 4096, "q4_0"))
    assert any("flash attention" in n for n in run.notes)




@pytest.fixture(scope="module")
def repos():
    return load_repos()


def _pick(fake_advisor, **kwargs: Any) -> Candidate:
    return fake_advisor.recommend(**kwargs).pick


def test_offloaded_moe_pick_carries_its_offload_flags(fake_advisor, repos):
    pick = _pick(fake_advisor, vram="24GB", models=["Qwen3-30B-A3B"])
    placed = pick.model_copy(update={"placement": Placement(
        kind="experts_on_cpu", gpu_bytes=11 * 10**9, cpu_bytes=10 * 10**9, n_gpu_layers=49,
        n_cpu_moe=20, flags=["-ngl", "99", "--n-cpu-moe", "20"], host_bandwidth_gbs=51.2,
        source="test")})
    model = fake_advisor.catalog.get("Qwen3-30B-A3B")
    out = attach_launch(placed, model, None, repos)
    argv = _argv(out.run.llama_server)
    # the command line places the model as the placement's own flags say: every layer and the
    # output on the GPU but the routed experts of 20 layers
    assert _flag(argv, "--n-cpu-moe") == "20" and _flag(argv, "-ngl") == str(ALL_LAYERS)
    assert placement_flags("experts_on_cpu", 49, 20) == ["-ngl", _flag(argv, "-ngl"),
                                                          "--n-cpu-moe", "20"]
    assert _flag(argv, "-hf").startswith(out.download.repo + ":")


def test_cpu_device_keeps_every_layer_on_the_cpu(fake_advisor, repos):
    pick = _pick(fake_advisor, vram="32GB")
    cpu = Hardware(name="My box", kind=HardwareKind.CPU, bandwidth_gbs=80.0, threads=12)
    out = attach_launch(pick, fake_advisor.catalog.get(pick.model), cpu, repos)
    argv = _argv(out.run.llama_server)
    assert (_flag(argv, "-ngl"), _flag(argv, "-t")) == ("0", "12")


def test_recommend_answer_has_download_and_run(fake_advisor):
    rec = fake_advisor.recommend(vram="24GB", task="reasoning", context=8192, cache_type="q8_0")
    pick = rec.pick
    assert pick.download is not None and pick.run is not None
    assert pick.download.url == f"https://huggingface.co/{pick.download.repo}"
    argv = _argv(pick.run.llama_server)
    assert _flag(argv, "-hf") == f"{pick.download.repo}:{pick.quant}"
    assert (_flag(argv, "-c"), _flag(argv, "-ctk"), _flag(argv, "-fa")) == ("8192", "q8_0", "on")
    assert all(a.download is None and a.run is None for a in rec.alternatives)


def test_pick_without_a_known_repo_gets_a_local_file_command(fake_advisor):
    pick = _pick(fake_advisor, vram="24GB")
    out = attach_launch(pick, fake_advisor.catalog.get(pick.model), None, RepoTable([]))
    assert out.download is None
    argv = _argv(out.run.llama_server)
    assert "-hf" not in argv and _flag(argv, "-m") == f"model-{pick.quant}.gguf"
    assert any("no published repo" in n for n in out.run.notes)


@pytest.mark.parametrize("modes, mode, flags", [
    ("hybrid", "thinking", {"--reasoning": "on"}),
    ("hybrid", "non-thinking", {"--reasoning": "off"}),
    ("reasoning_effort", "thinking", {"--reasoning-effort": "high"}),
    ("reasoning_effort", "non-thinking", {"--reasoning-effort": "low"}),
    ("instruct", "non-thinking", {}),
    ("thinking", "thinking", {}),
])
def test_the_mode_the_pick_answers_in_is_set(fake_advisor, repos, modes, mode, flags):
    pick = _pick(fake_advisor, vram="24GB").model_copy(update={"mode": mode})
    model = fake_advisor.catalog.get(pick.model).model_copy(update={"modes": modes})
    argv = _argv(attach_launch(pick, model, None, repos).run.llama_server)
    for flag in ("--reasoning", "--reasoning-effort"):
        assert _flag(argv, flag) == flags.get(flag)


def test_hybrid_pick_in_the_answer_says_its_mode(fake_advisor):
    for mode, value in (("thinking", "on"), ("non-thinking", "off")):
        pick = fake_advisor.recommend(vram="24GB", models=["Qwen3-14B"], mode=mode).pick
        assert pick.mode == mode
        assert _flag(_argv(pick.run.llama_server), "--reasoning") == value

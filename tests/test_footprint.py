"""`quant-advisor memory` and GET /v1/memory: one model at one quant, itemised."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from advisor.cli import main as cli_module
from advisor.recommender.advisor import Advisor
from advisor.recommender.footprint import runtime_of
from advisor.service.app import create_app
from advisor.vocabulary.schema import Hardware, HardwareKind
from advisor.vocabulary.settings import Settings

PUBLISHED_QWEN3_14B_Q8_0 = 15.70e9  # bartowski/Qwen_Qwen3-14B-GGUF (../shared/data/gguf)


@pytest.fixture
def runner(fake_advisor, monkeypatch):
    monkeypatch.setattr(Advisor, "load", classmethod(lambda cls, settings=None: fake_advisor))
    return CliRunner()


@pytest.fixture(scope="module")
def client(fake_advisor, tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("memory-api"))
    with TestClient(create_app(settings, advisor_factory=lambda _: fake_advisor)) as c:
        yield c


def test_cli_itemises_and_matches_the_published_file(runner) -> None:
    result = runner.invoke(cli_module.cli, ["memory", "--model", "Qwen3-14B", "--quant", "Q8_0",
                                            "--context", "32768", "--json"])
    assert result.exit_code == 0, result.output
    m = json.loads(result.stdout)
    assert abs(m["weights_bytes"] / PUBLISHED_QWEN3_14B_Q8_0 - 1) < 0.02
    assert m["total_bytes"] == (m["weights_bytes"] + m["kv_cache_bytes"]
                                + m["compute_buffer_bytes"] + m["overhead_bytes"])
    assert m["kv_cache_bytes"] == 40 * 32768 * 8 * 256 * 2  # 40 layers, 8 KV heads of 128
    assert (m["context"], m["cache_type"], m["runtime"]) == (32768, "f16", "gpu")
    table = runner.invoke(cli_module.cli, ["memory", "--model", "qwen3-14b", "--quant", "q8_0"])
    assert table.exit_code == 0 and "weights" in table.stdout and "KV cache" in table.stdout


@pytest.mark.parametrize(("args", "parameter", "fragment"), [
    (["--cache-type", "q3"], "cache_type", "must be one of f16, q8_0, q4_0"),
    (["--context", "200000"], "context", "allowed: 1-131072"),
    (["--quant", "Q4_K_N"], "quant", "Did you mean"),
])
def test_cli_bad_input_exits_2_naming_the_parameter(runner, args, parameter, fragment) -> None:
    base = {"--model": "Llama-3.1-8B", "--quant": "Q4_K_M"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    result = runner.invoke(cli_module.cli, ["memory", *[x for kv in base.items() for x in kv]])
    assert result.exit_code == 2, result.output
    assert f"({parameter})" in result.stderr and fragment in result.stderr


def test_api_answers_as_the_cli(client, runner) -> None:
    r = client.get("/v1/memory", params={"model": "gpt-oss-20b", "quant": "Q4_K_M",
                                         "context": 65536})
    assert r.status_code == 200, r.text
    cli = runner.invoke(cli_module.cli, ["memory", "--model", "gpt-oss-20b", "--quant",
                                         "Q4_K_M", "--context", "65536", "--json"])
    assert r.json() == json.loads(cli.stdout)
    bad = client.get("/v1/memory", params={"model": "gpt-oss-20b", "quant": "Q4_K_M",
                                           "cache_type": "q3"})
    assert bad.status_code == 422 and "cache_type" in bad.text


@pytest.mark.parametrize(("kind", "runtime"), [
    (HardwareKind.CPU, "cpu"), (HardwareKind.APPLE, "unified"), (HardwareKind.APU, "unified"),
    (HardwareKind.GPU, "gpu"),
])
def test_runtime_follows_the_device(kind: HardwareKind, runtime: str) -> None:
    assert runtime_of(Hardware(name="x", kind=kind, bandwidth_gbs=100.0)) == runtime
    assert runtime_of(None) == "gpu"


def test_device_fit_is_reported(runner) -> None:
    result = runner.invoke(cli_module.cli, ["memory", "--model", "Qwen3-14B", "--quant", "Q8_0",
                                            "--hardware", "NVIDIA GeForce RTX 3090", "--json"])
    m = json.loads(result.stdout)
    assert m["hardware"] == "NVIDIA GeForce RTX 3090" and m["device_memory_bytes"] == 24e9
    assert m["fits_device"] is (m["total_bytes"] <= 24e9)

"""The command line's launch features: ``detect``, ``recommend --detect``, the download and run
lines, and plain output that fits 80 columns."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from machine_fixtures import RecordedMachine
from rich.console import Console

from advisor.cli import main as cli_module
from advisor.cli.report import candidates_table, print_recommendation
from advisor.recommender.advisor import Advisor


@pytest.fixture
def runner(fake_advisor, monkeypatch):
    monkeypatch.setattr(Advisor, "load", classmethod(lambda cls, settings=None: fake_advisor))
    return CliRunner()


def _on(monkeypatch, name: str) -> None:
    monkeypatch.setattr("advisor.machine.detect.LocalMachine", lambda: RecordedMachine(name))


def test_detect_json_reports_cpu_gpus_and_what_it_fills(runner, monkeypatch):
    _on(monkeypatch, "nvidia_2x_rtx3090")
    result = runner.invoke(cli_module.cli, ["detect", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["cpu"]["model"] == "AMD Ryzen 9 5950X 16-Core Processor"
    assert (body["cpu"]["physical_cores"], body["cpu"]["ram_bytes"]) == (16, 64 * 2**30)
    assert [g["name"] for g in body["gpus"]] == ["NVIDIA GeForce RTX 3090"] * 2
    assert body["recommend_args"]["hardware"] == "NVIDIA GeForce RTX 3090 x2"


def test_detect_text_says_how_much_ram_is_available(runner, monkeypatch):
    _on(monkeypatch, "cpu_ryzen_7950x")
    result = runner.invoke(cli_module.cli, ["detect"])
    assert result.exit_code == 0, result.output
    assert "RAM 68.72 GB (58.81 GB available)" in result.stdout
    assert "recommend --detect fills: vram=58.8GB, hardware=AMD Ryzen 9 7950X (CPU)" in \
        result.stdout


def test_detect_text(runner, monkeypatch):
    _on(monkeypatch, "apple_m2_pro_16gb")
    result = runner.invoke(cli_module.cli, ["detect"])
    assert result.exit_code == 0, result.output
    assert "GPU: Apple M2 Pro, 17.18 GB, 19 GPU cores" in result.stdout
    assert "a memory size of the table's Apple M2 Pro (19-core GPU, 32GB)" in result.stdout


def test_detect_on_this_machine_reads_cpu_cores_and_ram(runner):
    result = runner.invoke(cli_module.cli, ["detect", "--json"])
    assert result.exit_code == 0, result.output
    cpu = json.loads(result.stdout)["cpu"]
    assert cpu["model"] and cpu["physical_cores"] >= 1 and cpu["ram_bytes"] > 2**28
    assert 0 < cpu["available_bytes"] <= cpu["ram_bytes"]


def test_recommend_detect_fills_budget_and_hardware(runner, monkeypatch):
    _on(monkeypatch, "nvidia_2x_rtx3090")
    result = runner.invoke(cli_module.cli, ["recommend", "--detect", "--json"])
    assert result.exit_code == 0, result.output
    request = json.loads(result.stdout)["request"]
    assert (request["budget"], request["hardware"], request["n_devices"]) == (
        "48GB", "NVIDIA GeForce RTX 3090 x2", 2)
    assert "detected: vram=48GB" in result.stderr


def test_recommend_detect_keeps_what_is_given(runner, monkeypatch):
    _on(monkeypatch, "nvidia_2x_rtx3090")
    result = runner.invoke(cli_module.cli, ["recommend", "--detect", "--vram", "12GB",
                                            "--hardware", "Apple M2 Pro", "--json"])
    assert result.exit_code == 0, result.output
    request = json.loads(result.stdout)["request"]
    assert (request["budget"], request["hardware"]) == ("12GB",
                                                        "Apple M2 Pro (19-core GPU, 32GB)")


def test_recommend_without_vram_or_detect_is_a_usage_error(runner):
    result = runner.invoke(cli_module.cli, ["recommend"])
    assert result.exit_code == 2 and "--vram" in result.stderr


def test_recommend_prints_download_and_run_lines(runner):
    result = runner.invoke(cli_module.cli, ["recommend", "--vram", "24GB",
                                            "--cache-type", "q4_0"])
    assert result.exit_code == 0, result.output
    run = next(line for line in result.stdout.splitlines() if line.startswith("  run: "))
    assert run.startswith("  run: llama-server -hf ") and "-ctv q4_0 -fa on" in run
    assert "  download: https://huggingface.co/" in result.stdout


LONG = "DeepSeek-R1-Distill-Qwen-14B"


def test_plain_table_fits_80_columns_without_cutting_headers(fake_advisor):
    rec = fake_advisor.recommend(vram="24GB", hardware="NVIDIA GeForce RTX 3090")
    rows = [c.model_copy(update={"model": LONG, "quant": "IQ2_XXS"}) for c in
            [rec.pick, *rec.alternatives]]
    console = Console(width=80, force_terminal=False, color_system=None, record=True)
    console.print(candidates_table(rows))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    header = next(line for line in text.splitlines() if "model" in line)
    assert header.split() == ["model", "quant", "bpw", "memory", "quality", "kept", "pp512",
                              "tg128"]
    assert LONG in text and "…" not in text


def test_run_lines_are_never_wrapped(fake_advisor):
    rec = fake_advisor.recommend(vram="24GB", cache_type="q8_0")
    console = Console(width=60, force_terminal=False, color_system=None, record=True)
    print_recommendation(rec, console)
    assert f"  run: {rec.pick.run.llama_server}" in console.export_text().splitlines()


@pytest.mark.parametrize("task", ["reasoning", "knowledge", "coding"])
def test_note_plurals(fake_advisor, task):
    rec = fake_advisor.recommend(vram="24GB", task=task)
    for note in (n for n in rec.notes if "full-precision score" in n):
        count = int(note.split()[0])
        singular = "model has no full-precision score" in note and "was not ranked" in note
        plural = "models have no full-precision score" in note and "were not ranked" in note
        assert (singular, plural) == (count == 1, count > 1), note

import json

import pytest
from click.testing import CliRunner

from advisor.cli import main as cli_module
from advisor.recommender.advisor import Advisor


@pytest.fixture
def runner(fake_advisor, monkeypatch):
    monkeypatch.setattr(Advisor, "load", classmethod(lambda cls, settings=None: fake_advisor))
    return CliRunner()


def test_recommend_table(runner):
    result = runner.invoke(cli_module.cli, ["recommend", "--vram", "24GB", "--task", "reasoning",
                                            "--hardware", "NVIDIA GeForce RTX 3090"])
    assert result.exit_code == 0, result.output
    assert "Pick:" in result.stdout and "tg128" in result.stdout


def test_recommend_json_is_the_api_answer(runner, fake_advisor):
    result = runner.invoke(cli_module.cli, ["recommend", "--vram", "8GB", "--task", "coding",
                                            "--json"])
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    expected = fake_advisor.recommend(vram="8GB", task="coding")
    assert body["pick"]["model"] == expected.pick.model
    assert body["pick"]["quant"] == expected.pick.quant


@pytest.mark.parametrize("args, code, fragment", [
    (["recommend", "--vram", "lots"], 2, "vram"),
    (["recommend", "--vram", "24GB", "--task", "reasonin"], 2, "Did you mean"),
    (["recommend", "--vram", "1MB"], 3, "nothing fits"),
    (["recommend", "--vram", "24GB", "--hardware", "toaster"], 2, "hardware"),
])
def test_bad_input_exits_non_zero_with_message_on_stderr(runner, args, code, fragment):
    result = runner.invoke(cli_module.cli, args)
    assert result.exit_code == code
    assert fragment in result.stderr
    assert result.stdout == ""


def test_quants_json(runner):
    result = runner.invoke(cli_module.cli, ["quants", "--json"])
    assert result.exit_code == 0
    assert any(q["name"] == "Q6_K" for q in json.loads(result.stdout))


CPU_ARGS = ["recommend", "--vram", "64GB", "--hardware", "My box", "--hardware-kind", "cpu",
            "--bandwidth-gbs", "80"]


def test_recommend_threads_option(runner, fake_advisor):
    result = runner.invoke(cli_module.cli, [*CPU_ARGS, "--threads", "6", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["request"]["hardware"], body["request"]["threads"]) == ("My box", 6)
    expected = fake_advisor.recommend(vram="64GB", hardware="My box", hardware_kind="cpu",
                                      bandwidth_gbs=80, threads=6)
    assert body == json.loads(expected.model_dump_json())
    help_text = runner.invoke(cli_module.cli, ["recommend", "--help"]).stdout
    assert "--threads" in help_text and "CPU threads" in help_text
    assert "--threads" in runner.invoke(cli_module.cli, ["plot", "recommend", "--help"]).stdout


@pytest.mark.parametrize("args, fragment", [
    ([*CPU_ARGS, "--threads", "0"], "bad input (threads): threads must be a whole number"),
    ([*CPU_ARGS, "--threads", "-1"], "threads must be a whole number from 1 to 1024"),
    ([*CPU_ARGS, "--threads", "1.5"], "'1.5' is not a valid integer"),
    ([*CPU_ARGS, "--threads", "abc"], "'abc' is not a valid integer"),
    (["recommend", "--vram", "24GB", "--threads", "8"], "threads needs the hardware"),
])
def test_bad_threads_exit_2(runner, args, fragment):
    result = runner.invoke(cli_module.cli, args)
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("args", [["--hardware", "RTX 3090 x2"], ["--hardware", "2x RTX 3090"],
                                  ["--hardware", "RTX 3090", "--devices", "2"]])
def test_recommend_several_gpus(runner, fake_advisor, args):
    result = runner.invoke(cli_module.cli, ["recommend", "--vram", "48GB", *args, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["request"]["hardware"], body["request"]["n_devices"]) == (
        "NVIDIA GeForce RTX 3090 x2", 2)
    expected = fake_advisor.recommend(vram="48GB", hardware="rtx 3090", devices=2)
    assert body == json.loads(expected.model_dump_json())
    table = runner.invoke(cli_module.cli, ["recommend", "--vram", "48GB", *args])
    assert table.exit_code == 0 and "split over 2 GPUs (NVIDIA GeForce RTX 3090 x2)" in \
        table.stdout


def test_devices_option_is_documented_and_shared_with_plot(runner):
    help_text = runner.invoke(cli_module.cli, ["recommend", "--help"]).stdout
    assert "--devices" in help_text and "identical GPUs" in help_text
    assert "--devices" in runner.invoke(cli_module.cli, ["plot", "recommend", "--help"]).stdout


@pytest.mark.parametrize("args, fragment", [
    (["--hardware", "RTX 3090", "--devices", "17"], "bad input (devices): devices must be a "
     "whole number from 1 to 16"),
    (["--hardware", "RTX 3090", "--devices", "0"], "devices must be a whole number"),
    (["--hardware", "RTX 3090", "--devices", "two"], "'two' is not a valid integer"),
    (["--hardware", "RTX 3090 x17"], "bad input (hardware): hardware 'RTX 3090 x17' asks for "
     "17 devices"),
    (["--hardware", "RTX 3090 x2", "--devices", "3"], "bad input (devices): devices=3 "
     "disagrees"),
    (["--hardware", "Apple M2 Pro x2"], "only discrete GPUs are split across devices"),
    (["--devices", "2"], "devices needs the hardware"),
])
def test_bad_devices_exit_2(runner, args, fragment):
    result = runner.invoke(cli_module.cli, ["recommend", "--vram", "48GB", *args])
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(("name", "expected"), [("rtx 5090", "NVIDIA GeForce RTX 5090"),
                                                ("strix halo", "AMD Ryzen AI Max+ 395")])
def test_hardware_name_resolves_to_the_device(name, expected):
    result = CliRunner().invoke(cli_module.cli, ["hardware", name, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["name"].startswith(expected)
    limit = body["gpu_memory_limit"]
    assert (limit is None) == (body["memory_kind"] == "discrete")


def test_hardware_json_lists_every_device_with_its_aliases():
    result = CliRunner().invoke(cli_module.cli, ["hardware", "--json"])
    assert result.exit_code == 0
    devices = json.loads(result.stdout)
    assert len(devices) >= 100
    assert any("rtx 5090" in d["aliases"] for d in devices)


def test_an_unknown_hardware_name_exits_2_with_did_you_mean():
    result = CliRunner().invoke(cli_module.cli, ["hardware", "rtx 5095"])
    assert result.exit_code == 2
    assert "Did you mean 'NVIDIA GeForce RTX 5090'" in result.stderr

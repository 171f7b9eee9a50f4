import json

import pytest
from click.testing import CliRunner

from advisor import cli as cli_module
from advisor.recommend import Advisor


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

"""``quant-advisor models``: list, show, and add a model from a GGUF header."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from gguf import GGMLQuantizationType, GGUFWriter

from advisor.cli.main import cli
from advisor.vocabulary.settings import get_settings

ARCH_FIELDS = ("n_layers", "n_kv_heads", "head_dim", "n_experts", "n_experts_used")


@pytest.fixture
def runner():
    get_settings.cache_clear()  # the autouse fixture gave this test its own data dir
    yield CliRunner()
    get_settings.cache_clear()


def _moe_gguf(path: Path) -> Path:
    """A header-only-sized MoE file: 48 layers, 4 KV heads of 128, 128 experts / 8 used."""
    w = GGUFWriter(str(path), "qwen3moe")
    w.add_name("Tiny-MoE-Test")
    w.add_block_count(48)
    w.add_context_length(262144)
    w.add_embedding_length(2048)
    w.add_feed_forward_length(6144)
    w.add_head_count(32)
    w.add_head_count_kv(4)
    w.add_key_length(128)
    w.add_value_length(128)
    w.add_expert_count(128)
    w.add_expert_used_count(8)
    w.add_expert_feed_forward_length(768)
    w.add_vocab_size(151936)
    # a few real tensors (shapes as llama.cpp names them); tiny, so the test stays fast
    w.add_tensor("token_embd.weight", np.zeros((16, 32), np.float16))
    w.add_tensor("blk.0.ffn_up_exps.weight", np.zeros((8, 4, 34), np.uint8),
                 raw_dtype=GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_list_json_has_the_catalog_fields(runner) -> None:
    result = runner.invoke(cli, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) >= 60
    for key in ("name", "family", "released", "params_b", "active_params_b", "max_context",
                *ARCH_FIELDS):
        assert all(key in r for r in rows), key
    oss = next(r for r in rows if r["name"] == "gpt-oss-20b")
    assert (oss["n_layers"], oss["n_experts"], oss["n_experts_used"]) == (24, 32, 4)


def test_plain_list_fits_80_columns(runner) -> None:
    result = runner.invoke(cli, ["models"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["model", "release", "params", "active", "context", "modes"]
    assert all(len(line) <= 80 for line in lines)


def test_show_and_did_you_mean(runner) -> None:
    shown = runner.invoke(cli, ["models", "show", "qwen3-14b", "--json"])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["name"] == "Qwen3-14B"
    missing = runner.invoke(cli, ["models", "show", "gpt-oss-2"])
    assert missing.exit_code == 2 and "Did you mean 'gpt-oss-20b'" in missing.stderr


def test_add_reads_the_gguf_header(runner, tmp_path: Path) -> None:
    path = _moe_gguf(tmp_path / "tiny-moe.gguf")
    added = runner.invoke(cli, ["models", "add", str(path), "--name", "my-moe"])
    assert added.exit_code == 0, added.output
    assert "added my-moe" in added.stderr
    shown = json.loads(runner.invoke(cli, ["models", "show", "MY-MOE", "--json"]).stdout)
    assert [shown[k] for k in ARCH_FIELDS] == [48, 4, 128, 128, 8]
    assert (shown["max_context"], shown["gguf_arch"]) == (262144, "qwen3moe")
    assert shown["recommendable"] is True
    # kept for later runs; the same name twice is refused
    again = runner.invoke(cli, ["models", "add", str(path), "--name", "my-moe"])
    assert again.exit_code == 2 and "already in the catalog" in again.stderr


@pytest.mark.parametrize(("content", "fragment"), [
    ("this is not a model\n", "is not a GGUF file"),
])
def test_add_refuses_what_is_not_gguf(runner, tmp_path: Path, content: str,
                                      fragment: str) -> None:
    path = tmp_path / "fake.gguf"
    path.write_text(content, encoding="utf-8")
    result = runner.invoke(cli, ["models", "add", str(path)])
    assert result.exit_code == 2
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_add_names_a_missing_key(runner, tmp_path: Path) -> None:
    w = GGUFWriter(str(tmp_path / "bare.gguf"), "llama")
    w.add_block_count(2)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    result = runner.invoke(cli, ["models", "add", str(tmp_path / "bare.gguf")])
    assert result.exit_code == 2
    assert "lacks llama.embedding_length, llama.attention.head_count" in result.stderr

"""Architecture: catalog facts in, per-layer structure out."""

from __future__ import annotations

import pytest

from advisor.data.arch import Architecture, load_architectures
from advisor.vocabulary.errors import InvalidInputError, UnknownNameError

BASE = {"gguf_arch": "qwen35", "n_layers": "8", "hidden_size": "1024", "n_heads": "8",
        "n_kv_heads": "2", "head_dim": "256", "vocab_size": "248320",
        "intermediate_size": "3584", "tie_word_embeddings": "true"}


def test_facts_are_parsed_from_catalog_strings():
    a = Architecture.from_facts({**BASE, "full_attention_interval": "4", "family": "ignored",
                                 "sliding_window": ""}, name="m")
    assert a.n_layers == 8 and a.tie_word_embeddings is True and a.sliding_window == 0
    assert [a.mixer(i) for i in range(8)] == ["linear_attention"] * 3 + ["attention"] + [
        "linear_attention"] * 3 + ["attention"]
    assert a.key_dim == 256 and a.value_dim == 256


def test_explicit_attention_layers_win_over_the_interval():
    a = Architecture.from_facts({**BASE, "gguf_arch": "lfm2", "full_attn_idxs": "2;5"})
    assert [i for i in range(8) if a.mixer(i) == "attention"] == [2, 5]
    assert a.mixer(0) == "short_conv"


def test_nemotron_pattern_gives_each_block():
    a = Architecture.from_facts({**BASE, "gguf_arch": "nemotron_h", "n_layers": "5",
                                 "layer_types": "M-*E-", "mamba_expand": "2"})
    assert a.layer_pattern == "M-*E-" and a.d_inner == 2048
    assert [(a.mixer(i), a.ffn(i)) for i in range(5)] == [
        ("mamba", "none"), ("none", "dense"), ("attention", "none"), ("none", "moe"),
        ("none", "dense")]


def test_moe_layers_after_the_dense_ones_and_interleaved():
    a = Architecture.from_facts({**BASE, "gguf_arch": "qwen3moe", "n_experts": "64",
                                 "n_experts_used": "4", "n_dense_layers": "1",
                                 "moe_intermediate_size": "512"})
    assert [a.ffn(i) for i in range(3)] == ["dense", "moe", "moe"]
    b = a.model_copy(update={"n_dense_layers": 0, "moe_layer_step": 2})
    assert [b.ffn(i) for i in range(4)] == ["dense", "moe", "dense", "moe"]
    assert a.expert_width == 512 and a.shared_width == 0


@pytest.mark.parametrize(("facts", "message"), [
    ({"n_layers": "0"}, "n_layers: Input should be greater than 0"),
    ({"tie_word_embeddings": "yes"}, "expected true or false, got 'yes'"),
    ({"hidden_size": ""}, "hidden_size: Field required"),
])
def test_bad_facts_name_the_field(facts, message):
    with pytest.raises(InvalidInputError, match=message):
        Architecture.from_facts({**BASE, **facts}, name="m")


def test_catalog_architectures_load_and_explain_the_missing():
    archs = load_architectures()
    assert archs.get("Qwen3-14B").hidden_size == 5120
    assert archs.get("gemma-4-E4B-it").full_attn_idxs[:2] == (5, 11)  # from facts.csv
    assert archs.get("NVIDIA-Nemotron-Nano-9B-v2").layer_pattern.count("*") == 4
    with pytest.raises(UnknownNameError, match="Did you mean 'Qwen3-14B'"):
        archs.get("Qwen3-14")


def test_catalog_folder_can_be_given(tmp_path):
    (tmp_path / "models.csv").write_text(
        "name,gguf_arch,n_layers,hidden_size,n_heads,n_kv_heads,vocab_size\n"
        "tiny,llama,2,64,4,4,256\nbroken,llama,2,,4,4,256\n")
    (tmp_path / "facts.csv").write_text(
        "model,field,value,source,notes\ntiny,intermediate_size,128,SRC,\n")
    archs = load_architectures(tmp_path)
    assert archs.get("tiny").intermediate_size == 128
    with pytest.raises(InvalidInputError, match="no architecture for 'broken'.*hidden_size"):
        archs.get("broken")

"""Tensor layouts against real GGUF tensor lists and llama.cpp's own tensor names."""

from __future__ import annotations

import re
from collections import Counter

import gguf
import pytest
from weights_fixtures import catalog, thireus_layouts, with_gaps_filled

from advisor.data.arch import Architecture
from advisor.data.tensors import supported_architectures, tensor_layout
from advisor.vocabulary.errors import InvalidInputError

LAYOUTS = thireus_layouts()
MODELS = sorted(m for m in LAYOUTS if m != "source")


def _summary(arch: Architecture) -> Counter[tuple[str, tuple[int, ...], str]]:
    return Counter((re.sub(r"^blk\.\d+\.", "blk.N.", t.name), t.shape, t.source_type)
                   for t in tensor_layout(arch))


@pytest.mark.parametrize("model", MODELS)
def test_layout_matches_the_published_bf16_tensor_map(model):
    """Every tensor kind, shape, stored type and count of the BF16 GGUF (Thireus's maps)."""
    arch = with_gaps_filled(catalog(), model)
    expected = Counter({(k, tuple(shape), dtype): n
                        for k, shape, dtype, n in LAYOUTS[model]["kinds"]})
    mine = _summary(arch)
    assert mine == expected, {"missing": expected - mine, "extra": mine - expected}
    layout = tensor_layout(arch)
    assert sum(t.n_elements for t in layout) == LAYOUTS[model]["n_elements"]


def test_fixture_covers_every_family_it_can():
    archs = {with_gaps_filled(catalog(), m).gguf_arch for m in MODELS}
    assert archs == {"qwen3", "qwen35", "qwen35moe", "glm4moe", "deepseek2", "gemma4"}


def _known_names(arch_name: str) -> set[str]:
    arch = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch_name)
    return {gguf.TENSOR_NAMES[t] for t in gguf.MODEL_TENSORS[arch]}


def _representatives() -> dict[str, Architecture]:
    """One buildable catalog model per supported architecture (Granite 4's dense models lack
    their vocabulary size in the catalog: a llama-shaped stand-in names its tensors)."""
    archs = catalog()
    out: dict[str, Architecture] = {
        "granite": archs.get("Llama-3.2-1B").model_copy(update={"gguf_arch": "granite"})}
    for name, arch in archs.by_name.items():
        if arch.gguf_arch in supported_architectures() and arch.gguf_arch not in out:
            try:
                tensor_layout(with_gaps_filled(archs, name))
            except InvalidInputError:
                continue  # a catalog row missing a dimension
            out[arch.gguf_arch] = with_gaps_filled(archs, name)
    return out


def test_every_tensor_name_is_one_llama_cpp_knows_for_its_architecture():
    """Names checked against the gguf package's per-architecture tensor lists."""
    representatives = _representatives()
    assert set(representatives) == set(supported_architectures())
    for gguf_arch, arch in representatives.items():
        known = _known_names(gguf_arch)
        for t in tensor_layout(arch, mtp=True):
            base = re.sub(r"\.(weight|bias|scale)$", "",
                          re.sub(r"^blk\.\d+\.", "blk.{bid}.", t.name))
            assert base in known, f"{arch.name}: {t.name} is not a {gguf_arch} tensor"


def test_llama_3_2_1b_has_its_published_parameter_count():
    """1,235,814,400 parameters (the safetensors header of meta-llama/Llama-3.2-1B) plus
    the 32 rope_freqs values (head_dim / 2) the converter adds for llama3 rope scaling."""
    layout = tensor_layout(catalog().get("Llama-3.2-1B"))
    assert sum(t.n_elements for t in layout) == 1_235_814_400 + 32
    assert "output.weight" not in {t.name for t in layout}  # tied embeddings


def test_mtp_layers_follow_what_published_files_hold():
    glm = with_gaps_filled(catalog(), "GLM-4.5-Air")
    assert any(t.mtp for t in tensor_layout(glm))  # the converter writes GLM's NextN layer
    assert not any(t.mtp for t in tensor_layout(glm, mtp=False))
    qwen = catalog().get("Qwen3.5-27B").model_copy(update={"mtp_layers": 1})
    assert not any(t.mtp for t in tensor_layout(qwen))  # only with --mtp
    mtp = [t for t in tensor_layout(qwen, mtp=True) if t.mtp]
    assert {t.layer for t in mtp} == {64} and any("nextn.eh_proj" in t.name for t in mtp)


def test_expert_tensors_are_marked():
    layout = tensor_layout(catalog().get("Qwen3-30B-A3B"))
    experts = [t for t in layout if t.is_expert]
    assert len(experts) == 48 * 3 and all(t.shape[2] == 128 for t in experts)


@pytest.mark.parametrize(("update", "message"), [
    ({"gguf_arch": "rwkv7"}, "no tensor layout for llama.cpp architecture 'rwkv7'"),
    ({"intermediate_size": None}, "intermediate_size is required"),
    ({"linear_num_value_heads": 0}, "an architecture field is missing or zero"),
])
def test_bad_architectures_are_named(update, message):
    arch = catalog().get("Qwen3.5-27B" if "linear" in str(update) else "Qwen3-8B")
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        tensor_layout(arch.model_copy(update=update))

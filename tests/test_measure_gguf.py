"""GGUF validation, read-back, F16 reference and quantization on a tiny random model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from measure_fixtures import tiny_gguf_fixture  # noqa: F401  (registers `tiny_gguf`)

from advisor.measure.gguf_files import read_gguf, write_f16_reference
from advisor.measure.quantize import plan_ladder, quantize_file
from advisor.vocabulary.errors import DataFileError, InvalidInputError, UnknownNameError


def _bad_file(kind: str, tmp_path: Path, source: Path) -> Path:
    path = tmp_path / f"{kind}.gguf"
    if kind == "text":
        path.write_text("this is not a model\n")
    elif kind == "truncated":
        data = source.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "header_only":
        path.write_bytes(source.read_bytes()[:64])
    return path


@pytest.mark.parametrize(("kind", "error", "match"), [
    ("missing", InvalidInputError, "does not exist"),
    ("text", DataFileError, "not a GGUF file"),
    ("truncated", DataFileError, "truncated"),
    ("header_only", DataFileError, "truncated|could not be read"),
])
def test_bad_files_are_named_in_the_error(kind, error, match, tmp_path, tiny_gguf):
    path = _bad_file(kind, tmp_path, tiny_gguf)
    with pytest.raises(error, match=match) as info:
        read_gguf(path)
    assert path.name in str(info.value)


def test_read_back_of_the_float_model(tiny_gguf):
    info = read_gguf(tiny_gguf)
    assert info.is_float and info.architecture == "llama"
    assert info.type_counts == {"F16": 16, "F32": 5}
    assert 15.0 < info.bpw < 16.5
    assert info.fallbacks("F16") == {}


@pytest.mark.parametrize(("quant", "main_type"), [
    ("Q8_0", "Q8_0"), ("Q6_K", "Q6_K"), ("Q4_K_M", "Q4_K"), ("Q2_K", "Q2_K"),
    ("IQ4_XS", "IQ4_XS"),
])
def test_quantize_builds_the_intended_mix(quant, main_type, tmp_path, tiny_gguf):
    info, seconds = quantize_file(tiny_gguf, quant, tmp_path / f"{quant}.gguf", threads=2)
    assert info.path.exists() and not list(tmp_path.glob("*.partial"))
    assert main_type in info.type_counts
    assert info.fallbacks(quant) == {}, info.fallback_note(quant)
    assert info.bpw < read_gguf(tiny_gguf).bpw and seconds > 0


def test_bits_per_weight_falls_down_the_ladder(tmp_path, tiny_gguf):
    bpw = [quantize_file(tiny_gguf, q, tmp_path / f"{q}.gguf", threads=2)[0].bpw
           for q in ("Q8_0", "Q5_K_M", "Q3_K_M", "Q2_K")]
    assert bpw == sorted(bpw, reverse=True)


def test_f16_reference_keeps_metadata_and_tokenizer(tmp_path, tiny_gguf):
    from gguf import GGUFReader

    q8, _ = quantize_file(tiny_gguf, "Q8_0", tmp_path / "q8.gguf", threads=2)
    ref = write_f16_reference(q8.path, tmp_path / "ref.gguf")
    assert ref.is_float and set(ref.tensor_types) == set(q8.tensor_types)
    a, b = GGUFReader(tiny_gguf), GGUFReader(ref.path)
    for key in ("tokenizer.ggml.tokens", "llama.block_count", "llama.embedding_length"):
        assert a.fields[key].contents() == b.fields[key].contents()
    assert b.fields["general.file_type"].contents() == 1


@pytest.mark.parametrize(("names", "build", "skipped"), [
    (["q8_0", "Q8_0", "q4_k_m"], ("Q8_0", "Q4_K_M"), set()),
    (["Q4_K", "IQ2_XXS"], ("Q4_K_M",), {"IQ2_XXS"}),
    (["F16", "Q2_K_S", "Q2_K"], ("Q2_K",), {"F16", "Q2_K_S"}),
])
def test_plan_ladder(names, build, skipped):
    plan = plan_ladder(names)
    assert plan.build == build and set(plan.skipped) == skipped
    assert all(plan.skipped.values())


def test_unknown_quant_suggests_the_close_name():
    with pytest.raises(UnknownNameError, match="Did you mean 'Q4_K_M'") as info:
        plan_ladder(["Q8_0", "Q4_K_MM"])
    assert info.value.parameter == "quants"


def test_copying_a_file_keeps_it_valid(tmp_path, tiny_gguf):
    copy = tmp_path / "copy.gguf"
    shutil.copy(tiny_gguf, copy)
    assert read_gguf(copy).n_params == read_gguf(tiny_gguf).n_params

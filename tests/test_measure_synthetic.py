"""Random-weight models with published shapes, speed-only ladders, and rows measured on a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from advisor.cli.measure import measure
from advisor.data.dataset import load_dataset
from advisor.measure import synthetic
from advisor.measure.gguf_files import read_gguf
from advisor.measure.llama_backend import RunConfig
from advisor.measure.rows import RowContext, device_columns, gpu_specs
from advisor.measure.synthetic import Shape, shape_for, write_synthetic
from advisor.vocabulary.errors import UnknownNameError
from advisor.vocabulary.schema import HardwareKind

TINY = Shape("Tiny-Test", hidden=256, layers=2, heads=4, kv_heads=2, ffn=512, vocab=320,
             context=4096, tied_embeddings=False, family="test")


@pytest.mark.parametrize(("name", "published_b"), [
    ("SmolLM2-135M-Instruct", 0.1345), ("Llama-3.2-1B", 1.236), ("Llama-3.2-3B", 3.213),
    ("Llama-3.1-8B", 8.030), ("Mistral-7B-v0.1", 7.242), ("Llama-2-13B", 13.016)])
def test_shapes_give_the_published_parameter_counts(name, published_b):
    assert shape_for(f"synthetic:{name}").n_params / 1e9 == pytest.approx(published_b, rel=2e-3)


def test_written_file_has_the_shape(tmp_path):
    pytest.importorskip("gguf")
    info = read_gguf(write_synthetic(TINY, tmp_path / "tiny.gguf"))
    assert info.n_params == TINY.n_params
    assert info.is_float and info.context_length == TINY.context
    assert info.name == "Tiny-Test (random weights)"


def test_unknown_shape_lists_the_choices():
    with pytest.raises(UnknownNameError, match="synthetic:Llama-3.1-8B"):
        shape_for("synthetic:llama-9b")


@pytest.fixture
def tiny_shape(monkeypatch):
    pytest.importorskip("llama_cpp")
    monkeypatch.setitem(synthetic.SHAPES, "tiny-test", TINY)


def _run(tmp: Path, *extra: str):
    args = ["--model", "synthetic:tiny-test", "--quants", "Q8_0", "--threads", "2",
            "--repeats", "1", "--tests", "pp32,tg8", "--out", str(tmp / "out"),
            "--work-dir", str(tmp / "work"), *extra]
    return CliRunner().invoke(measure, args)


def test_synthetic_ladder_is_speed_only_and_flagged(tiny_shape, tmp_path):
    result = _run(tmp_path, "--delete-quants")
    assert result.exit_code == 0, result.output
    assert "random weights with Tiny-Test's published shapes" in result.stdout
    data = load_dataset(tmp_path / "out")
    assert data.quality == []
    assert {(r.quant, r.test) for r in data.speed} == {
        ("F16", "pp32"), ("F16", "tg8"), ("Q8_0", "pp32"), ("Q8_0", "tg8")}
    assert all(r.flags == ["random_weights"] and r.model == "Tiny-Test" for r in data.speed)
    # the summary leaves quality columns empty instead of showing a reference's 0 KLD
    q8 = next(line for line in result.stdout.splitlines() if line.startswith("Q8_0"))
    assert q8.split()[-4:] == ["-", "-", "-", "-"]
    # --delete-quants: the quantized file is gone, the reference stays for the next run
    assert sorted(p.name for p in (tmp_path / "work" / "Tiny-Test").glob("*.gguf")) == [
        "synthetic-F16.gguf"]

    again = _run(tmp_path)
    assert again.exit_code == 0, again.output
    assert "resumed: kept earlier results for F16, Q8_0" in again.stderr


def test_resuming_on_other_settings_is_refused_and_keeps_the_rows(tiny_shape, tmp_path):
    assert _run(tmp_path).exit_code == 0
    before = (tmp_path / "out" / "Tiny-Test" / "F16.jsonl").read_bytes()
    result = CliRunner().invoke(measure, [
        "--model", "synthetic:tiny-test", "--quants", "Q8_0", "--threads", "1",
        "--repeats", "1", "--tests", "pp32,tg8", "--out", str(tmp_path / "out"),
        "--work-dir", str(tmp_path / "work")])
    assert result.exit_code != 0
    assert "with 0 GPU layers and 2 threads" in result.output
    assert "give another --out folder, or --force" in result.output
    assert (tmp_path / "out" / "Tiny-Test" / "F16.jsonl").read_bytes() == before


def _ctx(gpu_layers: int, gpus: list[dict]) -> RowContext:
    env = {"cpu_model": "Some CPU", "ram_mib": 65536, "copy_bandwidth_gbs": 20.0, "gpus": gpus}
    return RowContext(run_id="r", model="m", model_as_published="m", model_family="llama",
                      reference_quant="F16", reference_note="", environment=env,
                      config=RunConfig(threads=4, gpu_layers=gpu_layers), task_benchmark="t")


def test_gpu_rows_describe_the_gpu_with_datasheet_specs():
    h100 = {"name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559.0, "driver": "580"}
    cols = device_columns(_ctx(99, [h100]))
    assert cols["hardware"] == "NVIDIA H100 80GB HBM3"
    assert cols["hardware_kind"] is HardwareKind.GPU and cols["backend"] == "cuda"
    assert (cols["bandwidth_gbs"], cols["memory_gb"]) == (3350.0, 80.0)
    # the table cites only the H100's dense tensor-core rate (989.4) and speed rows carry the
    # vector FP16 rate, as the published H100 rows do: left empty rather than mixed
    assert cols["fp16_tflops"] is None
    # a GPU nobody lists: specs left empty (the row is kept, training skips it), memory from NVML
    other = device_columns(_ctx(99, [{**h100, "name": "Acme GPU 9000", "memory_mib": 4096}]))
    assert other["bandwidth_gbs"] is None and other["memory_gb"] == pytest.approx(4.294967296)


def test_cpu_rows_and_gpu_present_but_unused():
    gpu = {"name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559.0, "driver": "580"}
    for ctx in (_ctx(0, []), _ctx(0, [gpu]), _ctx(99, [])):
        cols = device_columns(ctx)
        assert cols["hardware"] == "Some CPU" and cols["backend"] == "cpu"
        assert cols["bandwidth_gbs"] == 20.0


def test_published_table_wins_over_the_datasheet_file():
    assert gpu_specs("NVIDIA H100 PCIe 80GB")["bandwidth_gbs"] == 2039.0
    assert gpu_specs("no such gpu") == {"memory_gb": None, "bandwidth_gbs": None,
                                        "fp16_tflops": None}


def test_llama_error_lines_are_kept_then_logged(caplog):
    from advisor.measure import llama_backend

    llama_backend._ERRORS.extend([b"first\n", b"second \xff\n"])
    assert llama_backend.pop_errors() == ["first", "second \ufffd"]
    assert llama_backend.pop_errors() == []
    assert "llama.cpp: first" in caplog.text


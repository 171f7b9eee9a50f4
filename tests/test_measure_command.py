"""``quant-advisor measure`` end to end on the tiny model: rows, resume, --force, --json,
--submit, bad input and a failing quant."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from measure_fixtures import tiny_gguf_fixture  # noqa: F401  (registers `tiny_gguf`)

from advisor.cli.measure import measure
from advisor.data.dataset import load_dataset
from advisor.measure import MeasurementError
from advisor.measure.rows import unsteady_tests

FAST = ["--threads", "2", "--repeats", "1", "--tests", "pp32,tg8", "--eval-chunks", "1",
        "--tasks-per-category", "2"]


def _args(model: Path, tmp: Path, quants: str, *extra: str) -> list[str]:
    return ["--model", str(model), "--quants", quants, "--out", str(tmp / "out"),
            "--work-dir", str(tmp / "work"), *FAST, *extra]


@pytest.fixture(scope="module")
def ladder(tiny_gguf, tmp_path_factory):
    """One finished ladder run (F16 reference + Q8_0 + Q4_K_M) shared by the tests below."""
    tmp = tmp_path_factory.mktemp("ladder")
    result = CliRunner().invoke(measure, _args(tiny_gguf, tmp, "Q8_0,q4_k_m,IQ2_XXS", "--json"))
    assert result.exit_code == 0, result.output
    return tmp, result


def test_rows_are_written_per_quant_and_load(ladder):
    tmp, result = ladder
    folder = tmp / "out" / "tiny-llama-test"
    assert sorted(p.name for p in folder.glob("*.jsonl")) == ["F16.jsonl", "Q4_K_M.jsonl",
                                                             "Q8_0.jsonl"]
    data = load_dataset(tmp / "out")
    assert {r.test for r in data.speed} == {"pp32", "tg8"}
    assert all(r.provenance.value == "measured" and r.source_id == "quant-advisor-measure"
               for r in [*data.speed, *data.quality])
    assert len({r.run_id for r in data.speed}) == 1
    speed = data.speed[0]
    assert speed.peak_rss_mib and speed.predicted_memory_mib and speed.load_time_s
    assert speed.environment["copy_bandwidth_gbs_before_tests"] > 0  # per file, not per run
    # what llama.cpp added to the worker: a tiny model's few MiB, not the copy benchmark's
    # 512 MiB of buffers (measured outside the worker so that they never count)
    added = speed.peak_rss_mib - speed.environment["rss_before_load_mib"]
    assert 0 < added < speed.predicted_memory_mib + 100
    assert speed.hardware == speed.environment["cpu_model"] and speed.backend == "cpu"
    assert speed.threads == 2 and speed.batch_size == 512 and speed.flash_attn is False
    kld = {r.quant: r.kld for r in data.quality if r.metric == "kl_divergence_mean"}
    assert 0 <= kld["Q8_0"] < kld["Q4_K_M"]
    ratios = {r.quant: r.ppl_ratio for r in data.quality if r.metric == "perplexity"}
    assert ratios["F16"] == 1.0 and set(ratios) == {"F16", "Q8_0", "Q4_K_M"}
    acc = [r for r in data.quality if r.metric == "accuracy"]
    assert {r.task_category for r in acc} == {"reasoning", "math", "coding", "knowledge",
                                              "language", "instruction_following"}
    rows = json.loads(result.stdout)
    assert len(rows) == len(data.speed) + len(data.quality)
    assert "skipped IQ2_XXS: needs an importance matrix" in result.stderr


def test_unsteady_speed_tests_are_named(ladder):
    tmp, result = ladder
    assert "varied by more than" not in result.stderr  # one repeat per test: nothing to compare
    speed = load_dataset(tmp / "out").speed[:2]
    steady = speed[0].model_copy(update={"raw_tokens_per_s": [100.0, 101.0, 99.0]})
    moved = speed[1].model_copy(update={"raw_tokens_per_s": [100.0, 80.0, 120.0]})
    one = speed[1].model_copy(update={"raw_tokens_per_s": [50.0]})
    assert unsteady_tests({"Q8_0": [steady, moved, one]}) == [f"Q8_0 {moved.test} 20.0%"]
    assert unsteady_tests({"Q8_0": [steady, moved]}, max_cv=0.25) == []


def test_rerun_resumes_and_force_redoes(ladder, tiny_gguf):
    tmp, _ = ladder
    q8 = tmp / "out" / "tiny-llama-test" / "Q8_0.jsonl"
    before = q8.read_text()
    again = CliRunner().invoke(measure, _args(tiny_gguf, tmp, "Q8_0,Q4_K_M"))
    assert again.exit_code == 0, again.output
    assert "resumed: kept earlier results for F16, Q8_0, Q4_K_M" in again.stderr
    assert q8.read_text() == before
    assert "Q4_K_M" in again.stdout and "PPL" in again.stdout  # summary table
    forced = CliRunner().invoke(measure, _args(tiny_gguf, tmp, "Q8_0", "--force"))
    assert forced.exit_code == 0, forced.output
    assert q8.read_text() != before


@pytest.mark.parametrize(("code", "message"), [(None, "could not connect"),
                                               (404, "answered 404"), (405, "answered 405")])
def test_submit_to_a_server_that_does_not_accept_measurements(ladder, tiny_gguf, code, message):
    tmp, _ = ladder
    url = "http://127.0.0.1:9"  # discard port: nothing listens
    server = None
    if code is not None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}"
    try:
        result = CliRunner().invoke(measure, _args(tiny_gguf, tmp, "Q8_0", "--submit", url))
    finally:
        if server:
            server.shutdown()
    assert result.exit_code == 1
    assert "does not accept measurements" in result.stderr and message in result.stderr
    assert (tmp / "out" / "tiny-llama-test" / "Q8_0.jsonl").exists()


def test_submit_to_an_accepting_server(ladder, tiny_gguf):
    tmp, _ = ladder
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = CliRunner().invoke(measure, _args(tiny_gguf, tmp, "Q8_0", "--submit",
                                                   f"http://127.0.0.1:{server.server_port}"))
    finally:
        server.shutdown()
    assert result.exit_code == 0, result.output
    assert received and all(r["provenance"] == "measured" for r in received[0]["rows"])


def _bad_model(kind: str, tmp: Path, tiny: Path) -> str:
    if kind == "missing":
        return str(tmp / "nope.gguf")
    if kind == "text":
        (tmp / "t.gguf").write_text("hello")
        return str(tmp / "t.gguf")
    if kind == "truncated":
        (tmp / "cut.gguf").write_bytes(tiny.read_bytes()[:5000])
        return str(tmp / "cut.gguf")
    return "smolm2-135m"  # misspelt demo name


@pytest.mark.parametrize(("kind", "quants", "message"), [
    ("missing", "Q8_0", "does not exist"),
    ("text", "Q8_0", "not a GGUF file"),
    ("truncated", "Q8_0", "truncated"),
    ("name", "Q8_0", "Did you mean"),
    ("ok", "Q4_K_XL", "unknown quant 'Q4_K_XL'"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(kind, quants, message, tmp_path,
                                                        tiny_gguf):
    model = str(tiny_gguf) if kind == "ok" else _bad_model(kind, tmp_path, tiny_gguf)
    result = CliRunner().invoke(measure, _args(Path(model), tmp_path, quants))
    assert result.exit_code == 1
    assert message in result.stderr
    assert not list((tmp_path / "out").rglob("*.jsonl")) if (tmp_path / "out").exists() else True


def test_quantized_input_is_refused_as_reference(tmp_path, tiny_gguf):
    from advisor.measure.quantize import quantize_file

    q8, _ = quantize_file(tiny_gguf, "Q8_0", tmp_path / "q8.gguf", threads=2)
    result = CliRunner().invoke(measure, _args(q8.path, tmp_path, "Q4_K_M"))
    assert result.exit_code == 1 and "must be an F32/F16/BF16 GGUF" in result.stderr


def test_a_failing_quant_is_reported_and_leaves_no_row(ladder, tiny_gguf, monkeypatch):
    from advisor.measure import ladder as ladder_module

    tmp, _ = ladder

    def broken(reference, quant, dst, *, threads):
        raise MeasurementError(f"quantizing {reference} to {quant} failed: simulated")

    monkeypatch.setattr(ladder_module, "quantize_file", broken)
    result = CliRunner().invoke(measure, _args(tiny_gguf, tmp, "Q8_0,Q5_K_M"))
    assert result.exit_code == 1
    assert "FAILED Q5_K_M" in result.stderr and "simulated" in result.stderr
    assert not (tmp / "out" / "tiny-llama-test" / "Q5_K_M.jsonl").exists()


def test_not_enough_memory_stops_before_measuring(tmp_path, tiny_gguf, monkeypatch):
    import psutil

    class Tiny:
        available = 1 * 2**20
        total = 2**30

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tiny())
    result = CliRunner().invoke(measure, _args(tiny_gguf, tmp_path, "Q8_0"))
    assert result.exit_code == 1 and "not enough free memory to measure" in result.stderr
    assert not list(tmp_path.rglob("*.jsonl"))

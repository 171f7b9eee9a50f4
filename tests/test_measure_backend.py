"""Speed tests (llama-bench style), quality against a reference, memory prediction, with the
tiny model in this process (the ladder tests cover the subprocess path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from measure_fixtures import tiny_gguf_fixture  # noqa: F401  (registers `tiny_gguf`)

from advisor.measure import quality
from advisor.measure.environment import check_free_ram
from advisor.measure.llama_backend import LlamaSession, RunConfig
from advisor.measure.quantize import quantize_file
from advisor.measure.speed import context_for, run_test
from advisor.measure.task_suites import build_suites
from advisor.recommender.file_memory import predicted_memory_mib
from advisor.vocabulary.errors import NothingFitsError


@pytest.fixture(scope="module")
def session(tiny_gguf):
    with LlamaSession(tiny_gguf, RunConfig(threads=2, batch_size=64), n_ctx=256) as s:
        yield s


@pytest.mark.parametrize(("tests", "context"), [
    (["pp512"], 512), (["pp512", "tg128"], 512), (["tg128@d2048", "pp512"], 2176),
])
def test_context_for(tests, context):
    assert context_for(tests) == context


@pytest.mark.parametrize("test", ["pp64", "tg8", "tg8@d32", "pp16+tg4"])
def test_speed_runs_keep_raw_values(session, test):
    result = run_test(session, test, repeats=2)
    assert len(result.raw_tokens_per_s) == 2 and min(result.raw_tokens_per_s) > 0
    assert result.stdev >= 0 and result.median > 0 and result.cv >= 0


def test_speed_test_larger_than_the_context_is_refused(session):
    with pytest.raises(ValueError, match="needs a context of 320"):
        run_test(session, "pp64@d256", repeats=1)


def test_decode_returns_logits_only_where_asked(session):
    tokens = session.tokenize("The Answer is a test of the model.", add_bos=True)
    session.clear()
    all_rows = session.decode(tokens, 0, out_from=0)
    session.clear()
    last = session.decode(tokens, 0)
    session.clear()
    assert session.decode(tokens, 0, out_from=len(tokens)) is None
    assert all_rows.shape == (len(tokens), session.n_vocab)
    np.testing.assert_allclose(last[0], all_rows[-1], rtol=1e-3, atol=1e-3)


def test_quality_of_the_reference_against_itself_and_a_quant(tmp_path, tiny_gguf):
    npz = tmp_path / "ref.npz"
    config = RunConfig(threads=2)
    with LlamaSession(tiny_gguf, config, n_ctx=512) as ref:
        chunks = quality.chunk_tokens(ref, quality.eval_text(), 512, 2)
        stats = quality.reference_pass(ref, chunks, npz)
        same = quality.compare_pass(ref, npz)
    assert len(chunks) == 2 and all(c[0] == 1 for c in chunks)  # BOS first, as llama-perplexity
    assert stats["ppl"] > 1 and same.n_tokens == 2 * 255
    assert same.kld_mean < 1e-4 and same.top1_agreement == 1.0
    assert abs(same.ln_ppl_ratio) < 1e-4
    q2, _ = quantize_file(tiny_gguf, "Q2_K", tmp_path / "q2.gguf", threads=2)
    with LlamaSession(q2.path, config, n_ctx=512) as q:
        worse = quality.compare_pass(q, npz)
        picks = quality.choose_answers(q, build_suites(3, 2))
    assert worse.kld_mean > same.kld_mean and worse.kld_p99 >= worse.kld_median
    assert worse.top1_agreement < 1.0
    assert len(picks) == 12 and all(0 <= p < 4 for p in picks)


def test_predicted_memory_grows_with_context(tiny_gguf):
    small = predicted_memory_mib(tiny_gguf, context=512, batch=512, flash_attn=False, isa=[])
    large = predicted_memory_mib(tiny_gguf, context=4096, batch=512, flash_attn=False, isa=[])
    assert small is not None and large is not None and large > small > 0


def test_no_prediction_for_a_context_the_model_cannot_hold(tiny_gguf, caplog):
    assert predicted_memory_mib(tiny_gguf, context=10**6, batch=512, flash_attn=False, isa=[]) is None
    assert "no memory prediction" in caplog.text


@pytest.mark.parametrize(("needed", "available", "fits"), [(100, 200, True), (300, 200, False)])
def test_free_ram_check(needed, available, fits, tmp_path):
    path = Path(tmp_path / "m.gguf")
    if fits:
        check_free_ram(path, needed, available)
    else:
        with pytest.raises(NothingFitsError, match="m.gguf: needs about 300 MiB") as info:
            check_free_ram(path, needed, available)
        assert info.value.smallest_budget_bytes == 300 * 2**20


def test_peak_rss_is_this_process_not_its_parent():
    import multiprocessing

    from advisor.measure.worker import _peak_rss_mib

    ballast = bytearray(300 * 2**20)  # the parent grows by 300 MiB ...
    ballast[::4096] = b"x" * len(ballast[::4096])
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        child = pool.apply(_peak_rss_mib)
    assert _peak_rss_mib() > 300 and child < _peak_rss_mib() - 200  # ... the child does not

"""What the ranking takes from the fitted predictors beside retention: capability per model and
mode (the fitted capability table), the KV cache type's cost, and the default GPU share of a
unified memory."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shipped_capability

from advisor.recommender.candidates import CacheQuality
from advisor.recommender.capability import fitted_mode
from advisor.vocabulary.errors import NothingFitsError

MAC = "Apple M2 Pro (19-core GPU, 32GB)"
GIB = 2**30


def test_rows_take_their_mode_s_capability(fake_advisor):
    """A hybrid model's thinking and non-thinking rows carry the capability fitted for that
    mode; gpt-oss's thinking and non-thinking rows are its high and low reasoning effort."""
    cols, table = fake_advisor.table.arrays, shipped_capability()
    for model, mode, fitted in [("Qwen3-8B", "thinking", "thinking"),
                                ("Qwen3-8B", "non-thinking", "non-thinking"),
                                ("gpt-oss-20b", "thinking", "high"),
                                ("gpt-oss-20b", "non-thinking", "low")]:
        assert fitted_mode(fake_advisor.catalog.get(model), mode) == fitted
        i = np.flatnonzero((cols["model"] == model) & (cols["mode"] == mode))[0]
        score = table[(model, fitted)]["math"]
        assert cols["cap:math"][i] == score.value
        assert cols["cap_low:math"][i] <= score.value <= cols["cap_high:math"][i]
        assert score.anchor in cols["cap_src:math"][i]
    think = table[("Qwen3-8B", "thinking")]["math"].value
    assert think > table[("Qwen3-8B", "non-thinking")]["math"].value


def test_the_quality_interval_holds_the_capability_s(fake_advisor):
    rec = fake_advisor.recommend(vram="24GB", task="reasoning")
    cap = rec.pick.capability_by_task["reasoning"]
    assert cap.low is not None and cap.low < cap.value < cap.high
    q = rec.pick.quality_score
    assert q.low <= q.value <= q.high and q.high - q.low >= (cap.high - cap.low) * 0.9


def test_a_quantized_kv_cache_costs_every_candidate_its_factor(fake_advisor, monkeypatch):
    cost = CacheQuality(0.9, 0.8, 0.95, "predicted", "test: q4_0 vs f16")
    monkeypatch.setitem(fake_advisor.table.cache_quality, "q4_0", cost)
    kw = {"vram": "200GB", "task": "coding", "models": ["Qwen3-8B"], "mode": "thinking"}
    full = fake_advisor.recommend(cache_type="f16", **kw)
    cheap = fake_advisor.recommend(cache_type="q4_0", **kw)
    assert full.kv_cache_quality is None or full.kv_cache_quality.value == 1.0
    assert cheap.kv_cache_quality is not None and cheap.kv_cache_quality.value == 0.9
    same = next(c for c in [cheap.pick, *cheap.alternatives] if c.quant == full.pick.quant)
    assert same.quality_score.value == pytest.approx(0.9 * full.pick.quality_score.value)
    assert same.retention.value == pytest.approx(0.9 * full.pick.retention.value)
    # the per-task figures are the weights' own; the answer says what the cache costs
    assert same.quality_by_task["coding"].value == pytest.approx(
        full.pick.quality_by_task["coding"].value)
    assert any("q4_0 KV cache" in n and "x 0.900" in n for n in cheap.notes)


def test_a_cache_type_nobody_priced_is_said_to_cost_nothing(fake_advisor, monkeypatch):
    monkeypatch.delitem(fake_advisor.table.cache_quality, "q8_0", raising=False)
    rec = fake_advisor.recommend(vram="24GB", cache_type="q8_0")
    assert rec.kv_cache_quality is None
    assert any("no published rows price a q8_0 KV cache" in n for n in rec.notes)


def test_a_32gb_mac_is_held_to_the_gpu_s_default_share(fake_advisor):
    """macOS lets the GPU wire 2/3 of a 32 GB Mac (21.33 GiB): nothing above it is picked, and
    the answer says why and how to raise it."""
    rec = fake_advisor.recommend(vram="32GB", task="instruction_following", hardware=MAC,
                                 alternatives=20)
    limit = int(32 * GIB * 2 / 3)
    assert rec.request.gpu_limit_bytes == limit and rec.request.budget_bytes == limit
    assert all(c.memory.total_bytes <= limit for c in [rec.pick, *rec.alternatives])
    note = next(n for n in rec.notes if "may use by default" in n)
    assert "iogpu.wired_limit_mb" in note and "2/3" in note
    smaller = fake_advisor.recommend(vram="16GB", task="instruction_following", hardware=MAC)
    assert not any("may use by default" in n for n in smaller.notes)


def test_unified_memory_is_not_offloaded_to(fake_advisor):
    rec = fake_advisor.recommend(vram="32GB", hardware=MAC, ram="32GB")
    assert rec.pick.placement is None
    assert any("ram is not used on unified memory" in n for n in rec.notes)


def test_a_cpu_is_not_offloaded_to(fake_advisor):
    """On a CPU the model already runs from RAM: ram would count that memory twice."""
    alone = fake_advisor.recommend(vram="8GB", hardware_kind="cpu", bandwidth_gbs=89.6,
                                   alternatives=20)
    rec = fake_advisor.recommend(vram="8GB", hardware_kind="cpu", bandwidth_gbs=89.6,
                                 ram="64GB", alternatives=20)
    assert all(c.placement is None and c.memory.total_bytes <= 8e9
               for c in [rec.pick, *rec.alternatives])
    assert [(c.model, c.quant) for c in rec.alternatives] == [
        (c.model, c.quant) for c in alone.alternatives]
    assert any("ram is not used on a CPU" in n for n in rec.notes)


def test_nothing_fits_names_the_gpu_share(fake_advisor):
    with pytest.raises(NothingFitsError, match=r"its GPU may use by default"):
        fake_advisor.recommend(vram="1TB", hardware=MAC, hardware_memory_gb=0.3)


def test_a_mac_named_without_its_memory_takes_vram_as_its_memory(fake_advisor):
    """A Mac given by kind and bandwidth (or a chip sold in several memory sizes) with
    vram=64GB is a 64 GB Mac: its GPU may wire 3/4 of it, 48 GiB."""
    rec = fake_advisor.recommend(vram="64GB", task="instruction_following",
                                 hardware_kind="apple", bandwidth_gbs=546.0)
    assert rec.request.gpu_limit_bytes == rec.request.budget_bytes == int(64 * GIB * 3 / 4)
    assert any("may use by default" in n and "3/4" in n for n in rec.notes)

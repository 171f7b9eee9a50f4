"""Several identical GPUs (llama.cpp --split-mode layer): the count on the name or `devices`,
memory per device, what fits each card, and speed figures per device count."""

import numpy as np
import pytest

from advisor.vocabulary.errors import InvalidInputError, NothingFitsError


def _by_quant(rec):
    return {c.quant: c for c in [rec.pick, *rec.alternatives]}


@pytest.mark.parametrize("kwargs", [{"hardware": "RTX 3090 x2"}, {"hardware": "2x rtx 3090"},
                                    {"hardware": "rtx 3090", "devices": 2},
                                    {"hardware": "RTX 3090 x2", "devices": 2}])
def test_several_gpus_reach_the_query_and_the_echo(fake_advisor, kwargs):
    query = fake_advisor.parse_query(vram="48GB", **kwargs)
    assert query.n_devices == 2 and query.hardware.n_devices == 2
    rec = fake_advisor.rank(query)
    assert (rec.request.hardware, rec.request.n_devices) == ("NVIDIA GeForce RTX 3090 x2", 2)
    assert rec.pick.speed["tg128"].source.endswith(" on NVIDIA GeForce RTX 3090 x2")
    one = fake_advisor.recommend(vram="48GB", hardware="rtx 3090")
    assert one.request.n_devices is None and fake_advisor.parse_query(
        vram="48GB", hardware="rtx 3090", devices=1).n_devices == 1
    assert fake_advisor.recommend(vram="48GB").request.n_devices is None


def test_several_gpus_memory_has_an_overhead_and_compute_buffer_per_device(fake_advisor):
    kw = {"vram": "100GB", "models": ["Llama-3.1-8B"], "alternatives": 30}
    one = _by_quant(fake_advisor.recommend(hardware="rtx 3090", **kw))
    for n in (2, 4):
        many = _by_quant(fake_advisor.recommend(hardware=f"rtx 3090 x{n}", **kw))
        for quant, c in many.items():
            m, s = c.memory, one[quant].memory
            assert (m.weights_bytes, m.kv_cache_bytes) == (s.weights_bytes, s.kv_cache_bytes)
            assert m.overhead_bytes == n * s.overhead_bytes
            assert m.compute_buffer_bytes == n * s.compute_buffer_bytes
            assert m.total_bytes == s.total_bytes + (n - 1) * (s.overhead_bytes
                                                               + s.compute_buffer_bytes)
            assert any(a.startswith(f"{n} devices (llama.cpp layer split)")
                       for a in m.assumptions)


def test_each_gpus_share_must_fit_one_gpu(fake_advisor):
    """Two 24 GB cards and a 60 GB budget: Llama-3.1-70B at Q5_K_M (52.5 GB in all) is within
    the budget, but each card would hold 26 GB, so it does not fit; Q4_K_M (46 GB, 23 GB each)
    does. One card holds the whole total: nothing above its 24 GB fits, whatever the budget,
    and the answer says the budget was more than the card has."""
    from advisor.recommender.charts import chart_points
    from advisor.recommender.memory import per_device_bytes

    advisor = fake_advisor
    kw = {"vram": "60GB", "models": ["Llama-3.1-70B"], "alternatives": 30}
    query = advisor.parse_query(hardware="RTX 3090 x2", **kw)
    rec = advisor.rank(query)
    fitting = [c for c in [rec.pick, *rec.alternatives] if c.fits]
    assert fitting and rec.pick.fits
    assert all(per_device_bytes(c.memory.total_bytes, 2) <= 24e9 for c in fitting)
    points = chart_points(advisor, query).set_index("quant")
    q5 = points.loc["Q5_K_M"]
    assert 48e9 < q5["total_bytes"] <= 60e9 and not q5["fits"]      # budget yes, each card no
    assert points.loc["Q4_K_M", "fits"] and points.loc["Q4_K_M", "total_bytes"] <= 48e9
    assert rec.pick.quant not in {q for q, ok in points["fits"].items() if not ok}
    assert points["fits"].sum() == rec.candidates_fitting
    # one card holds it all: 24 GB, not the 60 GB budget
    single = chart_points(advisor, advisor.parse_query(hardware="RTX 3090", **kw))
    assert (single["fits"] == (single["total_bytes"] <= 24e9)).all()
    assert not single.set_index("quant").loc["Q5_K_M", "fits"]  # within 60 GB, not 24 GB
    one = advisor.parse_query(hardware="RTX 3090", **{**kw, "models": None, "alternatives": 5})
    every = chart_points(advisor, one)
    assert every["fits"].any() and (every["fits"] == (every["total_bytes"] <= 24e9)).all()
    answer = advisor.rank(one)
    assert answer.pick.memory.total_bytes <= 24e9
    assert answer.request.budget_bytes == 24 * 10**9 and answer.request.budget == "60GB"
    assert any("vram 60GB is more than the 24 GB of" in n for n in answer.notes)
    # the same with a device memory given: two 20 GB cards under a 48 GB budget
    small = chart_points(advisor, advisor.parse_query(
        hardware="RTX 3090 x2", hardware_memory_gb=20, **{**kw, "vram": "48GB"}))
    assert (small["fits"] == ((small["total_bytes"] <= 48e9)
                              & (-(-small["total_bytes"] // 2) <= 20e9))).all()
    assert (~small["fits"] & (small["total_bytes"] <= 48e9)).any()


def test_nothing_fits_on_the_gpus_says_so(fake_advisor):
    with pytest.raises(NothingFitsError, match=r"nothing fits 2 devices of 500 MB \(NVIDIA "
                       r"GeForce RTX 3090 x2\) at context 4096: with the layers split over "
                       r"them, the smallest candidate, .* needs .* on each") as err:
        fake_advisor.recommend(vram="500GB", hardware="rtx 3090 x2", hardware_memory_gb=0.5)
    assert err.value.smallest_budget_bytes is None  # a larger budget would not help
    with pytest.raises(NothingFitsError, match=r"nothing fits the 500 MB of NVIDIA GeForce "
                       r"RTX 3090 at context 4096: the smallest candidate, .* needs") as err:
        fake_advisor.recommend(vram="500GB", hardware="rtx 3090", hardware_memory_gb=0.5)
    assert err.value.smallest_budget_bytes is None
    with pytest.raises(NothingFitsError, match="give vram of at least") as err:
        fake_advisor.recommend(vram="0.1GB", hardware="rtx 3090 x2")
    assert err.value.smallest_budget_bytes is not None


@pytest.mark.parametrize(("kwargs", "parameter", "match"), [
    ({"hardware": "Apple M2 Pro x2"}, "hardware", "only discrete GPUs"),
    ({"hardware": "RTX 3090 x17"}, "hardware", "asks for 17 devices"),
    ({"hardware": "rtx 3090", "devices": 17}, "devices", "devices must be a whole number"),
    ({"hardware": "rtx 3090", "devices": 0}, "devices", "devices must be a whole number"),
    ({"hardware": "rtx 3090 x2", "devices": 3}, "devices", "disagrees"),
    ({"devices": 2}, "devices", "devices needs the hardware"),
    ({"hardware": "My box", "hardware_kind": "cpu", "bandwidth_gbs": 80,
      "hardware_memory_gb": 64, "devices": 2}, "devices", "only discrete GPUs"),
])
def test_bad_device_counts(fake_advisor, kwargs, parameter, match):
    with pytest.raises(InvalidInputError, match=match) as err:
        fake_advisor.parse_query(vram="48GB", **kwargs)
    assert err.value.parameter == parameter


def test_the_speed_predictor_gets_the_device_count():
    from thread_fixtures import threaded_advisor

    advisor, speed = threaded_advisor()
    for hardware, n in (("rtx 3090", 1.0), ("rtx 3090 x2", 2.0), ("4x rtx 3090", 4.0)):
        speed.frames.clear()
        advisor.recommend(vram="96GB", hardware=hardware, models=["Llama-3.1-8B"])
        assert len(speed.frames) == 2  # pp512 and tg128: each count has its own cache entry
        for frame in speed.frames:
            assert frame["n_devices"].dtype == float
            np.testing.assert_array_equal(frame["n_devices"].to_numpy(), np.full(len(frame), n))
            # one device's name and specs: what the predictor's device terms are keyed by
            assert set(frame["hardware"]) == {"NVIDIA GeForce RTX 3090"}
            assert set(frame["memory_gb"]) == {24}
    speed.frames.clear()
    advisor.recommend(vram="96GB", hardware="rtx 3090", devices=2, models=["Llama-3.1-8B"])
    assert speed.frames == []  # the same question as "rtx 3090 x2": cached


def test_a_multi_gpu_figure_answers_only_its_own_device_count(fake_predictors):
    """Published speeds of layers split over 2 GPUs answer a question about 2 of them; a single
    card's figure answers only a question about one, and other counts are predicted."""
    from conftest import HARDWARE

    from advisor.data.catalog import load_catalog
    from advisor.data.dataset import Dataset
    from advisor.recommender.advisor import Advisor
    from advisor.vocabulary.schema import SpeedRow

    base = {"model": "Llama-3.1-8B", "model_as_published": "Llama-3.1-8B", "quant": "Q4_K_M",
            "quant_as_published": "Q4_K_M", "source_id": "bench_gpu",
            "hardware": "NVIDIA GeForce RTX 3090", "hardware_kind": "gpu", "backend": "cuda",
            "test": "tg128"}
    data = Dataset(speed=[SpeedRow(**base, tokens_per_s=120.0),
                          SpeedRow(**base, n_devices=2, tokens_per_s=101.0),
                          SpeedRow(**base, n_devices=2, tokens_per_s=99.0),
                          SpeedRow(**base, n_devices=4, tokens_per_s=80.0)])
    advisor = Advisor(load_catalog(), fake_predictors, data, dict(HARDWARE))

    def tg(hardware, **kw):
        rec = advisor.recommend(vram="96GB", models=["Llama-3.1-8B"], hardware=hardware,
                                alternatives=30, **kw)
        return _by_quant(rec)["Q4_K_M"].speed["tg128"]

    assert (tg("rtx 3090").value, tg("rtx 3090").provenance) == (120.0, "published")
    assert (tg("rtx 3090 x2").value, tg("rtx 3090 x2").provenance) == (100.0, "published")
    assert (tg("rtx 3090", devices=2).value, tg("2x rtx 3090").source) == (
        100.0, "bench_gpu on NVIDIA GeForce RTX 3090 x2")
    assert (tg("rtx 3090 x4").value, tg("rtx 3090 x4").provenance) == (80.0, "published")
    assert tg("rtx 3090 x3").provenance == "predicted"
    assert tg("rtx 3090 x8").provenance == "predicted"


def test_a_figure_faster_than_the_device_allows_answers_nothing(fake_predictors):
    """A published tg128 that would read the weights 20x faster than the card's bandwidth is a
    failed run: the figure is not shown, the prediction is."""
    from conftest import HARDWARE

    from advisor.data.catalog import load_catalog
    from advisor.data.dataset import Dataset
    from advisor.recommender.advisor import Advisor
    from advisor.vocabulary.schema import SpeedRow

    base = {"model": "Llama-3.1-8B", "model_as_published": "Llama-3.1-8B", "quant": "Q4_K_M",
            "quant_as_published": "Q4_K_M", "source_id": "bench_gpu", "params_b": 8.03,
            "hardware": "NVIDIA GeForce RTX 3090", "hardware_kind": "gpu", "backend": "cuda",
            "bandwidth_gbs": 935.8}

    def tg(tokens_per_s):
        data = Dataset(speed=[SpeedRow(**base, test="tg128", tokens_per_s=tokens_per_s)])
        rec = Advisor(load_catalog(), fake_predictors, data, dict(HARDWARE)).recommend(
            vram="96GB", models=["Llama-3.1-8B"], hardware="rtx 3090", alternatives=30)
        return _by_quant(rec)["Q4_K_M"].speed["tg128"]

    assert (tg(120.0).value, tg(120.0).provenance) == (120.0, "published")
    assert tg(4000.0).provenance == "predicted" and tg(4000.0).value < 1000


def test_module_level_recommend_takes_devices(fake_advisor, monkeypatch):
    from advisor.recommender import advisor as recommend_module

    monkeypatch.setattr(recommend_module, "_default_advisor", lambda: fake_advisor)
    rec = recommend_module.recommend("48GB", "reasoning", hardware="rtx 3090", devices=2)
    assert (rec.request.hardware, rec.request.n_devices) == ("NVIDIA GeForce RTX 3090 x2", 2)
    with pytest.raises(InvalidInputError, match="devices needs the hardware"):
        recommend_module.recommend("48GB", devices=2)

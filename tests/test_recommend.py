import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from advisor.errors import InvalidInputError, NothingFitsError, UnknownNameError
from advisor.recommend import TIE_POINTS
from advisor.tasks import CATEGORIES
from advisor.units import GB

MIXES = st.dictionaries(st.sampled_from(["reasoning", "math", "knowledge"]), st.integers(1, 5),
                        min_size=1).map(lambda d: ",".join(f"{k}:{v}" for k, v in d.items()))
FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(budget=st.floats(1.5, 400), task=MIXES, context=st.sampled_from([512, 4096, 32768]))
def test_pick_always_fits_the_budget(fake_advisor, budget, task, context):
    try:
        rec = fake_advisor.recommend(vram=budget, task=task, context=context)
    except NothingFitsError as e:
        assert e.smallest_budget_bytes > budget * GB
        return
    assert rec.pick.fits
    assert rec.pick.memory.total_bytes <= budget * GB
    assert all(a.memory.total_bytes <= budget * GB for a in rec.alternatives)
    m = rec.pick.memory
    assert m.total_bytes == (m.weights_bytes + m.kv_cache_bytes + m.compute_buffer_bytes
                             + m.overhead_bytes)


@FAST
@given(small=st.floats(2, 200), extra=st.floats(0, 200), task=MIXES)
def test_larger_budget_never_lowers_the_picks_quality(fake_advisor, small, extra, task):
    try:
        low = fake_advisor.recommend(vram=small, task=task)
    except NothingFitsError:
        return
    high = fake_advisor.recommend(vram=small + extra, task=task)
    assert high.pick.quality_score.value >= low.pick.quality_score.value - TIE_POINTS


def test_near_ties_go_to_the_smaller_footprint(fake_advisor):
    rec = fake_advisor.recommend(vram="200GB", models=["Qwen3-8B"], alternatives=30)
    best = max(c.quality_score.value for c in [rec.pick, *rec.alternatives])
    assert rec.pick.quality_score.value >= best - TIE_POINTS
    tied = [c for c in rec.alternatives if c.quality_score.value >= best - TIE_POINTS]
    assert all(c.memory.total_bytes >= rec.pick.memory.total_bytes for c in tied)
    assert rec.pick.quant != "BF16"


def test_every_field_is_there(fake_advisor):
    rec = fake_advisor.recommend(vram="24GB", task="reasoning:0.7,math:0.3",
                                 hardware="NVIDIA GeForce RTX 3090")
    pick = rec.pick
    assert set(pick.quality_by_task) == {"reasoning", "math"}
    assert set(pick.speed) == {"pp512", "tg128"}
    assert pick.speed["tg128"].low <= pick.speed["tg128"].value <= pick.speed["tg128"].high
    assert pick.retention_by_task["math"].provenance in {"predicted", "published", "measured"}
    assert pick.capability_by_task["reasoning"].source
    assert rec.pareto_front and rec.explanation.startswith(pick.model)
    assert rec.request.task_mix == {"reasoning": 0.7, "math": pytest.approx(0.3)}
    fronts = [p.total_bytes for p in rec.pareto_front]
    assert fronts == sorted(fronts)
    scores = [p.quality_score for p in rec.pareto_front]
    assert scores == sorted(scores)


def test_nothing_fits_names_the_smallest_budget(fake_advisor):
    with pytest.raises(NothingFitsError) as err:
        fake_advisor.recommend(vram="50MB", task="reasoning")
    assert err.value.smallest_budget_bytes > 50e6
    assert "give vram of at least" in str(err.value)


def test_family_and_model_filters(fake_advisor):
    rec = fake_advisor.recommend(vram="24GB", family="Qwen3")
    assert rec.pick.family == "Qwen3"
    rec = fake_advisor.recommend(vram="24GB", models=["qwen3-8b"])
    assert rec.pick.model == "Qwen3-8B"
    assert {a.model for a in rec.alternatives} <= {"Qwen3-8B"}


def test_min_tokens_filter_and_its_errors(fake_advisor):
    rec = fake_advisor.recommend(vram="24GB", hardware="rtx 3090", min_tokens_per_s=100)
    assert rec.pick.speed["tg128"].value >= 100
    with pytest.raises(InvalidInputError, match="needs the hardware"):
        fake_advisor.recommend(vram="24GB", min_tokens_per_s=100)
    with pytest.raises(NothingFitsError, match="fastest"):
        fake_advisor.recommend(vram="24GB", hardware="rtx 3090", min_tokens_per_s=1e7)


def test_hardware_by_specs(fake_advisor):
    rec = fake_advisor.recommend(vram="16GB", hardware="My box", hardware_kind="gpu",
                                 bandwidth_gbs=500)
    assert rec.request.hardware == "My box"
    assert rec.pick.speed["tg128"].value > 0


@pytest.mark.parametrize("kwargs, error, parameter", [
    ({"vram": "lots"}, InvalidInputError, "vram"),
    ({"vram": "24GB", "task": "poetry"}, UnknownNameError, "task"),
    ({"vram": "24GB", "context": 10}, InvalidInputError, "context"),
    ({"vram": "24GB", "cache_type": "q2"}, InvalidInputError, "cache_type"),
    ({"vram": "24GB", "family": "Nope"}, UnknownNameError, None),
    ({"vram": "24GB", "models": ["gpt-5"]}, UnknownNameError, None),
    ({"vram": "24GB", "hardware": "toaster"}, UnknownNameError, None),
    ({"vram": "24GB", "alternatives": -1}, InvalidInputError, "alternatives"),
])
def test_bad_input(fake_advisor, kwargs, error, parameter):
    with pytest.raises(error) as err:
        fake_advisor.recommend(**kwargs)
    if parameter:
        assert err.value.parameter == parameter


def test_longer_context_costs_memory(fake_advisor):
    a = fake_advisor.recommend(vram="24GB", models=["Llama-3.1-8B"], context=2048)
    b = fake_advisor.recommend(vram="24GB", models=["Llama-3.1-8B"], context=32768)
    assert b.pick.memory.kv_cache_bytes > a.pick.memory.kv_cache_bytes


def test_all_categories_are_rankable(fake_advisor):
    for category in CATEGORIES:
        assert fake_advisor.recommend(vram="80GB", task=category).pick.model


def test_published_figures_replace_predictions(fake_predictors):
    from conftest import HARDWARE

    from advisor.catalog import load_catalog
    from advisor.dataset import Dataset
    from advisor.recommend import Advisor
    from advisor.schema import MetricKind, QualityRow, SpeedRow

    base = {"model": "Llama-3.1-8B", "model_as_published": "Llama-3.1-8B", "quant": "Q4_K_M",
            "quant_as_published": "Q4_K_M"}
    data = Dataset(
        quality=[QualityRow(**base, source_id="paper_a", metric="arc", value=0.5,
                            metric_kind=MetricKind.ACCURACY, task_category="reasoning",
                            retention=0.9),
                 QualityRow(**base, source_id="paper_b", metric="bbh", value=0.5,
                            metric_kind=MetricKind.ACCURACY, task_category="reasoning",
                            retention=0.8)],
        speed=[SpeedRow(**base, source_id="bench_x", hardware="NVIDIA GeForce RTX 3090",
                        backend="cuda", test="tg128", tokens_per_s=v) for v in (100.0, 120.0, 130.0)])
    advisor = Advisor(load_catalog(), fake_predictors, data, dict(HARDWARE))
    rec = advisor.recommend(vram="24GB", models=["Llama-3.1-8B"], hardware="rtx 3090",
                            alternatives=30)
    cand = next(c for c in [rec.pick, *rec.alternatives] if c.quant == "Q4_K_M")
    ret = cand.retention_by_task["reasoning"]
    assert (ret.value, ret.provenance, ret.source) == (pytest.approx(0.85), "published",
                                                       "paper_a,paper_b")
    tg = cand.speed["tg128"]
    assert (tg.value, tg.provenance) == (120.0, "published") and tg.low is None
    other = next(c for c in [rec.pick, *rec.alternatives] if c.quant == "Q8_0")
    assert other.retention_by_task["reasoning"].provenance == "predicted"


def test_cpu_hardware_uses_the_host_memory_model(fake_advisor):
    """On a CPU the weights live in host RAM: no GPU runtime allowance (CUDA context, cuBLAS
    workspace), so the same file needs less memory than on a GPU with the same specs."""
    kw = {"vram": "64GB", "hardware": "My box", "bandwidth_gbs": 80, "hardware_memory_gb": 64}
    cpu = fake_advisor.parse_query(hardware_kind="cpu", **kw)
    gpu = fake_advisor.parse_query(hardware_kind="gpu", **kw)
    assert (cpu.runtime, gpu.runtime) == ("cpu", "gpu")
    assert fake_advisor.parse_query(vram="64GB").runtime == "gpu"
    on_cpu = fake_advisor.table.memory(cpu.context, cpu.cache_type, cpu.runtime)
    on_gpu = fake_advisor.table.memory(gpu.context, gpu.cache_type, gpu.runtime)
    assert (on_cpu["overhead_bytes"] < on_gpu["overhead_bytes"]).all()
    assert (on_cpu["total_bytes"] < on_gpu["total_bytes"]).all()
    rec = fake_advisor.rank(cpu)
    picked = on_cpu.loc[(fake_advisor.table.frame["model"] == rec.pick.model)
                        & (fake_advisor.table.frame["quant"] == rec.pick.quant)]
    assert rec.pick.memory.total_bytes == int(picked["total_bytes"].iloc[0])

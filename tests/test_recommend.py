import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from advisor.recommender.advisor import MODEL_TIE_POINTS, QUANT_TIE_POINTS, TIE_POINTS
from advisor.vocabulary.errors import InvalidInputError, NothingFitsError, UnknownNameError
from advisor.vocabulary.tasks import CATEGORIES
from advisor.vocabulary.units import GB

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


def test_near_ties_of_one_model_go_to_the_smaller_footprint(fake_advisor):
    rec = fake_advisor.recommend(vram="200GB", models=["Qwen3-8B"], alternatives=30,
                                 mode="thinking")
    best = max(c.quality_score.value for c in [rec.pick, *rec.alternatives])
    assert rec.pick.quality_score.value >= best - QUANT_TIE_POINTS
    tied = [c for c in rec.alternatives if c.quality_score.value >= best - QUANT_TIE_POINTS]
    assert tied and all(c.memory.total_bytes >= rec.pick.memory.total_bytes for c in tied)
    assert rec.pick.quant != "BF16"


def test_models_that_tie_go_to_the_faster_one(fake_advisor):
    """Two models whose best scores are within MODEL_TIE_POINTS are equally good: the pick is
    the one that reads fewer bytes per token (a MoE over a dense model), on any hardware."""
    rec = fake_advisor.recommend(vram="128GB", task="reasoning", alternatives=10)
    best = max(c.quality_score.value for c in [rec.pick, *rec.alternatives])
    assert rec.pick.quality_score.value >= best - TIE_POINTS
    table = fake_advisor.table.arrays
    def active(c):
        row = (table["model"] == c.model) & (table["quant"] == c.quant)
        return float(table["active_bytes"][row][0])
    rivals = [c for c in rec.alternatives if c.quality_score.value >= best - MODEL_TIE_POINTS
              and c.model != rec.pick.model]
    assert rivals, "the shipped capability table has near-tied models at 128 GB"
    pick_best = rec.pick.quality_score.value
    for c in rivals:  # each rival, at its own quant as close to its best, reads more per token
        if c.quality_score.value <= pick_best + QUANT_TIE_POINTS:
            assert active(c) >= active(rec.pick)


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

    from advisor.data.catalog import load_catalog
    from advisor.data.dataset import Dataset
    from advisor.recommender.advisor import Advisor
    from advisor.vocabulary.schema import MetricKind, QualityRow, SpeedRow

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
    at_context = fake_advisor.table.memory(cpu.context_for(rec.pick.mode), cpu.cache_type,
                                           cpu.runtime)
    frame = fake_advisor.table.frame
    picked = at_context.loc[(frame["model"] == rec.pick.model) & (frame["mode"] == rec.pick.mode)
                            & (frame["quant"] == rec.pick.quant)]
    assert len(picked) == 1
    assert rec.pick.memory.total_bytes == int(picked["total_bytes"].iloc[0])


# -- threads: the CPU threads llama.cpp runs with -------------------------------------------

CPU_BOX = {"hardware": "My box", "hardware_kind": "cpu", "bandwidth_gbs": 80,
           "hardware_memory_gb": 64}


def test_threads_reach_the_query_and_the_echo(fake_advisor):
    query = fake_advisor.parse_query(vram="64GB", threads=12, **CPU_BOX)
    assert query.hardware is not None and query.hardware.threads == 12
    rec = fake_advisor.rank(query)
    assert (rec.request.hardware, rec.request.threads) == ("My box", 12)
    named = fake_advisor.recommend(vram="24GB", hardware="rtx 3090", threads=4)
    assert named.request.threads == 4  # kept for a GPU too; only a CPU's speed uses it
    assert fake_advisor.recommend(vram="24GB", hardware="rtx 3090").request.threads is None


@pytest.mark.parametrize("threads", [0, -1, 1.5, "abc", True, 1025])
def test_bad_threads(fake_advisor, threads):
    with pytest.raises(InvalidInputError, match="threads must be a whole number from 1 to "
                       "1024") as err:
        fake_advisor.parse_query(vram="64GB", threads=threads, **CPU_BOX)
    assert err.value.parameter == "threads"


def test_threads_need_the_hardware(fake_advisor):
    with pytest.raises(InvalidInputError, match="threads needs the hardware") as err:
        fake_advisor.parse_query(vram="24GB", threads=8)
    assert err.value.parameter == "threads"


def test_the_speed_predictor_gets_the_threads_column():
    from thread_fixtures import DEFAULT_THREADS, threaded_advisor

    advisor, speed = threaded_advisor()
    answers = {}
    for threads in (2, 16, None):
        speed.frames.clear()
        kwargs = {} if threads is None else {"threads": threads}
        answers[threads] = advisor.recommend(vram="64GB", models=["Llama-3.1-8B"],
                                             **CPU_BOX, **kwargs)
        assert len(speed.frames) == 2  # pp512 and tg128
        for frame in speed.frames:
            assert frame["threads"].dtype == float
            expected = np.nan if threads is None else float(threads)
            np.testing.assert_array_equal(frame["threads"].to_numpy(),
                                          np.full(len(frame), expected))
    tg = {t: a.pick.speed["tg128"].value for t, a in answers.items()}
    assert tg[16] == pytest.approx(8 * tg[2])
    assert tg[None] == pytest.approx(tg[2] * DEFAULT_THREADS / 2)
    # each thread count has its own speed cache entry; asking again predicts nothing
    speed.frames.clear()
    again = advisor.recommend(vram="64GB", models=["Llama-3.1-8B"], threads=2, **CPU_BOX)
    assert speed.frames == [] and again.pick.speed["tg128"].value == tg[2]


def test_threads_of_a_gpu_reach_the_predictor_which_decides():
    """Passed on for any device; the (fake) predictor scales CPU rows only."""
    from thread_fixtures import threaded_advisor

    advisor, speed = threaded_advisor()
    a = advisor.recommend(vram="24GB", hardware="rtx 3090", threads=2)
    b = advisor.recommend(vram="24GB", hardware="rtx 3090", threads=16)
    assert a.pick.speed["tg128"].value == b.pick.speed["tg128"].value
    assert [f["threads"].iloc[0] for f in speed.frames] == [2.0, 2.0, 16.0, 16.0]


def test_module_level_recommend_takes_threads(fake_advisor, monkeypatch):
    from advisor.recommender import advisor as recommend_module

    monkeypatch.setattr(recommend_module, "_default_advisor", lambda: fake_advisor)
    rec = recommend_module.recommend("64GB", "reasoning", threads=6, **CPU_BOX)
    assert rec.request.threads == 6
    with pytest.raises(InvalidInputError, match="threads needs the hardware"):
        recommend_module.recommend("64GB", threads=6)


def test_a_cpu_figure_answers_only_its_own_thread_count(fake_predictors):
    """Published CPU speeds were timed at some thread count: they answer a question about that
    count (given, or the device's default) and the predictor answers the others."""
    from conftest import HARDWARE

    from advisor.data.catalog import load_catalog
    from advisor.data.dataset import Dataset
    from advisor.recommender.advisor import Advisor
    from advisor.vocabulary.schema import Hardware, HardwareKind, SpeedRow

    cpu = Hardware(name="Zen box", kind=HardwareKind.CPU, bandwidth_gbs=83.2, threads=16)
    base = {"model": "Llama-3.1-8B", "model_as_published": "Llama-3.1-8B", "quant": "Q4_K_M",
            "quant_as_published": "Q4_K_M", "source_id": "bench_cpu", "hardware": cpu.name,
            "hardware_kind": "cpu", "backend": "cpu", "test": "tg128"}
    data = Dataset(speed=[SpeedRow(**base, threads=2, tokens_per_s=6.0),
                          SpeedRow(**base, threads=16, tokens_per_s=11.0)])
    advisor = Advisor(load_catalog(), fake_predictors, data, {**HARDWARE, cpu.name: cpu})

    def tg(**kw):
        rec = advisor.recommend(vram="64GB", models=["Llama-3.1-8B"], hardware="Zen box",
                                alternatives=30, **kw)
        return next(c for c in [rec.pick, *rec.alternatives] if c.quant == "Q4_K_M").speed[
            "tg128"]

    assert (tg(threads=2).value, tg(threads=2).provenance) == (6.0, "published")
    assert (tg().value, tg().provenance) == (11.0, "published")  # the device's 16 threads
    assert tg(threads=8).provenance == "predicted"


# -- context is the user's: no silent cap ---------------------------------------------------

def test_long_context_picks_a_model_that_serves_it(fake_advisor):
    from advisor.recommender.memory import context_limit

    rec = fake_advisor.recommend(vram="24GB", task="reasoning", context=131072)
    assert rec.pick.memory.context == 131072
    for c in [rec.pick, *rec.alternatives]:
        assert context_limit(fake_advisor.catalog.get(c.model)) >= 131072
        assert c.memory.context == 131072
    assert any("left out: their longest context is below the 131072 tokens" in n
               for n in rec.notes)


def test_context_beyond_every_candidate_is_bad_input(fake_advisor):
    with pytest.raises(InvalidInputError, match=r"longer than any candidate model serves; "
                       r"allowed: 128-16384") as err:
        fake_advisor.recommend(vram="80GB", task="reasoning", context=65536, models=["phi-4"])
    assert err.value.parameter == "context"


# -- thinking needs room: modes and their contexts -------------------------------------------

def test_thinking_rows_get_room_for_the_trace_unless_a_context_is_asked(fake_advisor):
    from advisor.recommender.query import THINKING_CONTEXT

    rec = fake_advisor.recommend(vram="48GB", task="reasoning", mode="thinking")
    assert {c.mode for c in [rec.pick, *rec.alternatives]} == {"thinking"}
    assert all(c.memory.context == THINKING_CONTEXT for c in [rec.pick, *rec.alternatives])
    assert rec.request.contexts == {"non-thinking": 4096, "thinking": THINKING_CONTEXT}
    asked = fake_advisor.recommend(vram="48GB", task="reasoning", mode="thinking",
                                   context=8192)
    assert asked.pick.memory.context == 8192 and asked.request.context_given


def test_non_thinking_mode_leaves_thinking_only_models_out(fake_advisor):
    rec = fake_advisor.recommend(vram="48GB", task="reasoning", mode="non-thinking")
    for c in [rec.pick, *rec.alternatives]:
        assert c.mode == "non-thinking"
        assert "non-thinking" in fake_advisor.catalog.get(c.model).run_modes


def test_unknown_mode_is_bad_input(fake_advisor):
    with pytest.raises(InvalidInputError, match="mode must be one of auto, thinking, "
                       "non-thinking, got 'deep'") as err:
        fake_advisor.recommend(vram="24GB", mode="deep")
    assert err.value.parameter == "mode"

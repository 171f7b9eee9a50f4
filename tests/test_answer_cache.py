import itertools

import pytest
from conftest import HARDWARE, FakeCard, FakePredictors, FakeQuality, FakeSpeed
from fastapi.testclient import TestClient

from advisor.data.catalog import load_catalog
from advisor.data.dataset import default_measurements_dir
from advisor.recommender.advisor import Advisor
from advisor.service.answer_cache import AnswerCache, query_key
from advisor.service.app import create_app
from advisor.vocabulary.settings import Settings

QUERIES = [
    {"vram": "24GB", "task": "reasoning"},
    {"vram": "24 GB", "task": "reasoning"},
    {"vram": "8GB", "task": "coding:0.3,reasoning:0.7", "context": "8192"},
    {"vram": "8GB", "task": "reasoning:0.7,coding:0.3", "context": "8192"},
    {"vram": "16GB", "task": "math", "hardware": "NVIDIA GeForce RTX 3090",
     "min_tokens_per_s": "30", "alternatives": "3"},
    {"vram": "16GB", "task": "math", "hardware": "My box", "hardware_kind": "gpu",
     "bandwidth_gbs": "500", "fp16_tflops": "40"},
    {"vram": "48GB", "task": "knowledge", "family": "Qwen3", "cache_type": "q8_0"},
    {"vram": "48GB", "task": "knowledge", "models": "qwen3-8b,phi-4"},
]


def _direct(advisor, params):
    """The answer computed without the HTTP layer or any cache."""
    kwargs = dict(params)
    for name in ("context", "alternatives"):
        if name in kwargs:
            kwargs[name] = int(kwargs[name])
    for name in ("min_tokens_per_s", "bandwidth_gbs", "fp16_tflops"):
        if name in kwargs:
            kwargs[name] = float(kwargs[name])
    if "models" in kwargs:
        kwargs["models"] = kwargs["models"].split(",")
    return advisor.recommend(**kwargs).model_dump_json().encode()


def test_cached_answers_are_identical_to_uncached(fake_advisor, tmp_path):
    cached = create_app(Settings(data_dir=tmp_path / "a"),
                        advisor_factory=lambda _: fake_advisor)
    uncached = create_app(Settings(data_dir=tmp_path / "b", answer_cache_entries=0),
                          advisor_factory=lambda _: fake_advisor)
    with TestClient(cached) as c, TestClient(uncached) as u:
        for params in QUERIES:
            first = c.get("/recommend", params=params)
            again = c.get("/v1/recommend", params=params)
            plain = u.get("/recommend", params=params)
            assert first.status_code == again.status_code == plain.status_code == 200
            assert first.content == again.content == plain.content == _direct(fake_advisor,
                                                                               params)
            assert first.headers["content-type"] == again.headers["content-type"]
        answers = c.app.state.answers
        assert len(answers) == len(QUERIES) and answers.hits == len(QUERIES)
        assert len(u.app.state.answers) == 0


def test_errors_are_not_cached(fake_advisor, tmp_path):
    app = create_app(Settings(data_dir=tmp_path), advisor_factory=lambda _: fake_advisor)
    with TestClient(app) as c:
        for _ in range(2):
            assert c.get("/recommend?vram=50MB").json()["error"] == "nothing_fits"
        assert len(c.app.state.answers) == 0


def test_keys_separate_queries_whose_answers_differ(fake_advisor):
    def key(**kwargs):
        return query_key(fake_advisor.parse_query(**kwargs))

    assert key(vram="24GB") == key(vram="24GB", task="reasoning", mode="auto")
    # an asked context sizes thinking answers too; without one they get room for the trace
    assert key(vram="24GB") != key(vram="24GB", context=4096)
    assert key(vram="24GB") != key(vram="24GB", mode="thinking")
    assert key(vram="24GB") != key(vram="24 GB")  # the answer echoes the budget's text
    assert key(vram="8GB", task="reasoning:0.7,coding:0.3") != key(
        vram="8GB", task="coding:0.3,reasoning:0.7")  # categories are listed in mix order
    assert key(vram="8GB", hardware="rtx 3090") == key(vram="8GB",
                                                       hardware="NVIDIA GeForce RTX 3090")
    assert key(vram="8GB", hardware="rtx 3090") != key(vram="8GB")
    assert key(vram="8GB", alternatives=3) != key(vram="8GB")
    cpu = {"vram": "64GB", "hardware_kind": "cpu", "bandwidth_gbs": 80}
    assert key(**cpu, threads=2) != key(**cpu, threads=16) != key(**cpu)
    assert key(**cpu, threads=2) == key(**cpu, threads=2.0)
    assert key(vram="8GB", hardware="rtx 3090", threads=2) != key(vram="8GB",
                                                                  hardware="rtx 3090")


def test_answers_for_other_thread_counts_are_not_shared(tmp_path):
    """Two requests that differ only in threads get their own answers: the cache key holds
    the thread count, so the second is not the first's cached answer."""
    from thread_fixtures import threaded_advisor

    advisor, _ = threaded_advisor()
    app = create_app(Settings(data_dir=tmp_path), advisor_factory=lambda _: advisor)
    params = {"vram": "64GB", "task": "reasoning", "hardware": "My box",
              "hardware_kind": "cpu", "bandwidth_gbs": "80", "hardware_memory_gb": "64"}
    with TestClient(app) as c:
        two = c.get("/recommend", params={**params, "threads": "2"})
        sixteen = c.get("/recommend", params={**params, "threads": "16"})
        again = c.get("/v1/recommend", params={**params, "threads": "2"})
        answers = c.app.state.answers
        assert (len(answers), answers.hits, answers.misses) == (2, 1, 2)
    assert two.status_code == sixteen.status_code == 200
    assert (two.json()["request"]["threads"], sixteen.json()["request"]["threads"]) == (2, 16)
    tg2, tg16 = (r.json()["pick"]["speed"]["tg128"]["value"] for r in (two, sixteen))
    assert tg16 == pytest.approx(8 * tg2)
    assert again.content == two.content


def test_the_cache_is_a_bounded_lru():
    cache, owner = AnswerCache(2), object()
    for k in ("a", "b"):
        assert cache.get(owner, (k,)) is None
        cache.put(owner, (k,), k.encode())
    assert cache.get(owner, ("a",)) == b"a"  # "a" is now the most recent
    cache.put(owner, ("c",), b"c")
    assert len(cache) == 2 and cache.get(owner, ("b",)) is None
    assert cache.get(owner, ("a",)) == b"a" and cache.get(owner, ("c",)) == b"c"
    off = AnswerCache(0)
    off.put(owner, ("a",), b"a")
    assert len(off) == 0 and off.get(owner, ("a",)) is None
    with pytest.raises(ValueError):
        AnswerCache(-1)


def test_another_owner_never_sees_the_answers_of_the_last():
    cache, old, new = AnswerCache(10), object(), object()
    cache.put(old, ("q",), b"old")  # nobody owns it yet: not kept
    assert cache.get(old, ("q",)) is None
    cache.put(old, ("q",), b"old")
    assert cache.get(old, ("q",)) == b"old"
    assert cache.get(new, ("q",)) is None and len(cache) == 0  # a swap empties it
    cache.put(old, ("q",), b"old")  # computed by the old advisor after the swap: dropped
    assert cache.get(new, ("q",)) is None
    cache.put(new, ("q",), b"new")
    cache.clear()
    assert len(cache) == 0 and cache.get(new, ("q",)) is None


def test_promotion_or_rollback_invalidates_the_answers(tmp_path):
    catalog = load_catalog(default_measurements_dir() / "catalog")
    built: list[Advisor] = []
    counter = itertools.count()

    def factory(settings: Settings) -> Advisor:
        card = FakeCard(version=f"fake-{next(counter)}")
        advisor = Advisor(catalog, FakePredictors(FakeQuality(), FakeSpeed(), card), None,
                          dict(HARDWARE), settings)
        built.append(advisor)
        return advisor

    params = {"vram": "24GB", "task": "coding"}
    with TestClient(create_app(Settings(data_dir=tmp_path), advisor_factory=factory)) as c:
        before = c.get("/recommend", params=params)
        assert c.get("/recommend", params=params).content == before.content
        assert before.json()["predictor_version"] == "fake-0"
        assert c.post("/v1/predictors/shipped/rollback").status_code == 200
        assert len(c.app.state.answers) == 0
        after = c.get("/recommend", params=params)
        assert after.json()["predictor_version"] == "fake-1"
        assert after.content == _direct(built[-1], params)


def test_keys_hold_the_device_count(fake_advisor):
    def key(**kwargs):
        return query_key(fake_advisor.parse_query(vram="48GB", **kwargs))

    one, two, four = (key(hardware="rtx 3090"), key(hardware="rtx 3090 x2"),
                      key(hardware="rtx 3090 x4"))
    assert len({one, two, four}) == 3
    # the same setup however it is spelt shares a key (and an answer)
    assert two == key(hardware="2x RTX 3090") == key(hardware="rtx 3090", devices=2)
    assert one == key(hardware="rtx 3090", devices=1)


def test_answers_for_other_device_counts_are_not_shared(fake_advisor, tmp_path):
    app = create_app(Settings(data_dir=tmp_path), advisor_factory=lambda _: fake_advisor)
    params = {"vram": "48GB", "task": "reasoning", "hardware": "NVIDIA GeForce RTX 3090"}
    with TestClient(app) as c:
        one = c.get("/recommend", params=params)
        two = c.get("/recommend", params={**params, "devices": "2"})
        again = c.get("/v1/recommend", params={**params, "hardware": "RTX 3090 x2"})
        answers = c.app.state.answers
        assert (len(answers), answers.hits, answers.misses) == (2, 1, 2)
    assert (one.json()["request"]["n_devices"], two.json()["request"]["n_devices"]) == (None, 2)
    assert one.json()["pick"]["memory"] != two.json()["pick"]["memory"]
    assert again.content == two.content

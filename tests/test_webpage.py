"""The page, its static files and /v1/candidates, served by create_app + mount_web."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from advisor.recommender.advisor import TIE_POINTS
from advisor.service.app import create_app
from advisor.service.webpage import WEB_DIR
from advisor.vocabulary.settings import Settings

RTX = "NVIDIA GeForce RTX 3090"
FIELDS = ("vram", "context", "cache_type", "hardware", "hardware_kind", "bandwidth_gbs",
          "fp16_tflops", "threads", "devices", "min_tokens_per_s")
CPU_SPECS = {"hardware_kind": "cpu", "bandwidth_gbs": 83.2}


@pytest.fixture(scope="module")
def client(fake_advisor):
    app = create_app(Settings(), advisor_factory=lambda _: fake_advisor)
    with TestClient(app) as c:
        yield c


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


def _elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.elements


def test_page_is_served_with_its_assets(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    srcs = [a.get("src") or a.get("href") for t, a in _elements(r.text) if t in ("script", "link")]
    assert set(srcs) == {"/static/app.js", "/static/style.css"}
    for src, kind in (("/static/app.js", "javascript"), ("/static/style.css", "text/css")):
        asset = client.get(src)
        assert asset.status_code == 200 and kind in asset.headers["content-type"]


def test_nothing_is_fetched_from_elsewhere():
    for path in WEB_DIR.iterdir():
        urls = re.findall(r"(?:https?:)?//[\w.-]+\.\w+[^\s\"'`)]*", path.read_text())
        assert set(urls) <= {"http://www.w3.org/2000/svg"}, (path.name, urls)


def test_every_field_is_labelled_and_has_an_error_line(client):
    elements = _elements(client.get("/").text)
    ids = {a.get("id"): (t, a) for t, a in elements if a.get("id")}
    labelled = {a.get("for") for t, a in elements if t == "label"}
    for tag, attrs in elements:
        if tag in ("input", "select") and attrs.get("type") != "hidden":
            assert attrs["id"] in labelled, attrs
    for field in FIELDS:
        assert field in ids and field in labelled
        error_id = f"{field}-error"
        assert ids[error_id][1].get("role") == "alert"
        assert error_id in (ids[field][1].get("aria-describedby") or "")
    assert "task-error" in ids and "form-error" in ids
    assert ids["results"][1].get("aria-live") == "polite"


def test_app_js_targets_exist_in_the_page(client):
    html_ids = {a["id"] for _, a in _elements(client.get("/").text) if a.get("id")}
    js = (WEB_DIR / "app.js").read_text()
    used = set(re.findall(r'\$\("([\w-]+)"\)', js)) | set(re.findall(r'\$\(`([\w-]+)-error`\)', js))
    dynamic = {i for i in used if i.startswith("w-")}
    assert used - dynamic - html_ids == set()


def test_candidates_match_the_recommendation(client):
    params = {"vram": "24GB", "task": "reasoning:0.7,coding:0.3", "hardware": RTX,
              "context": 8192}
    rec = client.get("/v1/recommend", params=params).json()
    body = client.get("/v1/candidates", params=params)
    assert body.status_code == 200, body.text
    data = body.json()
    assert data["budget_bytes"] == rec["request"]["budget_bytes"]
    assert data["task_mix"] == rec["request"]["task_mix"] and data["hardware"] == RTX
    points = data["points"]
    assert len(points) == rec["candidates_considered"]
    assert [p["total_bytes"] for p in points] == sorted(p["total_bytes"] for p in points)
    pick = next(p for p in points if (p["model"], p["mode"], p["quant"]) ==
                (rec["pick"]["model"], rec["pick"]["mode"], rec["pick"]["quant"]))
    assert pick["quality_score"] == pytest.approx(rec["pick"]["quality_score"]["value"])
    assert pick["tg128"] == pytest.approx(rec["pick"]["speed"]["tg128"]["value"])
    best_fitting = max(p["quality_score"] for p in points if p["fits"])
    assert pick["quality_score"] <= best_fitting <= pick["quality_score"] + TIE_POINTS
    front = {(f["model"], f["quant"]) for f in rec["pareto_front"]}
    assert front <= {(p["model"], p["quant"]) for p in points}


def test_threads_input_is_a_whole_number_with_a_cpu_hint(client):
    elements = _elements(client.get("/").text)
    ids = {a.get("id"): (t, a) for t, a in elements if a.get("id")}
    tag, attrs = ids["threads"]
    assert tag == "input" and attrs.get("name") == "threads"
    assert (attrs.get("type"), attrs.get("min"), attrs.get("max"), attrs.get("step")) == (
        "number", "1", "1024", "1")
    assert not attrs.get("value")
    assert "threads-help" in (attrs.get("aria-describedby") or "")
    help_text = client.get("/").text.split('id="threads-help">', 1)[1].split("</small>", 1)[0]
    assert "CPU" in help_text and "device's" in help_text


def test_candidates_echo_the_threads_like_the_recommendation(client):
    params = {"vram": "24GB", "task": "reasoning", **CPU_SPECS, "threads": 2}
    rec = client.get("/v1/recommend", params=params).json()
    data = client.get("/v1/candidates", params=params).json()
    assert rec["request"]["threads"] == data["threads"] == 2
    unset = {k: v for k, v in params.items() if k != "threads"}
    assert client.get("/v1/candidates", params=unset).json()["threads"] is None
    assert client.get("/v1/recommend", params=unset).json()["request"]["threads"] is None


def test_candidates_without_hardware_have_no_speed(client):
    points = client.get("/v1/candidates", params={"vram": "8GB", "task": "math"}).json()["points"]
    assert points and all(p["tg128"] is None and p["pp512"] is None for p in points)
    assert all(p["fast_enough"] for p in points)


@pytest.mark.parametrize("query, parameter, given", [
    ("vram=lots", "vram", "lots"),
    ("vram=24GB&task=poetry", "task", "poetry"),
    ("vram=24GB&context=5", "context", "5"),
    ("vram=24GB&context=abc", "context", "abc"),
    ("vram=24GB&hardware=toaster", "hardware", "toaster"),
    ("vram=24GB&min_tokens_per_s=10", "min_tokens_per_s", "10"),
    ("vram=24GB&threads=2", "threads", "2"),
    (f"vram=24GB&hardware={RTX}&threads=0", "threads", "0"),
    (f"vram=24GB&hardware={RTX}&threads=1025", "threads", "1025"),
    (f"vram=24GB&hardware={RTX}&devices=17", "devices", "17"),
    (f"vram=24GB&hardware={RTX}&devices=0", "devices", "0"),
    (f"vram=24GB&hardware={RTX}%20x2&devices=3", "devices", "3"),
    ("vram=24GB&devices=2", "devices", "2"),
    ("vram=24GB&hardware=Apple%20M2%20Pro%20x2", "hardware", "Apple M2 Pro x2"),
    ("vram=24GB&hardware_kind=cpu&bandwidth_gbs=83.2&threads=2.5", "threads", "2.5"),
    ("task=reasoning", "vram", None),
])
def test_candidates_errors_match_the_api(client, query, parameter, given):
    r = client.get(f"/v1/candidates?{query}")
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_input" and body["message"]
    assert body["detail"][0]["parameter"] == parameter
    assert body["detail"][0]["given"] == given
    assert client.get(f"/v1/recommend?{query}").json()["detail"] == body["detail"]


def test_gpu_count_input_sits_by_the_threads_and_is_1_to_16(client):
    html = client.get("/").text
    elements = _elements(html)
    ids = {a.get("id"): (t, a) for t, a in elements if a.get("id")}
    tag, attrs = ids["devices"]
    assert tag == "input" and attrs.get("name") == "devices"
    assert (attrs.get("type"), attrs.get("min"), attrs.get("max"), attrs.get("step")) == (
        "number", "1", "16", "1")
    assert not attrs.get("value")  # empty: one device
    assert "devices-help" in (attrs.get("aria-describedby") or "")
    assert 'for="devices">Number of GPUs</label>' in html
    order = [a.get("id") for _, a in elements if a.get("id") in ("threads", "devices",
                                                                  "min_tokens_per_s")]
    assert order == ["threads", "devices", "min_tokens_per_s"]
    assert html.index('id="devices"') > html.index("<legend>Hardware")


def test_app_js_sends_devices_only_beyond_one_and_keeps_it_in_the_url():
    js = (WEB_DIR / "app.js").read_text()
    assert 'p.set("devices", devices)' in js and 'Number(devices) !== 1' in js
    fill = js.split("function fillFromUrl()", 1)[1].split("\n}\n", 1)[0]
    assert '"devices"' in fill
    assert "rec.request.n_devices" in js and "cands.n_devices" in js


def test_candidates_echo_the_device_count_like_the_recommendation(client):
    params = {"vram": "48GB", "task": "reasoning", "hardware": RTX, "devices": 2}
    rec = client.get("/v1/recommend", params=params).json()
    data = client.get("/v1/candidates", params=params).json()
    assert rec["request"]["n_devices"] == data["n_devices"] == 2
    assert rec["request"]["hardware"] == data["hardware"] == f"{RTX} x2"
    points = {(p["model"], p["quant"]): p for p in data["points"]}
    pick = points[(rec["pick"]["model"], rec["pick"]["quant"])]
    assert pick["total_bytes"] == rec["pick"]["memory"]["total_bytes"] and pick["fits"]
    assert pick["tg128"] == pytest.approx(rec["pick"]["speed"]["tg128"]["value"])
    assert data["points"] and sum(p["fits"] for p in data["points"]) == rec["candidates_fitting"]
    one = {k: v for k, v in params.items() if k != "devices"}
    assert client.get("/v1/candidates", params=one).json()["n_devices"] is None

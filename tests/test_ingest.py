"""POST/GET /v1/measurements: validation per row, idempotency, size limits, filters."""

from __future__ import annotations

import json
import threading

import pytest
from fastapi.testclient import TestClient
from service_fixtures import TOKEN, FakeTrainer, quality_row, service_settings, speed_row

from advisor.service.app import create_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(tmp_path, fake_advisor):
    settings = service_settings(tmp_path, api_token=TOKEN, max_request_bytes=200_000,
                                max_batch_rows=600)
    app = create_app(settings, advisor_factory=lambda _: fake_advisor, trainer=FakeTrainer())
    with TestClient(app) as c:
        yield c


def post(client, body):
    return client.post("/v1/measurements", json=body, headers=AUTH)


def test_one_row_is_stored_and_a_retry_changes_nothing(client):
    r = post(client, quality_row(1))
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 1 and r.json()["rows"][0]["status"] == "stored"
    again = post(client, quality_row(1)).json()
    assert again["stored"] == 0 and again["duplicates"] == 1
    assert again["rows"][0]["content_hash"] == r.json()["rows"][0]["content_hash"]
    assert len(client.get("/v1/measurements").json()["items"]) == 1


@pytest.mark.parametrize("bad, field, words", [
    (quality_row(0, value=float("nan")), "value", "finite"),
    (quality_row(0, retention=-1), "retention", "greater than 0"),
    (quality_row(0, quant="Q4_K_XXL"), "quant", "unknown quant"),
    (quality_row(0, provenance="predicted"), "provenance", "never stored"),
    (quality_row(0, model="x" * 201), "model", "at most 200"),
    (quality_row(0, notes="a\x00b"), "notes", "NUL"),
    (quality_row(0, colour="red"), "colour", "Extra inputs"),
    (quality_row(0, kind="opinion"), "kind", "'quality' or 'speed'"),
    (speed_row(0, test="fast"), "test", "pattern"),
    (speed_row(0, tokens_per_s=0), "tokens_per_s", "greater than 0"),
    (speed_row(0, tokens_per_s=2000.0), "tokens_per_s", "10.5x faster than the 935.8 GB/s"),
    (speed_row(0, environment={"x": float("inf")}), "environment.x", "finite"),
    ({k: v for k, v in speed_row(0).items() if k != "hardware"}, "hardware", "required"),
    ([1, 2], None, "JSON object"),
])
def test_bad_rows_are_rejected_with_the_reason(client, bad, field, words):
    body = bad if isinstance(bad, list) else [quality_row(5), bad]
    r = client.post("/v1/measurements", headers={**AUTH, "Content-Type": "application/json"},
                    content=json.dumps(body))
    assert r.status_code in (200, 422), r.text
    rejected = [row for row in r.json()["rows"] if row["status"] == "rejected"]
    problem = rejected[0]["problems"][0]
    assert problem["field"] == field
    assert words in problem["message"]
    if not isinstance(bad, list):
        assert r.json()["stored"] == 1 and rejected[0]["index"] == 1


def test_all_rejected_is_422(client):
    r = post(client, [quality_row(0, quant="nope")])
    assert r.status_code == 422 and r.json()["rejected"] == 1


@pytest.mark.parametrize("content, status, error", [
    ("{not json", 400, "invalid_json"), ("[]", 400, "invalid_body"),
    ('"text"', 400, "invalid_body"), ("[" + ",".join(["{}"] * 601) + "]", 400, "invalid_body"),
    ("[" + "0," * 150_000 + "0]", 413, "too_large"),
])
def test_bad_bodies(client, content, status, error):
    r = client.post("/v1/measurements", content=content,
                    headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["error"] == error and r.json()["message"]


def test_filters_and_pagination(client):
    post(client, [quality_row(i) for i in range(5)] + [speed_row(i) for i in range(3)])
    assert len(client.get("/v1/measurements?kind=speed").json()["items"]) == 3
    assert client.get("/v1/measurements?hardware=NVIDIA GeForce RTX 3090").json()["items"][0][
        "row"]["kind"] == "speed"
    assert client.get("/v1/measurements?source_id=other").json()["items"] == []
    page = client.get("/v1/measurements?limit=5").json()
    assert len(page["items"]) == 5 and page["next_after"] == page["items"][-1]["id"]
    rest = client.get(f"/v1/measurements?limit=5&after={page['next_after']}").json()
    assert len(rest["items"]) == 3 and rest["next_after"] is None
    r = client.get("/v1/measurements?provenance=guessed")
    assert r.status_code == 422 and r.json()["detail"][0]["parameter"] == "provenance"


def test_concurrent_clients_store_every_valid_row_exactly_once(client):
    """8 clients x 500 rows, overlapping, with duplicates and invalid rows."""
    valid = [quality_row(i) if i % 2 else speed_row(i) for i in range(1200)]
    invalid = [quality_row(i, quant="Q9_Z") for i in range(50)]
    errors: list[str] = []
    stored = []

    def client_run(k):
        batch = valid[k * 100: k * 100 + 450] + invalid[:50]
        for start in range(0, 500, 100):
            r = post(client, batch[start:start + 100])
            if r.status_code != 200:
                errors.append(r.text)
            else:
                stored.append(r.json()["stored"])

    threads = [threading.Thread(target=client_run, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    expected = {r for k in range(8) for r in range(k * 100, k * 100 + 450)}
    hashes, after = [], 0
    while items := client.get(f"/v1/measurements?limit=1000&after={after}").json()["items"]:
        hashes += [i["content_hash"] for i in items]
        after = items[-1]["id"]
    assert len(hashes) == len(set(hashes)) == len(expected) == sum(stored)


def test_a_batch_rejects_each_row_over_the_ceiling_at_its_own_position(client):
    body = [{"kind": "opinion"}, quality_row(0), speed_row(1), speed_row(2, tokens_per_s=3000.0),
            speed_row(3, test="pp512", tokens_per_s=10_000.0, fp16_tflops=35.68)]
    r = post(client, body).json()
    rejected = {row["index"]: row["problems"][0] for row in r["rows"]
                if row["status"] == "rejected"}
    assert set(rejected) == {0, 3} and r["stored"] == 3   # pp512: 4.5x the FLOPS, allowed
    assert rejected[3]["field"] == "tokens_per_s"
    assert "faster than the 935.8 GB/s memory bandwidth" in rejected[3]["message"]


def _nested(levels):
    value: dict = {}
    for _ in range(levels):
        value = {"x": value}
    return value


def _deep_body(levels):
    """A row whose environment nests ``levels`` deep, as JSON text (too deep to build as a
    Python value and serialise with the standard library)."""
    row = json.dumps(speed_row(0, environment="@"))
    return row.replace('"@"', "{" + '"x":{' * levels + "}" * levels + "}")


@pytest.mark.parametrize("body, status, words", [
    (_deep_body(240), 422, "nests more than 10 levels deep (environment: at most 8)"),
    (_deep_body(900), 422, "nests more than 10 levels deep"),
    (_deep_body(20_000), 400, "not valid JSON"),
    (json.dumps(speed_row(0, environment=_nested(9))), 422, "nests more than 10 levels"),
    (json.dumps(speed_row(0, n_devices=10**30)), 422, "n_devices: Input should be less than"),
    (json.dumps(speed_row(0, threads=10**30)), 422, "threads: Input should be less than"),
    (json.dumps(speed_row(0, gpu_layers=-5)), 422, "gpu_layers: Input should be greater"),
    (json.dumps(speed_row(0, test="pp0")), 422, "test: String should match pattern"),
    (json.dumps(speed_row(0, test="tg999999999")), 422, "counts 1 to 10,000,000"),
    (json.dumps(speed_row(0, model_bytes=10**30)), 422, "model_bytes: Input should be less"),
    (json.dumps(quality_row(0, n_items=10**30)), 422, "n_items: Input should be less"),
    (json.dumps({"kind": "speed", "notes": [[[[[[[[[[[]]]]]]]]]]]}), 422, "nests more than"),
])
def test_hostile_rows_are_refused_at_the_door_and_reads_keep_working(client, body, status,
                                                                      words):
    r = client.post("/v1/measurements", content=body,
                    headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == status, r.text
    if status == 422:
        problem = r.json()["rows"][0]["problems"][0]
        assert words in f"{problem['field']}: {problem['message']}", problem
    else:
        assert words in r.json()["message"]
    listing = client.get("/v1/measurements")
    assert listing.status_code == 200 and listing.json()["items"] == []
    assert post(client, quality_row(1)).status_code == 200  # and writes


def test_the_limits_themselves_are_accepted(client):
    r = post(client, [speed_row(0, environment=_nested(8)), speed_row(1, gpu_layers=-1),
                      speed_row(2, threads=1024, n_devices=1), speed_row(3, test="tg1")])
    assert r.json()["stored"] == 4, r.text

"""Background retraining: promote only better-or-equal versions, atomically; roll back."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient
from service_fixtures import TOKEN, FakeTrainer, quality_row, service_settings

from advisor.predictors.registry import POINTER, Registry
from advisor.service.app import create_app
from advisor.service.retrain import regressions

AUTH = {"Authorization": f"Bearer {TOKEN}"}


class RecordingFactory:
    def __init__(self, advisor):
        self.advisor, self.loaded = advisor, []

    def __call__(self, settings):
        self.loaded.append(settings.models_dir)
        return self.advisor


def _client(tmp_path, fake_advisor, trainer, factory=None):
    settings = service_settings(tmp_path, api_token=TOKEN)
    app = create_app(settings, advisor_factory=factory or (lambda _: fake_advisor),
                     trainer=trainer)
    return TestClient(app)


def _finish(client, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get("/v1/retrain").json()
        if job and job["state"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError("retraining did not finish")


def test_retrain_promotes_and_swaps_the_advisor(tmp_path, fake_advisor):
    trainer, factory = FakeTrainer(), RecordingFactory(fake_advisor)
    with _client(tmp_path, fake_advisor, trainer, factory) as c:
        c.post("/v1/measurements", json=quality_row(0), headers=AUTH)
        r = c.post("/v1/retrain", headers=AUTH)
        assert r.status_code == 202 and r.json()["state"] == "running"
        job = _finish(c)
        assert job["state"] == "promoted", job
        versions = c.get("/v1/predictors").json()
        assert [v["id"] for v in versions][0] == "shipped"
        serving = [v for v in versions if v["serving"]]
        assert [v["id"] for v in serving] == [job["version"]]
        assert serving[0]["metrics"]
        assert factory.loaded[-1].name == job["version"]
        assert c.get("/ready").json()["model_version"] == job["version"]
        assert f'version="{job["version"]}"' in c.get("/metrics").text
    assert len(trainer.datasets[0].quality) > 1  # files plus the stored row
    pointer = json.loads((tmp_path / "data" / "models" / POINTER).read_text())
    assert pointer == {"version": job["version"]}
    with _client(tmp_path, fake_advisor, trainer, factory) as c:  # a restart keeps it
        assert c.get("/health").json()["model_version"] == job["version"]


def test_a_worse_version_is_kept_out(tmp_path, fake_advisor):
    with _client(tmp_path, fake_advisor, FakeTrainer(factor=1.5)) as c:
        c.post("/v1/retrain", headers=AUTH)
        job = _finish(c)
        assert job["state"] == "kept" and "beyond the tolerance" in job["message"]
        assert [v["id"] for v in c.get("/v1/predictors").json() if v["serving"]] == ["shipped"]


def _broken(dataset, out_dir):
    (out_dir / "card.json").write_text("{}")
    raise RuntimeError("disk full")


@pytest.mark.parametrize("trainer, words", [(_broken, "disk full"),
                                            (lambda d, o: None, "card")])
def test_a_failed_training_leaves_the_old_version_serving(tmp_path, fake_advisor, trainer,
                                                          words):
    with _client(tmp_path, fake_advisor, trainer) as c:
        c.post("/v1/retrain", headers=AUTH)
        job = _finish(c)
        assert job["state"] == "failed" and words in job["message"]
        assert c.get("/health").json()["model_version"] == "shipped"
        assert not list((tmp_path / "data" / "models" / "versions").iterdir())
        assert c.post("/v1/retrain", headers=AUTH).status_code == 202  # the lock was released


def test_one_retrain_at_a_time(tmp_path, fake_advisor):
    with _client(tmp_path, fake_advisor, FakeTrainer(delay_s=1.0)) as c:
        assert c.post("/v1/retrain", headers=AUTH).status_code == 202
        r = c.post("/v1/retrain", headers=AUTH)
        assert r.status_code == 409 and r.json()["error"] == "busy"
        assert _finish(c)["state"] == "promoted"


def test_the_lock_holds_across_replicas(tmp_path, fake_advisor):
    with _client(tmp_path, fake_advisor, FakeTrainer()) as c:
        c.app.state.service.store.acquire_lock("retrain", "another-replica", 60)
        assert c.post("/v1/retrain", headers=AUTH).status_code == 409


def test_a_starting_worker_leaves_a_running_retrains_folder_alone(tmp_path, fake_advisor):
    """A worker (re)started while another process retrains must not delete that retrain's
    staging folder; one started with no retrain running removes a crash's leftover."""
    from advisor.service.store import Store

    settings = service_settings(tmp_path, api_token=TOKEN)
    registry = Registry(settings.versions_dir, settings.models_dir)
    staging = registry.versions / ".staging-20260101T000000Z-0123abcd"
    staging.mkdir(parents=True)
    store = Store.open(settings.sqlalchemy_url)
    try:
        assert store.acquire_lock("retrain", "other-worker", 60)
        with _client(tmp_path, fake_advisor, FakeTrainer()):
            assert staging.is_dir()
        store.release_lock("retrain", "other-worker")
        with _client(tmp_path, fake_advisor, FakeTrainer()):
            assert not staging.exists()
    finally:
        store.close()


def test_rollback(tmp_path, fake_advisor):
    with _client(tmp_path, fake_advisor, FakeTrainer()) as c:
        c.post("/v1/retrain", headers=AUTH)
        new = _finish(c)["version"]
        r = c.post("/v1/predictors/shipped/rollback", headers=AUTH)
        assert r.status_code == 200 and r.json()["serving"] and r.json()["id"] == "shipped"
        assert c.get("/health").json()["model_version"] == "shipped"
        assert c.post(f"/v1/predictors/{new}/rollback", headers=AUTH).json()["id"] == new
        r = c.post("/v1/predictors/20990101T000000Z-deadbeef/rollback", headers=AUTH)
        assert r.status_code == 404 and "Known" in r.json()["message"]


def test_every_worker_follows_a_promotion_and_a_rollback(tmp_path, fake_advisor):
    """Two services on one data folder (the workers of one `serve`): what one promotes or
    rolls back, the other serves within version_poll_s, with its answer cache emptied."""
    settings = service_settings(tmp_path, api_token=TOKEN, version_poll_s=0.05)
    apps = [create_app(settings, advisor_factory=RecordingFactory(fake_advisor),
                       trainer=FakeTrainer()) for _ in range(2)]
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        b.get("/recommend?vram=24GB")
        assert len(b.app.state.answers) == 1
        a.post("/v1/retrain", headers=AUTH)
        new = _finish(a)["version"]

        def serving(client, version, timeout=10):
            deadline = time.time() + timeout
            while time.time() < deadline:
                if client.get("/health").json()["model_version"] == version:
                    return True
                time.sleep(0.02)
            return False

        assert serving(b, new) and len(b.app.state.answers) == 0
        assert b.post("/v1/predictors/shipped/rollback", headers=AUTH).status_code == 200
        assert serving(a, "shipped")


@pytest.mark.parametrize("new, old, worse", [
    ({"a": {"median_ae": 1.0}}, {"a": {"median_ae": 1.0}}, False),
    ({"a": {"median_ae": 1.09}}, {"a": {"median_ae": 1.0}}, False),
    ({"a": {"median_ae": 1.2}}, {"a": {"median_ae": 1.0}}, True),
    ({"a": {"p90_ape": 9.0, "baseline_p90_ape": 99.0}}, {"a": {"p90_ape": 10.0}}, False),
    ({"a": {"coverage_90": 0.1}}, {"a": {"coverage_90": 0.9}}, False),
    ({"b": {"mean_ae": 5.0}}, {}, False),
])
def test_regressions(new, old, worse):
    assert bool(regressions(new, old, 0.10)) is worse

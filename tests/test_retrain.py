"""Background retraining: promote only better-or-equal versions, atomically; roll back."""

from __future__ import annotations

import json
import os
import time

import pytest
from fastapi.testclient import TestClient
from service_fixtures import (
    TOKEN,
    FakeTrainer,
    HelperTrainer,
    hostile_rows,
    pid_alive,
    quality_row,
    service_settings,
    speed_row,
    store_raw,
)

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


def _serving(client, version, timeout=10):
    """True once ``client``'s worker serves ``version`` (a worker that did not promote it
    follows the registry's pointer within version_poll_s, later on a busy machine)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if client.get("/health").json()["model_version"] == version:
            return True
        time.sleep(0.02)
    return False


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
        assert _serving(b, new) and len(b.app.state.answers) == 0
        assert b.post("/v1/predictors/shipped/rollback", headers=AUTH).status_code == 200
        assert _serving(a, "shipped")


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


# -- one answer from every worker; a dead job's lease is free at once ---------------------------

def test_every_worker_answers_the_same_job(tmp_path, fake_advisor, caplog):
    caplog.set_level("INFO")
    settings = service_settings(tmp_path, api_token=TOKEN, version_poll_s=0.05)
    apps = [create_app(settings, advisor_factory=lambda _: fake_advisor,
                       trainer=FakeTrainer(delay_s=3.0)) for _ in range(2)]
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        assert a.get("/v1/retrain").json() is None and b.get("/v1/retrain").json() is None
        caplog.clear()  # the start-up lines
        started = a.post("/v1/retrain", headers={**AUTH, "X-Request-ID": "start-1"}).json()
        seen = b.get("/v1/retrain").json()
        assert (seen["id"], seen["state"], seen["request_id"]) == (started["id"], "running",
                                                                   "start-1")
        deadline = time.time() + 10  # what it trains on is known while it trains (3 s)
        while not (seen := b.get("/v1/retrain").json())["report"]:
            assert time.time() < deadline
            time.sleep(0.05)
        assert seen["state"] == "running" and seen["report"]["quality_rows"] > 0
        assert b.post("/v1/retrain", headers=AUTH).status_code == 409
        done = _finish(a)
        assert b.get("/v1/retrain").json() == done and done["state"] == "promoted"
        assert done["report"]["quality_rows"] > 0 and done["report"]["quarantined"] == 0
        assert _serving(b, done["version"])  # the other worker follows the pointer
    # one line per state change: started, finished, the version served by each worker
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("advisor.service")]
    assert lines.count(f"retraining {done['id']} started") == 1
    finished = [line for line in lines if line.startswith(f"retraining {done['id']} finished")]
    assert len(finished) == 1 and "finished: promoted over shipped (" in finished[0]
    assert sum("serving predictor version" in line for line in lines) == 2
    assert len(lines) == 4, lines


def test_a_dead_processes_job_is_failed_and_its_lease_free_at_once(tmp_path, fake_advisor):
    """A worker killed while it retrains: GET says failed, POST starts a new job at once (not
    after the 300 s lease)."""
    import subprocess
    import sys

    from advisor.service.jobs import Job, JobLog
    from advisor.service.lifeline import new_holder
    from advisor.service.store import Store

    settings = service_settings(tmp_path, api_token=TOKEN)  # retrain_lease_s: 300
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    dead = new_holder("retrain").replace(f":{os.getpid()}:", f":{gone}:")
    store = Store.open(settings.sqlalchemy_url)
    assert store.acquire_lock("retrain", dead, 300)
    JobLog(store).record(Job(id="killed000001", state="running", holder=dead,
                             started="2026-12-01T00:00:00+00:00"))
    store.close()
    with _client(tmp_path, fake_advisor, FakeTrainer()) as c:
        job = c.get("/v1/retrain").json()
        assert job["id"] == "killed000001" and job["state"] == "failed"
        assert "stopped" in job["message"] and job["finished"]
        assert c.post("/v1/retrain", headers=AUTH).status_code == 202
        assert _finish(c)["state"] == "promoted"


# -- rows training cannot use are quarantined; the retraining goes on -------------------------

def test_hostile_stored_rows_are_quarantined_and_the_retrain_succeeds(tmp_path, fake_advisor):
    settings = service_settings(tmp_path, api_token=TOKEN)
    ids = {name: store_raw(settings, payload, f"old-{name}")
           for name, payload in hostile_rows().items()}
    trainer = FakeTrainer()
    with _client(tmp_path, fake_advisor, trainer) as c:
        assert c.post("/v1/measurements", json=speed_row(1), headers=AUTH).status_code == 200
        listing = c.get("/v1/measurements")  # the unreadable rows are skipped, not a 500
        assert listing.status_code == 200
        c.post("/v1/retrain", headers=AUTH)
        job = _finish(c)
        assert job["state"] == "promoted", job
        report = job["report"]
        assert report["stored_rows_used"] == 1 and report["quarantined_total"] == len(ids)
        assert "quarantined" in job["message"]
        hashes = {r.content_hash() for r in trainer.datasets[0].speed}
        assert c.get("/v1/measurements").json()["items"][0]["content_hash"] in hashes
        quarantined = {q["id"]: q for q in c.get("/v1/quarantine", headers=AUTH).json()["items"]}
        assert set(quarantined) == set(ids.values())
        reasons = {name: quarantined[i]["reason"] for name, i in ids.items()}
        assert "nests" in reasons["deep"] and "n_devices" in reasons["devices"]
        assert "threads" in reasons["threads"] and "gpu_layers" in reasons["layers"]
        assert "test:" in reasons["pp0"] and "does not parse" in reasons["broken"]
        metrics = c.get("/metrics").text
        assert f'advisor_stored_rows{{state="quarantined"}} {len(ids)}.0' in metrics
        assert 'advisor_stored_rows{state="usable"} 1.0' in metrics
        # an operator restores (refused: still invalid) or deletes them
        r = c.post(f"/v1/quarantine/{ids['devices']}/restore", headers=AUTH)
        assert r.status_code == 422 and r.json()["error"] == "still_invalid"
        assert r.json()["detail"][0]["parameter"] == "n_devices"
        assert c.delete(f"/v1/quarantine/{ids['devices']}", headers=AUTH).json() == {
            "id": ids["devices"], "status": "deleted"}
        assert c.delete(f"/v1/quarantine/{ids['devices']}", headers=AUTH).status_code == 404
        c.post("/v1/retrain", headers=AUTH)
        assert _finish(c)["report"]["quarantined"] == 0  # quarantined rows are not re-checked


def test_a_quarantined_row_that_passes_the_checks_is_restored(tmp_path, fake_advisor):
    with _client(tmp_path, fake_advisor, FakeTrainer()) as c:
        c.post("/v1/measurements", json=quality_row(1), headers=AUTH)
        store = c.app.state.service.store
        row_id = store.list_rows()[0].id
        store.quarantine([(row_id, "suspected by an operator")])
        assert c.get("/v1/measurements").json()["items"] == []
        r = c.post(f"/v1/quarantine/{row_id}/restore", headers=AUTH)
        assert r.json() == {"id": row_id, "status": "restored"}
        assert len(c.get("/v1/measurements").json()["items"]) == 1
        assert c.post(f"/v1/quarantine/{row_id}/restore", headers=AUTH).status_code == 404


# -- training runs in a process of its own, stopped with the service --------------------------

@pytest.mark.slow
def test_training_in_its_own_process_promotes(tmp_path, fake_advisor):
    settings = service_settings(tmp_path, api_token=TOKEN)
    app = create_app(settings, advisor_factory=lambda _: fake_advisor, trainer=FakeTrainer(),
                     train_in_child=True)
    with TestClient(app) as c:
        c.post("/v1/measurements", json=speed_row(1), headers=AUTH)
        c.post("/v1/retrain", headers=AUTH)
        job = _finish(c, timeout=120)
        assert job["state"] == "promoted" and job["report"]["stored_rows_used"] == 1, job


@pytest.mark.slow
def test_stopping_the_service_stops_the_training_and_its_helpers(tmp_path, fake_advisor):
    pid_file = tmp_path / "pids"
    settings = service_settings(tmp_path, api_token=TOKEN)
    app = create_app(settings, advisor_factory=lambda _: fake_advisor,
                     trainer=HelperTrainer(pid_file, delay_s=300), train_in_child=True)
    with TestClient(app) as c:
        c.post("/v1/retrain", headers=AUTH)
        deadline = time.time() + 120
        while not pid_file.exists():
            assert time.time() < deadline, "the training process did not start"
            time.sleep(0.1)
        pids = [int(p) for p in pid_file.read_text().split()]
        assert all(pid_alive(p) for p in pids)
        stopped = time.time()
    assert time.time() - stopped < 15  # the stop did not wait for the training
    deadline = time.time() + 10
    while any(pid_alive(p) for p in pids):
        assert time.time() < deadline, f"still running after the service stopped: {pids}"
        time.sleep(0.1)
    with TestClient(create_app(settings, advisor_factory=lambda _: fake_advisor,
                               trainer=FakeTrainer())) as c:
        job = c.get("/v1/retrain").json()
        assert job["state"] == "failed" and "stopped" in job["message"]
        assert c.post("/v1/retrain", headers=AUTH).status_code == 202  # lease released

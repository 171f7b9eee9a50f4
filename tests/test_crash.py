"""SIGKILL the service during ingestion and during retraining; nothing accepted is lost and
the serving predictors are always a complete version (real uvicorn, real predictor loading)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from service_fixtures import TOKEN, quality_row

from advisor.predictors.artifacts import load_predictors
from advisor.predictors.registry import Registry

pytestmark = pytest.mark.slow
TESTS = Path(__file__).resolve().parent
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LAUNCH = """
import uvicorn
from conftest import HARDWARE, FakeCard, FakePredictors, FakeQuality, FakeSpeed
from service_fixtures import FakeTrainer
from advisor.service.app import create_app
from advisor.predictors.artifacts import load_predictors
from advisor.data.catalog import load_catalog
from advisor.recommender.advisor import Advisor
from advisor.vocabulary.settings import Settings

def factory(settings):  # the real artifacts must load; the fake predictors answer quickly
    load_predictors(settings.models_dir)
    return Advisor(load_catalog(settings.catalog_path),
                   FakePredictors(FakeQuality(), FakeSpeed(), FakeCard()), None,
                   dict(HARDWARE), settings)

app = create_app(Settings(), advisor_factory=factory, trainer=FakeTrainer(delay_s=1.5))
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir, self.port = data_dir, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               "ADVISOR_DATA_DIR": str(data_dir), "ADVISOR_API_TOKEN": TOKEN,
               "ADVISOR_RETRAIN_LEASE_S": "2", "ADVISOR_LOG_JSON": "false"}
        self.proc = subprocess.Popen([sys.executable, "-c", LAUNCH.format(port=self.port)],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError("server did not become ready")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def _all_hashes(url: str) -> list[str]:
    hashes, after = [], 0
    while items := httpx.get(f"{url}/v1/measurements",
                             params={"limit": 1000, "after": after}).json()["items"]:
        hashes += [i["content_hash"] for i in items]
        after = items[-1]["id"]
    return hashes


def test_sigkill_during_ingestion_loses_no_accepted_row(tmp_path):
    server = Server(tmp_path)
    accepted: list[str] = []
    stop = threading.Event()

    def writer(k: int) -> None:
        i = 0
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                batch = [quality_row(k * 1_000_000 + i + j) for j in range(20)]
                i += 20
                try:
                    r = client.post(f"{server.url}/v1/measurements", json=batch, headers=AUTH)
                except httpx.HTTPError:
                    return  # the server died mid-request: nothing was promised
                if r.status_code == 200:
                    accepted.extend(row["content_hash"] for row in r.json()["rows"])

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    server.kill()
    stop.set()
    for t in threads:
        t.join()
    assert len(accepted) > 100
    server = Server(tmp_path)
    try:
        stored = _all_hashes(server.url)
        assert set(accepted) <= set(stored)
        assert len(stored) == len(set(stored))
    finally:
        server.kill()


def test_sigkill_during_retraining_keeps_a_complete_version_serving(tmp_path):
    """Kill while training (0.5 s) and around commit/promotion (2.2 s), restart each time."""
    registry = Registry(tmp_path / "models", Path("models"))
    server = Server(tmp_path)
    try:
        for kill_after_s in (0.5, 2.2):
            time.sleep(2.1)  # a dead holder's lease (2 s) runs out
            assert httpx.post(f"{server.url}/v1/retrain", headers=AUTH).status_code == 202
            time.sleep(kill_after_s)
            server.kill()
            server = Server(tmp_path)
            ready = httpx.get(f"{server.url}/ready").json()
            assert ready["model_version"] == registry.current_id()
            load_predictors(registry.path_of(ready["model_version"]))  # complete, loadable
            # the killed retrain's folder goes once its lease (2 s) has run out
            deadline = time.time() + 10
            while list((tmp_path / "models" / "versions").glob(".staging-*")):
                assert time.time() < deadline, "unfinished version folder was not removed"
                time.sleep(0.2)
    finally:
        server.kill()

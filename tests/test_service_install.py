"""Retraining works on the install the README documents for the service: `pip install -e .`
(what `make serve` and the Docker image install), no `plot`, `measure` or `test` extra.

The subprocesses here import only the service's dependencies (service_fixtures.
service_only_pythonpath: every other installed distribution raises ModuleNotFoundError, in
the serve process, its workers and the retraining process alike).
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
from service_fixtures import (
    Serve,
    blocked_modules,
    hostile_rows,
    service_distributions,
    service_only_pythonpath,
    service_settings,
    speed_row,
    store_raw,
)


def test_the_service_install_is_the_core_dependencies_only():
    allowed = service_distributions()
    assert {"scikit-learn", "fastapi", "uvicorn", "sqlalchemy", "joblib"} <= allowed
    assert not {"matplotlib", "llama-cpp-python", "pytest", "schemathesis"} & allowed
    assert {"matplotlib", "llama_cpp", "pytest", "hypothesis"} <= blocked_modules()


def test_only_the_service_dependencies_import(tmp_path):
    env = {"PYTHONPATH": service_only_pythonpath(tmp_path / "site")}
    ok = subprocess.run([sys.executable, "-c", "import advisor.service.app, "
                         "advisor.predictors.training, advisor.cli.main"],
                        env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    blocked = subprocess.run([sys.executable, "-c", "import matplotlib.pyplot"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert "ModuleNotFoundError" in blocked.stderr and "not a dependency" in blocked.stderr


@pytest.mark.slow
def test_a_real_retrain_with_only_the_service_dependencies(tmp_path):
    """Train, evaluate and promote with the real trainer through `serve`; rows an older version
    stored that break training are quarantined and the retraining succeeds."""
    settings = service_settings(tmp_path)  # the data folder Serve uses
    hostile = {name: store_raw(settings, payload, f"old-{name}")
               for name, payload in hostile_rows().items()}
    serve = Serve(tmp_path, env={"PYTHONPATH": service_only_pythonpath(tmp_path / "site"),
                                 "ADVISOR_RETRAIN_TOLERANCE": "10",
                                 # 10 groups of devices: 6 minutes of retraining, not 18
                                 "ADVISOR_EVAL_DEVICE_FOLDS": "10"})
    try:
        url = serve.url
        assert httpx.post(f"{url}/v1/measurements", json=speed_row(1)).json()["stored"] == 1
        assert httpx.post(f"{url}/v1/retrain", timeout=30).status_code == 202
        deadline = time.time() + 40 * 60  # about 2 minutes on an idle 2-core machine
        while (job := httpx.get(f"{url}/v1/retrain", timeout=30).json())["state"] == "running":
            assert time.time() < deadline, "retraining did not finish"
            time.sleep(2)
        assert job["state"] == "promoted", (job, serve.logged()[-3000:])
        report = job["report"]
        assert report["stored_rows_used"] == 1 and report["quarantined"] == len(hostile)
        serving = [v for v in httpx.get(f"{url}/v1/predictors").json() if v["serving"]]
        assert [v["id"] for v in serving] == [job["version"]]
        evaluation = tmp_path / "data" / "models" / "versions" / job["version"] / "EVALUATION.md"
        assert "Not drawn: matplotlib" in evaluation.read_text(encoding="utf-8")
        quarantine = httpx.get(f"{url}/v1/quarantine").json()["items"]
        assert sorted(q["id"] for q in quarantine) == sorted(hostile.values())
        assert len(httpx.get(f"{url}/v1/measurements").json()["items"]) == 1
        r = httpx.get(f"{url}/recommend", params={"vram": "24GB", "hardware": "RTX 3090"})
        assert r.status_code == 200 and r.json()["predictor_version"]
    finally:
        serve.stop()

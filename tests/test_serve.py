"""How `quant-advisor serve` runs uvicorn, and how its worker processes get their settings."""

import pytest
from service_fixtures import TOKEN, Serve, gone_within

from advisor.service.app import ENV_PREFIX, effective_settings, export_settings, uvicorn_options
from advisor.vocabulary.settings import Settings, get_settings


@pytest.fixture
def clean_env(monkeypatch):
    """Run with no ADVISOR_* variables, and restore them (and get_settings) afterwards."""
    import os

    for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(key)
    yield monkeypatch
    get_settings.cache_clear()


def test_workers_build_exactly_the_parents_settings(clean_env, tmp_path):
    settings = effective_settings(
        Settings(data_dir=tmp_path, api_token=TOKEN, cors_origins=["https://a.example"],
                 workers=3, access_log=False, retrain_tolerance=0.25),
        host="0.0.0.0", port=8123)
    for name in settings.model_dump():  # so that monkeypatch undoes what export_settings sets
        clean_env.setenv(ENV_PREFIX + name.upper(), "placeholder")
    export_settings(settings)
    rebuilt = get_settings()
    assert rebuilt.model_dump() == settings.model_dump()
    assert rebuilt.api_token is not None
    assert rebuilt.api_token.get_secret_value() == TOKEN
    assert rebuilt.database_url is None and rebuilt.host == "0.0.0.0" and rebuilt.port == 8123


def test_uvicorn_runs_as_measured():
    options = uvicorn_options(Settings(port=8123))
    assert options["http"] == "httptools" and options["loop"] == "uvloop"
    assert options["access_log"] is False and options["port"] == 8123
    assert Settings().workers == 2


def test_metrics_of_several_workers_are_read_from_their_files(tmp_path):
    """In multiprocess mode (as `serve` runs several workers) /metrics reads the workers'
    files; the version gauge keeps the old version at 0 instead of a stale 1."""
    import subprocess
    import sys

    script = (
        "from advisor.service.observability import Metrics\n"
        "m = Metrics()\n"
        "m.requests.labels('GET', '/recommend', '200').inc(3)\n"
        "m.set_version('old')\n"
        "m.set_version('new')\n"
        "print(m.exposition().decode())\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=60,
                         env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": ""}).stdout
    lines = out.splitlines()
    assert any(line.startswith('advisor_http_requests_total{method="GET",route="/recommend"')
               and line.endswith(" 3.0") for line in lines), out
    assert any('version="new"' in line and line.endswith(" 1.0") for line in lines), out
    assert any('version="old"' in line and line.endswith(" 0.0") for line in lines), out
    assert list(tmp_path.glob("counter_*.db"))


# -- one process tree: `serve` and everything it starts end together ---------------------------

def _retraining(serve: Serve, min_processes: int) -> list[int]:
    """Start a (real) retraining and wait until its process and helpers run."""
    import time

    import httpx

    assert httpx.post(f"{serve.url}/v1/retrain", timeout=30).status_code == 202
    deadline = time.time() + 240
    while len(tree := serve.tree()) < min_processes:
        assert time.time() < deadline, f"retraining helpers did not start: {tree}"
        time.sleep(0.5)
    return tree


@pytest.mark.slow
def test_kill_9_of_serve_leaves_no_process_holding_the_port(tmp_path):
    import os
    import signal

    serve = Serve(tmp_path)
    started = serve.logged()
    assert '"WARNING"' not in started and '"ERROR"' not in started, started  # a quiet start
    assert "Warning" not in started, started
    tree = serve.tree()  # two workers, multiprocessing's resource tracker
    assert len(tree) >= 2
    os.kill(serve.proc.pid, signal.SIGKILL)
    serve.proc.wait(10)
    assert gone_within(tree, serve.port, 30) == [], serve.logged()
    serve = Serve(tmp_path, serve.port)  # a restart on the same port and data folder works
    tree = serve.tree()
    serve.proc.terminate()
    assert serve.proc.wait(60) == 0
    assert gone_within(tree, serve.port, 30) == []


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_running_retraining_and_its_helpers_stop_with_serve(tmp_path, how):
    import os
    import signal

    import httpx

    serve = Serve(tmp_path)
    # two workers and a resource tracker; the training process, its helpers (joblib's two
    # workers and resource tracker)
    tree = _retraining(serve, min_processes=6)
    os.kill(serve.proc.pid, getattr(signal, how))
    serve.proc.wait(60)
    assert gone_within(tree, serve.port, 30) == [], serve.logged()
    serve = Serve(tmp_path, serve.port)
    tree = serve.tree()
    try:  # the killed job is reported failed, and a new one may start at once
        job = httpx.get(f"{serve.url}/v1/retrain").json()
        assert job["state"] == "failed" and "stopped" in job["message"], job
        assert httpx.post(f"{serve.url}/v1/retrain").status_code == 202
        tree = serve.tree()
    finally:
        serve.proc.kill()
        serve.proc.wait(10)
        assert gone_within(tree, serve.port, 30) == []

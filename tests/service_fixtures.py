"""Helpers for the team-service tests: valid rows, a fast fake trainer, an isolated app."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import Any

from advisor.data.dataset import Dataset, default_measurements_dir
from advisor.predictors.artifacts import QUALITY_FILE, SPEED_FILE
from advisor.predictors.capability import CAPABILITY_FILE
from advisor.predictors.card import CARD_FILE, ModelCard, read_card
from advisor.vocabulary.settings import Settings

SHIPPED_MODELS = Path(__file__).resolve().parent.parent / "models"
TOKEN = "test-token-0123456789abcdef"


def quality_row(i: int, **changes: Any) -> dict[str, Any]:
    row = {"kind": "quality", "source_id": "team_upload", "provenance": "measured",
           "run_id": f"run-{i}", "model": "Llama-3.1-8B", "model_as_published": "Llama 3.1 8B",
           "params_b": 8.03, "quant": "Q4_K_M", "quant_as_published": "Q4_K_M",
           "metric": "mmlu", "metric_kind": "accuracy", "task_category": "knowledge",
           "value": 60.0 + i * 1e-3, "baseline_value": 66.0, "retention": 0.9}
    row.update(changes)
    return row


def speed_row(i: int, **changes: Any) -> dict[str, Any]:
    row = {"kind": "speed", "source_id": "team_upload", "provenance": "measured",
           "model": "Llama-3.1-8B", "model_as_published": "Llama 3.1 8B", "params_b": 8.03,
           "quant": "Q4_K_M", "quant_as_published": "Q4_K_M",
           "hardware": "NVIDIA GeForce RTX 3090", "hardware_kind": "gpu", "backend": "cuda",
           "test": "tg128", "tokens_per_s": 100.0 + i * 1e-3, "bandwidth_gbs": 935.8}
    row.update(changes)
    return row


class FakeTrainer:
    """Copies the shipped predictors with a new card whose errors are scaled by ``factor``."""

    def __init__(self, factor: float = 1.0, delay_s: float = 0.0) -> None:
        self.factor, self.delay_s = factor, delay_s
        self.datasets: list[Dataset] = []

    def __call__(self, dataset: Dataset, out_dir: Path) -> ModelCard:
        import time

        self.datasets.append(dataset)
        for name in (QUALITY_FILE, SPEED_FILE, CAPABILITY_FILE):
            shutil.copyfile(SHIPPED_MODELS / name, out_dir / name)
            time.sleep(self.delay_s / 2)
        card = read_card(SHIPPED_MODELS)
        card = dataclasses.replace(card, data_hash=dataset.content_hash,
                                   metrics=_scale(card.metrics, self.factor))
        (out_dir / CARD_FILE).write_text(card.to_json(), encoding="utf-8")
        return card


def _scale(metrics: dict[str, Any], factor: float) -> dict[str, Any]:
    return {k: _scale(v, factor) if isinstance(v, dict) else
            v * factor if k.endswith(("_ae", "_ape")) and isinstance(v, float) else v
            for k, v in metrics.items()}


def service_settings(tmp_path: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path / "data",
                              "measurements_dir": default_measurements_dir(),
                              "models_dir": SHIPPED_MODELS, "log_json": False}
    values.update(changes)
    return Settings(**values)


# -- an environment with exactly the service's dependencies ------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def service_distributions() -> set[str]:
    """The distributions ``pip install -e .`` installs: the project's dependencies (no extras,
    from this checkout's pyproject.toml) and, recursively, theirs (normalised names)."""
    import importlib.metadata as metadata
    import re
    import tomllib

    from packaging.requirements import Requirement

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    todo = [(Requirement(r), frozenset[str]()) for r in project["project"]["dependencies"]]
    seen: set[str] = set()
    while todo:
        req, _ = todo.pop()
        name = norm(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({"extra": extra})
                                         for extra in (req.extras or {""})):
                todo.append((sub, frozenset()))
    return seen


def blocked_modules() -> set[str]:
    """Top-level modules installed here that no service distribution provides (matplotlib,
    llama_cpp, playwright, schemathesis, ...)."""
    import importlib.metadata as metadata
    import re

    allowed = service_distributions()
    blocked = set()
    for module, dists in metadata.packages_distributions().items():
        if not any(re.sub(r"[-_.]+", "-", d).lower() in allowed for d in dists):
            blocked.add(module)
    return blocked - {"advisor", "_distutils_hack", "pkg_resources", "setuptools", "pip"}


SITECUSTOMIZE = '''"""Written by tests/service_fixtures.py: make this interpreter (and every process it
starts, through PYTHONPATH) see only the service's dependencies."""
import importlib.abc
import sys

BLOCKED = frozenset({blocked!r})


class _ServiceOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not a dependency of the "
                                      "service)", name=name)
        return None


sys.meta_path.insert(0, _ServiceOnly())
'''


def service_only_pythonpath(folder: Path) -> str:
    """A PYTHONPATH under which Python imports only what the service's install has."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        SITECUSTOMIZE.format(blocked=sorted(blocked_modules())), encoding="utf-8")
    return f"{folder}{os.pathsep}{ROOT}"


class HelperTrainer:
    """Starts a helper process (as joblib starts its workers), records its pid in
    ``pid_file``, then trains like :class:`FakeTrainer` after ``delay_s``."""

    def __init__(self, pid_file: Path, delay_s: float) -> None:
        self.pid_file, self.delay_s = pid_file, delay_s

    def __call__(self, dataset: Dataset, out_dir: Path) -> ModelCard:
        import subprocess
        import sys
        import time

        helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        self.pid_file.write_text(f"{os.getpid()} {helper.pid}", encoding="utf-8")
        time.sleep(self.delay_s)
        helper.kill()
        return FakeTrainer()(dataset, out_dir)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def store_raw(settings: Settings, payload: str, content_hash: str) -> int:
    """Store a row as an older version of the service might have: no check on the way in."""
    from datetime import UTC, datetime

    from advisor.service.store import Store, measurements

    store = Store.open(settings.sqlalchemy_url)
    try:
        with store.engine.begin() as conn:
            return int(conn.execute(measurements.insert().values(
                content_hash=content_hash, kind="speed", model="Llama-3.1-8B",
                hardware="NVIDIA GeForce RTX 3090", source_id="team_upload",
                provenance="measured", quant="Q4_K_M", payload=payload,
                stored_at=datetime.now(UTC)).returning(measurements.c.id)).scalar_one())
    finally:
        store.close()


def hostile_rows() -> dict[str, str]:
    """Rows the service once accepted that broke it (issue 18), as stored JSON."""
    import json

    deep = "{" + '"x":{' * 240 + "}" * 240 + "}"
    return {
        "deep": json.dumps(speed_row(900, environment="@")).replace('"@"', deep),
        "devices": json.dumps(speed_row(901, n_devices=10**30)),
        "threads": json.dumps(speed_row(902, threads=10**30)),
        "layers": json.dumps(speed_row(903, gpu_layers=-5)),
        "pp0": json.dumps(speed_row(904, test="pp0")),
        "broken": '{"kind": "speed", "model": ',
    }


# -- `quant-advisor serve` in a process of its own --------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    """Whether a restart could listen on ``port`` (uvicorn binds with SO_REUSEADDR)."""
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Serve:
    """`quant-advisor serve` as `make serve` runs it (two workers), in a data folder of its own."""

    def __init__(self, tmp_path: Path, port: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        import subprocess
        import sys
        import time

        import httpx

        self.port = port or free_port()
        environ = {k: v for k, v in os.environ.items() if not k.startswith("ADVISOR_")}
        environ.update({"ADVISOR_DATA_DIR": str(tmp_path / "data"), "ADVISOR_WORKERS": "2",
                        "ADVISOR_ACCESS_LOG": "false", "ADVISOR_RETRAIN_LEASE_S": "600",
                        **(env or {})})
        self.log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "advisor", "serve", "--port", str(self.port)],
            env=environ, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 180
        while time.time() < deadline:
            assert self.proc.poll() is None, self.logged()
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.proc.kill()
        raise AssertionError(f"serve did not become ready: {self.logged()}")

    def logged(self) -> str:
        self.log.flush()
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def tree(self) -> list[int]:
        """The pids of every process it started, and theirs (psutil: the measure extra)."""
        import pytest

        psutil = pytest.importorskip("psutil")
        return [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]

    def stop(self) -> None:
        tree = self.tree() if self.proc.poll() is None else []
        self.proc.kill()
        self.proc.wait(10)
        gone_within(tree, self.port, 30)
        self.log.close()


def gone_within(pids: list[int], port: int, seconds: float) -> list[int]:
    """Wait until none of ``pids`` runs and ``port`` is free; the pids still running."""
    import time

    deadline = time.time() + seconds
    while time.time() < deadline:
        alive = [p for p in pids if pid_alive(p)]
        if not alive and port_free(port):
            return []
        time.sleep(0.2)
    return [p for p in pids if pid_alive(p)]

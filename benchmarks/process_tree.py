"""Reliability of the service's process tree: how long until nothing of `serve` is left.

Starts ``quant-advisor serve`` (two workers, its own data folder, a free loopback port) and
stops it the ways a service stops, ``--runs`` times each, timing from the signal until no
process it started runs and the port can be listened on again:

- ``SIGKILL serve``: the supervising process killed (a crash, the OOM killer, ``kill -9``);
  its workers must notice and stop;
- ``SIGTERM during retraining`` / ``SIGKILL during retraining``: a (real) retraining running,
  with its process and joblib's helper processes; all of them must stop too.

Prints one line per run and the worst time of each way. Needs ``psutil`` (the ``measure``
extra) to list the processes.

    python benchmarks/process_tree.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADVISOR_")}
    env.update({"ADVISOR_DATA_DIR": str(data), "ADVISOR_WORKERS": "2",
                "ADVISOR_ACCESS_LOG": "false"})
    proc = subprocess.Popen([sys.executable, "-m", "advisor", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("serve did not become ready")


def retrain(proc: subprocess.Popen[bytes], port: int) -> None:
    """Start a retraining and wait until its process and joblib's helpers run."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/retrain", method="POST")
    urllib.request.urlopen(request, timeout=30).close()
    deadline = time.time() + 300
    while len(psutil.Process(proc.pid).children(recursive=True)) < 6:
        if time.time() > deadline:
            raise SystemExit("the retraining's helpers did not start")
        time.sleep(0.5)


def stop_time(proc: subprocess.Popen[bytes], port: int, sig: int) -> float:
    tree = psutil.Process(proc.pid).children(recursive=True)
    start_s = time.perf_counter()
    proc.send_signal(sig)
    proc.wait(60)
    while any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in tree) or not (
            port_free(port)):
        if time.perf_counter() - start_s > 120:
            return float("inf")
        time.sleep(0.05)
    return time.perf_counter() - start_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ways = [("SIGKILL serve", signal.SIGKILL, False),
            ("SIGTERM during retraining", signal.SIGTERM, True),
            ("SIGKILL during retraining", signal.SIGKILL, True)]
    worst: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="advisor-tree-") as tmp:
        for name, sig, retraining in ways:
            for run in range(args.runs):
                port = free_port()
                proc = start(Path(tmp) / f"{name.split()[1]}-{run}", port)
                if retraining:
                    retrain(proc, port)
                seconds = stop_time(proc, port, sig)
                worst[name] = max(worst.get(name, 0.0), seconds)
                print(f"{name}, run {run + 1}: nothing left, port free after {seconds:.2f} s",
                      flush=True)
    for name, seconds in worst.items():
        print(f"worst {name}: {seconds:.2f} s")


if __name__ == "__main__":
    main()

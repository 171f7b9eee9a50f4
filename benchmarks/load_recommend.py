"""Load benchmark: `/recommend` against a bare endpoint, on the service run as the README says.

Starts ``quant-advisor serve`` on a free loopback port (a separate process), waits until it is
ready, then drives it with ``wrk`` (Debian package ``wrk``) from another process, each run for
``--seconds`` at ``--connections`` concurrent connections:

- ``bare /health``: a fixed small answer, the floor of the HTTP stack and middleware;
- ``/recommend warm``: cycles through a realistic set of distinct queries (budgets x task mixes
  x hardware x context, :func:`realistic_queries`), each asked once before, so answers come
  from the answer cache: the figure for a service whose users ask common questions;
- ``/recommend cold``: every request a query never asked before (a distinct budget, written in
  kB, over the same mixes and hardware; ``load_recommend.lua``), so every answer is computed:
  the figure no cache can flatter. Per-context memory and per-device speed tables are warmed
  once first, as they are in a service that has run for a while.

Prints throughput and p50/p99 latency per run and each ``/recommend`` run's ratio to the bare
endpoint, so the cost of our own work is visible. ``--repeat N`` runs the whole set N times
(figures on a shared machine are noisy). Traffic stays on 127.0.0.1; every run is bounded.

    python benchmarks/load_recommend.py [--connections 32] [--seconds 10] [--repeat 1] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

LUA = Path(__file__).with_name("load_recommend.lua")
BUDGETS = ["4GB", "6GB", "8GB", "12GB", "16GB", "24GB", "32GB", "48GB", "64GB", "80GB",
           "96GB", "128GB"]
TASKS = ["reasoning", "coding", "math", "knowledge", "instruction_following",
         "reasoning:0.7,coding:0.3", "math:0.5,reasoning:0.5", "coding:0.6,knowledge:0.4"]
HARDWARE = [None, "NVIDIA GeForce RTX 3090", "NVIDIA GeForce RTX 4090",
            "Apple M2 Pro (19-core GPU, 32GB)"]
CONTEXTS = [None, 8192, 32768]


def realistic_queries() -> list[str]:
    """384 distinct /recommend paths: every budget x task mix x hardware, contexts cycled."""
    paths = []
    contexts = itertools.cycle(CONTEXTS)
    for budget, task, hardware in itertools.product(BUDGETS, TASKS, HARDWARE):
        params = {"vram": budget, "task": task}
        if hardware is not None:
            params["hardware"] = hardware
        context = next(contexts)
        if context is not None:
            params["context"] = str(context)
        paths.append("/recommend?" + urllib.parse.urlencode(params, safe=":,"))
    return paths


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"service at {url} did not become healthy within {timeout_s:.0f} s")


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(url: str, paths: list[str], connections: int, seconds: int,
            unique: bool = False) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(paths) + "\n")
        listing = fh.name
    env = {**os.environ, "LOAD_PATHS": listing, "LOAD_UNIQUE": "1" if unique else "0"}
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(LUA),
             url], capture_output=True, text=True, timeout=seconds + 30, check=True,
            env=env).stdout
    finally:
        os.unlink(listing)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests_per_s": rps, "p50_ms": p50, "p99_ms": p99,
            "non_2xx": float(errors.group(1)) if errors else 0.0}


def warm_up(url: str, paths: list[str]) -> None:
    """Ask every query once (fills the answer cache and the per-context/device tables)."""
    for path in paths:
        with urllib.request.urlopen(url + path, timeout=30) as r:
            r.read()


def run_set(url: str, connections: int, seconds: int) -> dict[str, dict[str, float]]:
    paths = realistic_queries()
    warm_up(url, paths)
    return {"bare /health": run_wrk(url, ["/health"], connections, seconds),
            "/recommend warm": run_wrk(url, paths, connections, seconds),
            "/recommend cold": run_wrk(url, paths, connections, seconds, unique=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1, help="run the whole set N times")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    exe = Path(sys.executable).with_name("quant-advisor")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(exe), "serve", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        wait_ready(url)
        runs = [run_set(url, args.connections, args.seconds) for _ in range(args.repeat)]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    if args.json:
        print(json.dumps({"connections": args.connections, "seconds": args.seconds,
                          "queries": len(realistic_queries()), "runs": runs}, indent=2))
        return
    print(f"{args.connections} connections, {args.seconds} s each, one `quant-advisor serve` "
          f"process (as `make serve` runs it); warm = {len(realistic_queries())} distinct "
          "queries asked before, cold = every query new")
    for n, run in enumerate(runs, 1):
        bare = run["bare /health"]["requests_per_s"]
        for name, r in run.items():
            ratio = f"  ({r['requests_per_s'] / bare:.2f} of bare)" if name != "bare /health" \
                else ""
            print(f"run {n} {name:>16}: {r['requests_per_s']:8.0f} requests/s  "
                  f"p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  "
                  f"non-2xx {r['non_2xx']:.0f}{ratio}")


if __name__ == "__main__":
    main()

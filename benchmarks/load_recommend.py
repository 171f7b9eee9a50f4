"""Load benchmark: `/recommend` against a bare endpoint, on the service run as the README says.

Starts ``quant-advisor serve`` on a free loopback port (a separate process), waits until it is
ready, then drives it with ``wrk`` (Debian package ``wrk``) from another process: first a bare
endpoint (``/health``), then ``/recommend`` with a few distinct queries, each for ``--seconds``
at ``--connections`` concurrent connections. Prints throughput and p50/p99 latency per endpoint
and the ratio, so the cost of our own work is visible. Traffic stays on 127.0.0.1 and every run
is bounded in time.

    python benchmarks/load_recommend.py [--connections 32] [--seconds 10] [--json]
"""

from __future__ import annotations

import argparse
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
import urllib.request
from pathlib import Path

QUERIES = [
    "/recommend?vram=24GB&task=reasoning",
    "/recommend?vram=8GB&task=coding&hardware=NVIDIA%20GeForce%20RTX%203090",
    "/recommend?vram=80GB&task=reasoning:0.5,math:0.5",
    "/recommend?vram=16GB&task=knowledge&context=8192",
]
LUA = """
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
"""
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


def run_wrk(url: str, paths: list[str], connections: int, seconds: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(LUA % ", ".join(json.dumps(p) for p in paths))
        script = fh.name
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url],
            capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    finally:
        os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests_per_s": rps, "p50_ms": p50, "p99_ms": p99,
            "non_2xx": float(errors.group(1)) if errors else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
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
        for path in QUERIES:  # warm the per-request caches once, as a running service would be
            urllib.request.urlopen(url + path, timeout=30).read()
        bare = run_wrk(url, ["/health"], args.connections, args.seconds)
        rec = run_wrk(url, QUERIES, args.connections, args.seconds)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    ratio = rec["requests_per_s"] / bare["requests_per_s"]
    if args.json:
        print(json.dumps({"connections": args.connections, "seconds": args.seconds,
                          "bare /health": bare, "/recommend": rec, "throughput_ratio": ratio},
                         indent=2))
        return
    print(f"{args.connections} connections, {args.seconds} s each, one `quant-advisor serve` "
          "process (as `make serve` runs it)")
    for name, r in (("bare /health", bare), ("/recommend", rec)):
        print(f"{name:>14}: {r['requests_per_s']:8.0f} requests/s  p50 {r['p50_ms']:6.1f} ms  "
              f"p99 {r['p99_ms']:6.1f} ms  non-2xx {r['non_2xx']:.0f}")
    print(f"/recommend throughput is {ratio:.2f} of the bare endpoint's")


if __name__ == "__main__":
    main()

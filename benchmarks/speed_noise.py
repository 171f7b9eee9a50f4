"""Is this machine quiet enough to measure speed? Times one test back to back and prints how much
a measurement of a given length would differ from another one taken later.

    python benchmarks/speed_noise.py FILE.gguf [--test tg128] [--threads 2] [--seconds 180]

The model is loaded once and ``--test`` runs again and again (after one warm-up) for
``--seconds``. It prints the tokens/s of every run in 10-second bins, the overall median and
coefficient of variation, the CPU time stolen by the hypervisor (Linux ``/proc/stat``), and,
for measurements spanning 1 to 32 consecutive runs, the median and 90th percentile of
``|B / A - 1|`` between the medians of two such measurements taken at different times: what
two runs of ``quant-advisor measure`` would disagree by on this machine, whatever it measures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def _stolen_share() -> tuple[int, int]:
    """(steal ticks, all ticks) from /proc/stat; (0, 0) where there is none."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0, 0
    ticks = [int(v) for v in fields]
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks)


def _pair_differences(values: np.ndarray, k: int) -> np.ndarray:
    """``|B / A - 1|`` between the medians of every two non-overlapping windows of ``k`` runs."""
    medians = np.array([np.median(values[i:i + k]) for i in range(0, len(values) - k + 1, k)])
    if len(medians) < 2:
        return np.array([])
    a, b = np.triu_indices(len(medians), k=1)
    return np.abs(medians[b] / medians[a] - 1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--test", default="tg128")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gpu-layers", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    from advisor.measure.llama_backend import LlamaSession, RunConfig
    from advisor.measure.speed import context_for, timed_runs

    config = RunConfig(threads=args.threads, gpu_layers=args.gpu_layers)
    stamps, values = [], []
    steal0, total0 = _stolen_share()
    with LlamaSession(args.model, config, n_ctx=context_for([args.test])) as session:
        start = time.perf_counter()
        for tps in timed_runs(session, args.test):
            stamps.append(time.perf_counter() - start)
            values.append(tps)
            if stamps[-1] >= args.seconds:
                break
    steal1, total1 = _stolen_share()
    v = np.asarray(values)
    bins = {}
    for t, x in zip(stamps, values, strict=True):
        bins.setdefault(int(t // 10) * 10, []).append(x)
    spans = {}
    for k in (1, 3, 5, 10, 20, 32):
        d = _pair_differences(v, k)
        if len(d):
            spans[k] = {"seconds": round(k * stamps[-1] / len(v), 1),
                        "median": float(np.median(d)), "p90": float(np.quantile(d, 0.9))}
    figures = {
        "model": str(args.model), "test": args.test, "threads": args.threads, "runs": len(v),
        "seconds": round(stamps[-1], 1), "median_tokens_per_s": float(np.median(v)),
        "cv": float(v.std(ddof=1) / v.mean()) if len(v) > 1 else 0.0,
        "min": float(v.min()), "max": float(v.max()),
        "stolen_cpu_share": (steal1 - steal0) / (total1 - total0) if total1 > total0 else None,
        "bins_10s": {t: round(statistics.median(x), 1) for t, x in bins.items()},
        "two_measurements_differ": spans,
    }
    if args.json:
        print(json.dumps(figures, indent=1))
        return 0
    print(f"{args.model.name} {args.test}, {args.threads} threads: {len(v)} runs in "
          f"{stamps[-1]:.0f} s, median {figures['median_tokens_per_s']:.1f} tok/s, CV "
          f"{figures['cv']:.1%}, range {v.min():.1f}-{v.max():.1f}")
    if figures["stolen_cpu_share"] is not None:
        print(f"CPU time stolen by the hypervisor: {figures['stolen_cpu_share']:.2%}")
    print("median tok/s per 10 s: " + " ".join(f"{x:.0f}" for x in figures["bins_10s"].values()))
    print(f"{'runs per measurement':>20} {'spanning':>9} {'median |B/A-1|':>15} {'P90':>6}")
    for k, s in spans.items():
        print(f"{k:>20} {s['seconds']:>8.1f}s {s['median']:>15.1%} {s['p90']:>6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

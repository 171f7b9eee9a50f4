"""Do two runs of `quant-advisor measure` agree? Prints one line per (file, test) and a summary.

    python benchmarks/run_to_run.py RUN_A_DIR RUN_B_DIR

Each directory is a `measure --out` folder (or a model folder inside one). For every speed test
measured in both runs it prints each run's median tokens/s, the within-run coefficient of
variation (stdev / mean of the raw repeats), and the run-to-run difference |b / a - 1|; for
quality rows (perplexity, KL divergence...) it reports whether both runs gave the same value.
The issue's bar: generation within 5% from run to run, perplexity and KL divergence identical.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def _rows(folder: Path) -> dict[tuple[str, ...], dict]:
    out: dict[tuple[str, ...], dict] = {}
    for path in sorted(folder.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if row["kind"] == "speed":
                key = ("speed", row["model"], row["quant"], row["test"])
            else:
                key = ("quality", row["model"], row["quant"], row.get("benchmark", ""),
                       row.get("metric", ""), row.get("task_category") or "")
            out[key] = row
    return out


def _cv(row: dict) -> float:
    raw = row.get("raw_tokens_per_s") or []
    if len(raw) < 2:
        return float("nan")
    return statistics.stdev(raw) / statistics.fmean(raw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="run-to-run bar for generation tests (default 0.05)")
    args = parser.parse_args(argv)
    a, b = _rows(args.run_a), _rows(args.run_b)
    common = sorted(set(a) & set(b))
    if not common:
        print(f"no row is in both {args.run_a} and {args.run_b}", file=sys.stderr)
        return 2
    by_test: dict[str, list[float]] = {}
    print(f"{'model':24} {'quant':7} {'test':12} {'run A':>9} {'run B':>9} "
          f"{'CV A':>6} {'CV B':>6} {'B/A-1':>7}")
    for key in (k for k in common if k[0] == "speed"):
        ra, rb = a[key], b[key]
        diff = rb["tokens_per_s"] / ra["tokens_per_s"] - 1.0
        by_test.setdefault(key[3], []).append(abs(diff))
        print(f"{key[1][:24]:24} {key[2]:7} {key[3]:12} {ra['tokens_per_s']:9.1f} "
              f"{rb['tokens_per_s']:9.1f} {_cv(ra):6.1%} {_cv(rb):6.1%} {diff:+7.1%}")
    print()
    failed = False
    for test, diffs in sorted(by_test.items()):
        worst = max(diffs)
        bar = test.startswith("tg")
        verdict = ("" if not bar else
                   "  ok" if worst <= args.tolerance else f"  over the {args.tolerance:.0%} bar")
        failed |= bar and worst > args.tolerance
        print(f"{test:12} {len(diffs):3} files: median |B/A-1| {statistics.median(diffs):.1%}, "
              f"max {worst:.1%}{verdict}")
    quality = [k for k in common if k[0] == "quality"]
    if quality:
        differ = [k for k in quality if a[k].get("value") != b[k].get("value")]
        print(f"quality rows: {len(quality)} in both runs, {len(differ)} differ"
              + "".join(f"\n  {k[1:]}: {a[k].get('value')} vs {b[k].get('value')}"
                        for k in differ[:10]))
        failed |= bool(differ)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

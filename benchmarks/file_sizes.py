"""Computed GGUF file sizes against the sizes uploaders publish.

For every file of ``measurements/catalog/gguf_files.csv`` (imported from
``../shared/data/gguf/file_sizes.csv``), prints the published size, the size
:func:`advisor.data.weights.weights_bytes` computes from the catalog's architecture with the
file's llama-quantize options, and the error; then the median and worst absolute error over
the standard llama-quantize files, and the same for the files left out of that check (with
why). Models the catalog cannot describe completely are listed with what is missing.

    PYTHONPATH=. python benchmarks/file_sizes.py [--all] [--json]

``--all`` lists every file (default: standard files, then the others' summary).
"""

from __future__ import annotations

import argparse
import json
import sys

from advisor.data.arch import load_architectures
from advisor.data.gguf_files import read_gguf_files
from advisor.data.size_check import SizeCheck, check_sizes, summarise


def _line(c: SizeCheck) -> str:
    f = c.file
    pub = f"{f.size_bytes / 1e9:9.3f}" + ("" if f.size_tolerance == 0 else "~")
    head = f"{f.model or f.published_model:36.36s} {f.quant:7s} {f.repo[:34]:34s} {pub}"
    if c.predicted_bytes is None:
        return f"{head}         -      -   {c.problem[:60]}"
    return f"{head} {c.predicted_bytes / 1e9:9.3f} {100 * c.error:+6.2f}%"


def _stats(label: str, checks: list[SizeCheck]) -> str:
    s = summarise(checks)
    return (f"{label}: {s['files']} files, {s['models']} models, median |error| "
            f"{100 * s['median_abs_error']:.2f}%, worst {100 * s['worst_abs_error']:.2f}%")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="list non-standard files too")
    parser.add_argument("--json", action="store_true", help="one JSON object per file")
    args = parser.parse_args(argv)
    checks = check_sizes(read_gguf_files(), load_architectures())
    standard = [c for c in checks if c.file.standard]
    others = [c for c in checks if not c.file.standard]
    if args.json:
        for c in checks:
            row = {**c.file.model_dump(), "predicted_bytes": c.predicted_bytes,
                   "error": None if c.predicted_bytes is None else c.error,
                   "problem": c.problem}
            print(json.dumps(row))
        return 0
    print(f"{'model':36s} {'quant':7s} {'repo':34s} {'pub. GB':>9s} {'pred. GB':>9s} error")
    for c in standard + (others if args.all else []):
        print(_line(c) + ("" if c.file.standard else f"   [{c.file.exclusion[:50]}]"))
    print()
    print(_stats("standard llama-quantize files", standard))
    missing = sorted({(c.file.model, c.problem) for c in standard if c.predicted_bytes is None})
    for model, problem in missing:
        print(f"  no prediction for {model}: {problem}")
    worst = sorted((c for c in standard if c.predicted_bytes is not None),
                   key=lambda c: -abs(c.error))[:5]
    print("  largest misses: " + "; ".join(
        f"{c.file.model} {c.file.quant} {100 * c.error:+.2f}%" for c in worst))
    print(_stats("left out of the check (unsloth, QAT, Ollama, Qwen's own, requantized, "
                 "quoted references)", [c for c in others if c.file.model]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

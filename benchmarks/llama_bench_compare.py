"""Our pp512/tg128 timing next to llama-bench's, on the same GGUF files and threads.

Builds ``llama-bench`` once with cmake from the llama.cpp sources vendored in the
llama-cpp-python sdist of the installed version (``pip download --no-binary``; a few minutes on
2 cores; cached under ``var/llama-bench/``), then for each file runs ``llama-bench -p 512 -n 128
-t THREADS -r REPEATS -fa 0|1`` and :func:`advisor.measure.speed.run_test` with the same
settings, and prints both with the ratio. The pipeline's figures are meant to be within 10% of
llama-bench's. Flash attention is set on both sides: llama-bench's default ("auto") turns it on
for the CPU, the pipeline's default is off.

The two tools take turns, ``--rounds`` times per file (llama-bench first in odd rounds, ours
first in even ones), and the ratio is taken within each round: on a shared machine whose speed
drifts by several percent from one minute to the next (``benchmarks/speed_noise.py``), a
measurement is only comparable with one taken next to it. The table gives each tool's median
over rounds and the median and range of the per-round ratios.

    python benchmarks/llama_bench_compare.py var/measure/SmolLM2-135M-Instruct/Q8_0.gguf ... \
        [--threads 2] [--repeats 5] [--rounds 3] [--flash-attn] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "llama-bench"


def build_llama_bench() -> Path:
    """Path of a llama-bench binary built from the installed llama-cpp-python's sources."""
    ver = version("llama-cpp-python")
    binary = CACHE / ver / "build" / "bin" / "llama-bench"
    if binary.exists():
        return binary
    src_root = CACHE / ver
    src_root.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--no-binary", ":all:", f"llama-cpp-python=={ver}", "-d", str(src_root)],
                   check=True)
    sdist = next(src_root.glob("llama_cpp_python-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        tar.extractall(src_root, filter="data")
    vendor = next(src_root.glob("llama_cpp_python-*/vendor/llama.cpp"))
    build = src_root / "build"
    subprocess.run(["cmake", "-S", str(vendor), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                    "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_SERVER=OFF"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(build), "--target", "llama-bench", "-j", "2"],
                   check=True, stdout=subprocess.DEVNULL)
    return binary


def llama_bench(binary: Path, model: Path, threads: int, repeats: int, flash_attn: bool
                ) -> dict[str, float]:
    # -fa explicitly: llama-bench's default is "auto", which turns flash attention on for the
    # CPU (pp512 1,485 against 1,243 tokens/s with it off for SmolLM2 Q2_K on 2 threads)
    out = subprocess.run([str(binary), "-m", str(model), "-t", str(threads), "-p", "512",
                          "-n", "128", "-r", str(repeats), "-fa", str(int(flash_attn)),
                          "-o", "json"],
                         capture_output=True, text=True, check=True).stdout
    result = {}
    for entry in json.loads(out):
        test = f"pp{entry['n_prompt']}" if entry["n_gen"] == 0 else f"tg{entry['n_gen']}"
        result[test] = float(entry["avg_ts"])
    return result


def ours(model: Path, threads: int, repeats: int, flash_attn: bool) -> dict[str, float]:
    from advisor.measure.llama_backend import LlamaSession, RunConfig
    from advisor.measure.speed import run_test

    session = LlamaSession(model, RunConfig(threads=threads, flash_attn=flash_attn), n_ctx=1024)
    try:
        return {t: run_test(session, t, repeats).mean for t in ("pp512", "tg128")}
    finally:
        session.close()


def compare(model: Path, binary: Path, args: argparse.Namespace) -> list[dict]:
    """Per test: both tools' median over rounds and the per-round ratios (ours / llama-bench)."""
    per_round = []
    for r in range(args.rounds):
        theirs_first = r % 2 == 0
        if theirs_first:
            ref = llama_bench(binary, model, args.threads, args.repeats, args.flash_attn)
        got = ours(model, args.threads, args.repeats, args.flash_attn)
        if not theirs_first:
            ref = llama_bench(binary, model, args.threads, args.repeats, args.flash_attn)
        per_round.append((ref, got))
    rows = []
    for test in ("pp512", "tg128"):
        ratios = [got[test] / ref[test] for ref, got in per_round]
        rows.append({"file": model.name, "test": test,
                     "llama_bench": statistics.median(ref[test] for ref, _ in per_round),
                     "quant_advisor": statistics.median(got[test] for _, got in per_round),
                     "ratio": statistics.median(ratios), "ratio_min": min(ratios),
                     "ratio_max": max(ratios), "rounds": len(ratios)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3,
                        help="turns each tool takes per file (default 3)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--flash-attn", action="store_true",
                        help="both with flash attention (default: both without, as "
                             "`quant-advisor measure` runs by default)")
    args = parser.parse_args()
    if args.rounds < 1 or args.repeats < 1:
        parser.error("--rounds and --repeats must be at least 1")
    if shutil.which("cmake") is None:
        raise SystemExit("cmake is needed to build llama-bench: apt-get install cmake")
    binary = build_llama_bench()
    rows = [row for model in args.models for row in compare(model, binary, args)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"threads {args.threads}, {args.repeats} repeats x {args.rounds} rounds, flash "
          f"attention {'on' if args.flash_attn else 'off'}, mean tokens/s per round")
    print(f"{'file':<24}{'test':<7}{'llama-bench':>12}{'ours':>10}{'ours/llama-bench':>18}"
          f"{'round range':>16}")
    for r in rows:
        print(f"{r['file']:<24}{r['test']:<7}{r['llama_bench']:>12.1f}{r['quant_advisor']:>10.1f}"
              f"{r['ratio']:>18.3f}{r['ratio_min']:>9.3f}-{r['ratio_max']:.3f}")


if __name__ == "__main__":
    main()

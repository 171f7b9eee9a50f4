"""Our pp512/tg128 timing next to llama-bench's, on the same GGUF files and threads.

Builds ``llama-bench`` once with cmake from the llama.cpp sources vendored in the
llama-cpp-python sdist of the installed version (``pip download --no-binary``; a few minutes on
2 cores; cached under ``var/llama-bench/``), then for each file runs ``llama-bench -p 512 -n 128
-t THREADS -r REPEATS -fa 0|1`` and :func:`advisor.measure.speed.run_test` with the same
settings, and prints both with the ratio. The pipeline's figures are meant to be within 10% of
llama-bench's. Flash attention is set on both sides: llama-bench's default ("auto") turns it on
for the CPU, the pipeline's default is off.

    python benchmarks/llama_bench_compare.py var/measure/SmolLM2-135M-Instruct/Q8_0.gguf ... \
        [--threads 2] [--repeats 5] [--flash-attn] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--flash-attn", action="store_true",
                        help="both with flash attention (default: both without, as "
                             "`quant-advisor measure` runs by default)")
    args = parser.parse_args()
    if shutil.which("cmake") is None:
        raise SystemExit("cmake is needed to build llama-bench: apt-get install cmake")
    binary = build_llama_bench()
    rows = []
    for model in args.models:
        ref = llama_bench(binary, model, args.threads, args.repeats, args.flash_attn)
        mine = ours(model, args.threads, args.repeats, args.flash_attn)
        for test in ("pp512", "tg128"):
            rows.append({"file": model.name, "test": test, "llama_bench": ref[test],
                         "quant_advisor": mine[test], "ratio": mine[test] / ref[test]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"threads {args.threads}, {args.repeats} repeats, flash attention "
          f"{'on' if args.flash_attn else 'off'}, mean tokens/s")
    print(f"{'file':<24}{'test':<7}{'llama-bench':>12}{'ours':>10}{'ours/llama-bench':>18}")
    for r in rows:
        print(f"{r['file']:<24}{r['test']:<7}{r['llama_bench']:>12.1f}{r['quant_advisor']:>10.1f}"
              f"{r['ratio']:>18.3f}")


if __name__ == "__main__":
    main()

"""Measure quant ladders on a CUDA GPU machine that has no package index and no model weights.

Such a machine (a lent GPU, an air-gapped server) gets a kit prepared on a networked one:

* ``llama.cpp-src.tar.xz``: the llama.cpp sources vendored in the installed llama-cpp-python's
  sdist (CPU-only backends trimmed), built here with CUDA for the local GPU;
* ``whl/``: wheels of this project's light dependencies for the machine's Python;
* ``py/llama_cpp``: llama-cpp-python's Python files, pointed at the CUDA build with
  ``LLAMA_CPP_LIB_PATH``.

Then, for each ``synthetic:<model>`` (random weights with a published model's shapes; speed and
memory only, see :mod:`advisor.measure.synthetic`), it runs ``quant-advisor measure --speed-only
--gpu-layers 99`` and llama-bench on the same files with the same settings, so the pipeline's
figures can be checked against llama.cpp's own tool on the GPU too. Each model's rows land in
``--out`` as the pipeline writes them (one atomic file per quant); llama-bench's JSON beside them.

    python3 benchmarks/device_ladder.py --kit .gpu --out measurements/measured/gpu \\
        --models llama-3.2-1b,llama-3.1-8b [--stop-after 480]

``--stop-after`` starts no new model after that many seconds (a run cut short resumes: finished
quants are kept). Prepare the kit with ``--prepare`` on a machine with pip and the sdist.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUANTS = "Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q3_K_M,Q2_K,IQ4_XS"
# Backends this kit never builds: dropping their sources keeps the kit small.
_TRIM = ("models", "docs", "media", "tools/ui", "tests", "benches", "examples",
         *(f"ggml/src/ggml-{b}" for b in ("vulkan", "sycl", "opencl", "hexagon", "metal", "et",
                                          "webgpu", "openvino", "cann")))


def prepare(kit: Path, python_version: str) -> None:
    """Write the kit (see module doc) from this machine's llama-cpp-python and pip."""
    from importlib.metadata import version

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from llama_bench_compare import CACHE, build_llama_bench

    build_llama_bench()  # fetches and unpacks the sdist once (cached)
    vendor = next((CACHE / version("llama-cpp-python")).glob(
        "llama_cpp_python-*/vendor/llama.cpp"))
    kit.mkdir(parents=True, exist_ok=True)
    trimmed = {f"llama.cpp/{t}" for t in _TRIM}
    with tarfile.open(kit / "llama.cpp-src.tar.xz", "w:xz") as tar:
        tar.add(vendor, arcname="llama.cpp",
                filter=lambda m: None if any(m.name == t or m.name.startswith(t + "/")
                                             for t in trimmed) else m)
    wheels = ["pydantic", "pydantic_core", "annotated-types", "typing-inspection",
              "humanfriendly", "gguf", "diskcache"]  # diskcache: llama_cpp imports it
    pins = [f"{w}=={version(w)}" for w in wheels]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--python-version", python_version,
                    "--implementation", "cp", "--platform", "manylinux_2_17_x86_64",
                    "--platform", "manylinux2014_x86_64", "-d", str(kit / "whl"), *pins],
                   check=True)
    import llama_cpp

    dst = kit / "py" / "llama_cpp"
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(Path(llama_cpp.__file__).parent, dst,
                    ignore=shutil.ignore_patterns("lib", "server", "__pycache__"))
    print(f"kit written to {kit}")


def build(kit: Path, build_dir: Path, arch: str) -> Path:
    """Build libllama and llama-bench with CUDA (once); returns the folder holding both."""
    bin_dir = build_dir / "bin"
    if (bin_dir / "llama-bench").exists() and (bin_dir / "libllama.so").exists():
        return bin_dir
    src = build_dir.parent / "llama.cpp-src"
    if not src.exists():
        src.mkdir(parents=True)
        with tarfile.open(kit / "llama.cpp-src.tar.xz") as tar:
            tar.extractall(src, filter="data")
    t0 = time.perf_counter()
    subprocess.run(["cmake", "-S", str(src / "llama.cpp"), "-B", str(build_dir), "-G", "Ninja",
                    "-DCMAKE_BUILD_TYPE=Release", "-DGGML_CUDA=ON",
                    f"-DCMAKE_CUDA_ARCHITECTURES={arch}", "-DLLAMA_CURL=OFF",
                    "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
                    "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF",
                    "-DLLAMA_BUILD_APP=OFF"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(build_dir), "--target", "llama-bench", "llama",
                    "-j", str(os.cpu_count() or 4)], check=True, stdout=subprocess.DEVNULL)
    print(f"built llama.cpp with CUDA in {time.perf_counter() - t0:.0f} s", flush=True)
    return bin_dir


def environment(kit: Path, bin_dir: Path, site: Path) -> dict[str, str]:
    """Environment for the measuring process: the kit's packages and the CUDA libllama."""
    if not site.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
                        "--no-deps", "--no-compile", "--target", str(site),
                        *map(str, sorted((kit / "whl").glob("*.whl")))], check=True)
    path = os.pathsep.join([str(site), str(kit / "py"), str(ROOT)])
    env = {**os.environ, "PYTHONPATH": path, "LLAMA_CPP_LIB_PATH": str(bin_dir),
           "PYTHONUNBUFFERED": "1"}
    # Without this, libggml-cuda's C++ calls bound to another copy of libstdc++ loaded earlier
    # in the process (numpy's dependencies) and crashed in std::ostream (an H100 machine).
    found = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in found.splitlines():
        if line.strip().startswith("libstdc++.so.6 ") and "x86-64" in line:
            env["LD_PRELOAD"] = line.rsplit("=>", 1)[1].strip()
            break
    return env


def llama_bench(bin_dir: Path, files: list[Path], threads: int, repeats: int) -> list[dict]:
    """llama-bench pp512 and tg128 at 0 and 2048 tokens of depth, all layers on the GPU."""
    out = []
    for f in files:
        proc = subprocess.run([str(bin_dir / "llama-bench"), "-m", str(f), "-ngl", "99",
                               "-t", str(threads), "-fa", "0", "-p", "512", "-n", "128",
                               "-d", "0,2048", "-r", str(repeats), "-o", "json"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"llama-bench failed on {f}: {proc.stderr[-500:]}", flush=True)
            continue
        for entry in json.loads(proc.stdout):
            entry["file"] = f.name
            out.append(entry)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kit", type=Path, default=ROOT / ".gpu")
    parser.add_argument("--prepare", action="store_true", help="write the kit and exit")
    parser.add_argument("--python-version", default="3.12", help="kit wheels' Python")
    parser.add_argument("--models", default="smollm2-135m-instruct,llama-3.2-1b")
    parser.add_argument("--quants", default=QUANTS)
    parser.add_argument("--out", type=Path, default=ROOT / "measurements" / "measured" / "gpu")
    parser.add_argument("--work", type=Path, default=Path("/tmp/qa-work"))
    parser.add_argument("--build", type=Path, default=Path("/tmp/qa-llama/build"))
    parser.add_argument("--cuda-arch", default="90")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stop-after", type=float, default=float("inf"))
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from advisor.measure.synthetic import shape_for
    if args.prepare:
        prepare(args.kit, args.python_version)
        return
    t0 = time.perf_counter()
    bin_dir = build(args.kit, args.build, args.cuda_arch)
    if args.build_only:
        return
    env = environment(args.kit, bin_dir, args.build.parent / "site")
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        if time.perf_counter() - t0 > args.stop_after:
            print(f"stopping before {model}: --stop-after reached", flush=True)
            break
        t_model = time.perf_counter()
        free = shutil.disk_usage(args.work.parent).free / 1e9
        # F16 reference plus the whole ladder is about 3.3x the F16 file
        needed = 3.3 * 2 * shape_for(f"synthetic:{model}").n_params / 1e9
        keep = "--keep-quants" if free > 1.2 * needed else "--delete-quants"
        cmd = [sys.executable, "-c", "from advisor.cli.measure import measure; measure()",
               "--model", f"synthetic:{model}", "--quants", args.quants, "--speed-only",
               "--gpu-layers", "99", "--threads", str(args.threads),
               "--repeats", str(args.repeats), "--out", str(args.out),
               "--work-dir", str(args.work), keep]
        subprocess.run(cmd, env=env, check=False)
        files = sorted(args.work.glob("*/*.gguf"))
        bench = llama_bench(bin_dir, files, args.threads, args.repeats)
        name = files[0].parent.name if files else model
        (args.out / name).mkdir(parents=True, exist_ok=True)
        (args.out / name / "llama-bench.json").write_text(json.dumps(bench, indent=1))
        shutil.rmtree(args.work, ignore_errors=True)
        print(f"{model}: {time.perf_counter() - t_model:.0f} s ({free:.0f} GB free at start, "
              f"{keep})", flush=True)


if __name__ == "__main__":
    main()

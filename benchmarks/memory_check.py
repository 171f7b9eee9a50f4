"""Check advisor.recommender.memory against measured peak RSS: each GGUF loaded in a fresh process.

For every file, :func:`advisor.measure.worker.run_in_subprocess` starts a ``spawn`` process that
loads it with llama.cpp, runs the speed tests (speed only, no quality pass) and reads its peak
RSS (``VmHWM``). The memory model's CPU prediction is what llama.cpp adds to the process, so it
is compared with ``peak RSS - RSS before load`` (the worker reads its baseline before
``llama_cpp`` is imported); the full peak is printed too. Under each file, the model's itemised
terms stand beside the buffers llama.cpp itself logged allocating (model: mapped file +
CPU_REPACK copies; KV and recurrent state; compute and output).

``--synthetic`` adds files with the real shapes of current architectures from the catalog
(:data:`SYNTHETIC`: dense GQA, sliding window, hybrid Gated DeltaNet, hybrid Mamba-2, MoE, MoE
with MXFP4 experts, MLA): every width, head count and vocabulary of the model, its first N
layers only (so a file is 0.3-2 GB), random weights at the types llama-quantize gives them
(:mod:`advisor.measure.synthetic_model`). They are written once into ``--workdir``.

    python benchmarks/memory_check.py [FILE.gguf ...] [--synthetic [--models Qwen3-8B:4:Q4_K_M,...]]
        [--tokenizer ggml-vocab-qwen2.gguf] [--threads 2] [--batch 512]
        [--tests pp512@d1024,tg16@d1520] [--flash-attn] [--workdir var/memcheck]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from advisor.measure.environment import isa_flags
from advisor.measure.llama_backend import RunConfig
from advisor.measure.speed import context_for
from advisor.measure.worker import FileJob, FileResult, run_in_subprocess
from advisor.recommender.file_memory import predicted_memory
from advisor.recommender.memory import MemoryBreakdown
from advisor.vocabulary.units import MIB

#: (what it stands for, catalog model, layers kept, file type): one per attention layout.
SYNTHETIC: tuple[tuple[str, str, int, str], ...] = (
    ("dense GQA", "Qwen3-8B", 4, "Q4_K_M"),
    ("sliding window 5:1", "gemma-3-4b", 6, "Q4_K_M"),
    ("hybrid Gated DeltaNet", "Qwen3.5-4B", 8, "Q4_K_M"),
    ("hybrid Mamba-2", "granite-4.0-h-1b", 10, "Q4_K_M"),
    ("MoE 128 experts", "Qwen3-30B-A3B", 2, "Q4_K_M"),
    ("MoE MXFP4 + SWA", "gpt-oss-20b", 2, "MXFP4_MOE"),
    ("MLA + MoE", "GLM-4.7-Flash", 3, "Q4_K_M"),
)


def synthetic_files(specs: list[tuple[str, str, int, str]], workdir: Path,
                    tokenizer: Path | None) -> list[tuple[Path, str]]:
    """Each spec's random-weight GGUF in ``workdir`` (written unless already there)."""
    from advisor.data.arch import load_architectures
    from advisor.measure.synthetic_model import scaled, write_random_gguf

    archs = load_architectures()
    workdir.mkdir(parents=True, exist_ok=True)
    out = []
    for kind, model, layers, quant in specs:
        arch = archs.get(model)
        path = workdir / f"{model}-{layers}L-{quant}.gguf"
        if not path.is_file():
            print(f"writing {path} ({layers} of {arch.n_layers} layers)", flush=True)
            part = path.with_suffix(".part")
            write_random_gguf(scaled(arch, layers), part, quant, tokenizer=tokenizer)
            part.rename(path)
        out.append((path, f"{kind}, {model} {layers}/{arch.n_layers} layers"))
    return out


def _parse_models(text: str) -> list[tuple[str, str, int, str]]:
    specs = []
    for item in (x.strip() for x in text.split(",") if x.strip()):
        parts = item.split(":")
        if len(parts) != 3 or not parts[1].isdigit():
            raise SystemExit(f"--models: each item is MODEL:LAYERS:QUANT, got {item!r}")
        specs.append(("custom", parts[0], int(parts[1]), parts[2]))
    return specs


def itemised(est: MemoryBreakdown, buffers: dict[str, float], file_mib: float) -> str:
    """The model's terms and llama.cpp's logged buffers side by side, MiB."""
    def total(*kinds: str) -> float:
        return sum(v for k, v in buffers.items() if k.split()[-1] in kinds)

    repack = sum(v for k, v in buffers.items() if k.startswith("CPU_REPACK"))
    ours = (f"ours: weights {est.weights_bytes / MIB:.0f} (file {file_mib:.0f} + repack "
            f"{est.weights_bytes / MIB - file_mib:.0f}), KV+RS {est.kv_cache_bytes / MIB:.1f}, "
            f"compute+output {est.compute_buffer_bytes / MIB:.1f} (resident), overhead "
            f"{est.overhead_bytes / MIB:.1f}")
    if not buffers:
        return f"    {ours}\n    llama.cpp: no buffer lines captured"
    theirs = (f"llama.cpp: model {total('model'):.0f} (mapped {total('model') - repack:.0f} + "
              f"repack {repack:.0f}), KV+RS {total('KV', 'RS'):.1f}, compute+output "
              f"{total('compute', 'output'):.1f} (allocated)")
    return f"    {ours}\n    {theirs}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--synthetic", action="store_true",
                    help="add random-weight files of the catalog architectures in SYNTHETIC")
    ap.add_argument("--models", default="",
                    help="with --synthetic: MODEL:LAYERS:QUANT,... instead of SYNTHETIC")
    ap.add_argument("--tokenizer", type=Path, default=None,
                    help="GGUF whose tokenizer the synthetic files copy (padded to the "
                         "vocabulary), e.g. llama.cpp's models/ggml-vocab-qwen2.gguf")
    ap.add_argument("--workdir", type=Path, default=Path("var/memcheck"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--tests", default="pp512@d1024,tg16@d1520")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--flash-attn", action="store_true")
    args = ap.parse_args(argv)
    files = [(p, "") for p in args.files]
    if args.synthetic:
        specs = _parse_models(args.models) if args.models else list(SYNTHETIC)
        files += synthetic_files(specs, args.workdir, args.tokenizer)
    if not files:
        ap.error("give GGUF files, --synthetic, or both")
    tests = tuple(t.strip() for t in args.tests.split(",") if t.strip())
    context = context_for(list(tests))
    config = RunConfig(args.threads, 0, args.batch, args.flash_attn)
    print(f"context {context} tokens, batch {args.batch}, threads {args.threads}, "
          f"flash attention {'on' if args.flash_attn else 'off'}, full-context SWA cache "
          f"{'on' if config.swa_full else 'off'}, tests {','.join(tests)}")
    head = (f"{'file':<34} {'predicted':>10} {'measured':>10} {'error':>8} "
            f"{'peak RSS':>10} {'baseline':>9}")
    print(head)
    print("-" * len(head))
    worst = 0.0
    for path, label in files:
        est = predicted_memory(path, context=context, batch=args.batch,
                               flash_attn=args.flash_attn, isa=isa_flags(),
                               swa_full=config.swa_full)
        job = FileJob(path, config, tests, args.repeats, reference=path.with_suffix(".npz"),
                      is_reference=False, skip_quality=True)
        result: FileResult = run_in_subprocess(job)
        measured = result.peak_rss_mib - result.rss_before_load_mib
        predicted = est.total_bytes / MIB if est else float("nan")
        error = (predicted - measured) / measured * 100
        if est:
            worst = max(worst, abs(error))
        shown = f"{predicted:10.1f}" if est else f"{'-':>10}"
        print(f"{path.name:<34} {shown} {measured:10.1f} {error:+7.1f}% "
              f"{result.peak_rss_mib:10.1f} {result.rss_before_load_mib:9.1f}")
        if label:
            print(f"    {label}")
        if est:
            print(itemised(est, result.llama_buffers_mib, path.stat().st_size / MIB),
                  flush=True)
    print("MiB; predicted = advisor.recommender.memory (cpu runtime); "
          "measured = peak RSS - RSS before load")
    print(f"largest error {worst:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Check advisor.recommender.memory against measured peak RSS: each GGUF loaded in a fresh process.

For every file, :func:`advisor.measure.worker.run_in_subprocess` starts a ``spawn`` process that
loads it with llama.cpp, runs the speed tests (speed only, no quality pass) and reads its peak
RSS (``VmHWM``). The memory model's CPU prediction is what llama.cpp adds to the process, so it
is compared with ``peak RSS - RSS before load`` (the worker reads its baseline before
``llama_cpp`` is imported); the full peak is printed too.

    python benchmarks/memory_check.py var/measure/SmolLM2-135M-Instruct/Q8_0.gguf ... \\
        [--threads 2] [--batch 512] [--tests pp512,tg128,tg128@d2048] [--flash-attn]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from advisor.measure.environment import isa_flags
from advisor.measure.llama_backend import RunConfig
from advisor.measure.speed import context_for
from advisor.measure.worker import FileJob, run_in_subprocess
from advisor.recommender.file_memory import predicted_memory_mib


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--tests", default="pp512,tg128,tg128@d2048")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--flash-attn", action="store_true")
    args = ap.parse_args(argv)
    tests = tuple(t.strip() for t in args.tests.split(",") if t.strip())
    context = context_for(list(tests))
    config = RunConfig(args.threads, 0, args.batch, args.flash_attn)
    print(f"context {context} tokens, batch {args.batch}, threads {args.threads}, "
          f"flash attention {'on' if args.flash_attn else 'off'}, tests {','.join(tests)}")
    head = (f"{'file':<22} {'predicted':>10} {'measured':>10} {'error':>8} "
            f"{'peak RSS':>10} {'baseline':>9}")
    print(head)
    print("-" * len(head))
    worst = 0.0
    for path in args.files:
        predicted = predicted_memory_mib(path, context=context, batch=args.batch,
                                         flash_attn=args.flash_attn, isa=isa_flags())
        job = FileJob(path, config, tests, args.repeats, reference=path.with_suffix(".npz"),
                      is_reference=False, skip_quality=True)
        result = run_in_subprocess(job)
        measured = result.peak_rss_mib - result.rss_before_load_mib
        error = (predicted - measured) / measured * 100 if predicted else float("nan")
        worst = max(worst, abs(error))
        shown = f"{predicted:10.1f}" if predicted else f"{'-':>10}"
        print(f"{path.name:<22} {shown} {measured:10.1f} {error:+7.1f}% "
              f"{result.peak_rss_mib:10.1f} {result.rss_before_load_mib:9.1f}", flush=True)
    print("MiB; predicted = advisor.recommender.memory (cpu runtime); "
          "measured = peak RSS - RSS before load")
    print(f"largest error {worst:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())

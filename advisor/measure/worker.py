"""Measuring one GGUF in a fresh process, so its peak RSS belongs to that file alone.

:func:`run_in_subprocess` starts a ``spawn`` process that loads the file, times the speed tests,
records the peak RSS, then (outside every timed region) scores quality. Errors come back as
text and are raised again in the parent as :class:`~advisor.measure.MeasurementError`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from advisor.measure import MeasurementError
from advisor.measure.llama_backend import RunConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileJob:
    """What to measure for one file. ``reference`` is the reference's ``.npz`` to compare with,
    or to write when ``is_reference``."""

    path: Path
    config: RunConfig
    tests: tuple[str, ...]
    repeats: int
    reference: Path
    is_reference: bool
    chunk_tokens: int = 512
    n_chunks: int = 16
    task_seed: int = 1234
    tasks_per_category: int = 16
    skip_quality: bool = False


@dataclass
class FileResult:
    """Raw outcome of :func:`measure_file` (plain data, picklable)."""

    load_time_s: float = 0.0
    rss_before_load_mib: float = 0.0
    peak_rss_mib: float = 0.0
    gpu_mib: float | None = None  # GPU memory in use after the speed tests minus before load
    # the buffers llama.cpp reported allocating for the model and the speed tests' context
    # (MiB by name, llama_backend.pop_buffer_sizes); empty for GPU runs
    llama_buffers_mib: dict[str, float] = field(default_factory=dict)
    speed: dict[str, list[float]] = field(default_factory=dict)
    load_avg_1m: tuple[float, float] = (0.0, 0.0)  # system load before and after speed tests
    copy_bandwidth_gbs: float | None = None  # host copy bandwidth before the worker (the ladder's)
    cpu_share: float = 1.0  # CPU time / (wall time x threads) over the speed tests
    skipped_tests: dict[str, str] = field(default_factory=dict)
    perplexity: dict[str, float] = field(default_factory=dict)
    divergence: dict[str, float] = field(default_factory=dict)
    task_picks: list[int] = field(default_factory=list)
    error: str | None = None


def _peak_rss_mib() -> float:
    """Peak RSS of this process since it started, MiB.

    Linux: ``VmHWM`` of /proc/self/status, which starts afresh at exec. ``ru_maxrss`` does not:
    Linux carries it over from the forking parent, so it would report the parent's size.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def measure_file(job: FileJob) -> FileResult:
    """Speed, memory and quality of ``job.path`` in this process (see module docstring)."""
    import dataclasses

    import psutil

    from advisor.measure import quality
    from advisor.measure.environment import gpu_memory_used_mib
    from advisor.measure.llama_backend import LlamaSession, pop_buffer_sizes
    from advisor.measure.speed import context_for, run_test
    from advisor.measure.task_suites import build_suites

    result = FileResult(rss_before_load_mib=psutil.Process().memory_info().rss / 2**20)
    fitting = list(job.tests)
    gpu_before = gpu_memory_used_mib() if job.config.gpu_layers else None
    with LlamaSession(job.path, job.config, n_ctx=job.chunk_tokens) as session:
        for test in job.tests:
            if context_for([test]) > session.n_ctx_train:
                fitting.remove(test)
                result.skipped_tests[test] = (f"needs {context_for([test])} tokens of context, "
                                              f"the model was trained for {session.n_ctx_train}")
        result.load_time_s = session.load_time_s
        load_before = os.getloadavg()[0]
        me = psutil.Process()
        cpu0, wall0 = sum(me.cpu_times()[:2]), time.perf_counter()
        if fitting:
            session.new_context(context_for(fitting))
            for test in fitting:
                result.speed[test] = list(run_test(session, test, job.repeats).raw_tokens_per_s)
        result.peak_rss_mib = _peak_rss_mib()
        result.llama_buffers_mib = pop_buffer_sizes()
        if gpu_before is not None:  # llama.cpp allocates its buffers up front: used ~ peak
            gpu_after = gpu_memory_used_mib()
            result.gpu_mib = None if gpu_after is None else max(gpu_after - gpu_before, 0.0)
        result.load_avg_1m = (load_before, os.getloadavg()[0])
        wall = time.perf_counter() - wall0
        if fitting and wall > 0:
            result.cpu_share = (sum(me.cpu_times()[:2]) - cpu0) / (wall * job.config.threads)
        if job.skip_quality:
            return result
        session.new_context(job.chunk_tokens)
        if job.is_reference:
            chunks = quality.chunk_tokens(session, quality.eval_text(), job.chunk_tokens,
                                          job.n_chunks)
            result.perplexity = quality.reference_pass(session, chunks, job.reference)
        else:
            result.divergence = dataclasses.asdict(quality.compare_pass(session, job.reference))
        items = build_suites(job.task_seed, job.tasks_per_category)
        result.task_picks = quality.choose_answers(session, items)
    return result


def _guarded(job: FileJob) -> FileResult:
    try:
        return measure_file(job)
    except Exception as e:  # sent back as text: exception objects may not survive pickling
        return FileResult(error=f"{type(e).__name__}: {e}")


def run_in_subprocess(job: FileJob) -> FileResult:
    """:func:`measure_file` in a fresh ``spawn`` process; raises MeasurementError on failure."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        try:
            result = pool.submit(_guarded, job).result()
        except Exception as e:  # the process died (killed, out of memory, crash in C)
            raise MeasurementError(f"measuring {job.path} failed: the worker process ended "
                                   f"abnormally ({type(e).__name__}: {e})") from e
    if result.error is not None:
        raise MeasurementError(f"measuring {job.path} failed: {result.error}")
    return result

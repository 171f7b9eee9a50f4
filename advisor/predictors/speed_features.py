"""Features of the speed predictor: the physics of a llama-bench test and the labels that shift it.

The speed predictor takes a plain :class:`pandas.DataFrame` (one row per question) and turns
it into the columns here, so that training rows (:meth:`Dataset.speed_frame`) and prediction
rows go through the same code. Units: ``params_b`` in billions, ``model_bytes`` in bytes,
``bandwidth_gbs`` in GB/s (10^9 bytes), ``fp16_tflops`` / ``fp16_tensor_tflops`` in 10^12 FLOP/s.

A device *given by specs* has only its kind, bandwidth, FP16 figure and memory (and perhaps a
backend): every other label (FLOPS basis, backend, build) is then ``'unknown'``, which the model
reads as the typical value of the device's kind, never as a level of its own.

**Build.** ``build_year`` is when the llama.cpp that ran the test was built, as a fractional
year: the row's ``date`` (the run, or the source's post), else its build number through
:data:`BUILD_DATES` (mainline numbers only: forks and shallow clones number their own
commits); NaN when neither is known (this project's own measurements run llama-cpp-python,
whose bundled llama.cpp is older than the run). Predictions are for the newest build the
predictor was trained on unless a row says otherwise.
"""

from __future__ import annotations

import math
import re
from datetime import date

import numpy as np
import pandas as pd

from advisor.predictors.features import UNKNOWN, _column, _numeric, flag_set
from advisor.predictors.speed_physics import HARDWARE_KINDS
from advisor.vocabulary.quants import find_quant

#: Speed predictor inputs (see :func:`speed_features` for what may be missing).
SPEED_INPUTS: tuple[str, ...] = (
    "model_bytes", "params_b", "active_params_b", "quant", "n_prompt", "n_gen", "depth",
    "hardware_kind", "backend", "bandwidth_gbs", "fp16_tflops", "fp16_tensor_tflops",
    "memory_gb", "hardware", "fp16_basis", "threads", "n_devices", "build_year", "n_ubatch",
    "flash_attn")

BACKENDS: tuple[str, ...] = ("cuda", "rocm", "vulkan", "metal", "sycl", "opencl", "cpu", "other")
#: Flags of rows measured on a development build: a llama.cpp pull request's branch, or the
#: master it was compared with in that thread (see :mod:`advisor.data.importers.speed_labels`).
DEV_BUILD_FLAGS = frozenset({"pr_build", "pr_thread"})
#: Mainline llama.cpp build numbers and their dates, from speed rows and sources that give both
#: (speed/SOURCES.md): b2797-2843 May 2024 (xiongjiedai_gpu_bench), b3441 2024-07-24
#: (ik_llama_readme_2024), b4384 2024-12-24 (ik_llama_disc164_2024), b5318 2025-05-09
#: (ik_llama_disc399_offload), b6077 2025-08-05 (lhl_strix_halo_moe_2025), b7951 2026-02-06
#: (orion_zhen_llama_bench_dashboard), b9049 2026-05-07 (hogeheer_strix_halo_guide), b10464
#: 2026-08-18 (nathanw1014_strix_halo_llamacpp). Between them a build's date is interpolated.
BUILD_DATES: tuple[tuple[int, str], ...] = (
    (2820, "2024-05-12"), (3441, "2024-07-24"), (4384, "2024-12-24"), (5318, "2025-05-09"),
    (6077, "2025-08-05"), (7951, "2026-02-06"), (9049, "2026-05-07"), (10464, "2026-08-18"))




def quant_typical_bpw(quant: object) -> float:
    """Typical bits per weight of a quant name, NaN when the name is not in the catalog."""
    if not isinstance(quant, str) or not quant:
        return math.nan
    q = find_quant(quant)
    return q.typical_bpw if q is not None else math.nan


def quant_family(quant: object) -> str:
    """Catalog family of a quant name (``'k-quant'``, ``'i-quant'``...) or ``'unknown'``."""
    if not isinstance(quant, str) or not quant:
        return UNKNOWN
    q = find_quant(quant)
    return q.family.value if q is not None else UNKNOWN


def effective_bpw(frame: pd.DataFrame) -> pd.Series:
    """``bpw`` where given, else the catalog's typical bpw of ``quant`` (NaN if neither)."""
    bpw = _numeric(frame, "bpw")
    fill = _column(frame, "quant").map(quant_typical_bpw).astype("float64")
    return bpw.fillna(fill)


def _named(series: pd.Series) -> pd.Series:
    return series.notna() & (series.astype("object").astype(str).str.strip() != "")


def _label(series: pd.Series) -> pd.Series:
    out = series.astype("object").where(series.notna(), UNKNOWN)
    return out.map(lambda v: str(v).strip().lower() or UNKNOWN).astype("object")


def year_of(text: str) -> float:
    """``'2025-08-05'`` (or ``'2025-08'``) as a fractional year; NaN when not a date.

    >>> round(year_of("2025-07-02"), 3), str(year_of("soon"))
    (2025.499, 'nan')
    """
    match = re.fullmatch(r"(\d{4})-(\d{2})(?:-(\d{2}))?", text.strip())
    if not match:
        return float("nan")
    y, m, d = int(match.group(1)), int(match.group(2)), int(match.group(3) or 15)
    try:
        day = date(y, m, d).timetuple().tm_yday
    except ValueError:
        return float("nan")
    return y + (day - 1) / (366 if y % 4 == 0 else 365)


_ANCHORS = np.array([[b, year_of(d)] for b, d in BUILD_DATES])


def build_number_year(build: float) -> float:
    """The date of a mainline llama.cpp build number (:data:`BUILD_DATES`, interpolated; the
    end rates carry on outside them), as a fractional year.

    >>> round(build_number_year(6077), 2), round(build_number_year(7000), 1)
    (2025.59, 2025.8)
    """
    b, y = _ANCHORS[:, 0], _ANCHORS[:, 1]
    if build < b[0]:
        return float(y[0] - (b[0] - build) * (y[1] - y[0]) / (b[1] - b[0]))
    if build > b[-1]:
        return float(y[-1] + (build - b[-1]) * (y[-1] - y[-2]) / (b[-1] - b[-2]))
    return float(np.interp(build, b, y))


def _row_build_year(env: object, fork: object) -> float:
    env = env if isinstance(env, dict) else {}
    when = env.get("date")
    if isinstance(when, str) and not np.isnan(year_of(when)):
        return year_of(when)
    build = re.search(r"\((\d+)\)", str(env.get("llama_cpp_build", "")))
    if build and not (isinstance(fork, str) and fork) and int(build.group(1)) > 1000:
        return build_number_year(int(build.group(1)))
    return float("nan")


def build_years(frame: pd.DataFrame) -> pd.Series:
    """Each row's llama.cpp build date as a fractional year (see the module docstring): a
    ``build_year`` column wins, else the row's ``environment`` and ``fork``."""
    given = _numeric(frame, "build_year")
    if "environment" not in frame.columns:
        return given
    derived = [_row_build_year(e, f) for e, f in zip(
        frame["environment"], _column(frame, "fork", ""), strict=True)]
    return given.fillna(pd.Series(derived, index=frame.index, dtype="float64"))


def _ubatch(frame: pd.DataFrame) -> pd.Series:
    given = _numeric(frame, "n_ubatch")
    if "environment" in frame.columns:
        from_env = frame["environment"].map(
            lambda e: e.get("n_ubatch") if isinstance(e, dict) else None)
        given = given.fillna(pd.to_numeric(from_env, errors="coerce"))
    return given.where(given > 0)


def backend_family(backend: object) -> str:
    """Group llama-bench backend strings: ``'ROCm [rocm7.1.1]'`` -> ``'rocm'``.

    >>> backend_family("Vulkan [vulkan_radv]"), backend_family("MTL,BLAS"), backend_family(None)
    ('vulkan', 'metal', 'unknown')
    """
    if not isinstance(backend, str) or not backend.strip() or backend.strip() == UNKNOWN:
        return UNKNOWN
    b = backend.strip().lower()
    for key, family in (("cuda", "cuda"), ("rocm", "rocm"), ("hip", "rocm"),
                        ("vulkan", "vulkan"), ("metal", "metal"), ("mtl", "metal"),
                        ("sycl", "sycl"), ("opencl", "opencl"), ("cpu", "cpu")):
        if key in b:
            return family
    return "other"


def flops_basis(text: object) -> str:
    """What an FP16 TFLOPS figure measures, from hardware.csv's ``fp16_basis`` text.

    ``'tensor'`` (tensor-core / matrix / WMMA peak), ``'fp32'`` (a FP32 figure standing in for
    FP16), ``'vector'`` (non-tensor FP16) or ``'unknown'``.

    >>> flops_basis("tensor-core FP16 dense"), flops_basis("GPU FP32 peak"), flops_basis(None)
    ('tensor', 'fp32', 'unknown')
    """
    if not isinstance(text, str) or not text.strip():
        return UNKNOWN
    t = text.lower()
    if "non-tensor" in t or "vector" in t:
        return "vector"
    if "tensor" in t or "wmma" in t or "matrix" in t or "xmx" in t:
        return "tensor"
    if "fp32" in t:
        return "fp32"
    if "half" in t or "fp16 when possible" in t:  # Wikipedia's "Half" column; HF.js's figures
        return "vector"
    return UNKNOWN


def phase(n_prompt: pd.Series, n_gen: pd.Series) -> pd.Series:
    """``'pp'`` (prompt processing), ``'tg'`` (generation) or ``'mixed'`` per row."""
    out = pd.Series("mixed", index=n_prompt.index, dtype="object")
    out[(n_gen <= 0) & (n_prompt > 0)] = "pp"
    out[(n_prompt <= 0) & (n_gen > 0)] = "tg"
    return out


def speed_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Physical quantities and labels the speed model uses (same index as ``frame``).

    ``model_bytes`` falls back to ``params_b * 1e9 * typical_bpw / 8``; the bytes read per
    generated token scale with ``active_params_b / params_b`` (MoE: the experts used plus what
    every token uses, in proportion). ``flops`` is the vector FP16 figure, ``tensor_flops`` the
    dense tensor one; ``flops_basis`` what ``fp16_tflops`` measures (:func:`flops_basis` of an
    optional ``fp16_basis`` column; ``'unknown'`` when absent). ``ctx`` is the mean number of
    tokens already in the KV cache while the test runs (``depth`` plus half the test length).
    ``fork`` / ``host_limited``: the row names a fork of llama.cpp / a host that held the device
    back; ``dev_build``: its ``flags`` say it ran a development build (:data:`DEV_BUILD_FLAGS`).
    ``threads`` is the CPU thread count (NaN when not given); ``n_devices`` the number of
    identical devices the layers were split over (1 when not given); ``build_year`` see
    :func:`build_years`; ``ubatch`` the prompt micro-batch (NaN: llama-bench's 512);
    ``flash_attn`` 1/0 (NaN when not stated). Missing specs stay NaN: callers decide whether a
    row can be predicted.
    """
    params = _numeric(frame, "params_b")
    active = _numeric(frame, "active_params_b")
    active = active.where(active.notna() & (active > 0), params)
    bpw = effective_bpw(frame)
    model_bytes = _numeric(frame, "model_bytes")
    model_bytes = model_bytes.fillna(params * 1e9 * bpw / 8.0)
    params = params.fillna(model_bytes * 8.0 / bpw / 1e9)
    active = active.fillna(params)
    share = (active / params).clip(upper=1.0).fillna(1.0)
    n_prompt = _numeric(frame, "n_prompt").fillna(0.0)
    n_gen = _numeric(frame, "n_gen").fillna(0.0)
    depth = _numeric(frame, "depth").fillna(0.0)
    ph = phase(n_prompt, n_gen)
    tokens = pd.Series(np.where(ph == "tg", n_gen, n_prompt), index=frame.index,
                       dtype="float64")
    kind = _label(_column(frame, "hardware_kind", UNKNOWN))
    kind = kind.where(kind.isin(HARDWARE_KINDS), UNKNOWN)
    fa = _column(frame, "flash_attn").map(
        lambda v: float(v) if isinstance(v, bool | np.bool_ | int | float) and v == v else np.nan)
    out = pd.DataFrame({
        "phase": ph,
        "kind": kind,
        "backend": _column(frame, "backend").map(backend_family).astype("object"),
        "quant_family": _column(frame, "quant").map(quant_family).astype("object"),
        "model_bytes": model_bytes,
        "active_bytes": model_bytes * share,
        "active_params": active * 1e9,
        "params": params * 1e9,
        "bandwidth": _numeric(frame, "bandwidth_gbs") * 1e9,
        "flops": _numeric(frame, "fp16_tflops") * 1e12,
        "tensor_flops": _numeric(frame, "fp16_tensor_tflops") * 1e12,
        "n_tokens": tokens,
        "threads": _numeric(frame, "threads").where(lambda t: t > 0),
        "n_devices": _numeric(frame, "n_devices").where(lambda n: n >= 1).fillna(1.0),
        "ctx": depth + tokens / 2.0,
        "fork": _named(_column(frame, "fork")),
        "dev_build": _column(frame, "flags").map(
            lambda f: bool(DEV_BUILD_FLAGS & flag_set(f))).astype(bool),
        "host_limited": _named(_column(frame, "host_limit")),
        "moe": share < 0.999,
        "build_year": build_years(frame),
        "ubatch": _ubatch(frame),
        "flash_attn": fa.astype("float64"),
    }, index=frame.index)
    out["flops_basis"] = _column(frame, "fp16_basis", "").map(flops_basis).astype("object")
    return out


#: How far a published figure may exceed its device's physical ceiling before it is taken for a
#: mis-measured or mis-transcribed row. Generation at batch 1 reads every active weight once per
#: token, so tokens/s x active bytes cannot exceed the memory bandwidth by more than caches
#: allow (the highest row in the data reaches 1.07x: a 0.5 GB model on this project's EPYC VM,
#: whose bandwidth figure is a measured copy rate).
#: A prompt costs 2 FLOP per active parameter per token; llama.cpp's kernels reach up to 2.0x a
#: *vector* FP16 figure in the data (they use tensor cores the figure leaves out, which give at
#: most 4x on GeForce cards), so 6x the figure is out of reach whatever it measures; against a
#: dense *tensor* figure the bound is 1.5x.
#: The bandwidth ceiling applies only to weights larger than any cache, which could otherwise
#: serve a small model faster than DRAM (the largest last-level cache sold, AMD's EPYC 9684X,
#: holds 1.1 GB).
BANDWIDTH_CEILING = 2.0
FLOPS_CEILING = 6.0
TENSOR_FLOPS_CEILING = 1.5
CACHE_BYTES = 2e9


def roofline_ratio(frame: pd.DataFrame) -> pd.Series:
    """How many times its devices' roofline each speed row runs at.

    Generation: tokens/s x active bytes over the devices' bandwidth; prompt processing:
    2 x active parameters x tokens/s over their vector FP16 figure. NaN where the specs to tell
    are missing or the test is combined (``pp512+tg128``).
    """
    return _roofline_ratio(speed_features(frame), _numeric(frame, "tokens_per_s"))


def _roofline_ratio(x: pd.DataFrame, tokens: pd.Series, flops: str = "flops") -> pd.Series:
    gen = tokens * x["active_bytes"] / (x["bandwidth"] * x["n_devices"])
    pp = 2.0 * x["active_params"] * tokens / (x[flops] * x["n_devices"])
    return gen.where(x["phase"] == "tg", pp.where(x["phase"] == "pp"))


def over_physical_ceiling(frame: pd.DataFrame) -> pd.Series:
    """True for speed rows faster than their device could possibly run them.

    A generation row whose active weights exceed :data:`CACHE_BYTES` is over when its
    :func:`roofline_ratio` exceeds :data:`BANDWIDTH_CEILING`; a prompt row when it exceeds
    :data:`FLOPS_CEILING` of the vector figure or :data:`TENSOR_FLOPS_CEILING` of the tensor
    one. Rows without the specs to tell (no bandwidth, no FLOPS figure, a combined test) are
    never over.
    """
    x = speed_features(frame)
    tokens = _numeric(frame, "tokens_per_s")
    ratio = _roofline_ratio(x, tokens)
    gen = (x["phase"] == "tg") & (x["active_bytes"] > CACHE_BYTES) & (ratio > BANDWIDTH_CEILING)
    pp = (x["phase"] == "pp") & ((ratio > FLOPS_CEILING)
                                 | (_roofline_ratio(x, tokens, "tensor_flops")
                                    > TENSOR_FLOPS_CEILING))
    return (gen | pp).astype(bool)

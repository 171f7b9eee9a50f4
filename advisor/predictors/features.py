"""Feature construction shared by the quality and speed predictors.

Both predictors take a plain :class:`pandas.DataFrame` (one row per question) and turn it into
numeric columns here (the quality predictor's own columns are in
:mod:`advisor.predictors.quality_features`), so that training rows (from
:meth:`Dataset.quality_frame` / :meth:`Dataset.speed_frame`) and prediction rows go through the
same code.

Units: ``params_b`` in billions of parameters, ``bpw`` in bits per weight, ``model_bytes`` in
bytes, ``bandwidth_gbs`` in GB/s (10^9 bytes), ``fp16_tflops`` in 10^12 FLOP/s.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from advisor.vocabulary.quants import find_quant

#: Speed predictor inputs (see :func:`speed_features` for what may be missing).
SPEED_INPUTS: tuple[str, ...] = (
    "model_bytes", "params_b", "active_params_b", "quant", "n_prompt", "n_gen", "depth",
    "hardware_kind", "backend", "bandwidth_gbs", "fp16_tflops", "memory_gb", "hardware",
    "fp16_basis", "threads", "n_devices")

HARDWARE_KINDS: tuple[str, ...] = ("gpu", "apple", "cpu", "apu")
BACKENDS: tuple[str, ...] = ("cuda", "rocm", "vulkan", "metal", "sycl", "opencl", "cpu", "other")
UNKNOWN = "unknown"
#: Flags of rows measured on a development build: a llama.cpp pull request's branch, or the
#: master it was compared with in that thread (see :mod:`advisor.data.importers.speed_labels`).
DEV_BUILD_FLAGS = frozenset({"pr_build", "pr_thread"})
#: Micro-batch llama.cpp processes a prompt in: weights are read once per micro-batch.
UBATCH = 512


def _column(frame: pd.DataFrame, name: str, default: object = np.nan) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series(default, index=frame.index, dtype="object" if isinstance(default, str)
                     else "float64")


def _numeric(frame: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(_column(frame, name), errors="coerce").astype("float64")


def _named(series: pd.Series) -> pd.Series:
    """True where a free-text column names something (not missing, not blank)."""
    return series.notna() & (series.astype("object").astype(str).str.strip() != "")


def flag_set(value: object) -> set[str]:
    """A row's ``flags`` (a list, or missing) as a set of strings."""
    return {str(v) for v in value} if isinstance(value, list | tuple | set | np.ndarray) \
        else set()


def _label(series: pd.Series) -> pd.Series:
    """Lower-case string labels with missing values as ``'unknown'``."""
    out = series.astype("object").where(series.notna(), UNKNOWN)
    return out.map(lambda v: str(v).strip().lower() or UNKNOWN).astype("object")


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


def backend_family(backend: object) -> str:
    """Group llama-bench backend strings: ``'ROCm [rocm7.1.1]'`` -> ``'rocm'``.

    >>> backend_family("Vulkan [vulkan_radv]"), backend_family("MTL,BLAS"), backend_family(None)
    ('vulkan', 'metal', 'unknown')
    """
    if not isinstance(backend, str) or not backend.strip():
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
    generated token scale with ``active_params_b / params_b`` (MoE). ``flops_basis`` is what the
    device's ``fp16_tflops`` figure measures (:func:`flops_basis` of an optional ``fp16_basis``
    column, hardware.csv's text; ``'unknown'`` when absent). ``ctx`` is the mean number
    of tokens already in the KV cache while the test runs (``depth`` plus half the test length).
    ``fork`` / ``host_limited``: the row names a fork of llama.cpp / a host that held the device
    back (``host_limit``); ``dev_build``: its ``flags`` say it ran a development build
    (:data:`DEV_BUILD_FLAGS`). ``threads`` is the CPU thread count the test ran with (NaN when not
    given); ``n_devices`` the number of identical devices the layers were split over (1 when
    not given).
    Missing specs stay NaN: callers decide whether a row can be predicted.
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
    tokens = np.where(ph == "tg", n_gen, n_prompt)
    kind = _label(_column(frame, "hardware_kind", UNKNOWN))
    kind = kind.where(kind.isin(HARDWARE_KINDS), UNKNOWN)
    out = pd.DataFrame({
        "phase": ph,
        "kind": kind,
        "backend": _column(frame, "backend").map(backend_family).astype("object"),
        "quant_family": _column(frame, "quant").map(quant_family).astype("object"),
        "model_bytes": model_bytes,
        "active_bytes": model_bytes * share,
        "active_params": active * 1e9,
        "bandwidth": _numeric(frame, "bandwidth_gbs") * 1e9,
        "flops": _numeric(frame, "fp16_tflops") * 1e12,
        "n_tokens": pd.Series(tokens, index=frame.index, dtype="float64"),
        "threads": _numeric(frame, "threads").where(lambda t: t > 0),
        "n_devices": _numeric(frame, "n_devices").where(lambda n: n >= 1).fillna(1.0),
        "ctx": depth + pd.Series(tokens, index=frame.index, dtype="float64") / 2.0,
        "fork": _named(_column(frame, "fork")),
        "dev_build": _column(frame, "flags").map(
            lambda f: bool(DEV_BUILD_FLAGS & flag_set(f))).astype(bool),
        "host_limited": _named(_column(frame, "host_limit")),
        "moe": share < 0.999,
    }, index=frame.index)
    out["flops_basis"] = _column(frame, "fp16_basis", "").map(flops_basis).astype("object")
    out["log_bandwidth"] = np.log(out["bandwidth"])
    out["log_flops"] = np.log(out["flops"])
    out["log_active_bytes"] = np.log(out["active_bytes"])
    out["log_model_bytes"] = np.log(out["model_bytes"])
    out["log_ctx"] = np.log1p(out["ctx"])
    return out


#: How far a published figure may exceed its device's physical ceiling before it is taken for a
#: mis-measured or mis-transcribed row. Generation at batch 1 reads every active weight once per
#: token, so tokens/s x active bytes cannot exceed the memory bandwidth by more than caches
#: allow (the highest row in the data reaches 1.07x: a 0.5 GB model on this project's EPYC VM,
#: whose bandwidth figure is a measured copy rate).
#: A prompt costs 2 FLOP per active parameter per token; llama.cpp's kernels reach up to 2.0x a
#: *vector* FP16 figure in the data (they use tensor cores the figure leaves out, which give at
#: most 4x on GeForce cards), so 6x the figure is out of reach whatever it measures.
#: The bandwidth ceiling applies only to weights larger than any cache, which could otherwise
#: serve a small model faster than DRAM (the largest last-level cache sold, AMD's EPYC 9684X,
#: holds 1.1 GB).
BANDWIDTH_CEILING = 2.0
FLOPS_CEILING = 6.0
CACHE_BYTES = 2e9


def roofline_ratio(frame: pd.DataFrame) -> pd.Series:
    """How many times its devices' roofline each speed row runs at.

    Generation: tokens/s x active bytes over the devices' bandwidth; prompt processing:
    2 x active parameters x tokens/s over their FP16 figure. NaN where the specs to tell are
    missing or the test is combined (``pp512+tg128``).
    """
    return _roofline_ratio(speed_features(frame), _numeric(frame, "tokens_per_s"))


def _roofline_ratio(x: pd.DataFrame, tokens: pd.Series) -> pd.Series:
    gen = tokens * x["active_bytes"] / (x["bandwidth"] * x["n_devices"])
    pp = 2.0 * x["active_params"] * tokens / (x["flops"] * x["n_devices"])
    return gen.where(x["phase"] == "tg", pp.where(x["phase"] == "pp"))


def over_physical_ceiling(frame: pd.DataFrame) -> pd.Series:
    """True for speed rows faster than their device could possibly run them.

    A generation row whose active weights exceed :data:`CACHE_BYTES` is over when its
    :func:`roofline_ratio` exceeds :data:`BANDWIDTH_CEILING`; a prompt row when it exceeds
    :data:`FLOPS_CEILING`. Rows without the specs to tell (no bandwidth, no FLOPS figure, a
    combined test) are never over.
    """
    x = speed_features(frame)
    ratio = _roofline_ratio(x, _numeric(frame, "tokens_per_s"))
    gen = (x["phase"] == "tg") & (x["active_bytes"] > CACHE_BYTES) & (ratio > BANDWIDTH_CEILING)
    return (gen | ((x["phase"] == "pp") & (ratio > FLOPS_CEILING))).astype(bool)

"""Building the ladder: one GGUF per quant level with llama.cpp's own quantizer.

``llama_model_quantize`` is called with the file type ``LLAMA_FTYPE_MOSTLY_<NAME>``. Levels that
llama.cpp refuses to build without an importance matrix are rejected up front, because
llama-cpp-python cannot pass one (its ``imatrix`` parameter is a C++ map pointer).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from advisor.measure import MeasurementError
from advisor.measure.gguf_files import GGUFInfo, read_gguf
from advisor.vocabulary.errors import InvalidInputError
from advisor.vocabulary.quants import get_quant

log = logging.getLogger(__name__)

DEFAULT_LADDER: tuple[str, ...] = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K",
                                   "IQ4_XS")
#: llama.cpp refuses these without an importance matrix (tools/quantize and llama-quant.cpp).
NEEDS_IMATRIX: frozenset[str] = frozenset({"IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S", "IQ1_M",
                                           "Q2_K_S"})
#: Float references are measured as they are, never produced by this module.
REFERENCE_TYPES: frozenset[str] = frozenset({"F32", "F16", "BF16"})


def ftype_of(quant: str) -> int:
    """llama.cpp's ``LLAMA_FTYPE_MOSTLY_<quant>`` constant."""
    import llama_cpp

    value = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quant}", None)
    if value is None:
        known = sorted(n.removeprefix("LLAMA_FTYPE_MOSTLY_") for n in dir(llama_cpp)
                       if n.startswith("LLAMA_FTYPE_MOSTLY_"))
        raise InvalidInputError(f"quant {quant!r} has no llama.cpp file type in this build; "
                                f"allowed: {', '.join(known)}", parameter="quants")
    return int(value)


@dataclass(frozen=True)
class LadderPlan:
    """Quant levels to build (canonical names, in order) and those skipped, with the reason."""

    build: tuple[str, ...]
    skipped: dict[str, str]


def plan_ladder(names: list[str]) -> LadderPlan:
    """Canonicalise ``names`` (did-you-mean on unknown ones) and drop what cannot be built."""
    build: list[str] = []
    skipped: dict[str, str] = {}
    for raw in names:
        quant = get_quant(raw, parameter="quants").name
        if quant in build or quant in skipped:
            continue
        if quant in NEEDS_IMATRIX:
            skipped[quant] = ("needs an importance matrix, which llama-cpp-python cannot pass "
                              "to the quantizer")
        elif quant.startswith("HQQ") or quant in REFERENCE_TYPES:
            skipped[quant] = ("not a llama.cpp quantization target" if quant.startswith("HQQ")
                              else "is a float type; the reference is measured as given")
        else:
            ftype_of(quant)
            build.append(quant)
    return LadderPlan(tuple(build), skipped)


def quantize_file(reference: Path, quant: str, dst: Path, *, threads: int) -> tuple[GGUFInfo,
                                                                                       float]:
    """Quantize ``reference`` to ``quant`` at ``dst``; returns the file's info and seconds taken.

    The output is written under a temporary name and renamed only once llama.cpp succeeded and
    the file reads back as a complete GGUF, so a failed or interrupted quantization leaves none.
    """
    import llama_cpp

    from advisor.measure.llama_backend import init_backend

    init_backend()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype_of(quant)
    params.nthread = threads
    tmp = dst.with_name(dst.name + ".partial")
    dst.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        rc = llama_cpp.llama_model_quantize(str(reference).encode(), str(tmp).encode(), params)
    except Exception as e:  # llama.cpp C++ exceptions surface as OSError/RuntimeError
        tmp.unlink(missing_ok=True)
        raise MeasurementError(f"quantizing {reference} to {quant} failed: {e}") from e
    seconds = time.perf_counter() - t0
    if rc != 0:
        tmp.unlink(missing_ok=True)
        raise MeasurementError(f"quantizing {reference} to {quant} failed: llama.cpp returned "
                               f"{rc} (see the llama.cpp error above)")
    info = read_gguf(tmp)
    tmp.replace(dst)
    info.path = dst
    log.info("quantized %s -> %s in %.1f s (%.3f bpw)", reference.name, dst.name, seconds,
             info.bpw)
    return info, seconds

"""The llama.cpp backend: one loaded model and context driven through the low-level C API.

This is the only inference module that imports ``llama_cpp``. It decodes token batches the way
llama-bench does (``llama_decode`` with output only where asked), so timings are not those of
llama-cpp-python's high-level sampling loop.
"""

from __future__ import annotations

import ctypes
import logging
import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from advisor.measure import MeasurementError

log = logging.getLogger(__name__)
_BACKEND_READY = False


#: llama.cpp's error lines, kept by the log callback and logged later from Python code.
_ERRORS: deque[bytes] = deque(maxlen=50)
#: llama.cpp's lines that report the size of a buffer it allocates (``load_tensors``,
#: ``llama_context``, ``llama_kv_cache``, ``llama_memory_recurrent``, ``sched_reserve``).
_BUFFERS: deque[bytes] = deque(maxlen=200)
_BUFFER_LINE = re.compile(r"(\S+)\s+(model|KV|RS|output|compute) buffer size =\s*([\d.]+) MiB")


def _quiet_callback():  # type: ignore[no-untyped-def]
    """A log callback that keeps error lines (level 4) and the lines reporting a buffer's size,
    and drops the rest.

    It must do almost nothing: llama.cpp calls it from its own threads (the CUDA backend's
    loaders among them), and calling into ``logging`` from there crashed the process on an
    H100. :func:`pop_errors` hands the kept lines to Python code on the main thread.
    """
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _cb(level, text, user_data):  # type: ignore[no-untyped-def]
        if level == 4 and text:  # GGML_LOG_LEVEL_ERROR (INFO 2, WARN 3, CONT 5)
            _ERRORS.append(text)
        elif text and b"buffer size =" in text:
            _BUFFERS.append(text)

    return _cb


_LOG_CB = None


def pop_errors() -> list[str]:
    """llama.cpp error lines since the last call (and log them)."""
    lines = [b.decode("utf-8", "replace").rstrip() for b in _ERRORS]
    _ERRORS.clear()
    for line in lines:
        log.error("llama.cpp: %s", line)
    return lines


def pop_buffer_sizes() -> dict[str, float]:
    """The buffers llama.cpp reported allocating since the last call, MiB by name
    (``CPU_Mapped model``, ``CPU_REPACK model``, ``CPU KV``, ``CPU RS``, ``CPU output``,
    ``CPU compute``), summed over buffers of one name (a sliding-window model has two KV
    caches). A context's buffers are those of the last context made (its ``output`` line comes
    first, llama-context.cpp). Empty when llama.cpp's log is not captured (GPU runs, see
    :func:`init_backend`)."""
    sizes: dict[str, float] = {}
    for raw in _BUFFERS:
        m = _BUFFER_LINE.search(raw.decode("utf-8", "replace"))
        if not m:
            continue
        if m[2] == "output":  # a new context: forget the previous one's buffers
            sizes = {k: v for k, v in sizes.items() if k.endswith(" model")}
        key = f"{m[1]} {m[2]}"
        sizes[key] = sizes.get(key, 0.0) + float(m[3])
    _BUFFERS.clear()
    return sizes


def init_backend(*, quiet: bool = True) -> None:
    """Initialise llama.cpp once per process. ``quiet``: its log goes to :func:`pop_errors`
    (errors only); otherwise llama.cpp writes its log to stderr itself.

    GPU runs are not quiet: with the CUDA backend, loading a model crashed the process on an
    H100 whenever this module's log callback was installed (a bare callback defined in a
    script did not), and the cause is not understood yet.
    """
    global _BACKEND_READY, _LOG_CB
    if _BACKEND_READY:
        return
    import llama_cpp

    if quiet:
        _LOG_CB = _quiet_callback()
        llama_cpp.llama_log_set(_LOG_CB, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    _BACKEND_READY = True


def system_info() -> str:
    """llama.cpp's build and CPU feature line (``llama_print_system_info``)."""
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()


def library_version() -> str:
    import llama_cpp

    return str(llama_cpp.__version__)


@dataclass(frozen=True)
class RunConfig:
    """How the model runs: threads, GPU layers, batch size (tokens per decode), flash attention,
    and ``swa_full``: sliding-window layers keep a cache of the whole context (the default of
    llama.cpp's C API and so of llama-cpp-python; llama-server's is off, ``--swa-full``)."""

    threads: int
    gpu_layers: int = 0
    batch_size: int = 512
    flash_attn: bool = False
    swa_full: bool = True


class LlamaSession:
    """A model loaded from ``path`` and a context of ``n_ctx`` tokens (one sequence).

    ``load_time_s`` is the wall time of ``llama_model_load_from_file``.
    """

    def __init__(self, path: Path, config: RunConfig, n_ctx: int) -> None:
        import llama_cpp

        init_backend(quiet=config.gpu_layers == 0)
        self._L = llama_cpp
        self.path = Path(path)
        self.config = config
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = config.gpu_layers
        t0 = time.perf_counter()
        self._model = llama_cpp.llama_model_load_from_file(str(path).encode(), mparams)
        self.load_time_s = time.perf_counter() - t0
        if not self._model:
            why = "; ".join(pop_errors()[-3:])
            raise MeasurementError(f"llama.cpp could not load model file {path}"
                                   + (f": {why}" if why else ""))
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        self.n_ctx_train = int(llama_cpp.llama_model_n_ctx_train(self._model))
        self._ctx: Any = None
        self._batch: Any = None
        self.n_ctx = 0
        self.new_context(n_ctx)

    def new_context(self, n_ctx: int) -> None:
        """(Re)create the context with room for ``n_ctx`` tokens."""
        L = self._L
        self._free_context()
        cparams = L.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = self.config.batch_size
        cparams.n_ubatch = self.config.batch_size
        cparams.n_threads = self.config.threads
        cparams.n_threads_batch = self.config.threads
        cparams.no_perf = True
        cparams.swa_full = self.config.swa_full
        cparams.flash_attn_type = (L.LLAMA_FLASH_ATTN_TYPE_ENABLED if self.config.flash_attn
                                   else L.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        self._ctx = L.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            why = "; ".join(pop_errors()[-3:])
            raise MeasurementError(f"llama.cpp could not create a context of {n_ctx} tokens "
                                   f"for {self.path}" + (f": {why}" if why else ""))
        self.n_ctx = int(L.llama_n_ctx(self._ctx))
        self._batch = L.llama_batch_init(self.config.batch_size, 0, 1)

    # -- tokens ---------------------------------------------------------------------------
    def tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 8
        buf = (self._L.llama_token * cap)()
        n = self._L.llama_tokenize(self._vocab, raw, len(raw), buf, cap, add_bos, False)
        if n < 0:
            raise MeasurementError(f"tokenizer needs {-n} tokens, buffer had {cap}")
        return list(buf[:n])

    def add_bos(self) -> bool:
        return bool(self._L.llama_vocab_get_add_bos(self._vocab))

    def bos(self) -> int:
        return int(self._L.llama_vocab_bos(self._vocab))

    # -- decoding -------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every cached position."""
        self._L.llama_memory_clear(self._L.llama_get_memory(self._ctx), True)

    def truncate(self, n_pos: int) -> bool:
        """Drop cached positions ``>= n_pos``; False when the model's memory cannot drop part
        of a sequence (a recurrent state keeps no per-position history: Mamba, Gated DeltaNet,
        short convolution), and nothing was dropped."""
        return bool(self._L.llama_memory_seq_rm(self._L.llama_get_memory(self._ctx), 0, n_pos,
                                                -1))

    def decode(self, tokens: Sequence[int], start_pos: int, *, out_from: int | None = None
               ) -> np.ndarray | None:
        """Decode ``tokens`` at positions ``start_pos...`` in batches of ``batch_size``.

        Logits are computed only for tokens with index ``>= out_from`` (default: the last
        token; ``len(tokens)``: none, as llama-bench's prompt runs minus the last row).
        Returns a float32 copy of shape (n_tokens - out_from, n_vocab), or None when empty.
        """
        L, batch, bs = self._L, self._batch, self.config.batch_size
        n = len(tokens)
        first = n - 1 if out_from is None else out_from
        collected: list[np.ndarray] = []
        for lo in range(0, n, bs):
            hi = min(n, lo + bs)
            batch.n_tokens = hi - lo
            for j, tok in enumerate(tokens[lo:hi]):
                batch.token[j] = tok
                batch.pos[j] = start_pos + lo + j
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = 0
                batch.logits[j] = lo + j >= first
            rc = L.llama_decode(self._ctx, batch)
            if rc != 0:
                pop_errors()
                raise MeasurementError(f"llama_decode failed with code {rc} on {self.path} "
                                       f"(positions {start_pos + lo}-{start_pos + hi - 1}, "
                                       f"context {self.n_ctx})")
            n_out = hi - max(lo, first) if hi > first else 0
            if n_out:
                ptr = L.llama_get_logits(self._ctx)
                collected.append(np.ctypeslib.as_array(ptr, shape=(n_out, self.n_vocab)).copy())
        return np.concatenate(collected, axis=0) if collected else None

    def synchronize(self) -> None:
        self._L.llama_synchronize(self._ctx)

    # -- lifetime -------------------------------------------------------------------------
    def _free_context(self) -> None:
        if self._batch is not None:
            self._L.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            self._L.llama_free(self._ctx)
            self._ctx = None

    def close(self) -> None:
        self._free_context()
        if getattr(self, "_model", None):
            self._L.llama_model_free(self._model)
            self._model = None

    def __enter__(self) -> LlamaSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

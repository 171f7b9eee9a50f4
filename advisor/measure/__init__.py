"""Measuring a quant ladder on this machine (``quant-advisor measure``).

Pipeline, one module per step:

* :mod:`.gguf_files` validates a GGUF, reads back its tensor types and writes the F16 reference;
* :mod:`.quantize` builds each ladder level with llama.cpp's quantizer;
* :mod:`.llama_backend` is the only module that talks to llama.cpp for inference;
* :mod:`.speed` times pp/tg like llama-bench, :mod:`.quality` scores perplexity, KL divergence
  and the task suites of :mod:`.task_suites` against the reference;
* :mod:`.worker` runs one file in a fresh process (so peak RSS is per file);
* :mod:`.ladder` orchestrates, :mod:`.rows` turns results into schema rows and files;
* :mod:`.command` is the click adapter.

Heavy libraries (``llama_cpp``, ``gguf``, ``psutil``, ``tqdm``) are imported only where used.
"""

from advisor.vocabulary.errors import AdvisorError


class MeasurementError(AdvisorError, RuntimeError):
    """A measurement step failed (quantizer, model load, decode); the message names file/quant."""

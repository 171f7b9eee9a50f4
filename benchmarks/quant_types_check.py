"""The per-tensor types of :mod:`advisor.data.quant_rules` against llama.cpp's own choice.

For each model, writes a GGUF with the catalog architecture's tensors
(:func:`~advisor.data.tensors.tensor_layout`, 16-bit types as converted) and the metadata keys
llama.cpp's ``load_hparams`` reads, with no tensor data (a sparse file, no disk used), then
runs llama-cpp-python's ``llama_model_quantize`` with ``dry_run`` for each file type, with and
without an importance matrix, and compares the type llama.cpp logs for every tensor with the
one computed here, and the file sizes. Needs the ``measure`` extra (llama-cpp-python).

    PYTHONPATH=. python benchmarks/quant_types_check.py [--models Qwen3-14B,...] [--quants ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from advisor.data.arch import load_architectures
from advisor.data.quant_rules import QuantOptions, tensor_types
from advisor.data.weights import ggml_bytes
from advisor.measure.synthetic_arch import QuantizeDryRun, write_sparse_gguf

MODELS = ("Llama-3.1-8B", "Llama-3.1-70B", "Qwen2.5-72B", "Qwen3-14B", "Qwen3-30B-A3B",
          "gemma-3-27b", "phi-4", "Phi-4-mini-instruct", "gpt-oss-20b", "Qwen3.5-27B",
          "Qwen3.5-35B-A3B", "GLM-4.7-Flash", "NVIDIA-Nemotron-Nano-9B-v2", "SmolLM3-3B",
          "Mistral-Small-3.2-24B-Instruct-2506", "gemma-4-31B-it", "granite-4.0-h-tiny",
          "Olmo-3-7B-Instruct", "GLM-4.5-Air", "Qwen3-Next-80B-A3B-Instruct", "LFM2-1.2B",
          "LFM2-8B-A1B", "Llama-4-Scout-17B-16E-Instruct", "gemma-2-27b",
          "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "gemma-4-E4B-it", "gemma-4-26B-A4B-it",
          "DeepSeek-V3.1", "Qwen3.5-122B-A10B")
QUANTS = ("Q2_K", "Q2_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_1", "Q4_K_S", "Q4_K_M",
          "Q5_0", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0", "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS",
          "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M", "IQ4_NL", "IQ4_XS",
          "MXFP4_MOE", "BF16")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--quants", default=",".join(QUANTS))
    args = parser.parse_args(argv)
    archs, dry = load_architectures(), QuantizeDryRun()
    total = agree = 0
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            a = archs.get(model)
            path = Path(tmp) / f"{model}.gguf"
            layout = write_sparse_gguf(a, path)
            for quant in args.quants.split(","):
                if quant == "MXFP4_MOE" and not a.is_moe:
                    continue
                for imatrix in (False, True):
                    theirs = dry.types(path, quant, imatrix)
                    mine = tensor_types(a, layout, quant, QuantOptions(imatrix=imatrix))
                    # a tensor the converter stored quantized (gpt-oss's MXFP4 experts): the
                    # dry run names a new type, the real run refuses to requantize it, and
                    # published files keep it; counted apart
                    kept = [t.name for t in layout if t.source_type not in ("F32", "BF16")
                            and theirs.get(t.name) != t.source_type]
                    bad = [(t.name, m, theirs.get(t.name)) for t, m in zip(layout, mine,
                                                                             strict=True)
                           if theirs.get(t.name) != m and t.name not in kept]
                    total += 1
                    agree += not bad
                    size = sum(ggml_bytes(m, t.shape) for t, m in zip(layout, mine, strict=True))
                    print(f"{model:36s} {quant:9s} imatrix={imatrix!s:5s} "
                          f"{len(layout) - len(bad):5d}/{len(layout)} tensors agree "
                          f"{size / 1e9:8.3f} GB" + (f"  e.g. {bad[0]}" if bad else "")
                          + (f"  ({len(kept)} converted-quantized kept)" if kept else ""))
                    path.with_suffix(".out.gguf").unlink(missing_ok=True)
            path.unlink()
    print(f"\n{agree} of {total} (model, file type, imatrix) cases agree on every tensor")
    return 0 if agree == total else 1


if __name__ == "__main__":
    sys.exit(main())

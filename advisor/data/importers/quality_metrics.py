"""What a published quality metric measures: its kind, benchmark and task category.

Every metric name in ``<shared>/quality/*.csv`` is handled deliberately here; an unknown name is
an error naming the file and line, so a new table cannot slip in unread.

* **perplexity**: ``ppl`` and ``ppl_<corpus>`` (``ppl_wikitext2``, ``ppl_pile``,
  ``ppl_ubergarm_corpus``, ...): a ratio is only taken against the same corpus.
* **KLD**: ``mean_kld_vs_f16`` (also per text category, ``mean_kld_vs_f16:science``); against
  a quantized reference: ``mean_kld_vs_q8_0``, ``mean_kld_vs_ref_quant``.
* **accuracy-like** (higher is better; retention = value / baseline): benchmark accuracies,
  pass@k, llama-perplexity multiple-choice scores (``mmlu_mc_score``).
* **deltas** of PPL against F16 (:data:`DELTA_PRIORITY`): a ratio when no PPL row carries it.
* **kept for reference only**: tails and medians of the KLD distribution, same-top-token rates,
  Δp, PPL correlation, nominal bpw, MMLU per-subject *confidence* (a probability, not an
  accuracy) and GPQA refusal rates (lower is better, not an accuracy).
"""

from __future__ import annotations

import re

from advisor.vocabulary.schema import MetricKind

DELTA_PRIORITY = ("ppl_ratio_vs_f16", "qerror_pct_ppl_ratio_minus1", "ppl_delta_pct_vs_f16",
                  "ln_ppl_ratio_vs_f16", "delta_ppl_vs_f16")
#: KLD measured against a quantized model instead of 16-bit weights.
QUANTIZED_REFERENCE_KLD = ("mean_kld_vs_q8_0", "mean_kld_vs_ref_quant")
_OTHER = re.compile(r"median_kld|q99_kld|max_kld|top_token|delta_p_pct|same_top_p|"
                    r"ppl_correlation|nominal_bpw|bpw_measured|confidence_pct|refusal")
_PPL = re.compile(r"^ppl(_[a-z0-9_]+)?$")
_ACCURACY = re.compile(r"acc|pass|mmlu|gsm8k|ifeval|aider|aime|math|gpqa|mbpp|livecodebench|"
                       r"c-eval|cmmlu|avg|average|winogrande|hellaswag|mc_score",
                       re.IGNORECASE)
# (regex on the metric, benchmark, category used only when the source left it blank)
_BENCHMARKS: tuple[tuple[str, str, str], ...] = (
    (r"mmlu_pro|mmlu-pro", "MMLU-Pro", "knowledge"), (r"cmmlu", "CMMLU", "knowledge"),
    (r"mmlu", "MMLU", "knowledge"), (r"c-eval", "C-Eval", "knowledge"),
    (r"truthfulqa", "TruthfulQA", "knowledge"), (r"gsm8k", "GSM8K", "math"),
    (r"math.?500", "MATH-500", "math"), (r"aime", "AIME 2024", "math"),
    (r"gpqa", "GPQA", "reasoning"), (r"ifeval", "IFEval", "instruction_following"),
    (r"mbpp\+", "MBPP+", "coding"), (r"mbpp_lua", "MultiPL-MBPP (Lua)", "coding"),
    (r"humaneval_lua", "MultiPL-HumanEval (Lua)", "coding"), (r"mceval", "McEval (Lua)", "coding"),
    (r"humaneval", "HumanEval", "coding"),
    (r"mbpp", "MBPP", "coding"), (r"livecodebench", "LiveCodeBench", "coding"),
    (r"aider", "Aider Polyglot", "coding"), (r"arc_challenge", "ARC-Challenge", "reasoning"),
    (r"arc_easy", "ARC-Easy", "reasoning"), (r"hellaswag", "HellaSwag", "reasoning"),
    (r"winogrande", "WinoGrande", "reasoning"), (r"piqa", "PIQA", "reasoning"),
    (r"openbookqa", "OpenBookQA", "reasoning"), (r"boolq", "BoolQ", "reading_comprehension"),
    (r"lambada", "LAMBADA", "language_modeling"), (r"ppl_wikitext2", "WikiText-2",
                                                    "language_modeling"),
    (r"ppl_c4", "C4", "language_modeling"), (r"ppl_ptb", "PTB", "language_modeling"),
    (r"ppl_pile", "The Pile", "language_modeling"),
    (r"kld|ppl", "", "language_modeling"),
)


def metric_kind(metric: str) -> MetricKind | None:
    """The kind of a published metric name, None when the name is not known.

    >>> metric_kind("ppl_wikitext2"), metric_kind("max_kld_vs_q8_0"), metric_kind("mmlu_mc_score")
    (<MetricKind.PERPLEXITY: 'perplexity'>, <MetricKind.OTHER: 'other'>, \
<MetricKind.ACCURACY: 'accuracy'>)
    """
    low = metric.lower()
    if low.startswith("mean_kld"):
        return MetricKind.KLD
    if _OTHER.search(low) or low in DELTA_PRIORITY:
        return MetricKind.OTHER
    if _PPL.match(low):
        return MetricKind.PERPLEXITY
    if _ACCURACY.search(low):
        return MetricKind.ACCURACY
    return None


def benchmark_and_category(metric: str, given: str) -> tuple[str | None, str | None]:
    """(benchmark, task category); the source's category is kept when it gave one."""
    category = given if given not in ("", "n/a") else None
    for pattern, benchmark, default in _BENCHMARKS:
        if re.search(pattern, metric, re.IGNORECASE):
            return benchmark or None, category or default
    return None, category

"""Names in the published score tables: benchmark ids, task categories and checkpoint names.

Published tables spell one benchmark many ways (``AIME25``, ``AIME 2025``, ``AIME'25``) and one
checkpoint many ways (``Llama-3.1-8B-Instruct`` is the catalog's ``Llama-3.1-8B``). This module
turns each spelling into one stable name, by rules that can be read here in full:

* :func:`canonical_benchmark`: a spelling without its shot/metric remarks, then the first
  matching pattern of :data:`_BENCHMARK_SYNONYMS` (``GPQA-Diamond (Pass@1)`` -> ``GPQA Diamond``).
  Remarks that change what is measured (``with tools``, a LiveCodeBench date window, a subset)
  are kept, so such scores stay in columns of their own;
* :func:`benchmark_category`: the task category of a canonical name, from the first matching
  pattern of :data:`_CATEGORY_PATTERNS` (vision and audio tests first, then agentic, language,
  coding, math, instruction following, knowledge and reasoning);
* :func:`report_group`: which column group a vendor-reported score joins. Scores a tech report,
  a model card or llm-stats (which copies them) reports are pooled under ``reported``: one
  benchmark, reported by several vendors, is one column, whose harness differences (a few
  points) the fit treats as noise. Sources on another scale, or that say their figures are not
  comparable with others, keep a group of their own (:data:`OWN_HARNESS`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: Task categories a score can belong to (the recommender's six, plus agentic and other).
SCORE_CATEGORIES: tuple[str, ...] = (
    "reasoning", "math", "coding", "knowledge", "instruction_following", "language", "agentic",
    "other",
)
#: Sources whose scores are not comparable with other reports of the same benchmark: the
#: Open LLM Leaderboard's are normalised (0 = random guessing); the Phi-4-mini card's come
#: from Microsoft's internal platform and say so (arch/google_openai_meta/SOURCES.md).
OWN_HARNESS: dict[str, str] = {
    "OLB_MIRROR": "Open LLM Leaderboard v2",
    "PHI4MINI_CARD": "Phi-4-mini card (Microsoft internal harness)",
}
REPORTED = "reported"

# Remarks on how a benchmark was run that do not change what it measures.
_REMARK = re.compile(
    r"\s*\((?:\d+-shot(?:,? ?cot)?|0-shot, cot|cot|pass@1|no tools|f1|text only|totalacc|mc2|"
    r"dev|test|val|average|instruction strict|tool use)\)", re.IGNORECASE)
_TRAILING = re.compile(r"\s+(?:no tools|w/ cot|- pass@\d+|pass@1)$", re.IGNORECASE)

_Sub = str | Callable[[re.Match[str]], str]
#: (full-match pattern, canonical name) in order; the first match wins.
_BENCHMARK_SYNONYMS: tuple[tuple[str, _Sub], ...] = (
    (r"gpqa[- ]?diamond", "GPQA Diamond"),
    (r"gpqa main", "GPQA Main"),
    (r"aime\s*'?\s*(?:20)?(\d\d)(?: no tools)?", lambda m: f"AIME 20{m[1]}"),
    (r"hmmt\s*(?:feb\s*)?(?:20)?25", "HMMT Feb 2025"),
    (r"hmmt\s*nov\s*(?:20)?25", "HMMT Nov 2025"),
    (r"hmmt\s*feb\s*(?:20)?26", "HMMT Feb 2026"),
    (r"mmlu[- ]?prox", "MMLU-ProX"),
    (r"mmlu[- ]?pro", "MMLU-Pro"),
    (r"mmlu[- ]?redux(?:[- ]2\.0)?", "MMLU-Redux"),
    (r"mmlu(?: chat)?", "MMLU"),
    (r"mmmlu|multilingual mmlu|openai mmlu", "MMMLU"),
    (r"global[- ]mmlu[- ]lite", "Global-MMLU-Lite"),
    (r"global[- ]mmlu", "Global-MMLU"),
    (r"(?:lcb|livecodebench)\s*\(?v(\d)\)?", lambda m: f"LiveCodeBench v{m[1]}"),
    (r"lcb|livecodebench", "LiveCodeBench"),
    (r"big[- ]?bench hard|bbh", "BBH"),
    (r"big[- ]?bench extra hard|bbeh", "BBEH"),
    (r"humanity's last exam|hle", "HLE"),
    (r"hle (?:w/ tools?|\(with tools\)|with tools)", "HLE with tools"),
    (r"math[- ]?500", "MATH-500"),
    (r"gsm[- ]?8k(?: chat)?", "GSM8K"),
    (r"arc[- ]c(?:hallenge)?", "ARC-C"),
    (r"arc[- ]e(?:asy)?", "ARC-E"),
    (r"social iqa|siqa", "SIQA"),
    (r"triviaqa(?:-wiki)?", "TriviaQA"),
    (r"nq|natural questions", "Natural Questions"),
    (r"arena[- ]hard v2[*$]?", "Arena-Hard v2"),
    (r"arena[- ]hard", "Arena-Hard"),
    (r"mt[- ]bench", "MT-Bench"),
    (r"wild ?bench(?: v2)?", "WildBench"),
    (r"multi[- ]?if", "Multi-IF"),
    (r"(?:scale )?multi[- ]?challenge.*", "MultiChallenge"),
    (r"multi[- ]swe[- ]bench", "Multi-SWE-bench"),
    (r"swe[- ]bench verified(?: \(agentic coding\))?", "SWE-bench Verified"),
    (r"swe[- ]bench multilingual", "SWE-bench Multilingual"),
    (r"swe[- ]bench pro", "SWE-bench Pro"),
    (r"terminal[- ]bench 2(?:\.0)?", "Terminal-Bench 2.0"),
    (r"tau2?[- ]?(?:bench )?v?2? ?\(?(airline|retail|telecom)\)?",
     lambda m: f"tau{'2' if '2' in m[0] else ''}-bench {m[1].title()}"),
    (r"taubench v2 \((airline|retail)\)", lambda m: f"tau2-bench {m[1].title()}"),
    (r"tau1[- ](airline|retail)", lambda m: f"tau-bench {m[1].title()}"),
    (r"tau2[- ]bench|τ²-bench|tau2 \(average over 3\)", "tau2-bench"),
    (r"bfcl[- ]?v(\d)", lambda m: f"BFCL v{m[1]}"),
    (r"browsecomp", "BrowseComp"),
    (r"browsecomp[- ]zh", "BrowseComp-zh"),
    (r"humaneval ?(?:\+|plus)", "HumanEval+"),
    (r"mbpp ?(?:\+|plus|evalplus)", "MBPP+"),
    (r"multipl[- ]e", "MultiPL-E"),
    (r"polymath", "PolyMath"),
    (r"mgsm|multilingual mgsm", "MGSM"),
    (r"livebench (?:2024-?11-?25|20241125|241125)", "LiveBench 2024-11-25"),
    (r"ruler(?: 128k)?|ruler \(128k\)", "RULER 128K"),
    (r"ruler (\d+)k", lambda m: f"RULER {m[1]}K"),
    (r"include", "INCLUDE"),
    (r"winogrande", "Winogrande"),
    (r"commonsenseqa", "CommonsenseQA"),
    (r"mmmu[- ]pro\^?", "MMMU-Pro"),
)
_SYNONYMS = [(re.compile(p, re.IGNORECASE), s) for p, s in _BENCHMARK_SYNONYMS]

_VISION_AUDIO = (
    r"mmmu|vqa|chartqa|ai2d|mathvista|math-?vision|ocr|video|vision|screenspot|charxiv|"
    r"realworldqa|mmbench|mmstar|blink|erqa|muirbench|egoschema|lvbench|mlvu|mvbench|perception|"
    r"hallusion|pope|odinw|omnidoc|\bmme\b|covost|fleurs|mmau|music|speech|vocal|voice|meld|nmos|"
    r"giantsteps|cxr|derm|pathmcqa|slake|medxpertqa mm|pointgrounding|tempcompass|charades|"
    r"activitynet|intergps|mm if-eval|mm-mt-bench|mmvet|vcr_|omnibench|scienceqa visual|"
    r"infographics|mmt-bench|mtob")
#: (pattern searched in a canonical benchmark name, category) in order; the first match wins.
_CATEGORY_PATTERNS: tuple[tuple[str, str], ...] = (
    (_VISION_AUDIO, "other"),
    (r"ruler|mrcr|longbench|aa-lcr|infinitebench|needle|nih/|graphwalks|qmsum|qasper|govreport|"
     r"summscreen|squality|flenqa|frames|infinite generations|overall|^if \(internal|livebench|"
     r"aa-index", "other"),
    (r"swe-|swe |terminal|tau|τ|bfcl|browsecomp|nexus|api-bank|gorilla|osworld|gdpval|apex|mcp|"
     r"tool decathlon|widesearch|claw|skillsbench|qwenwebbench|deepplanning|vita-bench|nl2repo|"
     r"seal-0|android|acebench|complexfuncbench|agentic|mobileminiwob|aitz|terminus", "agentic"),
    (r"mgsm|mmmlu|mmlu-prox|include|multi-if|polymath|mt-aime|global-mmlu|global piqa|wmt|flores|"
     r"xquad|eclektic|c-eval|cmmlu|nova-63|maxife|multilingual|mlogiqa|indicgen|tydiqa|mega |"
     r"csimpleqa|cluewsc|alignbench|xlsum|"
     r"mmlu (?:chinese|french|german|hindi|italian|japanese|portuguese|russian|spanish|thai)",
     "language"),
    (r"humaneval|mbpp|evalplus|multipl|livecodebench|codeforces|crux|scicode|aider|bigcodebench|"
     r"bird-sql|spider|natural2code|^n2c|ojbench|cfeval|fullstackbench|codegolf|repobench|repoqa|"
     r"ds-arena|ds-fim|coding", "coding"),
    (r"aime|hmmt|math|gsm|hiddenmath|cnmo|olympiad|omnimath|theoremqa|imoanswer|minif2f",
     "math"),
    (r"ifeval|ifbench|arena|mt-bench|wildbench|creative writing|writingbench|multichallenge|"
     r"alpacaeval|collie|instruction|^if$", "instruction_following"),
    (r"mmlu|supergpqa|agieval|triviaqa|natural questions|simpleqa|truthfulqa|popqa|openbookqa|"
     r"omniscience|facts|medxpertqa|healthbench|mixeval|^stem$|phibench", "knowledge"),
    (r"gpqa|hle|bbh|bbeh|big-bench|arc|hellaswag|winogrande|piqa|siqa|commonsenseqa|musr|"
     r"zebralogic|autologi|drop|critpt", "reasoning"),
)
_CATEGORIES = [(re.compile(p, re.IGNORECASE), c) for p, c in _CATEGORY_PATTERNS]


def canonical_benchmark(name: str) -> str:
    """One spelling per benchmark.

    >>> canonical_benchmark("GPQA-Diamond (Pass@1)"), canonical_benchmark("AIME'25")
    ('GPQA Diamond', 'AIME 2025')
    >>> canonical_benchmark("MMLU Pro (5-shot CoT)"), canonical_benchmark("LCB v6")
    ('MMLU-Pro', 'LiveCodeBench v6')
    >>> canonical_benchmark("GPQA (with tools)"), canonical_benchmark("TAU2-Retail")
    ('GPQA (with tools)', 'tau2-bench Retail')
    """
    text = " ".join(name.split())
    text = _TRAILING.sub("", _REMARK.sub("", text)).strip()
    for pattern, sub in _SYNONYMS:
        match = pattern.fullmatch(text)
        if match:
            return sub if isinstance(sub, str) else sub(match)
    return text


def benchmark_category(name: str) -> str:
    """The task category of a canonical benchmark name (``other`` if no pattern matches).

    >>> [benchmark_category(n) for n in ("MMLU-ProX", "MathVista", "AIME 2025")]
    ['language', 'other', 'math']
    """
    for pattern, category in _CATEGORIES:
        if pattern.search(name):
            return category
    return "other"


def report_group(source_key: str) -> str:
    """The column group of a vendor-reported score: its own harness or the pooled ``reported``."""
    return OWN_HARNESS.get(source_key, REPORTED)


#: A checkpoint name that says it is a pretrained (base) model.
BASE_NAME = re.compile(r"-base(?:-\d+)?$|-base-|-pt$", re.IGNORECASE)
#: Suffixes dropped, one at a time, to find a catalog name (``Llama-3.1-70B-Base``).
_SUFFIXES = re.compile(r"(?:-base(?:-\d{4})?|-pt|-it|-instruct|-chat|-bf16|\s*\([^)]*\))$",
                       re.IGNORECASE)


def name_candidates(name: str) -> list[str]:
    """``name`` and the names left by dropping one known suffix at a time, longest first.

    >>> name_candidates("Llama-4-Scout-17B-16E-Base")
    ['Llama-4-Scout-17B-16E-Base', 'Llama-4-Scout-17B-16E', 'Llama-4-Scout-17B-16E-Instruct']
    """
    out = [name.strip()]
    current = out[0]
    while True:
        stripped = _SUFFIXES.sub("", current).strip()
        if stripped == current or not stripped:
            break
        out.append(stripped)
        current = stripped
    if BASE_NAME.search(name):
        out.append(f"{current}-Instruct")  # a base name's instruct sibling (Llama 4 naming)
    return out

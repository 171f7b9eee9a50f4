"""Pieces of published quant labels that are not the weight type itself.

Two kinds, used by :func:`advisor.data.naming.parse_quant_label`:

* **KV-cache tags**: ``[kv q8_0]`` (K and V cache both q8_0), ``[kv k=q8_0 v=f16]`` (they
  differ), ``[kv-k q8_kv]`` (only the K cache named; llama.cpp's V cache stays f16), plus the
  run modifiers printed after the label (``rot``: llama.cpp's attention rotation for quantized
  KV; ``-khad`` / ``-vhad``: ik_llama.cpp's Hadamard transform of the K / V cache).
* **Recipe names** of uploaders' and forks' mixes that embed a GGUF type: ``smol-IQ4_KS``,
  ``mix-IQ3_K``, ``IQK-6 mix``, ``Q4_K-B``, ``Q4_K_M-NAIVE``, ``UD_Q2_K_XL``.

Cache types are spelled as llama.cpp's ``--cache-type-k`` values (``f16``, ``q8_0``, ``q4_0``,
...); ``fp16`` becomes ``f16``. A K/V pair that differs is written ``k=<type>,v=<type>``.
"""

from __future__ import annotations

import re

from advisor.vocabulary.errors import UnknownNameError
from advisor.vocabulary.quants import find_quant

#: The cache type llama.cpp uses when none is given.
DEFAULT_CACHE_TYPE = "f16"
_CACHE_SPELLING = {"fp16": "f16", "f16": "f16", "bf16": "bf16", "fp8": "fp8", "q4": "q4",
                   "f32": "f32"}
_KV_TAG = re.compile(r"^kv(-k|-v)?\s+(.+)$", re.IGNORECASE)
_PAIR = re.compile(r"\bk\s*=\s*([\w.]+)\s*[, ]\s*v\s*=\s*([\w.]+)", re.IGNORECASE)
#: Run modifiers printed after a label, and the flag each becomes.
MODIFIERS: dict[str, str] = {"rot": "kv_rotation", "-khad": "kv_hadamard_k",
                             "-vhad": "kv_hadamard_v"}
#: A printed size (``206 GB``, ``2.63G``).
SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(TiB|TB|GiB|GB|MiB|MB|G)\b")
_TYPE_TOKEN = re.compile(r"(?<![A-Z0-9])(I?Q\d_[A-Z0-9]+(?:_[A-Z]+)?|Q\d_\d|MXFP4)(?![A-Z0-9])")


def cache_spelling(name: str) -> str:
    """A cache type as llama.cpp spells it (``'FP16'`` -> ``'f16'``, ``'Q8_0'`` -> ``'q8_0'``).

    >>> cache_spelling("FP16"), cache_spelling("Q8_0")
    ('f16', 'q8_0')
    """
    key = name.strip().lower()
    return _CACHE_SPELLING.get(key, key)


def cache_pair(k: str, v: str) -> str:
    """One name for a K/V cache pair: the type when both match, else ``k=<k>,v=<v>``.

    >>> cache_pair("q8_0", "q8_0"), cache_pair("q8_0", "f16")
    ('q8_0', 'k=q8_0,v=f16')
    """
    k, v = cache_spelling(k), cache_spelling(v)
    return k if k == v else f"k={k},v={v}"


def parse_cache_tag(tag: str) -> tuple[str, list[str]] | None:
    """(cache type, flags) of a ``kv ...`` tag, or None when ``tag`` is not one.

    Extra words after the type (``'kv q4, pre-0.0.18 method'``) become a ``kv_note:`` flag.

    >>> parse_cache_tag("kv q4_0"), parse_cache_tag("kv k=q8_0 v=f16")
    (('q4_0', []), ('k=q8_0,v=f16', []))
    >>> parse_cache_tag("kv-k q8_kv")
    ('k=q8_kv,v=f16', [])
    >>> parse_cache_tag("imatrix") is None
    True
    """
    match = _KV_TAG.match(tag.strip())
    if not match:
        return None
    which, rest = (match.group(1) or "").lower(), match.group(2).strip()
    head, _, note = rest.partition(",")
    flags = [f"kv_note:{note.strip()}"] if note.strip() else []
    pair = _PAIR.search(head)
    if pair:
        return cache_pair(pair.group(1), pair.group(2)), flags
    name = head.split()[0]
    if which == "-k":
        return cache_pair(name, DEFAULT_CACHE_TYPE), flags
    if which == "-v":
        return cache_pair(DEFAULT_CACHE_TYPE, name), flags
    return cache_spelling(name), flags


def split_modifiers(core: str) -> tuple[str, list[str]]:
    """``core`` without the run modifiers printed after it, and their flags.

    >>> split_modifiers("Q8_0 -khad -vhad")
    ('Q8_0', ['kv_hadamard_k', 'kv_hadamard_v'])
    """
    words, flags = [], []
    for word in core.split():
        if word.lower() in MODIFIERS:
            flags.append(MODIFIERS[word.lower()])
        else:
            words.append(word)
    return " ".join(words), flags


def embedded_type(core: str) -> str | None:
    """The GGUF type named inside a recipe name (upper case), or None.

    >>> embedded_type("smol-IQ4_KS"), embedded_type("IQK-6 mix"), embedded_type("Q4_K-B")
    ('IQ4_KS', None, 'Q4_K')
    """
    text = re.sub(r"(?<![A-Z0-9])D(?=Q\d)", "", core.upper().replace("UD_", "UD-"))  # DQ4_K
    match = _TYPE_TOKEN.search(text)
    return match.group(1) if match else None


#: Single words in tags that are not the uploader's name.
_NOT_UPLOADERS = frozenset({"pure", "imatrix", "gguf", "std", "ik_llama.cpp", "original",
                            "non-qat", "qat", "extra-small"})
#: Prefix of the flag :func:`tag_meaning` gives a bare name it takes for the uploader's; the
#: label's variant when no tag names a known maker or recipe.
UPLOADER = "uploader:"


def tag_meaning(tag: str) -> tuple[str | None, bool | None, list[str], bool]:
    """(variant, imatrix, flags, not_gguf) of one bracketed or parenthesised tag."""
    low = tag.lower()
    flags: list[str] = []
    variant: str | None = None
    imatrix: bool | None = None
    not_gguf = False
    if "unsloth" in low:
        variant = "unsloth-dynamic" if "dynamic" in low else "unsloth"
    elif "bartowski" in low:
        variant = "bartowski"
    elif "ikawrakow" in low:
        variant = "ikawrakow-new"
        if "alternative" in low:
            flags.append("alternative")
    elif "auto_round" in low or "autoround" in low or "optimized rtn" in low:
        variant = "auto_round"
        if "optimized rtn" in low:
            flags.append("optimized_rtn")
        if "alg_ext" in low:
            flags.append("alg_ext")
        if "auto-scheme" in low:
            flags.append("auto_scheme")
    elif "community" in low:
        variant = "community"
    parts = [p.strip() for p in re.split(r"[;,]", tag) if p.strip()]
    if any("pure" in p.lower().split() for p in parts):  # every tensor at one type
        variant = variant or "pure"
        flags.append("pure")
    if re.search(r"\bno imatrix\b", low):
        imatrix = False
        flags.append("imatrix_data:none")
    elif "imatrix" in low:
        imatrix = True
        variant = variant or "imatrix"
        part = next(p for p in parts if "imatrix" in p.lower())
        detail = SIZE_RE.sub("", re.sub(r"(?i)\b(std|other community|imatrix|gguf)\b", "",
                                         part)).strip(" ,:")
        if detail:
            flags.append(f"imatrix_data:{detail}")
    if "fake-quant" in low or "fake_quant" in low:
        flags.append("fake_quant")
    if re.search(r"(?<!non-)\bqat\b", low):
        flags.append("qat")
    if "extra-small" in low:
        flags.append("extra_small")
    if "token_embd" in low or "output" in low:
        flags.append(tag.split(";")[-1].strip())
    if re.search(r"\bik(_llama| types?\b)", low):
        flags.append("ik_llama_type")
    if variant is None:  # a bare uploader name: [mradermacher], [ubergarm; ik_llama.cpp]
        name = next((p.lower() for p in parts if re.fullmatch(r"[A-Za-z][\w.-]*", p)
                     and "_" not in p and not re.match(r"(?i)i?q\d", p)
                     and p.lower() not in _NOT_UPLOADERS), None)
        if name is not None:
            flags.append(f"{UPLOADER}{name}")
    return variant, imatrix, flags, not_gguf


def recipe(label: str, core: str, tags: list[str], variant: str | None
           ) -> tuple[str | None, list[str], str | None]:
    """(nearest catalog type, flags, variant) of a label outside the catalog and the known
    mixes: a type llama.cpp lacks (``IQ4_KS``), a recipe embedding a type (``smol-IQ4_KS``,
    ``Q4_K_M-NAIVE``), a named mix (``IQK-6 mix``) or AutoRound's ``opt-rtn (2bit)``."""
    upper = core.upper()
    if re.match(r"^I?Q\d_\w+$", upper):
        return None, ["non_catalog_type"], variant
    token = embedded_type(core)
    if token is not None or "MIX" in re.split(r"[\s_-]", upper):
        nearest = find_quant(token) if token else None
        return (nearest.name if nearest else None,
                ["non_catalog_mix", f"recipe:{core}"], variant)
    if upper == "OPT-RTN":
        bits = [f"bit_class:{m}" for t in tags for m in re.findall(r"^(\d+)\s*bit$", t.strip())]
        return None, ["optimized_rtn", *bits], variant or "auto_round"
    allowed = ["<llama.cpp type>", "<type> [tag]", "UD-<type>", "<method> W4A16 ...", "<n> bit",
               "mixed ...", "<recipe>-<type>", "<name> mix"]
    raise UnknownNameError("quant label", label, allowed, parameter="quant")

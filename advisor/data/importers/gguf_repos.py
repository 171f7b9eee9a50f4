"""Import where each model's GGUF files are published into ``measurements/catalog/gguf_repos.csv``.

Reads ``gguf/repos.csv`` (one row per model and Hugging Face repo: its kind, file-name pattern,
Ollama library tag and source; see that folder's ``SOURCES.md``) and ``gguf/file_sizes.csv``
(files seen in those repos) and writes one row per (model, repo) with:

* ``model``: the catalog's name for the checkpoint (:func:`catalog_name`), else the published
  name (``in_catalog`` false);
* ``file_pattern``: the repo's file name with ``{QUANT}`` (upper case) or ``{quant}`` (lower case)
  where the quant goes and ``*`` for the part numbers of a split file, read from the published
  pattern; where none was published, the uploader's naming convention that ``SOURCES.md`` states
  (``{repo name}-{QUANT}.gguf`` for bartowski, unsloth, ggml-org and lmstudio-community), with
  ``file_pattern_basis`` saying which;
* ``quants``: the quant types the sources show in the repo, and ``quants_basis``: ``complete``
  when a source lists all of them (a listed set, a single-file repo), ``seen`` when they are the
  ones seen so far, blank when none was seen;
* ``excluded_reason``: why a repo is not offered as the download (its files are not loadable by
  mainline llama.cpp, or it holds a quantization-aware-trained checkpoint, whose weights and file
  sizes differ from the model the estimates describe).

The source keys of ``SOURCES.md`` (``LOCALAI``, ``LLMFIT``, ...) go to
``measurements/sources_gguf.csv`` with their citations; ``DOCS``/``PAGES`` sources carry their
URL in the row. Run ``quant-advisor import-published --shared ../shared/data``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from advisor.data.dataset import atomic_write_text
from advisor.vocabulary.errors import DataFileError
from advisor.vocabulary.quants import all_quants, find_quant

OUT_FILE = "gguf_repos.csv"
SOURCES_FILE = "sources_gguf.csv"
COLUMNS: tuple[str, ...] = (
    "model", "published_name", "in_catalog", "repo", "kind", "file_pattern",
    "file_pattern_basis", "quants", "quants_basis", "excluded_reason", "ollama_tag",
    "pattern_as_published", "source", "notes",
)
KINDS: tuple[str, ...] = ("official", "bartowski", "unsloth", "lmstudio-community", "ggml-org",
                          "other")
#: Uploaders whose file names follow ``{repo name without -GGUF}-{QUANT}.gguf`` (SOURCES.md,
#: "Observed conventions").
_CONVENTION_KINDS = frozenset({"bartowski", "unsloth", "lmstudio-community", "ggml-org"})
#: Published names of instruct checkpoints whose catalog row drops more than an "-Instruct"
#: (the catalog's notes name these checkpoints: "ids Mistral-Small-24B-Base-2501 /
#: -Instruct-2501", "HF model ids Mistral-Nemo-Base-2407 / Mistral-Nemo-Instruct-2407").
_ALIASES = {
    "mistral-small-24b-instruct-2501": "Mistral-Small-24B",
    "mistral-nemo-instruct-2407": "Mistral-Nemo-12B",
}
_QUANT_NAMES = sorted((q.name for q in all_quants()), key=len, reverse=True)
_QUANT_TOKEN = "|".join(re.escape(n) for n in _QUANT_NAMES)
_QUANT_RE = re.compile(rf"(?<![A-Za-z0-9])({_QUANT_TOKEN})(?![A-Za-z0-9])", re.IGNORECASE)
# a quant named in a .gguf file name ("Qwen3-14B-Q8_0.gguf", "x-q4_k_m-00001-of-00002.gguf")
# or on a repo id ("Qwen/Qwen3-8B-GGUF:Q8_0")
_FILE_QUANT_RE = re.compile(
    rf"[-_.]({_QUANT_TOKEN})(?:-\d{{5}}-of-\d{{5}})?\.gguf\b|-GGUF:({_QUANT_TOKEN})\b",
    re.IGNORECASE)
_SPLIT_RE = re.compile(r"-0000[0-9k]-of-(0000[0-9N])")
_REMARK_RE = re.compile(r"\s*\(([^()]*)\)\s*$")
_ORDER = {q.name: i for i, q in enumerate(all_quants())}


@dataclass(frozen=True)
class ReposReport:
    """What :func:`import_gguf_repos` wrote."""

    rows: int
    models: int
    catalog_models_without_repo: list[str] = field(default_factory=list)
    not_in_catalog: list[str] = field(default_factory=list)


def catalog_name(published: str, names: list[str]) -> str | None:
    """The catalog's name for a published checkpoint name, or None.

    Exact (case-insensitive) names win, so a catalog that lists ``Qwen3-4B-Instruct-2507`` gets
    it (or its ``-BF16`` release, as NVIDIA names its repos); else the catalog row that drops
    the checkpoint's ``-Instruct`` / ``-it`` (the catalog's older rows stand for the instruct
    checkpoint: ``Llama-3.1-8B`` for ``Llama-3.1-8B-Instruct``, ``Mistral-7B-v0.3`` for
    ``Mistral-7B-Instruct-v0.3``), or a named alias. A dated release
    (``Qwen3-4B-Instruct-2507``) is a different checkpoint and is never folded into its base.

    >>> catalog_name("gemma-3-27b-it", ["gemma-3-27b", "Qwen3-14B"])
    'gemma-3-27b'
    >>> catalog_name("Qwen3-4B-Instruct-2507", ["Qwen3-4B"]) is None
    True
    """
    by_key = {n.lower(): n for n in names}
    key = published.strip().lower()
    if key in by_key:
        return by_key[key]
    if f"{key}-bf16" in by_key:  # the catalog names NVIDIA's BF16 release repo
        return by_key[f"{key}-bf16"]
    alias = _ALIASES.get(key)
    if alias is not None and alias.lower() in by_key:
        return by_key[alias.lower()]
    stripped = re.sub(r"-(instruct|it)$", "", key)
    if stripped == key:  # "-Instruct-v0.3" (a version, not a dated release) is the same model
        stripped = re.sub(r"-instruct(?=-v\d)", "", key)
    return by_key.get(stripped) if stripped != key else None


def _quant_names(text: str) -> list[str]:
    found = {find_quant(m).name for m in _QUANT_RE.findall(text)}  # type: ignore[union-attr]
    return sorted(found, key=_ORDER.__getitem__)


def _top_level_parts(text: str) -> list[str]:
    """``text`` split at the semicolons outside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == ";" and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    return [p for p in [*parts, current.strip()] if p]


def _repo_base(repo: str) -> str:
    return re.sub(r"-gguf$", "", repo.split("/", 1)[-1], flags=re.IGNORECASE)


def file_pattern(pattern: str, repo: str, kind: str) -> tuple[str, str, list[str], bool]:
    """(pattern, basis, quants, complete) of a published ``quant_pattern`` cell.

    >>> file_pattern("{Model}.{QUANT}.gguf (static); i1 repo: x", "me/phi-4-GGUF", "other")[:2]
    ('phi-4.{QUANT}.gguf', 'published')
    >>> file_pattern("", "unsloth/Qwen3-8B-GGUF", "unsloth")[:2]
    ('Qwen3-8B-{QUANT}.gguf', 'convention')
    >>> file_pattern("gpt-oss-20b-mxfp4.gguf (single MXFP4 file)", "ggml-org/gpt-oss-20b-GGUF",
    ...              "ggml-org")
    ('gpt-oss-20b-mxfp4.gguf', 'published', ['MXFP4'], True)
    >>> file_pattern("X-{QUANT}.gguf (Q4_0, Q4_K_M, Q8_0 only)", "me/X-GGUF", "other")[2:]
    (['Q8_0', 'Q4_K_M', 'Q4_0'], True)
    >>> file_pattern("X-{QUANT}.gguf (Q4_K_M: 3 parts, Q8_0: 4 parts)", "me/X-GGUF", "other")[3]
    False
    """
    parts = _top_level_parts(pattern)
    if not parts:
        if kind in _CONVENTION_KINDS:
            return f"{_repo_base(repo)}-{{QUANT}}.gguf", "convention", [], False
        return "", "", [], False
    main = parts[0]
    remark_match = _REMARK_RE.search(main)
    remark = remark_match.group(1) if remark_match else ""
    main = _REMARK_RE.sub("", main).strip()
    main = (main.replace("{Model}", _repo_base(repo)).replace("{quant lower-case}", "{quant}"))
    main = _SPLIT_RE.sub(lambda m: "-*-of-" + ("*" if "N" in m.group(1) else m.group(1)), main)
    listed = _quant_names(remark)
    if "{QUANT}" not in main and "{quant}" not in main:  # one file: the repo's only quant
        return main, "published", _quant_names(main), True
    # a remark that only lists quants ("(Q4_0, Q4_K_M, Q8_0)", "(... Q8_0 only)") is the
    # repo's whole set; one that says more of them ("(Q4_K_M: 3 parts, Q8_0: 4 parts)") is not
    rest = re.sub(r"\b(only|and)\b|[\s,;:/&+]", "", _QUANT_RE.sub("", remark), flags=re.I)
    complete = len(listed) >= 2 and not rest
    return main, "published", listed, complete


def _excluded(row: dict[str, str]) -> str:
    text = f"{row['repo']} {row['notes']}"
    if "ik_llama.cpp" in text:
        return "quant types of the ik_llama.cpp fork: not loadable by mainline llama.cpp"
    if re.search(r"\bqat\b", text, re.IGNORECASE):
        return ("quantization-aware-trained checkpoint: other weights and file sizes than the "
                "model the estimates describe")
    return ""


def _read(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataFileError(path, None, "missing: the shared data folder needs gguf/repos.csv "
                            "and gguf/file_sizes.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        return [{k: (v or "").strip() for k, v in r.items() if k} for r in csv.DictReader(fh)]


def _seen_in_files(rows: list[dict[str, str]]) -> dict[str, set[str]]:
    """Quant types of the files ``file_sizes.csv`` saw in each repo (published files only)."""
    seen: dict[str, set[str]] = {}
    for r in rows:
        quant = find_quant(r.get("quant", ""))
        if quant is not None and r.get("file", "").endswith(".gguf"):
            seen.setdefault(r.get("repo", ""), set()).add(quant.name)
    return seen


def build_rows(repos: list[dict[str, str]], sizes: list[dict[str, str]],
               names: list[str]) -> list[dict[str, str]]:
    """The rows of ``gguf_repos.csv`` (see the module docstring), sorted by model and kind."""
    seen_files = _seen_in_files(sizes)
    out = []
    for lineno, r in enumerate(repos, start=2):
        if r.get("kind") not in KINDS or "/" not in r.get("repo", ""):
            raise DataFileError(Path("gguf/repos.csv"), lineno,
                                f"kind must be one of {', '.join(KINDS)} and repo an "
                                f"'org/name' id, got {r.get('kind')!r}, {r.get('repo')!r}")
        pattern, basis, quants, complete = file_pattern(r["quant_pattern"], r["repo"], r["kind"])
        if not pattern and re.search(r"qat-(q4_0)", r["repo"], re.IGNORECASE):
            quants, complete = ["Q4_0"], True  # Google's QAT repos hold the one Q4_0 file
        if not complete and re.search(r"quant list", r["notes"]):
            quants, complete = _quant_names(r["notes"]), True
        seen = set(quants) | seen_files.get(r["repo"], set())
        seen |= {find_quant(a or b).name  # type: ignore[union-attr]
                 for a, b in _FILE_QUANT_RE.findall(f"{r['source']} {r['notes']}")}
        ordered = sorted(seen, key=_ORDER.__getitem__)
        name = catalog_name(r["model"], names)
        out.append({
            "model": name or r["model"], "published_name": r["model"],
            "in_catalog": "true" if name else "false", "repo": r["repo"], "kind": r["kind"],
            "file_pattern": pattern, "file_pattern_basis": basis, "quants": ";".join(ordered),
            "quants_basis": "complete" if complete else ("seen" if ordered else ""),
            "excluded_reason": _excluded(r), "ollama_tag": r["ollama_tag"],
            "pattern_as_published": r["quant_pattern"], "source": r["source"],
            "notes": r["notes"]})
    out.sort(key=lambda r: (r["model"].lower(), KINDS.index(r["kind"]), r["repo"].lower()))
    return out


def source_keys(sources_md: str) -> list[dict[str, str]]:
    """The ``| key | citation | what was read |`` rows of SOURCES.md's "Source keys" table."""
    section = sources_md.partition("## Source keys")[2].split("\n## ", 1)[0]
    out: list[dict[str, str]] = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("key", "") and not set(cells[0]) <= {"-"}:
            citation = cells[1]
            if citation.startswith("same @") and out:  # "same" = the row above's repository
                citation = out[-1]["citation"].split(" @", 1)[0] + citation[len("same"):]
            out.append({"source_id": cells[0], "kind": "catalog",
                        "citation": f"{citation}; read: {cells[2]}"})
    return out


def _to_csv(rows: list[dict[str, str]], columns: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _catalog_names(catalog_dir: Path) -> list[str]:
    path = catalog_dir / "models.csv"
    if not path.is_file():
        raise DataFileError(path, None, "missing: import the catalog first (its model names "
                            "are what the repos are mapped onto)")
    with path.open(encoding="utf-8", newline="") as fh:
        return [r["name"] for r in csv.DictReader(fh)]


def import_gguf_repos(shared_gguf: Path, catalog_dir: Path,
                      sources_dir: Path | None = None) -> ReposReport:
    """Write ``catalog_dir/gguf_repos.csv`` from ``shared_gguf`` (the shared ``gguf/`` folder),
    mapping names onto the catalog in ``catalog_dir/models.csv``, and the source keys'
    citations to ``sources_dir/sources_gguf.csv`` (default: ``catalog_dir``'s parent)."""
    names = _catalog_names(catalog_dir)
    rows = build_rows(_read(shared_gguf / "repos.csv"), _read(shared_gguf / "file_sizes.csv"),
                      names)
    atomic_write_text(catalog_dir / OUT_FILE, _to_csv(rows, COLUMNS))
    notes = shared_gguf / "SOURCES.md"
    keys = source_keys(notes.read_text(encoding="utf-8")) if notes.is_file() else []
    atomic_write_text((sources_dir or catalog_dir.parent) / SOURCES_FILE,
                      _to_csv(keys, ("source_id", "kind", "citation")))
    covered = {r["model"] for r in rows}
    return ReposReport(
        rows=len(rows), models=len(covered),
        catalog_models_without_repo=[n for n in names if n not in covered],
        not_in_catalog=sorted({r["model"] for r in rows if r["in_catalog"] == "false"},
                              key=str.lower))

"""Import every published full-precision score into one long table, ``scores.csv``.

Inputs, in the shared catalog folder (each with its ``SOURCES.md``; all but ``scores.csv`` are
optional):

* ``scores.csv``: the first catalog (tech reports, model cards, Open LLM Leaderboard v2);
* ``arch/*/card_scores.csv``: model cards and tech reports of later releases, modes apart;
* ``leaderboards/livebench.csv`` (every release; the category averages and global average
  are kept, the per-task rows are not), ``artificial_analysis.csv`` (two snapshots; composite
  indices are compared within a snapshot only), ``llm_leaderboard.csv`` (self-reported figures
  collected by llm-stats) and ``aider.csv`` (runs flagged ``QUANTIZED`` are dropped);
* ``aliases.csv``: checkpoint names the rules below cannot map, and the mode of rows a source
  gives none for (``alias, model, mode, source, reason``; ``model`` ``-`` means "not in the
  catalog").

Each row gets ``model`` (the catalog name, blank for a model outside the catalog, kept because
it helps the capability fit), ``model_id`` (the checkpoint's Hugging Face name as the source
gives it, blank when it gives none, e.g. for closed models), ``variant`` (the name in the
source), ``mode`` (``thinking``,
``non-thinking``, ``default``, ``high``/``medium``/``low``/``max`` reasoning effort, or
``base`` for a pretrained checkpoint, which never stands in for the released model),
``benchmark`` (``<source group>: <benchmark>``; see :mod:`~advisor.data.importers.score_names`),
``category``, ``score`` and ``scale`` (scores on a 0-100 scale, fractions and 0-10 scores
converted, have a scale starting ``0-100``; other scales are kept as published), ``setting``,
``source_key``, ``source`` and ``date``.

A name maps to a catalog model by, in order: ``aliases.csv``; the model's Hugging Face repo
name (``Llama-3.1-8B-Instruct`` is ``Llama-3.1-8B``); the catalog name itself, which for the
first catalog's models names the *base* checkpoint when the repo name differs (``Llama-3.1-8B``
in a pretrained table); and the same after dropping one suffix at a time (``-Base``, ``-it``,
``-Instruct``, ``-Chat``, ``-BF16``, a parenthesis), a ``-Base`` name being the base checkpoint.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from advisor.data.importers.score_names import (
    BASE_NAME,
    benchmark_category,
    canonical_benchmark,
    name_candidates,
    report_group,
)
from advisor.vocabulary.errors import DataFileError

log = logging.getLogger(__name__)

SCORE_COLUMNS: tuple[str, ...] = (
    "model", "model_id", "variant", "mode", "benchmark", "category", "score", "scale", "setting",
    "source_key", "source", "date",
)
#: Modes a score can carry.
SCORE_MODES: tuple[str, ...] = ("thinking", "non-thinking", "default", "high", "medium", "low",
                                "max", "base")
#: Catalog ``modes`` whose rows without a mode have one known mode.
_ONLY_MODE = {"instruct": "non-thinking", "thinking": "thinking"}
#: Dates of first-catalog sources, where its SOURCES.md gives them.
_SOURCE_DATES = {"OLB_MIRROR": "2025-05-09", "QWEN3_TR": "2025-05", "GEMMA3_TR": "2025-03",
                 "R1_README": "2025-01"}
_LIVEBENCH_CATEGORY = {"mathematics": "math", "data_analysis": "other", "global_average": "other",
                       "agentic_coding": "agentic"}
_AIDER = re.compile(r"Aider (code editing|polyglot) (\w+)")
_SUFFIX_NOTE = re.compile(r"\s*\([^)]*\)$")  # "X-Instruct-2407 (card main benchmarks)"
_BASE_NOTE = re.compile(r"check whether this is a base-model number|pretrained model|"
                        r"base \(pretrained\) model", re.IGNORECASE)


@dataclass(frozen=True)
class Alias:
    """A line of ``aliases.csv``."""

    alias: str
    model: str
    mode: str
    source: str
    reason: str


def read_aliases(path: Path, known: set[str]) -> list[Alias]:
    """``aliases.csv`` (absent: none); a model that is not in the catalog or an unknown mode
    fails with file:line."""
    if not path.is_file():
        return []
    out = []
    for lineno, rec in enumerate(_records(path), start=2):
        alias = Alias(**{k: rec.get(k, "") for k in ("alias", "model", "mode", "source",
                                                      "reason")})
        if not alias.alias or not alias.reason:
            raise DataFileError(path, lineno, "alias and reason are required")
        if alias.model not in ("", "-") and alias.model not in known:
            raise DataFileError(path, lineno, f"model {alias.model!r} is not in the catalog")
        if alias.mode and alias.mode not in SCORE_MODES:
            raise DataFileError(path, lineno, f"mode must be one of {', '.join(SCORE_MODES)}, "
                                f"got {alias.mode!r}")
        out.append(alias)
    return out


class NameMap:
    """Source names to catalog models (see the module docstring for the rules)."""

    def __init__(self, models: Iterable[dict[str, object]], aliases: list[Alias]) -> None:
        self.modes: dict[str, str] = {}
        self._repo: dict[str, str] = {}
        self._name: dict[str, str] = {}
        self._renamed: set[str] = set()  # catalog names that are not their repo's name
        for m in models:
            name, repo = str(m["name"]), str(m.get("hf_repo") or "").split("/")[-1]
            self.modes[name] = str(m.get("modes") or "")
            self._name[name.lower()] = name
            if repo:
                self._repo[repo.lower()] = name
                if repo.lower() != name.lower():
                    self._renamed.add(name)
        self._aliases = {(a.alias.lower(), a.source): a for a in aliases}

    def alias(self, names: Iterable[str], source: str) -> Alias | None:
        for name in names:
            for key in ((name.lower(), source), (name.lower(), "")):
                if key in self._aliases:
                    return self._aliases[key]
        return None

    def resolve(self, name: str) -> tuple[str, bool]:
        """(catalog model or "", whether the name is that model's base checkpoint)."""
        base_name = bool(BASE_NAME.search(name))
        for i, cand in enumerate(name_candidates(name)):
            key = cand.lower()
            if key in self._repo:
                return self._repo[key], base_name
            if key in self._name:
                model = self._name[key]
                # the first catalog names a model by its base checkpoint (Llama-3.1-8B)
                return model, base_name or (i == 0 and model in self._renamed)
        return "", base_name


def score_rows(shared_dir: Path, models: list[dict[str, object]]) -> list[dict[str, object]]:
    """Every usable published score of ``shared_dir`` as ``scores.csv`` rows, sorted."""
    shared_dir = Path(shared_dir)
    known = {str(m["name"]) for m in models}
    names = NameMap(models, read_aliases(shared_dir / "aliases.csv", known))
    rows = list(_first_catalog(shared_dir / "scores.csv", names, known))
    for path in sorted(shared_dir.glob("arch/*/card_scores.csv")):
        rows.extend(_cards(path, names))
    boards = shared_dir / "leaderboards"
    for stem in ("livebench", "artificial_analysis", "llm_leaderboard", "aider"):
        if (boards / f"{stem}.csv").is_file():
            rows.extend(_leaderboard(boards / f"{stem}.csv", stem, names))
    rows.sort(key=lambda r: (str(r["model"]) or "~", str(r["variant"]), str(r["mode"]),
                             str(r["benchmark"]), str(r["source"]), float(str(r["score"]))))
    return rows


def unscored(rows: list[dict[str, object]], models: list[dict[str, object]]) -> list[str]:
    """Catalog models without a score of their own (base checkpoints' scores do not count)."""
    seen = {r["model"] for r in rows if r["mode"] != "base"}
    return sorted((str(m["name"]) for m in models if m["name"] not in seen), key=str.lower)


# -- readers ---------------------------------------------------------------------------------
def _records(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            yield {k: (v or "").strip() for k, v in rec.items() if k is not None}


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _scaled(score: float, scale: str) -> tuple[float, str]:
    """Scores on a 0-100 scale, with a scale starting ``0-100``; others as published."""
    low = scale.lower()
    if low.startswith("fraction") or (low == "aggregator units (benchmark max_score 100)"
                                      and score <= 1):  # llm-stats stores these as fractions
        return round(score * 100, 4), f"0-100 ({scale}, x100)"
    if "0-10 scale" in low or low == "score (0-10)":
        return round(score * 10, 6), f"0-100 ({scale}, x10)"
    if low in ("percent", "percent (0-100)", "percentile (0-100)", "mrcr score (0-100)",
               "index (0-100)") \
            or low.startswith("open llm leaderboard v2 normalized"):
        return score, f"0-100 ({scale})"
    return score, scale


def _mode(source_mode: str, model: str, base: bool, alias: Alias | None,
          names: NameMap) -> str:
    if base or source_mode == "base" or (alias is not None and alias.mode == "base"):
        return "base"
    if source_mode == "default" and alias is not None and alias.mode:
        return alias.mode
    if source_mode == "default" and model:
        return _ONLY_MODE.get(names.modes.get(model, ""), "default")
    return source_mode


def _row(model: str, model_id: str, variant: str, mode: str, benchmark: str, category: str,
         score: float, scale: str, setting: str, source_key: str, source: str,
         date: str) -> dict[str, object]:
    score, scale = _scaled(score, scale)
    return {"model": model, "model_id": model_id, "variant": variant, "mode": mode,
            "benchmark": benchmark, "category": category, "score": score, "scale": scale,
            "setting": setting, "source_key": source_key, "source": source, "date": date}


def _first_catalog(path: Path, names: NameMap, known: set[str]) -> Iterator[dict[str, object]]:
    if not path.is_file():
        raise DataFileError(path, None, "catalog input file does not exist")
    for lineno, rec in enumerate(_records(path), start=2):
        arch, variant = rec["arch_model"], rec["model"]
        if arch not in known:
            raise DataFileError(path, lineno, f"arch_model {arch!r} is not in the catalog")
        score = _number(rec["score"])
        if score is None:
            raise DataFileError(path, lineno, f"score must be a number, got {rec['score']!r}")
        alias = names.alias([variant], "scores")
        model, base = names.resolve(variant)
        if alias is not None and alias.model not in ("", "-"):
            model = alias.model
        if model and model != arch:  # the file's own join wins
            log.warning("%s:%d: variant %r maps to %r, the file says %r; kept %r", path,
                        lineno, variant, model, arch, arch)
        model = arch
        setting, key = rec["shots/setting"], rec["source"].split()[0]
        source_mode = ("non-thinking" if "non-thinking mode" in setting
                       else "thinking" if "thinking mode" in setting else "default")
        mode = _mode(source_mode, model, base or bool(_BASE_NOTE.search(setting)), alias, names)
        bench = canonical_benchmark(rec["benchmark"])
        yield _row(model, _SUFFIX_NOTE.sub("", variant), variant, mode,
                   f"{report_group(key)}: {bench}", benchmark_category(bench), score,
                   rec["scale"], setting, key, rec["source"], _SOURCE_DATES.get(key, ""))


def _cards(path: Path, names: NameMap) -> Iterator[dict[str, object]]:
    skipped = 0
    for rec in _records(path):
        score = _number(rec["score"])
        if score is None:  # e.g. "50.8/46.7" (two directions in one cell)
            skipped += 1
            continue
        variant, key = rec["model"], rec["source"].split()[0]
        alias = names.alias([variant], "card_scores")
        model, base = names.resolve(variant)
        if alias is not None and alias.model:
            model = "" if alias.model == "-" else alias.model
        mode = _mode(rec["mode"] or "default", model, base, alias, names)
        bench = canonical_benchmark(rec["benchmark"])
        setting = "; ".join(p for p in (rec["setting"], rec["table"]) if p)
        yield _row(model, variant, variant, mode, f"{report_group(key)}: {bench}",
                   benchmark_category(bench), score, rec["scale"], setting, key, rec["source"],
                   rec["date"])
    if skipped:
        log.info("%s: %d rows without a single number skipped", path, skipped)


def _leaderboard(path: Path, stem: str, names: NameMap) -> Iterator[dict[str, object]]:
    dropped = 0
    for rec in _records(path):
        bench, notes = rec["benchmark"], rec["notes"]
        if stem == "livebench" and "/" in bench:
            continue  # per-task rows: the category averages carry them
        if stem == "aider" and notes.startswith("QUANTIZED"):
            dropped += 1
            continue
        score = _number(rec["score"])
        if score is None:
            raise DataFileError(path, None, f"score must be a number, got {rec['score']!r} "
                                f"({rec['model_as_in_source']}, {bench})")
        variant = rec["model_as_in_source"]
        alias = names.alias([variant, rec["model"]], stem)
        model, base = names.resolve(rec["model"]) if rec["model"] else ("", False)
        if alias is not None and alias.model:
            model = "" if alias.model == "-" else alias.model
        base = base or bool(_BASE_NOTE.search(notes))
        mode = _mode(rec["mode"] or "default", model, base, alias, names)
        benchmark, category, key = _leaderboard_id(stem, bench, rec["category"], rec["date"])
        setting = rec["setting"]
        if "Turbo" in notes:
            setting += "; Together Turbo endpoint (reduced precision)"
        source = rec["source"]
        if stem == "artificial_analysis":  # the payload's fetch time is in leaderboards/SOURCES.md
            source = source.split(" (AA page payload", 1)[0]
        yield _row(model, rec["model"], variant, mode, benchmark, category, score,
                   rec["scale"], setting, key, source, rec["date"])
    if dropped:
        log.info("%s: %d rows of quantized runs dropped", path, dropped)


def _leaderboard_id(stem: str, bench: str, category: str, date: str) -> tuple[str, str, str]:
    """(benchmark id, category, source key) of a leaderboard row."""
    if stem == "livebench":
        name = bench.removeprefix("LiveBench ")
        return f"LiveBench {date}: {name}", _LIVEBENCH_CATEGORY.get(name, name), "LIVEBENCH"
    if stem == "artificial_analysis":
        return f"AA {date}: {bench.removesuffix(' (AA)')}", category, "AA"
    if stem == "aider":
        match = _AIDER.match(bench)
        name = f"{match[1]} {match[2]}" if match else bench
        return f"Aider: {name}", category, "AIDER"
    canon = canonical_benchmark(bench)
    return f"{report_group('LLMSTATS')}: {canon}", benchmark_category(canon), "LLMSTATS"

"""Where a model's GGUF file can be downloaded: the repos of ``catalog/gguf_repos.csv``.

The file is written by :mod:`advisor.data.importers.gguf_repos` from the cited table in
``../shared/data/gguf/``; nothing is looked up online. :func:`choose_repo` picks the repo a
user should download a given model and quant from:

1. the model maker's own GGUF repo (kind ``official``), when the sources show it holds that quant;
2. else a standard uploader (bartowski, unsloth, lmstudio-community, ggml-org) shown to hold it;
3. else bartowski or unsloth, whose repos carry the whole llama.cpp quant ladder under one naming
   pattern (the answer then says the quant was not itself seen: ``quant_basis`` ``assumed``);
4. else another uploader shown to hold it.

Within a rank the order is the one of :data:`KINDS`. Repos marked ``excluded_reason`` (files
only a fork loads; quantization-aware-trained checkpoints, whose weights and sizes are not the
model the estimates describe) are never chosen.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from advisor.data.dataset import default_measurements_dir
from advisor.vocabulary.errors import DataFileError

log = logging.getLogger(__name__)

REPOS_FILE = "gguf_repos.csv"
KINDS: tuple[str, ...] = ("official", "bartowski", "unsloth", "lmstudio-community", "ggml-org",
                          "other")
_STANDARD = frozenset({"bartowski", "unsloth", "lmstudio-community", "ggml-org"})
#: Uploaders whose repos hold the full quant ladder under one file-name pattern.
LADDER_KINDS = frozenset({"bartowski", "unsloth"})
_REQUIRED = ("model", "repo", "kind", "file_pattern", "quants", "quants_basis")


@dataclass(frozen=True)
class RepoEntry:
    """One (model, repo) row of ``gguf_repos.csv``."""

    model: str
    repo: str
    kind: str
    file_pattern: str
    file_pattern_basis: str
    quants: tuple[str, ...]
    quants_basis: str
    excluded_reason: str
    ollama_tag: str
    pattern_as_published: str
    source: str
    notes: str

    def holds(self, quant: str) -> str | None:
        """How we know this repo has ``quant``: ``listed`` (a source shows it), ``assumed``
        (a full-ladder uploader's pattern), or None (not known to)."""
        if quant in self.quants:
            return "listed"
        if (self.quants_basis != "complete" and self.kind in LADDER_KINDS
                and "{QUANT}" in self.file_pattern):
            return "assumed"
        return None

    def file_name(self, quant: str) -> str | None:
        """The file name (a glob for split files) of ``quant`` in this repo, if known."""
        if not self.file_pattern:
            return None
        return self.file_pattern.replace("{QUANT}", quant).replace("{quant}", quant.lower())


@dataclass(frozen=True)
class RepoChoice:
    """The repo to download a model's quant from, and the others that hold it."""

    entry: RepoEntry
    quant_basis: str
    others: tuple[str, ...]


class RepoTable:
    """The repos of every model, by catalog name."""

    def __init__(self, entries: list[RepoEntry]) -> None:
        self.entries = entries
        self._by_model: dict[str, list[RepoEntry]] = {}
        for e in entries:
            self._by_model.setdefault(e.model.lower(), []).append(e)

    def __len__(self) -> int:
        return len(self.entries)

    def of(self, model: str) -> list[RepoEntry]:
        """Every repo row of ``model`` (catalog name, case-insensitive)."""
        return list(self._by_model.get(model.lower(), []))

    def ollama_tag(self, model: str) -> str | None:
        """The Ollama library tag of ``model`` (the one most of its rows give), if any."""
        tags = [e.ollama_tag for e in self.of(model) if e.ollama_tag]
        return max(sorted(set(tags)), key=tags.count) if tags else None

    def multimodal(self, model: str) -> bool:
        """Whether a repo of ``model`` publishes a multimodal projector (mmproj) file."""
        return any("mmproj" in e.pattern_as_published.lower() for e in self.of(model))

    def choose(self, model: str, quant: str) -> RepoChoice | None:
        """The repo to get ``model`` at ``quant`` from (see the module docstring), or None."""
        ranked = []
        for e in self.of(model):
            basis = e.holds(quant)
            if e.excluded_reason or basis is None:
                continue
            if e.kind == "official" and basis == "listed":
                rank = 0
            elif e.kind in _STANDARD and basis == "listed":
                rank = 1
            elif basis == "assumed":
                rank = 2
            else:
                rank = 3
            ranked.append((rank, KINDS.index(e.kind), e.repo.lower(), e, basis))
        if not ranked:
            return None
        ranked.sort(key=lambda r: r[:3])
        first = ranked[0]
        return RepoChoice(entry=first[3], quant_basis=first[4],
                          others=tuple(r[3].repo for r in ranked[1:]))


def load_repos(catalog_dir: Path | None = None) -> RepoTable:
    """The table of ``catalog_dir/gguf_repos.csv`` (default ``measurements/catalog``); empty
    (with a warning) when the file is absent; a malformed file raises DataFileError."""
    path = (catalog_dir or default_measurements_dir() / "catalog") / REPOS_FILE
    if not path.is_file():
        log.warning("no GGUF repo table at %s: answers carry no download", path)
        return RepoTable([])
    entries = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in _REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise DataFileError(path, 1, f"missing columns {', '.join(missing)}")
        for lineno, r in enumerate(reader, start=2):
            if r["kind"] not in KINDS or "/" not in r["repo"]:
                raise DataFileError(path, lineno, f"kind must be one of {', '.join(KINDS)} and "
                                    f"repo an 'org/name' id, got {r['kind']!r}, {r['repo']!r}")
            entries.append(RepoEntry(
                model=r["model"], repo=r["repo"], kind=r["kind"],
                file_pattern=r["file_pattern"], file_pattern_basis=r.get("file_pattern_basis", ""),
                quants=tuple(q for q in r["quants"].split(";") if q),
                quants_basis=r["quants_basis"], excluded_reason=r.get("excluded_reason", ""),
                ollama_tag=r.get("ollama_tag", ""),
                pattern_as_published=r.get("pattern_as_published", ""),
                source=r.get("source", ""), notes=r.get("notes", "")))
    return RepoTable(entries)

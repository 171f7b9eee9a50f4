"""Versioned predictor artifacts and the pointer saying which one serves.

Layout under ``<data_dir>/models``::

    versions/<id>/          one complete artifact folder (quality.joblib, speed.joblib,
                            capability.csv, card.json)
    versions/.staging-<id>/ a folder being written; never read, removed at start-up
    CURRENT                 JSON {"version": "<id>"}, replaced atomically

A version folder appears by renaming a finished staging folder, and promotion replaces
``CURRENT`` with ``os.replace``, so a crash at any moment leaves the previous pointer and a
complete folder behind it. Without ``CURRENT`` (or for ``"shipped"``) the shipped predictors in
``ADVISOR_MODELS_DIR`` serve.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from advisor.data.dataset import atomic_write_text
from advisor.predictors.card import read_card
from advisor.vocabulary.errors import ArtifactError, UnknownNameError

log = logging.getLogger(__name__)

SHIPPED = "shipped"
POINTER = "CURRENT"
_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")


@dataclass(frozen=True)
class Version:
    id: str
    path: Path
    created: str
    data_hash: str
    metrics: dict[str, Any]
    serving: bool


class Registry:
    def __init__(self, root: Path, shipped: Path) -> None:
        self.root = Path(root)
        self.shipped = Path(shipped)
        self.versions = self.root / "versions"

    def clean_staging(self) -> None:
        """Remove half-written folders a crash may have left."""
        if self.versions.is_dir():
            for path in self.versions.glob(".staging-*"):
                shutil.rmtree(path, ignore_errors=True)
                log.warning("removed unfinished version folder %s", path.name)

    def new_staging(self) -> tuple[str, Path]:
        vid = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        path = self.versions / f".staging-{vid}"
        path.mkdir(parents=True)
        return vid, path

    def commit(self, vid: str, staging: Path) -> Path:
        """Make a finished staging folder a version (atomic rename, then fsync the parent)."""
        final = self.versions / vid
        os.replace(staging, final)
        _fsync_dir(self.versions)
        return final

    def current_id(self) -> str:
        pointer = self.root / POINTER
        if not pointer.is_file():
            return SHIPPED
        try:
            vid = str(json.loads(pointer.read_text(encoding="utf-8"))["version"])
        except (ValueError, KeyError, TypeError) as e:
            raise ArtifactError(f"version pointer {pointer} is corrupt ({e}); allowed: "
                                '{"version": "<id>"}; delete it to serve the shipped '
                                "predictors") from e
        return vid

    def path_of(self, vid: str) -> Path:
        if vid == SHIPPED:
            return self.shipped
        if not _ID.match(vid) or not (self.versions / vid).is_dir():
            raise UnknownNameError("predictor version", vid, self.ids(), parameter="version")
        return self.versions / vid

    def ids(self) -> list[str]:
        found = [p.name for p in self.versions.iterdir()
                 if p.is_dir() and _ID.match(p.name)] if self.versions.is_dir() else []
        return [SHIPPED, *sorted(found)]

    def point_to(self, vid: str) -> None:
        """Atomically make ``vid`` the serving version."""
        self.path_of(vid)
        atomic_write_text(self.root / POINTER, json.dumps({"version": vid}) + "\n")
        _fsync_dir(self.root)

    def list(self) -> list[Version]:
        serving = self.current_id()
        out = []
        for vid in self.ids():
            try:
                card = read_card(self.path_of(vid))
            except ArtifactError:
                continue
            out.append(Version(id=vid, path=self.path_of(vid), created=card.created,
                               data_hash=card.data_hash, metrics=card.metrics,
                               serving=vid == serving))
        return out


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

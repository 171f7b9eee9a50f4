"""Re-import the published measurements into ``measurements/``.

The inputs are two folders of the same layout (``quality/``, ``speed/``, ``catalog/``,
``gguf/``, ``hardware/``): the team's shared data folder (``../shared/data``, read only) and
``measurements/gathered/``, the published tables this project gathered itself, each cited in
its folder's ``SOURCES.md``. :func:`published_tree` lays the second over the first (a file of
the same name in ``gathered/`` wins), and every importer reads that one tree.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from advisor.data.dataset import default_measurements_dir
from advisor.vocabulary.errors import DataFileError


def default_gathered_dir() -> Path:
    """``measurements/gathered``: the published tables this project added to the shared ones."""
    return default_measurements_dir() / "gathered"


def _link_tree(source: Path, target: Path) -> None:
    for entry in sorted(source.iterdir()):
        if entry.is_dir():
            (target / entry.name).mkdir(exist_ok=True)
            _link_tree(entry, target / entry.name)
        else:
            (target / entry.name).unlink(missing_ok=True)
            os.symlink(entry.resolve(), target / entry.name)


@contextmanager
def published_tree(shared_dir: Path, gathered_dir: Path | None = None) -> Iterator[Path]:
    """A temporary folder holding ``shared_dir`` with ``gathered_dir`` (default
    :func:`default_gathered_dir`; absent means none) laid over it, as symbolic links."""
    gathered = default_gathered_dir() if gathered_dir is None else Path(gathered_dir)
    with tempfile.TemporaryDirectory(prefix="published-") as tmp:
        tree = Path(tmp)
        for layer in (Path(shared_dir), gathered):
            if layer.is_dir():
                _link_tree(layer, tree)
        yield tree


def import_all(shared_dir: Path, out_dir: Path,
               gathered_dir: Path | None = None) -> dict[str, object]:
    """Run the quality, speed, catalog, GGUF-file, weights and GGUF-repo importers on
    ``shared_dir`` with ``gathered_dir`` laid over it (see :func:`published_tree`); returns
    their counts."""
    gathered = default_gathered_dir() if gathered_dir is None else Path(gathered_dir)
    for sub in ("quality", "speed", "catalog", "gguf"):
        if not (Path(shared_dir) / sub).is_dir() and not (gathered / sub).is_dir():
            raise DataFileError(Path(shared_dir) / sub, None,
                                f"missing: the shared data folder (or {gathered}) needs "
                                "quality/, speed/, catalog/ and gguf/ subfolders")
    with published_tree(shared_dir, gathered) as tree:
        return _import_tree(tree, Path(out_dir))


def _import_tree(shared_dir: Path, out_dir: Path) -> dict[str, object]:
    from advisor.data.importers.catalog import import_catalog
    from advisor.data.importers.gguf_files import import_gguf_files
    from advisor.data.importers.gguf_repos import import_gguf_repos
    from advisor.data.importers.quality import write_quality
    from advisor.data.importers.speed import write_speed
    from advisor.data.importers.weights_table import import_weights

    catalog = import_catalog(shared_dir / "catalog", out_dir / "catalog")
    files = import_gguf_files(shared_dir / "gguf", out_dir / "catalog" / "models.csv",
                              out_dir / "catalog" / "gguf_files.csv")
    weights = import_weights(out_dir / "catalog")
    repos = import_gguf_repos(shared_dir / "gguf", out_dir / "catalog")
    return {
        "quality": write_quality(shared_dir, out_dir),
        "speed": write_speed(shared_dir, out_dir),
        "catalog": {"models": catalog.n_models, "recommendable": catalog.n_recommendable,
                    "scores": catalog.n_scores},
        "gguf_files": {"files": files.n_files, "standard": files.n_standard,
                       "models": files.n_models},
        "weights": {"files": weights.rows, "published": weights.published,
                    "computed": weights.computed, "estimated": weights.estimated},
        "gguf_repos": {"rows": repos.rows, "models": repos.models,
                       "catalog_models_without_repo": repos.catalog_models_without_repo},
    }

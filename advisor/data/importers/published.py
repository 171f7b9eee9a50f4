"""Re-import the published measurements (``shared/data``) into ``measurements/``."""

from __future__ import annotations

from pathlib import Path

from advisor.vocabulary.errors import DataFileError


def import_all(shared_dir: Path, out_dir: Path) -> dict[str, object]:
    """Run the quality, speed, catalog, GGUF-file, weights and GGUF-repo importers; returns
    their counts."""
    from advisor.data.importers.catalog import import_catalog
    from advisor.data.importers.gguf_files import import_gguf_files
    from advisor.data.importers.gguf_repos import import_gguf_repos
    from advisor.data.importers.quality import write_quality
    from advisor.data.importers.speed import write_speed
    from advisor.data.importers.weights_table import import_weights

    for sub in ("quality", "speed", "catalog", "gguf"):
        if not (shared_dir / sub).is_dir():
            raise DataFileError(shared_dir / sub, None,
                                "missing: the shared data folder needs quality/, speed/, "
                                "catalog/ and gguf/ subfolders")
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

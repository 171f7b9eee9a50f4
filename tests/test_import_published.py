"""The committed measurements are exactly what the importers make of the shared data."""


import pytest
from published_data import SHARED, needs_shared

from advisor.data.dataset import default_measurements_dir
from advisor.data.importers.published import import_all
from advisor.vocabulary.errors import DataFileError

FILES = ("quality.jsonl", "speed.jsonl", "hardware.csv", "sources_quality.csv",
         "sources_speed.csv", "catalog/models.csv", "catalog/scores.csv",
         "catalog/gguf_files.csv", "catalog/gguf_repos.csv",
         "sources_gguf.csv")


@needs_shared
def test_reimport_reproduces_committed_files(tmp_path):
    counts = import_all(SHARED, tmp_path)
    assert counts["quality"]["rows"] > 2000 and counts["speed"]["rows"] > 2000
    for name in FILES:
        committed = (default_measurements_dir() / name).read_bytes()
        assert (tmp_path / name).read_bytes() == committed, f"{name} is out of date: run " \
            "`quant-advisor import-published --shared ../shared/data`"


def test_missing_subfolder_is_a_clear_error(tmp_path):
    (tmp_path / "quality").mkdir()
    with pytest.raises(DataFileError, match="speed"):
        import_all(tmp_path, tmp_path / "out", gathered_dir=tmp_path / "none")

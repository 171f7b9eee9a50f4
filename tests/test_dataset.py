import json

import pytest

from advisor.dataset import load_dataset, write_csv_models, write_rows
from advisor.errors import DataFileError
from advisor.schema import Hardware, HardwareKind, MetricKind, QualityRow, Source, SpeedRow

BASE = {"source_id": "s", "model": "M", "model_as_published": "M", "quant_as_published": "Q8_0"}


def rows():
    return [QualityRow(**BASE, metric="ppl", metric_kind=MetricKind.PERPLEXITY, value=6.1,
                       baseline_value=6.0, ppl_ratio=6.1 / 6.0),
            SpeedRow(**BASE, hardware="Dev", backend="cuda", test="pp512", tokens_per_s=100.0),
            SpeedRow(**BASE, hardware="Dev", backend="cuda", test="tg128", tokens_per_s=10.0,
                     excluded_reason="host-limited")]


def test_write_then_load(tmp_path):
    write_rows(tmp_path / "a.jsonl", rows())
    write_csv_models(tmp_path / "hardware.csv",
                     [Hardware(name="Dev", kind=HardwareKind.GPU, bandwidth_gbs=900.0)])
    write_csv_models(tmp_path / "sources_x.csv",
                     [Source(source_id="s", kind="quality", citation="a paper")])
    data = load_dataset(tmp_path)
    assert len(data.quality) == 1 and len(data.speed) == 2
    assert data.hardware["Dev"].bandwidth_gbs == 900.0
    assert data.sources["s"].citation == "a paper"
    assert len(data.speed_frame()) == 1  # excluded rows are kept but not used
    assert len(data.speed_frame(usable_only=False)) == 2
    assert len(data.content_hash) == 16


def test_hash_changes_with_data(tmp_path):
    write_rows(tmp_path / "a.jsonl", rows())
    before = load_dataset(tmp_path).content_hash
    write_rows(tmp_path / "a.jsonl", rows()[:2])
    assert load_dataset(tmp_path).content_hash != before


@pytest.mark.parametrize("line, fragment", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"kind": "other"}', "field 'kind'"),
    (json.dumps({**BASE, "kind": "speed", "hardware": "h", "backend": "cpu", "test": "tg128",
                 "tokens_per_s": -1}), "tokens_per_s"),
])
def test_malformed_line_names_file_and_line(tmp_path, line, fragment):
    good = rows()[0].model_dump_json()
    (tmp_path / "bad.jsonl").write_text(good + "\n\n" + line + "\n")
    with pytest.raises(DataFileError) as err:
        load_dataset(tmp_path)
    assert "bad.jsonl:3: " in str(err.value)
    assert fragment in str(err.value)


def test_malformed_csv_names_line(tmp_path):
    (tmp_path / "hardware.csv").write_text("name,kind\nA,gpu\nB,toaster\n")
    with pytest.raises(DataFileError, match=r"hardware.csv:3: kind"):
        load_dataset(tmp_path)


def test_missing_folder(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        load_dataset(tmp_path / "nope")


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "a.jsonl"
    write_rows(path, rows())
    before = path.read_text()

    class Boom(Exception):
        pass

    def boom(*a, **k):
        raise Boom

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(Boom):
        write_rows(path, rows()[:1])
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.jsonl"]

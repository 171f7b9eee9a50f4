import json

import pandas as pd
import pytest

from advisor.data.dataset import load_dataset, write_csv_models, write_rows
from advisor.vocabulary.errors import DataFileError
from advisor.vocabulary.schema import (
    Hardware,
    HardwareKind,
    MetricKind,
    QualityRow,
    Source,
    SpeedRow,
)

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


def _hardware_tables(tmp_path):
    (tmp_path / "hardware.csv").write_text(
        "name,kind,memory_gb,bandwidth_gbs,fp16_tflops,source,notes\n"
        "Card,gpu,32,,,thread title,specs not verified\n"
        "Full,gpu,24,900,35,wiki,\n")
    (tmp_path / "hardware_added.csv").write_text(
        "name,kind,memory_gb,bandwidth_gbs,fp16_tflops,fp16_basis,source,notes\n"
        "Card,gpu,16,640,95.7,vector FP16,datasheet A,\n"
        "Full,gpu,24,1,1,tensor,datasheet B,\n"
        "Ours,gpu,80,3350,989,tensor,datasheet C,measured here\n")
    write_rows(tmp_path / "speed.jsonl", [
        SpeedRow(**BASE, hardware="Card", backend="rocm", test="tg128", tokens_per_s=50.0),
        SpeedRow(**BASE, hardware="Full", backend="cuda", test="tg128", tokens_per_s=90.0,
                 bandwidth_gbs=936.0)])


def test_added_hardware_fills_only_blank_specs_and_cites_them(tmp_path):
    _hardware_tables(tmp_path)
    table = load_dataset(tmp_path).hardware
    card, full, ours = table["Card"], table["Full"], table["Ours"]
    # the published line's memory size stays; its blanks come from the added line, cited
    assert (card.memory_gb, card.bandwidth_gbs, card.fp16_tflops) == (32.0, 640.0, 95.7)
    assert card.fp16_basis == "vector FP16"
    assert "thread title" in card.source and "datasheet A" in card.source
    assert "bandwidth_gbs" in card.source
    # the published figures win; only the blank basis is filled
    assert (full.memory_gb, full.bandwidth_gbs, full.fp16_tflops) == (24.0, 900.0, 35.0)
    assert full.fp16_basis == "tensor" and full.source == "wiki; added fp16_basis: datasheet B"
    assert ours.bandwidth_gbs == 3350.0 and ours.source == "datasheet C"


def test_speed_frame_takes_a_listed_devices_specs_from_the_table(tmp_path):
    _hardware_tables(tmp_path)
    frame = load_dataset(tmp_path).speed_frame().set_index("hardware")
    assert frame.loc["Card", "bandwidth_gbs"] == 640.0
    assert frame.loc["Card", "fp16_tflops"] == 95.7
    # the table, corrected since the row was imported, wins over the row's stored figure
    assert frame.loc["Full", "bandwidth_gbs"] == 900.0
    assert frame.loc["Full", "fp16_basis"] == "tensor"


def test_speed_frame_keeps_an_unlisted_devices_own_specs(tmp_path):
    write_rows(tmp_path / "speed.jsonl", [
        SpeedRow(**BASE, hardware="Elsewhere", backend="cuda", test="tg128", tokens_per_s=9.0,
                 bandwidth_gbs=123.0, fp16_tflops=4.0)])
    frame = load_dataset(tmp_path).speed_frame()
    assert (frame.loc[0, "bandwidth_gbs"], frame.loc[0, "fp16_tflops"]) == (123.0, 4.0)
    assert frame.loc[0, "fp16_basis"] == "" and pd.isna(frame.loc[0, "fp16_tensor_tflops"])


def test_csv_omits_a_blank_optional_column_until_a_row_fills_it(tmp_path):
    from advisor.data.dataset import HARDWARE_OMIT_BLANK, read_hardware_tables

    devices = [Hardware(name="A", kind="cpu", bandwidth_gbs=60.0),
               Hardware(name="B", kind="gpu", bandwidth_gbs=900.0, memory_gb=24.0)]
    path = tmp_path / "hardware.csv"
    write_csv_models(path, devices, omit_blank=HARDWARE_OMIT_BLANK)
    header = path.read_text(encoding="utf-8").splitlines()[0]
    assert header == "name,kind,memory_gb,bandwidth_gbs,fp16_tflops,fp16_basis,cores_or_isa," \
        "source,notes"
    assert read_hardware_tables(tmp_path) == {d.name: d for d in devices}
    devices[0] = devices[0].model_copy(update={"threads": 8})
    write_csv_models(path, devices, omit_blank=HARDWARE_OMIT_BLANK)
    assert "threads" in path.read_text(encoding="utf-8").splitlines()[0]
    assert read_hardware_tables(tmp_path) == {d.name: d for d in devices}

"""The offload speed evaluation: splits rebuilt from published flags, the host efficiency fit
and its leave-one-setup-out error, and the screening of the real offload rows."""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from conftest import FakeCard, FakePredictors, FakeQuality, FakeSpeed

from advisor.data.catalog import load_catalog
from advisor.data.dataset import Dataset, load_dataset
from advisor.data.hardware import load_hardware
from advisor.data.offload_hosts import OFFLOAD_HOSTS
from advisor.recommender.advisor import Advisor
from advisor.recommender.offload_evaluation import (
    append_offload_section,
    evaluate_offload,
    fit_efficiency,
    implied_efficiency,
    leave_one_setup_out,
    offload_section,
    predict,
)
from advisor.recommender.offload_runs import (
    NotReconstructible,
    OffloadRun,
    experts_matched,
    offload_generation_rows,
    rebuild_split,
    screen,
)
from advisor.recommender.placement import split_speed
from advisor.vocabulary.schema import Hardware, HardwareKind
from advisor.vocabulary.settings import Settings

GB = 1e9
# one MoE file: 40 layers, all MoE, 0.1 GB per layer besides 0.5 GB of routed experts, 8 of
# 256 experts used; 0.3 GB embedding and output head
MOE = {"token_embd_bytes": np.array([0.3 * GB]), "output_bytes": np.array([0.3 * GB]),
       "layer_bytes": np.array([0.1 * GB]), "expert_bytes": np.array([0.5 * GB]),
       "n_layers": np.array([40]), "n_moe_layers": np.array([40]),
       "expert_share": np.array([8 / 256])}
MOE["active_bytes"] = (MOE["layer_bytes"] * 40 + MOE["output_bytes"]
                       + MOE["expert_bytes"] * MOE["expert_share"] * 40)
FILE = 0.6 * GB + 40 * 0.6 * GB
MEMORY = {"total_bytes": np.array([FILE + 1 * GB]), "kv_cache_bytes": np.array([0.4 * GB])}
GPU = Hardware(name="gpu", kind=HardwareKind.GPU, memory_gb=16, bandwidth_gbs=900)


def _row(**placement: str) -> Any:
    return SimpleNamespace(environment={"placement": placement})


@pytest.mark.parametrize(("pattern", "n_layers", "n_moe", "expected"), [
    ("exps=CPU", 40, 40, 40),
    (r"blk\.(3[3-9])\.ffn_.*_exps=CPU (partial expert offload", 40, 40, 7),
    (r"blk\.[0-9]\.ffn_(up|down|gate)_exps=CPU,blk\.1[0-1]\.ffn_.*_exps=CPU", 40, 40, 12),
    ("exps=CPU", 61, 58, 58),  # three leading dense layers have no experts
])
def test_experts_matched_counts_the_moe_layers_an_override_moves(
        pattern: str, n_layers: int, n_moe: int, expected: int) -> None:
    assert experts_matched(pattern, n_layers, n_moe) == expected


@pytest.mark.parametrize(("pattern", "match"), [
    ("ffn=CPU", "ffn_norm"),                                  # routers, norms: not experts
    (r"blk\.1[2-9]\.ffn.*=CPU", "ffn_norm"),
    (r"blk\.3\.ffn_up_exps=CPU", "part of layer 3"),          # one of three expert tensors
    ("attn=CUDA0", "not PATTERN=CPU"),
    ("exps=CPU", "no expert"),                                # (dense model below)
])
def test_experts_matched_refuses_what_the_product_never_places(pattern: str,
                                                              match: str) -> None:
    moe = 0 if match == "no expert" else 40
    with pytest.raises(NotReconstructible, match=match):
        experts_matched(pattern, 40, moe)


def test_rebuild_split_from_each_kind_of_flag() -> None:
    split, flags = rebuild_split(_row(n_cpu_moe="99"), MOE, MEMORY, GPU)
    assert int(split.n_cpu_moe[0]) == 40 and flags == "-ngl 99 --n-cpu-moe 40"
    assert split.cpu_active[0] == pytest.approx(40 * 0.5 * GB * 8 / 256)

    split, flags = rebuild_split(_row(ot=r"blk\.(3[3-9])\.ffn_.*_exps=CPU"), MOE, MEMORY, GPU)
    assert int(split.n_cpu_moe[0]) == 7 and "7 of 40" in flags
    assert split.cpu_active[0] == pytest.approx(7 * 0.5 * GB * 8 / 256)

    split, flags = rebuild_split(_row(offload="none on GPU (-ngl 0)"), MOE, MEMORY, GPU)
    assert flags == "-ngl 0" and int(split.n_gpu_layers[0]) == 0
    # every layer's bytes a token reads and the output head are read on the CPU
    assert split.cpu_active[0] == pytest.approx(MOE["active_bytes"][0])
    assert split.gpu_share[0] == pytest.approx(0.0)

    split, flags = rebuild_split(_row(offload="partial: -ngl 30"), MOE, MEMORY, GPU)
    assert flags == "-ngl 30"
    assert split.cpu_active[0] == pytest.approx(
        10 * (0.1 * GB + 0.5 * GB * 8 / 256) + 0.3 * GB)

    # llama.cpp's --fit: the fewest MoE layers' experts off a 16 GB device less 1 GiB
    split, flags = rebuild_split(_row(fit_target="1024"), MOE, MEMORY, GPU)
    over = MEMORY["total_bytes"][0] - 0.3 * GB - (16 * GB - 2**30)
    assert int(split.n_cpu_moe[0]) == int(np.ceil(over / (0.5 * GB)))
    assert "--n-cpu-moe" in flags

    with pytest.raises(NotReconstructible, match="not given"):
        rebuild_split(_row(offload="author keeps 18 layers on the CPU"), MOE, MEMORY, GPU)
    with pytest.raises(NotReconstructible, match="all 40 layers"):
        rebuild_split(_row(offload="partial: -ngl 99"), MOE, MEMORY, GPU)
    dense = {**MOE, "n_moe_layers": np.array([0])}
    with pytest.raises(NotReconstructible, match="moves nothing"):
        rebuild_split(_row(n_cpu_moe="99"), dense, MEMORY, GPU)


def _runs(efficiency: float, rows_per_setup: tuple[int, ...] = (1, 1, 1)) -> list[OffloadRun]:
    """Synthetic runs whose speeds the split formula gives exactly at ``efficiency``."""
    setups = [(120.0, 0.9, 0.2 * GB, 83.2), (50.0, 0.7, 0.6 * GB, 42.7),
              (150.0, 0.95, 0.1 * GB, 51.2)]
    runs = []
    for (all_gpu, share, cpu, bw), n in zip(setups, rows_per_setup, strict=True):
        template = OffloadRun(
            setup=f"s{bw}", source_id="synthetic", hardware="gpu", model="m", quant="Q4_K_M",
            host_name="h", placement="-ngl 99 --n-cpu-moe 9", observed_tps=1.0,
            all_gpu_tps=all_gpu, all_gpu_provenance="predicted", gpu_share=share,
            cpu_active_bytes=cpu, host=OFFLOAD_HOSTS[next(iter(OFFLOAD_HOSTS))],
            bandwidth_gbs=bw)
        exact = float(split_speed(np.array([all_gpu]), template.split, bw, efficiency)[0])
        runs += [OffloadRun(**{**template.__dict__, "observed_tps": exact})] * n
    return runs


@pytest.mark.parametrize("efficiency", [0.3, 0.55, 0.8])
def test_fit_recovers_a_known_efficiency_held_out(efficiency: float) -> None:
    runs = _runs(efficiency)
    assert fit_efficiency(runs) == pytest.approx(efficiency, rel=1e-4)
    assert predict(runs, efficiency) == pytest.approx([r.observed_tps for r in runs])
    for result in leave_one_setup_out(runs, current=0.1):
        assert result.implied_efficiency == pytest.approx(efficiency, rel=1e-9)
        assert result.held_out_efficiency == pytest.approx(efficiency, rel=1e-4)
        assert result.held_out_ape == pytest.approx(0.0, abs=1e-4)
        assert result.current_ape > 0.05  # the wrong constant is visibly wrong


def test_each_setup_weighs_the_same_however_many_rows_it_has() -> None:
    runs = _runs(0.5)
    # setup 0 runs slower than the formula at 0.5 says, setup 1 faster
    runs[0] = OffloadRun(**{**runs[0].__dict__, "observed_tps": runs[0].observed_tps * 0.8})
    runs[1] = OffloadRun(**{**runs[1].__dict__, "observed_tps": runs[1].observed_tps * 1.2})
    repeated = runs[:1] * 5 + runs[1:]
    assert fit_efficiency(repeated) == pytest.approx(fit_efficiency(runs), rel=1e-4)
    assert len(leave_one_setup_out(repeated)) == 3


def test_implied_efficiency_is_none_when_the_gpu_part_alone_is_slower() -> None:
    run = _runs(0.5)[0]
    assert implied_efficiency(run, run.all_gpu_tps * 1.5) is None


def test_fit_needs_runs() -> None:
    with pytest.raises(ValueError, match="at least one run"):
        fit_efficiency([])


@cache
def _real() -> tuple[Advisor, Dataset]:
    dataset = load_dataset()
    predictors = FakePredictors(FakeQuality(), FakeSpeed(), FakeCard())
    return Advisor(load_catalog(), predictors, dataset, load_hardware(), Settings()), dataset


def test_every_published_offload_row_is_used_once_or_excluded_with_its_reasons() -> None:
    advisor, dataset = _real()
    rows = offload_generation_rows(dataset)
    assert rows, "the published offload rows are missing"
    used, excluded = screen(advisor, rows)
    assert len(used) + len(excluded) == len(rows)
    key = Counter((r.source_id, r.hardware, r.model, r.tokens_per_s) for r in rows)
    got = Counter([(u.source_id, u.hardware, u.model, u.observed_tps) for u in used]
                  + [(e.source_id, e.hardware, e.model, e.tokens_per_s) for e in excluded])
    assert got == key
    assert all(e.reasons and all(r.strip() for r in e.reasons) for e in excluded)
    # every host is in the cited table, whether its rows are used or not
    assert not any("offload_hosts" in r for e in excluded for r in e.reasons)
    assert {(r.source_id, str(r.environment.get("host", ""))) for r in rows} <= set(OFFLOAD_HOSTS)
    assert used, "no usable offload row: the evaluation would measure nothing"
    for run in used:
        assert np.isfinite(run.all_gpu_tps) and run.all_gpu_tps > 0
        assert 0 <= run.gpu_share <= 1 and run.cpu_active_bytes > 0 and run.bandwidth_gbs > 0
    # the 16 GB host keeping a 16.4 GB model's experts in RAM pages from disk
    paging = [e for e in excluded if e.source_id == "ik_llama_disc399_offload"]
    assert paging and all(any("pages from disk" in r or "ffn_norm" in r for r in e.reasons)
                          for e in paging)


def test_the_section_lists_every_setup_and_exclusion(tmp_path: Path) -> None:
    advisor, dataset = _real()
    path = tmp_path / "EVALUATION.md"
    path.write_text("# Held-out evaluation\n", encoding="utf-8")
    ev = append_offload_section(path, advisor, dataset)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Held-out evaluation\n\n## Offload speed (published split runs)")
    assert ev.fitted_efficiency is not None and 0.02 <= ev.fitted_efficiency <= 2.0
    for setup in ev.setups:
        assert f"| {setup.setup} | {len(setup.runs)} |" in text
    assert text.count("\n| ") >= len(ev.setups) + 2
    assert offload_section(evaluate_offload(advisor, dataset), advisor.predictor_version) in text


def test_evaluate_command_adds_the_offload_section(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's ``evaluate`` writes the predictors' EVALUATION.md, then the offload section
    computed with the shipped predictors (the grouped cross-validation is faked: it is slow
    and tested in test_training.py)."""
    from click.testing import CliRunner

    import advisor.predictors.evaluation as evaluation
    from advisor.cli.main import cli

    def fake_evaluate(dataset: Dataset, out_dir: Path, **_: Any) -> Any:
        (out_dir / "EVALUATION.md").write_text("# Held-out evaluation\n", encoding="utf-8")
        return SimpleNamespace(files=[out_dir / "EVALUATION.md"])

    monkeypatch.setattr(evaluation, "evaluate", fake_evaluate)
    result = CliRunner().invoke(cli, ["evaluate", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "EVALUATION.md").read_text(encoding="utf-8")
    assert "## Offload speed (published split runs)" in text
    assert "host efficiency fitted on all setups: **" in text
    assert "## Offload speed" in result.output

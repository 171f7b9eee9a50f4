"""Partial offload: experts or layers in system RAM, what each side holds, and the speed."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.recommender.offload import OFFLOAD_MIN_TOKENS_PER_S
from advisor.recommender.placement import (
    HOST_OVERHEAD_BYTES,
    expert_offload,
    flags,
    layer_offload,
    split_speed,
)
from advisor.vocabulary.errors import InvalidInputError

GB = 1e9
# one MoE model (48 layers, 1 GB of routed experts per layer, 8 of 128 used) and one dense
# model (40 layers of 0.5 GB), both with a 0.5 GB embedding and 0.5 GB untied output head
COLS = {
    "token_embd_bytes": np.array([0.5 * GB, 0.5 * GB]),
    "output_bytes": np.array([0.5 * GB, 0.5 * GB]),
    "layer_bytes": np.array([0.05 * GB, 0.5 * GB]),
    "expert_bytes": np.array([1.0 * GB, 0.0]),
    "n_layers": np.array([48, 40]),
    "n_moe_layers": np.array([48, 0]),
    "expert_share": np.array([8 / 128, 1.0]),
}
COLS["active_bytes"] = (COLS["layer_bytes"] * COLS["n_layers"] + COLS["output_bytes"]
                        + COLS["expert_bytes"] * COLS["expert_share"] * COLS["n_moe_layers"])
FILE = (COLS["token_embd_bytes"] + COLS["output_bytes"] + COLS["layer_bytes"] * COLS["n_layers"]
        + COLS["expert_bytes"] * COLS["n_moe_layers"])
EXTRA = 1.0 * GB  # cache, compute and overhead of the all-on-GPU total
TOTAL = FILE + EXTRA


def test_expert_offload_moves_the_fewest_layers_of_experts() -> None:
    split = expert_offload(COLS, TOTAL, vram=12 * GB, ram=64 * GB)
    assert split.ok.tolist() == [True, False]  # the dense model has no experts to move
    # 51.4 GB of MoE file + 1 GB; without its embedding 51.9 GB must drop to 12: 40 layers
    assert split.n_cpu_moe[0] == 40
    assert split.gpu_bytes[0] == pytest.approx(TOTAL[0] - 40 * GB - 0.5 * GB)
    assert split.gpu_bytes[0] <= 12 * GB
    assert split.cpu_bytes[0] == pytest.approx(40 * GB + 0.5 * GB + HOST_OVERHEAD_BYTES)
    assert split.cpu_active[0] == pytest.approx(40 * GB * 8 / 128)
    assert flags(split.kind, 48, 40) == ["-ngl", "99", "--n-cpu-moe", "40"]
    # too little RAM for the experts: no placement
    assert not expert_offload(COLS, TOTAL, vram=12 * GB, ram=8 * GB).ok[0]


def test_layer_offload_keeps_as_many_layers_as_fit() -> None:
    kv = np.array([0.0, 2.0 * GB])  # the dense model's cache: 50 MB per layer
    split = layer_offload(COLS, TOTAL, kv, vram=12 * GB, ram=64 * GB)
    dense = 1
    assert split.ok[dense]
    fixed = TOTAL[dense] - 0.5 * GB - 0.5 * GB - 40 * (0.5 * GB + 0.05 * GB)
    expected = np.floor((12 * GB - fixed) / (0.55 * GB))
    assert split.n_gpu_layers[dense] == expected
    assert split.gpu_bytes[dense] <= 12 * GB
    off = 40 - expected
    assert split.cpu_bytes[dense] == pytest.approx(off * 0.55 * GB + 1.0 * GB
                                                   + HOST_OVERHEAD_BYTES)
    assert flags(split.kind, int(expected), 0) == ["-ngl", str(int(expected))]


def test_split_speed_adds_the_two_sides_times() -> None:
    split = expert_offload(COLS, TOTAL, vram=12 * GB, ram=64 * GB)
    tps = split_speed(np.array([100.0, 50.0]), split, host_bandwidth_gbs=50.0,
                      host_efficiency=0.5)
    t = split.gpu_share[0] / 100.0 + split.cpu_active[0] / (50e9 * 0.5)
    assert tps[0] == pytest.approx(1 / t)
    assert tps[0] < 100.0


# -- through the recommender -----------------------------------------------------------------

GPU = "NVIDIA GeForce RTX 3090"  # the fake advisor's GPU, held to a 12 GB budget


def test_ram_lets_a_larger_model_run_split(fake_advisor) -> None:
    rec = fake_advisor.recommend(vram="12GB", ram="64GB", task="coding", hardware=GPU)
    placed = [c for c in [rec.pick, *rec.alternatives] if c.placement is not None]
    assert placed, "no offloaded placement among the pick and its alternatives"
    for c in placed:
        p = c.placement
        assert p.gpu_bytes <= 12e9 and p.cpu_bytes <= 64e9
        assert c.speed["tg128"].value >= OFFLOAD_MIN_TOKENS_PER_S
        assert c.speed["tg128"].provenance == "computed" and "pp512" not in c.speed
        assert p.flags[0] == "-ngl"
    assert any("fit only with part of the model in the" in n for n in rec.notes)
    without = fake_advisor.recommend(vram="12GB", task="coding", hardware=GPU)
    assert all(c.placement is None for c in [without.pick, *without.alternatives])


def test_ram_without_hardware_is_noted(fake_advisor) -> None:
    rec = fake_advisor.recommend(vram="12GB", ram="64GB", task="coding")
    assert all(c.placement is None for c in [rec.pick, *rec.alternatives])
    assert any("give hardware" in n for n in rec.notes)


@pytest.mark.parametrize(("kwargs", "parameter"), [
    ({"ram": "-1"}, "ram"), ({"ram": "lots"}, "ram"),
    ({"ram": "64GB", "ram_bandwidth_gbs": -5.0}, "ram_bandwidth_gbs"),
])
def test_bad_ram_is_bad_input(fake_advisor, kwargs, parameter) -> None:
    with pytest.raises(InvalidInputError) as err:
        fake_advisor.recommend(vram="12GB", hardware=GPU, **kwargs)
    assert err.value.parameter == parameter

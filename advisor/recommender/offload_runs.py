"""The published runs with part of a model in system RAM, as the advisor would predict them.

Every generation row of ``measurements/speed.jsonl`` flagged ``offload`` is either *used*, as
an :class:`OffloadRun` holding what the advisor computes for it, or *excluded* with every
reason it cannot be (an :class:`Excluded`). A run is predicted exactly as
:mod:`advisor.recommender.offload` predicts a candidate: the all-on-GPU generation speed from
the candidate table (the speed predictor, or a published figure of that device, model and
quant), the split rebuilt from the run's flags by :mod:`advisor.recommender.placement` on the
candidate table's weights columns (``weights.csv``), and :func:`split_speed` at the host's
memory bandwidth (:mod:`advisor.data.offload_hosts`).

The flags a split is rebuilt from (``environment.placement``):

* ``--n-cpu-moe N``: the routed experts of ``min(N, MoE layers)`` layers on the CPU;
* ``-ot PATTERN=CPU``: llama.cpp matches each pattern (a regular expression) against tensor
  names; the experts of every MoE layer whose ``ffn_{up,gate,down}_exps`` tensors match go to
  the CPU. A pattern that also matches tensors the product keeps on the GPU (attention,
  routers, shared experts, dense FFNs) is not a placement the product makes;
* ``-ngl N`` (no override): ``N`` repeating layers on the GPU, the rest and the output head on
  the CPU (``-ngl 0``: all of them);
* ``--fit-target MiB``: llama.cpp's automatic fit (``common/fit.cpp``: every MoE tensor to system
  memory, then whole layers back to the GPU front to back while the device keeps the margin
  free) is the product's own :func:`expert_offload` at the device's memory less the margin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from advisor.data.hardware import find_device
from advisor.data.offload_hosts import OFFLOAD_HOSTS, UNLISTED_GPUS, HostMemory
from advisor.recommender.memory import CACHE_TYPES
from advisor.recommender.offload import DEFAULT_HOST_BANDWIDTH_GBS
from advisor.recommender.placement import (
    Split,
    expert_offload,
    experts_on_cpu,
    layers_on_cpu,
)
from advisor.vocabulary.schema import Hardware, HardwareKind, SpeedRow

if TYPE_CHECKING:
    from advisor.data.dataset import Dataset
    from advisor.recommender.advisor import Advisor

#: Context llama-bench fits a model at with ``--fit-target`` (its ``--fit-ctx`` default).
FIT_CONTEXT = 4096
_EXPERT_TENSORS = ("ffn_up_exps", "ffn_gate_exps", "ffn_down_exps")
#: Tensors of a layer the product never places on the CPU in an experts split.
_GPU_TENSORS = ("attn_q", "attn_k", "attn_v", "attn_output", "attn_norm", "ffn_norm",
                "ffn_gate_inp", "ffn_up_shexp", "ffn_gate_shexp", "ffn_down_shexp", "ffn_up",
                "ffn_gate", "ffn_down")


class NotReconstructible(Exception):
    """A run's split cannot be rebuilt from its flags (the message says why)."""


@dataclass(frozen=True)
class OffloadRun:
    """One usable published generation row and what the advisor computes for it."""

    setup: str                 # source · host · device · model quant
    source_id: str
    hardware: str
    model: str
    quant: str
    host_name: str
    placement: str             # the split, as llama.cpp flags
    observed_tps: float
    all_gpu_tps: float         # the candidate table's all-on-GPU tg128
    all_gpu_provenance: str
    gpu_share: float
    cpu_active_bytes: float
    host: HostMemory
    bandwidth_gbs: float       # the host's, or the product's default when not stated

    @property
    def split(self) -> Split:
        """The run's split as :func:`split_speed` takes it (one row)."""
        one = np.ones(1)
        return Split("run", one.astype(bool), one * np.nan, one * np.nan, one.astype(np.int64),
                     one.astype(np.int64), one * self.gpu_share, one * self.cpu_active_bytes)


@dataclass(frozen=True)
class Excluded:
    """A published offload generation row the evaluation does not use, and why."""

    source_id: str
    hardware: str
    model: str
    quant: str | None
    host: str
    tokens_per_s: float
    reasons: tuple[str, ...]


def offload_generation_rows(dataset: Dataset) -> list[SpeedRow]:
    """Every generation row flagged ``offload`` (prompt rows are not predicted split)."""
    return [r for r in dataset.speed if "offload" in r.flags and r.n_gen > 0]


def _host(row: SpeedRow) -> str:
    return str(row.environment.get("host", ""))


def _cache_type(row: SpeedRow) -> str:
    """The wider of the run's K and V cache types (f16 when not given)."""
    order = {t: i for i, t in enumerate(reversed(CACHE_TYPES))}  # q4_0 < q8_0 < f16
    types = [str(row.environment.get(k, "f16")) for k in ("type_k", "type_v")]
    known = [t for t in types if t in order]
    return max(known, key=order.__getitem__) if known else "f16"


def device_of(advisor: Advisor, name: str) -> Hardware | None:
    """The device as the advisor takes it: its hardware table's entry, or the maker's specs
    (:data:`UNLISTED_GPUS`) as a user gives them for a GPU the table lacks; None if neither."""
    found = find_device(name, advisor.hardware_table)
    if found is not None:
        return found
    spec = UNLISTED_GPUS.get(name)
    if spec is None:
        return None
    return Hardware(name=name, kind=HardwareKind.GPU, bandwidth_gbs=spec.bandwidth_gbs,
                    fp16_tflops=spec.fp16_tflops, memory_gb=spec.memory_gb)


def experts_matched(pattern_text: str, n_layers: int, n_moe_layers: int) -> int:
    """MoE layers whose routed experts an ``-ot`` value sends to the CPU (see the module
    docstring); raises :class:`NotReconstructible` for anything else it moves."""
    count = 0
    parts = [p.strip() for p in pattern_text.split(",") if p.strip()]
    rules = []
    for part in parts:
        m = re.match(r"^(\S+)=(\S+)", part)
        if m is None or m.group(2).upper() != "CPU":
            raise NotReconstructible(f"override {part!r} is not PATTERN=CPU")
        try:
            rules.append(re.compile(m.group(1)))
        except re.error as e:
            raise NotReconstructible(f"override {part!r} is not a regular expression") from e
    first_moe = n_layers - n_moe_layers
    for i in range(n_layers):
        def moved(tensor: str, i: int = i) -> bool:
            return any(r.search(f"blk.{i}.{tensor}.weight") for r in rules)
        other = [t for t in _GPU_TENSORS if moved(t)]
        if other:
            raise NotReconstructible(f"-ot {pattern_text!r} also moves {other[0]} tensors "
                                     "(the product keeps them on the GPU)")
        if i < first_moe:  # a dense layer: no routed experts to move
            continue
        hits = [moved(t) for t in _EXPERT_TENSORS]
        if any(hits) and not all(hits):
            raise NotReconstructible(f"-ot {pattern_text!r} moves part of layer {i}'s experts")
        count += all(hits)
    if count == 0:
        raise NotReconstructible(f"-ot {pattern_text!r} moves no expert tensors")
    return count


def rebuild_split(row: SpeedRow, cols: dict[str, np.ndarray], memory: dict[str, np.ndarray],
                  device: Hardware) -> tuple[Split, str]:
    """The run's split (one row of ``cols``/``memory``) and its flags."""
    placement = {k: str(v) for k, v in row.environment.get("placement", {}).items()}
    n_layers, n_moe = int(cols["n_layers"][0]), int(cols["n_moe_layers"][0])
    total, kv = memory["total_bytes"].astype(float), memory["kv_cache_bytes"].astype(float)
    text = placement.get("offload", "")
    if "n_cpu_moe" in placement:
        k = min(int(placement["n_cpu_moe"]), n_moe)
        if k < 1:
            raise NotReconstructible(f"--n-cpu-moe {placement['n_cpu_moe']} on a model with "
                                     f"{n_moe} MoE layers moves nothing")
        return experts_on_cpu(cols, total, np.array([k])), f"-ngl 99 --n-cpu-moe {k}"
    if "ot" in placement:
        k = experts_matched(placement["ot"], n_layers, n_moe)
        return (experts_on_cpu(cols, total, np.array([k])),
                f"-ngl 99 -ot {placement['ot'].split(' ')[0]} ({k} of {n_moe} MoE layers)")
    if "fit_target" in placement:
        if device.memory_gb is None:
            raise NotReconstructible("--fit-target on a device of unknown memory")
        margin = int(placement["fit_target"]) * 2**20
        split = expert_offload(cols, total, device.memory_gb * 1e9 - margin, np.inf)
        if not split.ok[0]:
            raise NotReconstructible("the product's expert split finds no fit on "
                                     f"{device.name} with {placement['fit_target']} MiB free")
        return split, (f"--fit-target {placement['fit_target']} (as --n-cpu-moe "
                       f"{int(split.n_cpu_moe[0])})")
    ngl = re.search(r"-ngl (\d+)", text)
    if ngl is not None:
        n = int(ngl.group(1))
        if n >= n_layers:
            raise NotReconstructible(f"-ngl {n} keeps all {n_layers} layers on the GPU and "
                                     "no override moving weights is given")
        return layers_on_cpu(cols, total, kv, np.array([n])), f"-ngl {n}"
    raise NotReconstructible(f"the flags that placed it are not given ({text or 'none'})")


def screen(advisor: Advisor, rows: list[SpeedRow]) -> tuple[list[OffloadRun], list[Excluded]]:
    """Each row used as an :class:`OffloadRun` or excluded with its reasons."""
    used, excluded = [], []
    table = advisor.table
    models, quants = table.arrays["model"], table.arrays["quant"]
    for row in rows:
        reasons = []
        if row.fork:
            reasons.append(f"{row.fork} fork: the product predicts mainline llama.cpp, whose "
                           "CPU kernels differ")
        index = np.flatnonzero((models == row.model) & (quants == row.quant))
        if row.quant is None:
            reasons.append(f"quant {row.quant_as_published!r} is not one the product knows")
        elif not len(index):
            reasons.append(f"{row.model} {row.quant} is not a candidate of the catalog")
        device = device_of(advisor, row.hardware)
        if device is None:
            reasons.append(f"device {row.hardware!r} is neither in the hardware table nor "
                           "described by its maker's specs")
        host = OFFLOAD_HOSTS.get((row.source_id, _host(row)))
        if host is None:
            reasons.append(f"host {_host(row)!r} is not in advisor.data.offload_hosts")
        split, flags = None, ""
        if len(index) and device is not None:
            i = index[:1]
            cols = {k: v[i] for k, v in table.arrays.items()}
            memory = {k: v[i] for k, v in
                      table.memory_arrays(FIT_CONTEXT, _cache_type(row)).items()}
            try:
                split, flags = rebuild_split(row, cols, memory, device)
            except NotReconstructible as e:
                reasons.append(f"split not reconstructible: {e}")
        if split is not None and host is not None and host.ram_gb is not None \
                and split.cpu_bytes[0] > host.ram_gb * 1e9:
            reasons.append(f"the split keeps {split.cpu_bytes[0] / 1e9:.1f} GB in system RAM, "
                           f"more than the {host.ram_gb:g} GB stated (as the advisor reads "
                           f"ram={host.ram_gb:g}GB): it pages from disk")
        if reasons or split is None or host is None or device is None:
            excluded.append(Excluded(row.source_id, row.hardware, row.model, row.quant,
                                     _host(row), row.tokens_per_s, tuple(reasons)))
            continue
        speed = table.speed_arrays(device)
        k = int(index[0])
        used.append(OffloadRun(
            setup=f"{row.source_id} · {_host(row)} · {row.hardware} · {row.model} {row.quant}",
            source_id=row.source_id, hardware=row.hardware, model=row.model,
            quant=str(row.quant), host_name=_host(row), placement=flags,
            observed_tps=row.tokens_per_s, all_gpu_tps=float(speed["tps:tg128"][k]),
            all_gpu_provenance=str(speed["tps_prov:tg128"][k]),
            gpu_share=float(split.gpu_share[0]), cpu_active_bytes=float(split.cpu_active[0]),
            host=host, bandwidth_gbs=host.bandwidth_gbs or DEFAULT_HOST_BANDWIDTH_GBS))
    return used, excluded

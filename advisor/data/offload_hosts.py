"""The host memory behind the published runs with part of a model in system RAM (rows flagged
``offload`` in ``measurements/speed.jsonl``), for the offload speed evaluation
(:mod:`advisor.recommender.offload_evaluation`).

Each host is keyed by its row's ``source_id`` and ``environment.host`` as imported. Its peak
bandwidth is channels x 8 bytes x MT/s, with the basis of each figure:

* ``stated``: the post names the memory speed and channels;
* ``rated``: the post names the CPU but not the memory speed, so the CPU maker's rated memory
  speed and channel count are assumed (the spec page is cited);
* ``not stated``: nothing about the host is known; the evaluation then uses the product's
  default (:data:`advisor.recommender.offload.DEFAULT_HOST_BANDWIDTH_GBS`), as the advisor
  does for a user who gives no ``ram_bandwidth_gbs``.

``ram_gb`` is the system memory the post states (None when it does not).

Two devices of these runs are not in the hardware table; the product takes a device it does
not list by its specs (``kind`` and ``bandwidth_gbs``, :func:`advisor.data.hardware.
resolve_hardware`), so :data:`UNLISTED_GPUS` gives their makers' specs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HostMemory:
    """System memory of one published offload host."""

    bandwidth_gbs: float | None
    basis: str           # "stated", "rated" or "not stated"
    detail: str          # how the figure was reached, with its source
    ram_gb: float | None = None


def _peak(channels: int, mts: int) -> float:
    """Peak GB/s of ``channels`` 64-bit channels at ``mts`` MT/s."""
    return round(channels * 8 * mts / 1000, 1)


_AMD_7950X = ("rated", "AMD Ryzen 9 7950X: 2 channels, DDR5-5200 (AMD product page, "
              "amd.com/en/products/processors/desktops/ryzen/7000-series/amd-ryzen-9-7950x.html, "
              "'Max. Memory Speed 2x1R DDR5-5200'); memory speed not stated in the post")

#: (source_id, environment.host) -> its memory.
OFFLOAD_HOSTS: dict[tuple[str, str], HostMemory] = {
    ("ik_llama_disc399_offload", "Ryzen 5 3500 6C, 16GB DDR4-2667, GPU GTX 1650 SUPER 4GB"):
        HostMemory(_peak(2, 2667), "stated",
                   "DDR4-2667 stated in the post; 2 channels (AM4, AMD Ryzen 5 3500 product "
                   "page: 2 memory channels)", ram_gb=16.0),
    ("ik_llama_issue437_amx_offload", "Intel Xeon 8480 ES, 8-channel DDR5-4800"):
        HostMemory(_peak(8, 4800), "stated", "8-channel DDR5-4800 stated in the post"),
    ("ik_llama_issue437_amx_offload", "Ryzen 9 7950X (RAM size not stated), RTX 4080 16GB"):
        HostMemory(_peak(2, 5200), *_AMD_7950X),
    ("ik_llama_issue490_offload", "AMD Ryzen 9 7950X (RAM not stated), RTX 4080 16GB"):
        HostMemory(_peak(2, 5200), *_AMD_7950X),
    ("ik_llama_issue490_offload", "2x AMD EPYC 9115, 768 GB RAM, RTX 3090 on PCIe x16"):
        HostMemory(_peak(12, 6000), "rated",
                   "AMD EPYC 9115: 12 channels of DDR5-6000 per socket (AMD product page, "
                   "amd.com/en/products/processors/server/epyc/9005-series/amd-epyc-9115.html); "
                   "one socket's, as llama.cpp's threads read the experts from both NUMA nodes "
                   "without placement; memory speed not stated in the post", ram_gb=768.0),
    ("llamacpp_issue_threads_2025_26", "AMD Ryzen 7 5800X, 2x DDR4-2133"):
        HostMemory(_peak(2, 2133), "stated", "2x DDR4-2133 stated in the post"),
    ("llamacpp_issue_threads_2025_26",
     "Intel Core i9-9900T 8C/16T (RAM not stated), Debian 12 LXC on Proxmox"):
        HostMemory(_peak(2, 2666), "rated",
                   "Intel Core i9-9900T: 2 channels, DDR4-2666 (Intel ARK, 'Intel Core "
                   "i9-9900T Processor' specifications: Memory Types DDR4-2666, Max # of Memory "
                   "Channels 2; also hardzone.es/2019/08/22/intel-core-i9-9900t-geekbench-4/); "
                   "memory speed not stated in the post"),
    ("llamacpp_issue_threads_2025_26", "CPU/RAM not in excerpt"):
        HostMemory(None, "not stated", "the excerpt names neither CPU nor memory"),
    ("localmaxxing_via_llmfit", "CPU/RAM not stated)"):
        HostMemory(None, "not stated", "the submission names neither CPU nor memory"),
    ("discrete_gpu_threads_2024_26", ""):
        HostMemory(None, "not stated", "llama.cpp PR #4812 (KV cache in host memory) names "
                   "neither CPU nor memory"),
    ("eliranwong_amd_igpu_setup", "GPD Pocket 4, Ryzen AI 9 HX 370, Radeon 890M, 64GB (16/48 "
     "or 32/32 or 48/16 GB split set in BIOS), Ubuntu 24.04, kernel 6.11"):
        HostMemory(_peak(2, 7500), "stated",
                   "LPDDR5X-7500 on the chip's 128-bit bus, shared by its CPU and iGPU (the "
                   "hardware table's row for this machine, cited there)", ram_gb=64.0),
}


@dataclass(frozen=True)
class GpuSpec:
    """A device's specs as a user gives them for a GPU the hardware table lacks."""

    bandwidth_gbs: float
    fp16_tflops: float
    memory_gb: float
    source: str


#: Devices of the offload runs that ``measurements/hardware.csv`` lacks (hardware name as
#: imported -> its maker's specs; FP16 is vector, non-tensor, as the table's other GPUs).
UNLISTED_GPUS: dict[str, GpuSpec] = {
    "NVIDIA RTX A1000 (8GB)": GpuSpec(
        192.0, 6.74, 8.0, "NVIDIA RTX A1000 datasheet: 8 GB GDDR6, 192 GB/s; 6.74 TFLOPS "
        "FP32, Ampere GA107 runs vector FP16 at the FP32 rate"),
    "NVIDIA GeForce GTX 1650 SUPER": GpuSpec(
        192.0, 8.83, 4.0, "NVIDIA GeForce GTX 1650 SUPER specs: 4 GB GDDR6, 192 GB/s; 4.42 "
        "TFLOPS FP32, Turing TU116 runs vector FP16 at twice the FP32 rate"),
}

"""Hardware fingerprint parsing and measurement."""

from __future__ import annotations

import pytest

from advisor.measure.environment import copy_bandwidth_gbs, cpu_model, fingerprint, isa_flags

X86 = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold 6338\nflags\t\t: fpu sse avx avx2 fma\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes\nModel\t: Raspberry Pi 5\n"
AVX512 = "model name: AMD EPYC 9654\nflags: avx avx2 avx512f avx512_vnni avx512_bf16\n"


@pytest.mark.parametrize(("text", "model", "flags"), [
    (X86, "Intel(R) Xeon(R) Gold 6338", ["avx", "avx2", "fma"]),
    (ARM, "Raspberry Pi 5", ["asimd"]),
    (AVX512, "AMD EPYC 9654", ["avx", "avx2", "avx512f", "avx512_vnni", "avx512_bf16"]),
])
def test_cpuinfo_parsing(text, model, flags):
    assert cpu_model(text) == model
    assert isa_flags(text) == flags


def test_copy_bandwidth_is_measured():
    assert 0.1 < copy_bandwidth_gbs(8 * 2**20, repeats=2) < 10_000


def test_fingerprint_has_what_rows_need():
    pytest.importorskip("llama_cpp")
    env = fingerprint()
    for key in ("cpu_model", "cpu_threads", "isa", "ram_mib", "copy_bandwidth_gbs", "gpus",
                "llama_cpp_system_info", "llama_cpp_python"):
        assert key in env
    assert env["ram_mib"] > 0 and "CPU" in env["llama_cpp_system_info"]

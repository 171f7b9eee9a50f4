"""KV cache and recurrent state of every attention layout in the catalog, computed by hand from
the shipped catalog's numbers (measurements/catalog/models.csv) as llama.cpp allocates them."""

from __future__ import annotations

import pytest

from advisor.data.catalog import load_catalog
from advisor.recommender.kv_cache import cache_size
from advisor.vocabulary.errors import UnknownNameError

F16 = 2


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_dense_gqa_every_layer_keeps_the_context(catalog) -> None:
    qwen = catalog.get("Qwen3-14B")  # 40 layers, 8 KV heads of 128
    c = cache_size(qwen, context=32768)
    assert c.kv_bytes == 40 * 32768 * 8 * (128 + 128) * F16 and c.state_bytes == 0


def test_context_is_padded_to_256_cells(catalog) -> None:
    qwen = catalog.get("Qwen3-14B")
    assert cache_size(qwen, context=1000).cells == 1024
    assert cache_size(qwen, context=1000).kv_bytes == cache_size(qwen, context=1024).kv_bytes


def test_gpt_oss_alternates_128_token_window(catalog) -> None:
    oss = catalog.get("gpt-oss-20b")  # 24 layers, half with a 128-token window; 8 KV heads of 64
    c = cache_size(oss, context=131072)
    window_cells = 768  # 128 + one 512-token micro-batch, rounded up to 256
    assert c.swa_cells == window_cells
    assert c.kv_bytes == (12 * 131072 + 12 * window_cells) * 8 * 128 * F16


def test_gemma4_full_layers_have_their_own_heads(catalog) -> None:
    g = catalog.get("gemma-4-31B-it")  # 10 full layers: 4 KV heads x 512; 50 sliding: 16 x 256
    c = cache_size(g, context=65536)
    swa_cells = 1536  # 1024 + 512
    assert c.kv_bytes == (10 * 65536 * 4 * 1024 + 50 * swa_cells * 16 * 512) * F16


def test_gemma4_e_model_shared_layers_keep_nothing(catalog) -> None:
    g = catalog.get("gemma-4-E4B-it")  # 42 layers, last 18 share; of the 24 left 4 full, 20 SWA
    assert (g.n_full_attn_layers, g.n_swa_layers, g.num_kv_shared_layers) == (4, 20, 18)
    c = cache_size(g, context=32768)
    full_values = 2 * 512 * 2  # no separate global KV heads on record: 2 heads x (K + V) 512
    assert c.kv_bytes == (4 * 32768 * full_values + 20 * 1024 * 2 * 512) * F16


def test_mla_caches_one_latent_and_no_values(catalog) -> None:
    glm = catalog.get("GLM-4.7-Flash")  # 47 layers, latent 512 + rope 64
    c = cache_size(glm, context=16384)
    assert c.kv_bytes == 47 * 16384 * (512 + 64) * F16


def test_gated_deltanet_layers_keep_a_fixed_state(catalog) -> None:
    q = catalog.get("Qwen3.5-27B")  # 16 full layers (4 KV heads x 256), 48 Gated DeltaNet
    c = cache_size(q, context=262144)
    assert c.kv_bytes == 16 * 262144 * 4 * 512 * F16
    d_inner = 48 * 128  # value heads x value head size
    per_layer = (4 - 1) * (d_inner + 2 * 16 * 128) + 128 * d_inner  # conv + delta-rule state
    assert c.state_bytes == 48 * per_layer * 4
    # the state does not grow with the context
    assert cache_size(q, context=4096).state_bytes == c.state_bytes


def test_mamba2_and_short_conv_states(catalog) -> None:
    nemo = catalog.get("NVIDIA-Nemotron-3-Nano-30B-A3B-BF16")  # 6 attention, 23 Mamba-2
    c = cache_size(nemo, context=8192)
    assert c.kv_bytes == 6 * 8192 * 2 * 256 * F16
    d_inner = 64 * 64
    assert c.state_bytes == 23 * ((4 - 1) * (d_inner + 2 * 8 * 128) + 128 * d_inner) * 4
    lfm = catalog.get("LFM2-1.2B")  # 6 attention layers, 10 short convolutions of L_cache 3
    c = cache_size(lfm, context=8192)
    assert c.kv_bytes == 6 * 8192 * 8 * 128 * F16
    assert c.state_bytes == 10 * 2048 * (3 - 1) * 4


def test_sequences_multiply_cache_and_state(catalog) -> None:
    q = catalog.get("Qwen3.5-27B")
    one, four = cache_size(q, context=8192), cache_size(q, context=8192, n_seq=4)
    assert (four.kv_bytes, four.state_bytes) == (4 * one.kv_bytes, 4 * one.state_bytes)


def test_quantized_cache_uses_block_sizes(catalog) -> None:
    qwen = catalog.get("Qwen3-14B")
    f16 = cache_size(qwen, context=8192).kv_bytes
    assert cache_size(qwen, context=8192, cache_type="q8_0").kv_bytes == f16 // 2 * 34 // 32
    assert cache_size(qwen, context=8192, cache_type="q4_0").kv_bytes == f16 // 2 * 18 // 32
    with pytest.raises(UnknownNameError, match="unknown cache type"):
        cache_size(qwen, context=8192, cache_type="q3")

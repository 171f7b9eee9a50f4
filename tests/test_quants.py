import pytest

from advisor.vocabulary.errors import InvalidInputError, UnknownNameError
from advisor.vocabulary.quants import QuantFamily, all_quants, find_quant, get_quant, hqq_type

ISSUE_TYPES = ["F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_1", "Q4_0", "IQ4_XS", "IQ4_NL", "Q3_K_L", "Q3_K_M", "Q3_K_S", "IQ3_M", "IQ3_S", "IQ3_XS", "IQ3_XXS", "Q2_K", "Q2_K_S", "IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS", "IQ1_M", "IQ1_S", "TQ1_0", "TQ2_0"]


@pytest.mark.parametrize("name", ISSUE_TYPES)
def test_every_type_users_meet_is_in_the_catalog(name):
    q = get_quant(name.lower())
    assert q.name == name
    assert 1 < q.nominal_bpw <= 32
    assert q.typical_bpw >= q.nominal_bpw - 1e-9


@pytest.mark.parametrize("given, expected", [
    ("q4_k_m", "Q4_K_M"), ("Q4_K", "Q4_K_M"), ("fp16", "F16"), (" iq2_xxs ", "IQ2_XXS"),
    ("q5-k-s", "Q5_K_S"), ("HQQ4_G64", "HQQ4_G64"), ("hqq 3bit g128", "HQQ3_G128"),
    ("hqq2", "HQQ2_G64"),
])
def test_names_match_case_insensitively_with_aliases(given, expected):
    assert get_quant(given).name == expected


@pytest.mark.parametrize("given, suggestion", [("Q4_KM", "Q4_K_M"), ("IQ2XXS", "IQ2_XXS"),
                                               ("Q8", "Q8_0")])
def test_unknown_name_suggests_and_lists_known(given, suggestion):
    with pytest.raises(UnknownNameError) as err:
        get_quant(given)
    assert suggestion in err.value.suggestions
    assert "Known:" in str(err.value) and "Q6_K" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_find_quant_returns_none_for_unknown():
    assert find_quant("not-a-quant") is None


@pytest.mark.parametrize("bits, group, bpw", [(4, 64, 4.5), (2, 16, 4.0), (8, 128, 8.25),
                                              (1, 1024, 1.03125)])
def test_hqq_bits_per_weight_include_scale_and_zero(bits, group, bpw):
    q = hqq_type(bits, group)
    assert q.nominal_bpw == pytest.approx(bpw)
    assert q.family is QuantFamily.HQQ


@pytest.mark.parametrize("bits, group", [(0, 64), (9, 64), (4, 63), (4, 2048)])
def test_hqq_rejects_bad_settings(bits, group):
    with pytest.raises(InvalidInputError):
        hqq_type(bits, group)


def test_families_cover_the_issue_list():
    families = {q.family for q in all_quants()}
    assert {QuantFamily.FLOAT, QuantFamily.LEGACY, QuantFamily.K_QUANT, QuantFamily.I_QUANT,
            QuantFamily.TERNARY} <= families


def test_typical_bpw_sources_are_cited_or_nominal():
    for q in all_quants():
        assert q.typical_source in {"nominal", "llamacpp_quantize_readme_llama31_8b",
                                    "llamacpp_quantize_readme_llama2"}
        if q.typical_source == "nominal":
            assert q.typical_bpw == q.nominal_bpw


@pytest.mark.parametrize("label, base, scheme", [
    ("MXFP4", "MXFP4", None), ("mxfp4_moe", "MXFP4", None), ("MXFP4 MoE", "MXFP4", None),
    ("UD-Q4_K_XL", "Q4_K_M", "unsloth-dynamic"), ("UD-Q2_K_XL", "Q2_K", "unsloth-dynamic"),
    ("UD-Q6_K_XL", "Q6_K", "unsloth-dynamic"), ("UD-Q8_K_XL", "Q8_0", "unsloth-dynamic"),
    ("Q4_K_XL", "Q4_K_M", "unsloth-dynamic"), ("ud-iq2_xxs", "IQ2_XXS", "unsloth-dynamic"),
    ("UD-Q4_K_M", "Q4_K_M", "unsloth-dynamic"), ("UD-Q6_K", "Q6_K", "unsloth-dynamic"),
    ("Q6_K_L", "Q6_K", "q8-embed-output"), ("Q4_K_L", "Q4_K_M", "q8-embed-output"),
    ("Q3_K_L", "Q3_K_L", None),  # a llama.cpp type, not a bartowski _L file
    ("Q4_0 QAT", "Q4_0", "qat"), ("qat-q4_0", "Q4_0", "qat"), ("Q4_0 (QAT)", "Q4_0", "qat"),
    ("IQ4_XS_R8", "IQ4_XS", "ik-repacked"), ("TQ1_0", "TQ1_0", None), ("tq2_0", "TQ2_0", None),
])
def test_uploader_names_read_as_base_type_and_scheme(label, base, scheme):
    from advisor.vocabulary.quants import SCHEMES, get_quant_name

    q = get_quant_name(label)
    assert (q.quant.name, q.scheme) == (base, scheme)
    assert scheme is None or scheme in SCHEMES


@pytest.mark.parametrize("label, suggestion", [("Q4_K_XLL", "Q4_K_XL"), ("MXFP5", "MXFP4"),
                                               ("Q4_K_MM", "Q4_K_M")])
def test_unknown_uploader_names_get_did_you_mean(label, suggestion):
    from advisor.vocabulary.quants import get_quant_name, parse_quant_name

    assert parse_quant_name(label) is None
    with pytest.raises(UnknownNameError) as err:
        get_quant_name(label)
    assert suggestion in err.value.suggestions

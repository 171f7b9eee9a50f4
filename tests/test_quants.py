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

import pytest
from hypothesis import given
from hypothesis import strategies as st

from advisor.vocabulary.errors import InvalidInputError
from advisor.vocabulary.units import GB, GIB, format_bytes, parse_memory


@pytest.mark.parametrize("text, expected", [
    ("24GB", 24 * GB), ("24 GB", 24 * GB), ("24GiB", 24 * GIB), ("24000MB", 24 * GB),
    ("24", 24 * GB), ("24gb", 24 * GB), ("0.5", GB // 2), ("1.5 TB", 1500 * GB),
    (8, 8 * GB), (7.5, int(7.5 * GB)), ("80 gib", 80 * GIB),
])
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "-3", "0", "24XB", "GB", "nan", True, "1e30", "0\x1f2", "2\x00"])
def test_parse_memory_rejects(text):
    with pytest.raises(InvalidInputError) as err:
        parse_memory(text, parameter="vram")
    assert err.value.parameter == "vram"
    assert "24GB" in str(err.value)


@given(st.floats(0.1, 10_000))
def test_bare_numbers_are_gigabytes(x):
    assert parse_memory(repr(x)) == pytest.approx(x * GB, rel=1e-9, abs=1)


def test_format_bytes():
    assert format_bytes(24 * GB) == "24 GB"

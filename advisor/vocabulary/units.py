"""Parsing and formatting memory sizes.

A memory budget may be written ``24GB``, ``24 GB``, ``24GiB``, ``24000MB`` or ``24``.
Decimal units are powers of 10 (1 GB = 10^9 bytes), binary units powers of 2
(1 GiB = 2^30 bytes), and a bare number means gigabytes (GB).
"""

from __future__ import annotations

import math
import re

import humanfriendly

from advisor.vocabulary.errors import InvalidInputError

GB = 10**9
GIB = 2**30
MIB = 2**20

_BARE_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")


def parse_memory(text: str | float | int, *, parameter: str = "vram") -> int:
    """Bytes in a memory size such as ``24GB`` / ``24GiB`` / ``24000MB`` / ``24`` (= 24 GB).

    >>> parse_memory("24GB"), parse_memory("24"), parse_memory("1GiB")
    (24000000000, 24000000000, 1073741824)
    """
    allowed = "a size such as '24GB', '24 GB', '24GiB', '24000MB' or a bare number of GB"
    if isinstance(text, bool):
        raise InvalidInputError(f"{parameter} must be {allowed}, got {text!r}",
                                parameter=parameter)
    if isinstance(text, int | float):
        value = float(text) * GB
    elif _BARE_NUMBER.fullmatch(text.strip()):
        value = float(text.strip()) * GB
    else:
        try:
            value = float(humanfriendly.parse_size(text.strip()))
        except (humanfriendly.InvalidSize, ValueError) as e:
            raise InvalidInputError(f"{parameter} must be {allowed}, got {text!r}",
                                    parameter=parameter) from e
    if not math.isfinite(value) or value <= 0:
        raise InvalidInputError(f"{parameter} must be a positive size ({allowed}), got {text!r}",
                                parameter=parameter)
    if value > 100 * 2**40:
        raise InvalidInputError(f"{parameter} must be at most 100 TiB, got {text!r}",
                                parameter=parameter)
    return int(round(value))


def format_bytes(n: float) -> str:
    """``12.3 GB`` style (decimal units, matching how budgets are given)."""
    return humanfriendly.format_size(int(n), binary=False)

"""Byte sizes written the Backend.AI way: ``512m``, ``64G``, ``80GiB``, ``1.5g``, ``.5k`` or plain
bytes. Suffixes are binary (``1k`` = 1024), case-insensitive, with an optional ``b``/``ib``."""

from __future__ import annotations

import re
from decimal import ROUND_FLOOR, Decimal

# Spelled out in both cases so that pydantic (which matches case-sensitively) can use it as is.
SIZE_PATTERN = (
    r"^\s*(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)\s*"
    r"(?P<unit>[kmgtpeKMGTPE]?)([iI]?[bB])?\s*$"
)
_SIZE = re.compile(SIZE_PATTERN)
_POWERS = "kmgtpe"


def size_amount(text: str) -> Decimal:
    """The exact amount of bytes ``text`` names (fractions kept). Raises ValueError."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    unit = match["unit"].lower()
    return Decimal(match["number"]) * (1024 ** (_POWERS.index(unit) + 1) if unit else 1)


def parse_size(value: str | int) -> int:
    """A size in whole bytes (fractions rounded down).

    Raises ValueError for negatives, unknown suffixes and anything that is not a size.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"negative size: {value}")
        return value
    return int(size_amount(value).to_integral_value(rounding=ROUND_FLOOR))

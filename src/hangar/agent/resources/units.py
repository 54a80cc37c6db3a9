"""Byte sizes written the Backend.AI way: ``512m``, ``64G``, ``80GiB``, ``1.5g`` or plain bytes."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SCALE = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6, "z": 7, "y": 8}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtpezy]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_size(value: str | int) -> int:
    """Return a size in bytes; suffixes are binary (``1k`` = 1024).

    Raises ValueError for negatives, unknown suffixes and anything that is not a size.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"negative size: {value}")
        return value
    match = _SIZE.match(value)
    if match is None:
        raise ValueError(f"not a size: {value!r}")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"not a size: {value!r}") from exc
    return int(number * (1024 ** _SCALE[match.group(2).lower()]))

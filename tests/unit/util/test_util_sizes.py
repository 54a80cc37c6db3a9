"""Byte sizes: one grammar for settings, resource slots, folder quotas, the agent and the CLI."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangar.util.sizes import parse_size, size_amount

GIB = 1 << 30


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("512", 512),
        ("1k", 1024),
        ("512m", 512 << 20),
        ("512M", 512 << 20),
        ("512MiB", 512 << 20),
        ("64g", 64 * GIB),
        ("64GB", 64 * GIB),
        ("1.5g", 3 * GIB // 2),
        ("2t", 2 << 40),
        (" 80g ", 80 * GIB),
        (7, 7),
    ],
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "g", "-1", "1x", "1.2.3g", "ten"])
def test_parse_size_rejects_junk(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


@given(st.integers(0, 1 << 40), st.sampled_from(["", "k", "m", "g"]))
def test_parse_size_scales_by_1024(number: int, suffix: str) -> None:
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[suffix]
    assert parse_size(f"{number}{suffix}") == number * scale


def test_fractions_are_kept_exactly_or_rounded_down() -> None:
    assert size_amount(".5k") == Decimal(512)
    assert size_amount("1.5") == Decimal("1.5")
    assert parse_size("1.5") == 1
    assert parse_size("0.1k") == 102

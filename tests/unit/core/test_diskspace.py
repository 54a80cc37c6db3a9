"""The data dir's free-space reserve: what is refused, when, and what the refusal says."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangar.core.diskspace import DiskReserve, free_bytes
from hangar.core.errors import DiskFull, Unavailable
from hangar.util.sizes import parse_size as size_bytes

GIB = 1 << 30


def reserve_with(free: int, reserve: int = GIB) -> DiskReserve:
    return DiskReserve(Path("/data"), reserve, free=lambda _path: free)


def test_refuses_below_the_reserve_with_a_clear_message() -> None:
    with pytest.raises(DiskFull) as caught:
        reserve_with(free=GIB // 2).check("new sessions")
    message = caught.value.message
    assert "512.0 MiB free" in message and "1.0 GiB kept in reserve" in message
    assert "new sessions are refused" in message
    assert isinstance(caught.value, Unavailable)  # faces answer 503, not 500


def test_an_upload_counts_its_own_size() -> None:
    reserve_with(free=3 * GIB).check("uploads", incoming=GIB)
    with pytest.raises(DiskFull):
        reserve_with(free=3 * GIB).check("uploads", incoming=2 * GIB + 1)


@given(free=st.integers(0, 1 << 50), incoming=st.integers(0, 1 << 45))
def test_refused_exactly_when_the_reserve_would_be_touched(free: int, incoming: int) -> None:
    guard = reserve_with(free)
    if free - incoming < GIB:
        with pytest.raises(DiskFull):
            guard.check("uploads", incoming=incoming)
    else:
        guard.check("uploads", incoming=incoming)


def test_zero_reserve_checks_nothing() -> None:
    reserve_with(free=0, reserve=0).check("new sessions")


def test_an_unreadable_data_dir_is_not_this_checks_business(tmp_path: Path) -> None:
    DiskReserve(tmp_path / "missing", GIB).check("new sessions")
    assert free_bytes(tmp_path) > 0


def test_sizes_read_as_binary_units() -> None:
    assert size_bytes("1g") == GIB and size_bytes("10G") == 10 * GIB
    assert size_bytes("512m") == GIB // 2 and size_bytes("1.5GiB") == 3 * GIB // 2
    assert size_bytes("0") == 0
    with pytest.raises(ValueError):
        size_bytes("lots")

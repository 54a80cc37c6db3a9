"""Range expressions of `hangar run` expand as documented."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangar.cli.ranges import RangeError, combinations, expand, interpolate


def test_documented_examples() -> None:
    assert expand("X=case:1,2,3,4") == ("X", ["1", "2", "3", "4"])
    assert expand("X=linspace:1,2,3") == ("X", ["1", "1.5", "2"])
    assert expand("X=range:1,6,2") == ("X", ["1", "3", "5"])


def test_all_combinations_of_several_ranges() -> None:
    cases = combinations(["A=case:x,y", "B=range:0,3"])
    assert len(cases) == 6
    assert {"A": "y", "B": "2"} in cases


def test_no_ranges_is_one_case() -> None:
    assert combinations([]) == [{}]


@pytest.mark.parametrize(
    "bad",
    ["X", "X=case:", "X=linspace:1,2", "X=linspace:1,2,0", "X=range:a,b", "X=steps:1", "1X=case:a"],
)
def test_malformed_expressions_are_refused(bad: str) -> None:
    with pytest.raises(RangeError):
        expand(bad)


def test_duplicate_variable_is_refused() -> None:
    with pytest.raises(RangeError):
        combinations(["X=case:1", "X=case:2"])


def test_interpolation_uses_dollar_names() -> None:
    assert interpolate("CASENO=$X ${Y} $Z", {"X": "1", "Y": "2"}) == "CASENO=1 2 $Z"


@given(st.integers(-50, 50), st.integers(-50, 50), st.integers(1, 7))
def test_range_matches_python_range(start: int, stop: int, step: int) -> None:
    values = [str(v) for v in range(start, stop, step)]
    if values:
        assert expand(f"N=range:{start},{stop},{step}")[1] == values
    else:
        with pytest.raises(RangeError):
            expand(f"N=range:{start},{stop},{step}")


@given(st.integers(-20, 20), st.integers(-20, 20), st.integers(2, 9))
def test_linspace_has_inclusive_ends(start: int, stop: int, points: int) -> None:
    values = expand(f"N=linspace:{start},{stop},{points}")[1]
    assert len(values) == points
    assert float(values[0]) == start
    assert float(values[-1]) == pytest.approx(stop)

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangar.core.errors import InvalidRequest
from hangar.core.scheduler.slots import INFINITY, ResourceSlots, format_amount


@pytest.mark.parametrize(
    ("slot", "raw", "expected"),
    [
        ("mem", "1g", 1 << 30),
        ("mem", "1G", 1 << 30),
        ("mem", "256m", 256 << 20),
        ("mem", "512MiB", 512 << 20),
        ("mem", "512mib", 512 << 20),
        ("mem", "2gb", 2 << 30),
        ("mem", "64k", 64 << 10),
        ("mem", "1t", 1 << 40),
        ("mem", "1.5g", 3 << 29),
        ("mem", "1073741824", 1 << 30),
        ("mem", 1073741824, 1 << 30),
        ("mem", " 1 g ", 1 << 30),
        ("mem", "0.3k", 307),  # bytes are whole: rounded down
        ("cpu", "1.5", Decimal("1.5")),
        ("cpu", 2, 2),
        ("cpu", 0.5, Decimal("0.5")),
        ("cpu", 0.1, Decimal("0.1")),  # a float becomes its shortest decimal, not 0.1000…055
        ("cpu", Decimal("0.25"), Decimal("0.25")),
        ("cuda.shares", "0.5", Decimal("0.5")),
        ("cuda.device", "2", 2),
        ("cuda.device", 1.0, 1),
        ("tpu.device", 0, 0),
    ],
)
def test_parse_accepts_numbers_strings_and_binary_suffixes(
    slot: str, raw: object, expected: int | Decimal
) -> None:
    assert ResourceSlots.parse({slot: raw})[slot] == expected


@pytest.mark.parametrize(
    ("slot", "raw"),
    [
        ("cpu", "-1"),
        ("cpu", -0.5),
        ("cpu", "abc"),
        ("cpu", ""),
        ("cpu", "1g"),  # suffixes are for byte slots only
        ("cpu", True),
        ("cpu", None),
        ("cpu", [1]),
        ("cpu", "NaN"),
        ("cpu", float("nan")),
        ("cpu", "Infinity"),  # only resource-policy totals may be unlimited
        ("mem", "1x"),
        ("mem", "1gg"),
        ("mem", "-1g"),
        ("cuda.device", "1.5"),
        ("", 1),
    ],
)
def test_parse_refuses_what_is_not_an_amount(slot: str, raw: object) -> None:
    with pytest.raises(InvalidRequest):
        ResourceSlots.parse({slot: raw})


def test_parse_admits_unlimited_totals_when_asked() -> None:
    totals = ResourceSlots.parse({"cpu": "Infinity", "mem": "inf"}, allow_unlimited=True)
    assert totals["cpu"] == totals["mem"] == INFINITY
    assert totals.to_wire() == {"cpu": "Infinity", "mem": "Infinity"}


@pytest.mark.parametrize(
    ("amount", "wire"),
    [
        (Decimal(1), "1"),
        (Decimal("1.0"), "1"),
        (Decimal("1.50"), "1.5"),
        (Decimal("0.25"), "0.25"),
        (Decimal("1E+3"), "1000"),
        (Decimal("1073741824"), "1073741824"),
        (Decimal("1E-7"), "0.0000001"),
        (INFINITY, "Infinity"),
    ],
)
def test_amounts_go_out_as_plain_number_strings(amount: Decimal, wire: str) -> None:
    assert format_amount(amount) == wire


def test_to_wire_matches_the_reference_output() -> None:
    assert ResourceSlots.parse({"cpu": 1, "mem": "1g"}).to_wire() == {
        "cpu": "1",
        "mem": "1073741824",
    }


def test_absent_slots_count_as_zero() -> None:
    a = ResourceSlots({"cpu": 2})
    b = ResourceSlots({"cpu": 1, "mem": 5})
    assert a + b == ResourceSlots({"cpu": 3, "mem": 5})
    assert (a + b) - b == a
    assert a.amount("mem") == 0
    assert ResourceSlots({"cpu": 1, "mem": 0}) == ResourceSlots({"cpu": 1})
    assert hash(ResourceSlots({"cpu": 1, "mem": 0})) == hash(ResourceSlots({"cpu": Decimal("1.0")}))


def test_subtraction_below_zero_is_refused() -> None:
    with pytest.raises(ValueError):
        ResourceSlots({"cpu": 1}) - ResourceSlots({"cpu": 2})


@pytest.mark.parametrize(
    ("request_", "capacity", "fits"),
    [
        ({"cpu": 1}, {"cpu": 1}, True),
        ({"cpu": 1, "mem": 1}, {"cpu": 2}, False),
        ({"cpu": 0}, {}, True),
        ({}, {}, True),
        ({"cpu": 2}, {"cpu": 1, "mem": 9}, False),
        ({"cuda.shares": Decimal("0.5")}, {"cuda.shares": 1}, True),
    ],
)
def test_fits_is_slot_by_slot(
    request_: dict[str, int], capacity: dict[str, int], fits: bool
) -> None:
    assert ResourceSlots(request_).fits(ResourceSlots(capacity)) is fits
    assert (ResourceSlots(request_) <= ResourceSlots(capacity)) is fits


def test_slots_are_immutable() -> None:
    value = ResourceSlots({"cpu": 1})
    with pytest.raises(TypeError):
        value["cpu"] = Decimal(2)  # type: ignore[index]
    with pytest.raises(AttributeError):
        value.extra = 1  # type: ignore[attr-defined]


amounts = st.decimals(min_value=0, max_value=10**12, places=3, allow_nan=False)
slot_maps = st.dictionaries(st.sampled_from(["cpu", "mem", "cuda.shares", "x.y"]), amounts)


@given(slot_maps, slot_maps)
def test_arithmetic_laws(a: dict[str, Decimal], b: dict[str, Decimal]) -> None:
    x, y = ResourceSlots(a), ResourceSlots(b)
    assert x + y == y + x
    assert (x + y) - y == x
    assert x <= x + y
    assert (x <= y and y <= x) == (x == y)


@given(st.dictionaries(st.sampled_from(["cpu", "cuda.shares", "x.y"]), amounts))
def test_wire_output_parses_back_to_the_same_amounts(raw: dict[str, Decimal]) -> None:
    value = ResourceSlots(raw)
    assert ResourceSlots.parse(value.to_wire()) == value


@given(st.integers(min_value=0, max_value=1 << 50))
def test_byte_amounts_round_trip(size: int) -> None:
    value = ResourceSlots({"mem": size})
    assert ResourceSlots.parse(value.to_wire()) == value

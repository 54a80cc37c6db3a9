"""``preopen_ports`` as the official client sends them (numeric strings) and what is refused."""

from __future__ import annotations

import pytest

from hangar.core.compute.options import MAX_PREOPEN_PORTS, parse_preopen_ports
from hangar.core.errors import InvalidRequest


def test_numeric_strings_and_numbers_become_distinct_ports_in_order() -> None:
    assert parse_preopen_ports(["8080", 9090, " 8080 "]) == [8080, 9090]
    assert parse_preopen_ports(None) == []
    assert parse_preopen_ports([]) == []


@pytest.mark.parametrize("value", ["80", "0", "65536", "abc", "-1", "", "8080.5", True])
def test_what_is_not_a_port_above_1023_is_refused(value: object) -> None:
    with pytest.raises(InvalidRequest, match="preopen_ports"):
        parse_preopen_ports([value])  # type: ignore[list-item]


@pytest.mark.parametrize("port", [2200, 7681, 8081])
def test_the_built_in_apps_ports_are_refused(port: int) -> None:
    with pytest.raises(InvalidRequest, match="built-in app"):
        parse_preopen_ports([port])


def test_too_many_ports_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="at most"):
        parse_preopen_ports(range(20000, 20001 + MAX_PREOPEN_PORTS))

"""``preopen_ports`` as the official client sends them (numeric strings) and what is refused."""

from __future__ import annotations

import pytest

from hangar.api.bai.compute_wire import preopen_ports
from hangar.core.compute.ports import MAX_SPEC_PORTS, PortSpec
from hangar.core.errors import InvalidRequest


def test_numeric_strings_and_numbers_become_distinct_ports_in_order() -> None:
    assert preopen_ports(["8080", 9090, " 8080 "]) == (PortSpec(8080), PortSpec(9090))
    assert preopen_ports(None) == ()
    assert preopen_ports([]) == ()


@pytest.mark.parametrize("value", ["80", "0", "65536", "abc", "-1", "", "8080.5", True])
def test_what_is_not_a_port_above_1023_is_refused(value: object) -> None:
    with pytest.raises(InvalidRequest, match="preopen_ports"):
        preopen_ports([value])  # type: ignore[list-item]


@pytest.mark.parametrize("port", [2200, 7681, 8081])
def test_the_built_in_apps_ports_are_refused(port: int) -> None:
    with pytest.raises(InvalidRequest, match="built-in app"):
        preopen_ports([port])


def test_too_many_ports_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="at most"):
        preopen_ports(range(20000, 20001 + MAX_SPEC_PORTS))

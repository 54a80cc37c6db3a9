"""The face's list styles (spec §1.5): page/size, pageNumber/pageSize, the search-after
cursor; bad values are 10001 naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hangar.api.cloud.errors import code_of
from hangar.api.cloud.pagination import (
    Direction,
    PageRequest,
    cursor_page,
    cursor_request,
    page_of,
    page_request,
    paged,
)
from hangar.core.errors import InvalidRequest


def test_page_and_size_default_to_the_first_ten() -> None:
    assert page_request({}) == PageRequest(1, 10)
    assert page_request({"page": "3", "size": "2"}) == PageRequest(3, 2)
    assert page_request({"pageNumber": "2", "pageSize": "5"}, style="pageNumber") == PageRequest(
        2, 5
    )
    # a client mixing the two spellings is understood
    assert page_request({"pageNumber": "2", "size": "4"}) == PageRequest(2, 4)


def test_pages_cut_the_list_and_count_it() -> None:
    items = list(range(23))
    data = paged(items, PageRequest(3, 10), lambda i: {"id": i})
    assert data == {
        "items": [{"id": 20}, {"id": 21}, {"id": 22}],
        "page": 3,
        "size": 10,
        "total": 23,
        "pages": 3,
    }
    past = paged(items, PageRequest(9, 10))
    assert past["items"] == [] and past["total"] == 23 and past["pages"] == 3
    assert paged([], PageRequest()) == {"items": [], "page": 1, "size": 10, "total": 0, "pages": 0}
    assert page_of(["a"], 21, PageRequest(2, 20))["pages"] == 2
    assert PageRequest(3, 20).offset == 40


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "two"}, "page"),
        ({"size": "0"}, "size"),
        ({"size": "1001"}, "size"),
        ({"size": "1e3"}, "size"),
        ({"pageSize": "x"}, "pageSize"),
        ({"page": "99999999999999999999"}, "page"),
    ],
)
def test_bad_values_are_10001_naming_the_parameter(query: dict[str, str], name: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        page_request(query)
    assert caught.value.data == {name: caught.value.data[name]}
    entry = code_of(caught.value)
    assert (entry.status, entry.code) == (400, 10001)


def test_the_cursor_reads_ms_or_iso_times_and_a_direction() -> None:
    cursor = cursor_request(
        {
            "pageSize": "2",
            "searchAfterTime": "1705306215123",
            "searchAfterOffset": "12400",
            "direction": "backward",
            "startTime": "2024-01-15T10:30:00Z",
        }
    )
    assert cursor.page_size == 2 and cursor.after_offset == 12400
    assert cursor.after_time == datetime(2024, 1, 15, 8, 10, 15, 123000, tzinfo=UTC)
    assert cursor.start == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    assert cursor.direction is Direction.BACKWARD
    default = cursor_request({})
    assert (default.page_size, default.direction, default.after_time) == (
        100,
        Direction.FORWARD,
        None,
    )
    for bad in ({"pageSize": "1001"}, {"direction": "sideways"}, {"startTime": "yesterday"}):
        with pytest.raises(InvalidRequest):
            cursor_request(bad)


def test_a_cursor_page_hands_back_the_next_position_as_strings() -> None:
    last = datetime(2024, 1, 15, 8, 10, 15, 123000, tzinfo=UTC)
    data = cursor_page([{"log": "x"}], has_more=True, last=(last, 16))
    assert data == {
        "logs": [{"log": "x"}],
        "hasMore": True,
        "nextSearchAfterTime": "1705306215123",
        "nextSearchAfterOffset": "16",
    }
    assert cursor_page([], has_more=False, last=None)["nextSearchAfterTime"] is None

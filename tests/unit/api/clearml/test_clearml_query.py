"""ClearML's get_all keys parsed into queries (spec §7.1), and the refusals of bad ones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from hangar.api.clearml import query
from hangar.api.clearml.errors import ClearmlError
from hangar.api.clearml.tasks_wire import TASKS
from hangar.core.tracking import query as q

T1 = datetime(2026, 1, 1, tzinfo=UTC)
DOCS: list[dict[str, Any]] = [
    {"id": "1", "name": "proj A run", "status": "completed", "tags": ["x"], "system_tags": [],
     "created": T1, "last_update": T1, "last_iteration": 5, "runtime": {"gpu": 1}},
    {"id": "2", "name": "other", "status": "failed", "tags": [], "system_tags": ["archived"],
     "created": datetime(2026, 3, 1, tzinfo=UTC), "last_update": datetime(2026, 3, 1, tzinfo=UTC),
     "last_iteration": 50, "runtime": {}},
    {"id": "3", "name": "hidden one", "status": "created", "tags": ["x", "y"],
     "system_tags": ["hidden", "archived"], "created": T1, "last_update": T1,
     "last_iteration": 0, "runtime": {}},
]  # fmt: skip


def ids(body: dict[str, Any]) -> list[str]:
    parsed, _ = query.parse(TASKS, body)
    return [d["id"] for d in q.run(DOCS, parsed)]


def test_sdk_shapes() -> None:
    assert ids({"name": "^proj\\ A\\ run$"}) == ["1"]
    assert ids({"name": "o"}) == ["1", "2"]  # searched; hidden tasks left out by default
    assert ids({"name": "o", "search_hidden": True}) == ["1", "2", "3"]
    assert ids({"id": ["3"]}) == ["3"]  # ids ignore search_hidden
    assert ids({"system_tags": ["-archived"]}) == ["1"]
    assert ids({"system_tags": ["__$all", "hidden", "__$not", "archived"],
                "search_hidden": True}) == []  # fmt: skip
    assert ids({"tags": ["__$all", "x", "y"], "search_hidden": True}) == ["3"]
    assert ids({"status": ["completed", "failed"], "order_by": ["-last_update"]}) == ["2", "1"]


def test_ranges_dates_equality_and_patterns() -> None:
    assert ids({"last_iteration": [1, None]}) == ["1", "2"]
    assert ids({"created": ["2026-02-01", None]}) == ["2"]
    assert ids({"last_update": ["<2026-02-01T00:00:00"]}) == ["1"]
    assert ids({"runtime.gpu": 1}) == ["1"]
    assert ids({"_any_": {"fields": ["name", "status"], "pattern": "FAIL"}}) == ["2"]
    assert ids({"_any_": {"fields": ["name", "status"], "pattern": "e"}}) == ["1", "2"]
    assert ids({"_all_": {"fields": ["name", "status"], "pattern": "e"}}) == ["2"]
    assert ids({"filters": {"tags": {"any": {"include": ["x"]}}}}) == ["1"]
    assert ids({"search_text": "OTH"}) == ["2"]


def test_paging_and_scrolls() -> None:
    parsed, scroll = query.parse(TASKS, {"page": 1, "page_size": 1, "order_by": ["id"]})
    assert (parsed.offset, parsed.limit, scroll) == (1, 1, None)
    parsed, scroll = query.parse(TASKS, {"size": 2})
    assert (parsed.offset, parsed.limit, scroll) == (0, 2, 2)
    assert scroll is not None
    parsed, again = query.parse(TASKS, {"size": 2, "scroll_id": query.scroll_id(scroll)})
    assert (parsed.offset, again) == (2, 4)
    parsed, _ = query.parse(TASKS, {"page": 0, "page_size": 10_000})
    assert parsed.limit == query.MAX_PAGE_SIZE


@pytest.mark.parametrize(
    ("body", "subcode"),
    [
        ({"name": "(["}, 21),
        ({"name": 5}, 12),
        ({"tags": [{"a": 1}]}, 12),
        ({"tags": [["nested"]]}, 12),
        ({"created": [1]}, 12),
        ({"created": ["x", None]}, 12),
        ({"last_iteration": ["a", "b"]}, 12),
        ({"last_update": [5]}, 12),
        ({"page": -1}, 12),
        ({"page_size": True}, 12),
        ({"order_by": [None]}, 12),
        ({"order_by": ["-"]}, 12),
        ({"only_fields": [1]}, 12),
        ({"_all_": "x"}, 12),
        ({"_any_": {"fields": "name", "pattern": "x"}}, 12),
        ({"filters": {"tags": []}}, 12),
        ({"size": 1, "scroll_id": "!!"}, 1104),
    ],
)
def test_bad_keys_are_refused(body: dict[str, Any], subcode: int) -> None:
    with pytest.raises(ClearmlError) as refused:
        query.parse(TASKS, body)
    assert (refused.value.result_code, refused.value.subcode) == (400, subcode)

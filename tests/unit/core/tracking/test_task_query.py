"""Queries over documents: list terms, regexes, ranges, order, paging and projection."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from hangar.core.tracking import query as q

DOCS: list[dict[str, Any]] = [
    {"id": "a", "name": "alpha", "tags": ["red"], "n": 3, "at": datetime(2026, 1, 1, tzinfo=UTC),
     "models": {"input": [{"name": "m", "model": "m1"}]}, "hp": {"s": {"lr": {"value": "0.1"}}}},
    {"id": "b", "name": "beta", "tags": ["blue", "big"], "n": 1,
     "at": datetime(2026, 2, 1, tzinfo=UTC), "models": {"input": []}},
    {"id": "c", "name": "gamma", "tags": [], "n": None, "at": None},
]  # fmt: skip


def ids(query: q.Query) -> list[str]:
    return [d["id"] for d in q.run(DOCS, query)]


def where(*conditions: q.Condition, **rest: Any) -> q.Query:
    return q.Query(conditions, **rest)


def test_list_terms_or_exclude_and_all() -> None:
    assert ids(where(q.InList("tags", (q.Term("red"), q.Term("blue"))))) == ["a", "b"]
    assert ids(where(q.InList("tags", (q.Term("red", negated=True),)))) == ["b", "c"]
    assert ids(where(q.InList("tags", (), (q.Term("blue"), q.Term("big"))))) == ["b"]
    assert ids(where(q.InList("tags", (), (q.Term("blue"), q.Term("red"))))) == []
    assert ids(where(q.InList("tags", (q.Term(None),)))) == ["c"]  # empty or missing
    assert ids(where(q.InList("id", (q.Term("b"),)))) == ["b"]  # a scalar field


def test_paths_into_lists_and_nested_maps() -> None:
    assert ids(where(q.InList("models.input.model", (q.Term("m1"),)))) == ["a"]
    assert ids(where(q.InList("hp.s.lr.value", (q.Term("0.1"),)))) == ["a"]


def test_regex_is_searched_not_anchored() -> None:
    assert ids(where(q.Matches("name", re.compile("mm")))) == ["c"]
    assert ids(where(q.Matches("name", re.compile("^a")))) == ["a"]
    assert ids(where(q.AnyField(("name", "id"), re.compile("^b$")))) == ["b"]
    assert ids(where(q.AnyField(("name", "id"), re.compile("a"), every=True))) == ["a"]


def test_ranges_compare_and_either() -> None:
    assert ids(where(q.InRange("n", 2, None))) == ["a"]
    assert ids(where(q.InRange("n", None, 2))) == ["b"]  # a missing value never matches
    january = datetime(2026, 1, 15, tzinfo=UTC)
    assert ids(where(q.Compare("at", q.Op.GT, january))) == ["b"]
    assert ids(where(q.Compare("n", q.Op.GT, "text"))) == []  # other types never match
    either = q.Either((q.Equals("id", "a"), q.Equals("id", "c")))
    assert ids(where(either)) == ["a", "c"]
    assert ids(where(q.Not(either))) == ["b"]


def test_order_page_and_projection() -> None:
    assert ids(where(order=(("n", True),))) == ["a", "b", "c"]
    assert ids(where(order=(("n", False),))) == ["c", "b", "a"]  # None sorts first
    assert ids(where(order=(("name", True),), offset=1, limit=1)) == ["b"]
    projected = q.run(DOCS, where(fields=("name", "models.input.model", "hp.s.missing")))
    assert projected[0] == {"id": "a", "name": "alpha", "models": {"input": [
        {"name": "m", "model": "m1"}]}, "hp": {"s": {}}}  # fmt: skip
    assert projected[2] == {"id": "c", "name": "gamma"}


def test_paths_read_by_a_query() -> None:
    query = where(q.Matches("name", re.compile("x")), q.InRange("last_metrics.a.b.value", 1),
                  order=(("last_iteration", True),))  # fmt: skip
    assert query.paths() == {"name", "last_metrics", "last_iteration"}


def test_escaped_steps_name_keys_with_dots_and_dollars() -> None:
    doc = {"id": "d", "hp": {"A.b": {"x$y": {"value": "1"}}, "A": {"b": {"value": "2"}},
                             "_p": {"a__b%": {"value": "3"}}}}  # fmt: skip

    assert q.lookup(doc, "hp.A%2Eb.x%24y.value") == "1"
    assert q.lookup(doc, "hp.A.b.value") == "2"  # plain dots still step
    assert q.lookup(doc, "hp.%_p.a%_%_b%%.value") == "3"
    assert q.steps("%%_x.%_%%.___") == ["%_x", "_%", "___"]
    assert q.project(doc, ["hp.A%2Eb.x%24y"]) == {"id": "d", "hp": {"A.b": {"x$y": {"value": "1"}}}}
    found = q.run([doc], where(q.InList("hp.A%2Eb.x%24y.value", (q.Term("1"),))))
    assert [d["id"] for d in found] == ["d"]

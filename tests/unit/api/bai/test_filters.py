"""Backend.AI's filter and order languages parsed into the core's filter tree, with
Backend.AI's wording for every mistake."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table

from hangar.api.bai.filters import parse_filter, parse_order
from hangar.core.errors import InvalidRequest
from hangar.core.filters import And, Compare, Field, Not, Op, Or, OrderBy, as_int, as_upper

_T = Table("things", MetaData(), Column("name", String), Column("size", Integer))
FIELDS = {
    "name": Field(_T.c.name),
    "size": Field(_T.c.size, as_int),
    "status": Field(_T.c.name, as_upper),
}


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ('name == "a"', Compare("name", Op.EQ, "a")),
        ("name == 'it\\'s'", Compare("name", Op.EQ, "it's")),
        ("size >= 3", Compare("size", Op.GE, 3)),
        ("size < 2.0", Compare("size", Op.LT, 2.0)),
        ("name is null", Compare("name", Op.EQ, None)),
        ("name isnot null", Compare("name", Op.NE, None)),
        ('name in ["a", "b"]', Compare("name", Op.IN, ["a", "b"])),
        ('name ilike "A%"', Compare("name", Op.ILIKE, "A%")),
        (
            'name == "a" | size > 1 & !(name contains "x")',
            Or(
                (
                    Compare("name", Op.EQ, "a"),
                    And((Compare("size", Op.GT, 1), Not(Compare("name", Op.CONTAINS, "x")))),
                )
            ),
        ),
    ],
)
def test_expressions_become_trees(text: str, tree: object) -> None:
    assert parse_filter(text, FIELDS) == tree


@pytest.mark.parametrize("text", [None, "", "   "])
def test_no_expression_is_no_filter(text: str | None) -> None:
    assert parse_filter(text, FIELDS) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"', "Invalid filter expression near '= \"x\"'"),
        ("nope == 1", "Invalid filter expression (unknown field 'nope' at 'nope'): nope == 1"),
        (
            'name == "x" &',
            'Invalid filter expression (a field name expected at the end): name == "x" &',
        ),
        ("(name == 'x'", "Invalid filter expression (')' expected at the end): (name == 'x'"),
        (
            'size > "many" & (',
            "Invalid filter expression (bad value for size: invalid literal for int() with "
            "base 10: 'many'): size > \"many\" & (",
        ),
        (
            "name is 1",
            "Invalid filter expression (bad value for name: only null may follow is / isnot):"
            " name is 1",
        ),
        (
            'name in "a"',
            "Invalid filter expression (bad value for name: a list is expected after in):"
            ' name in "a"',
        ),
        (
            'name == ["a"]',
            "Invalid filter expression (bad value for name: a list is not allowed after ==):"
            ' name == ["a"]',
        ),
    ],
)
def test_mistakes_are_worded_as_backend_ai_words_them(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_filter(text, FIELDS)
    assert caught.value.message == message


def test_orders_become_order_items() -> None:
    assert parse_order("-size, +name,status desc", FIELDS) == [
        OrderBy("size", descending=True),
        OrderBy("name"),
        OrderBy("status", descending=True),
    ]
    assert parse_order(None, FIELDS) == []
    with pytest.raises(InvalidRequest, match=r"^Invalid order expression: x y$"):
        parse_order("x y", FIELDS)
    with pytest.raises(InvalidRequest, match="unknown field 'nope'"):
        parse_order("name,nope", FIELDS)
